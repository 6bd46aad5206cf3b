"""Exit codes as cron sees them: the real `digest` process, not click's test runner (which hides them)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digest.errors import ExitStatus

FEEDS = Path(__file__).resolve().parent / "fixtures" / "feeds"


def digest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "digest.toml"
    if not cfg.exists():  # arXiv (metadata, PDFs) is a closed port here: nothing leaves the machine
        cfg.write_text(f'[store]\narchive_dir = "{tmp_path / "archive"}"\n[arxiv]\n'
                       'api_url = "http://127.0.0.1:9/api"\npdf_url = "http://127.0.0.1:9/pdf/{id}"\n',
                       encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "digest", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=120)


def test_sources_check_says_which_sources_failed_in_its_exit_code(tmp_path):
    good, missing = str(FEEDS / "blog_rss2.xml"), str(tmp_path / "no-such-feed.xml")
    assert digest(tmp_path, "sources", "check", good).returncode == ExitStatus.SUCCESS
    assert digest(tmp_path, "sources", "check", good, missing).returncode == ExitStatus.PARTIAL
    assert digest(tmp_path, "sources", "check", missing).returncode == ExitStatus.ERROR


def test_fetch_whose_only_source_failed_is_an_error(tmp_path):
    assert digest(tmp_path, "fetch", "--source", str(FEEDS / "blog_rss2.xml")).returncode == ExitStatus.SUCCESS
    failed = digest(tmp_path, "fetch", "--source", "arxvi:cs.CL")
    assert failed.returncode == ExitStatus.ERROR, failed.stdout + failed.stderr


def test_a_mistyped_source_does_not_rewrite_the_issue_from_older_candidates(tmp_path):
    first = digest(tmp_path, "run", "--since", "2000-01-01", "--source", str(FEEDS / "blog_rss2.xml"))
    issues = list((tmp_path / "archive").glob("*.md"))
    assert len(issues) == 1, first.stdout + first.stderr
    before = issues[0].read_bytes()
    typo = digest(tmp_path, "run", "--since", "2000-01-01", "--source", "arxvi:cs.CL")
    said = " ".join((typo.stdout + typo.stderr).split())
    assert typo.returncode == ExitStatus.ERROR, said
    assert "no source could be read" in said and "arxvi" in said
    assert issues[0].read_bytes() == before


def test_a_folder_that_cannot_be_written_is_one_line_not_an_internal_error(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'[store]\narchive_dir = "{tmp_path / "afile" / "archive"}"\n', encoding="utf-8")
    for args in (["papers", "list"], ["issues", "list"], ["search", "x"], ["archive", "build"],
                 ["init", "--path", str(tmp_path / "afile" / "digest.toml")]):
        done = subprocess.run([sys.executable, "-m", "digest", "--config", str(cfg), *args],
                              capture_output=True, text=True, timeout=60)
        said = " ".join((done.stdout + done.stderr).split())
        assert done.returncode == ExitStatus.ERROR, (args, said)
        assert "internal error" not in said and "Traceback" not in said and "Not a directory" in said, said


def test_a_wrong_typed_setting_names_its_key(tmp_path):
    cfg = tmp_path / "digest.toml"
    cfg.write_text('[selection]\nmax_papers = "ten"\n', encoding="utf-8")
    done = digest(tmp_path, "papers", "list")
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == ExitStatus.ERROR and "selection.max_papers" in said and "internal error" not in said


def test_serve_on_a_busy_port_says_so_before_claiming_to_serve(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = digest(tmp_path, "serve", "--port", str(port))
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == ExitStatus.ERROR and "Serving on" not in said and "--port" in said, said


def test_messages_show_a_source_as_written_not_as_emoji(tmp_path):
    done = digest(tmp_path, "sources", "check", "arxiv-query:cat:cs.CL")  # arXiv is a closed port here
    said = done.stdout + done.stderr
    assert "arxiv-query:cat:cs.CL" in said and "🐱" not in said


def test_a_bad_since_is_a_command_line_error_that_changes_nothing(tmp_path):
    for command in ("run", "fetch"):
        done = digest(tmp_path, command, "--since", "yesterday")
        said = " ".join((done.stdout + done.stderr).split())
        assert done.returncode == ExitStatus.USAGE, said
        assert "--since" in said and "7d" in said and "internal error" not in said
    assert not (tmp_path / "archive").exists()  # found before the store is opened


def test_commands_that_read_the_store_create_nothing_in_a_folder_without_one(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"}
    for args in (["send"], ["export"], ["check"], ["issues", "use", "2026-W49", "--model", "m"],
                 ["compare", "2026-W49"], ["rerun", "2026-W49", "--model", "extractive"]):
        done = subprocess.run([sys.executable, "-m", "digest", *args], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, env=env)
        said = " ".join((done.stdout + done.stderr).split())
        assert done.returncode == ExitStatus.ERROR, (args, said)
        assert "--config" in said and "DIGEST_CONFIG" in said, (args, said)
        assert list(tmp_path.iterdir()) == [], (args, said)  # no archive/, no digest.sqlite
    said = " ".join(digest(tmp_path, "send").stderr.split())  # a config, but nothing was ever run with it
    assert "there is no store yet" in said and "digest run" in said
    assert not (tmp_path / "archive").exists()


@pytest.mark.timeout(120)
def test_sigterm_stops_a_run_like_ctrl_c(tmp_path, httpserver, config):
    """cron's timeout and `systemctl stop` send SIGTERM: the same "Interrupted" line and 130 as Ctrl-C, nothing lost."""
    from llm_server import LLMServer
    from pdfmaker import make_pdf
    from weekfeed import Item, serve_week

    from digest.store import Store

    pages = [["A Study of Stopping", "Abstract. We study how weekly jobs stop.", "1 Introduction",
              "Stopping cleanly matters for unattended jobs."], ["2 Results", "Every trial stopped at once."]]
    items = [Item(f"2611.0{i:04d}", 1, f"Stopping study number {i}", "We study stopping.",
                  make_pdf(tmp_path / f"p{i}.pdf", pages)) for i in range(4)]
    serve_week(httpserver, config, items)
    server = LLMServer(latency=600.0).start()  # holds every reply: the run is mid-way when the signal comes
    cfg = tmp_path / "digest.toml"
    cfg.write_text(
        f'sources = ["arxiv:cs.CL"]\n[llm]\nmodel = "test-model"\nmax_cost = 100\nconcurrency = 1\n'
        f'[models."test-model"]\nbase_url = "{server.base_url}"\napi_key_env = ""\n'
        f'[arxiv]\nrss_url = "{config.arxiv.rss_url}"\npdf_url = "{config.arxiv.pdf_url}"\n'
        f'[store]\narchive_dir = "{tmp_path / "archive"}"\n[selection]\ninterests = ""\n', encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "digest", "--config", str(cfg), "run", "--yes"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90  # bounds a hang only: the condition is the first model call
        while not server.chat_requests() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.chat_requests(), proc.poll()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        server.stop()
    said = " ".join(out.split())
    assert proc.returncode == ExitStatus.INTERRUPTED, said  # before: 143 (-15) and no line at all
    assert "Interrupted" in said and "run the same command again" in said and "Traceback" not in said
    store = Store(tmp_path / "archive" / "digest.sqlite")  # what was finished before the signal is kept
    try:
        assert sorted(p.arxiv_id for p in store.list_papers(limit=10)) == [it.arxiv_id for it in items]
    finally:
        store.close()
