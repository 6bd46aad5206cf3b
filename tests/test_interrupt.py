"""Ctrl-C and a second run: the weekly job stops at once and never runs twice on one store."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from llm_server import LLMServer
from pdfmaker import make_pdf
from weekfeed import Item, serve_week

from digest.errors import ExitStatus

PAGES = [["A Study of Interruptions", "Abstract. We study how weekly jobs stop when they are asked to.",
          "1 Introduction", "Stopping quickly matters for unattended jobs that run from cron."],
         ["2 Results", "The job stopped within two seconds in every one of our 12 trials."]]


@pytest.fixture
def slow_week(tmp_path, httpserver, config):
    """Six small papers and a model that does not reply while a test runs, with a config file for the CLI.

    A run that cannot finish on its own keeps both tests about the signal and the lock: with replies
    after a few seconds, a slow machine let the run make more calls (or finish) before the test acted.
    The server's stop() cuts the held replies short.
    """
    items = [Item(f"2611.0{i:04d}", 1, f"Interruption study number {i}", "We study interruptions.",
                  make_pdf(tmp_path / f"p{i}.pdf", PAGES)) for i in range(6)]
    serve_week(httpserver, config, items)
    server = LLMServer(latency=600.0).start()
    cfg = tmp_path / "digest.toml"
    cfg.write_text(
        f'sources = ["arxiv:cs.CL"]\n[llm]\nmodel = "test-model"\nmax_cost = 100\nconcurrency = 2\n'
        f'[models."test-model"]\nbase_url = "{server.base_url}"\napi_key_env = ""\n'
        f'[arxiv]\nrss_url = "{config.arxiv.rss_url}"\npdf_url = "{config.arxiv.pdf_url}"\n'
        f'[store]\narchive_dir = "{tmp_path / "archive"}"\n[selection]\ninterests = ""\n', encoding="utf-8")
    yield cfg, server
    server.stop()


def start_run(cfg) -> subprocess.Popen:
    """`digest run` in a child that Ctrl-C stops, however this suite was started.

    A suite started in the background by a script (`.ci/run &`, as a load test does) has SIGINT ignored,
    and a child inherits that: the run then ignored the test's Ctrl-C, finished, and exited 4. A handler,
    unlike SIG_IGN, is reset to the default by exec, so the child gets Python's Ctrl-C back.
    """
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen([sys.executable, "-m", "digest", "--config", str(cfg), "run", "--yes"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finally:
        signal.signal(signal.SIGINT, before)


def wait_for_requests(server: LLMServer, n: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120  # bounds a hang only: fetching and reading 6 PDFs takes seconds
    while len(server.chat_requests()) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.chat_requests()) >= n, proc.poll()


@pytest.mark.timeout(300)
def test_ctrl_c_stops_starting_calls_and_exits_130(slow_week):
    cfg, server = slow_week
    proc = start_run(cfg)
    wait_for_requests(server, 1, proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)  # before: the run waited for its calls in flight, then made more
    assert proc.returncode == ExitStatus.INTERRUPTED, out
    assert "Interrupted" in out and "run the same command again" in out
    assert len(server.chat_requests()) <= 2  # the calls in flight at Ctrl-C (concurrency 2), no more


@pytest.mark.timeout(300)
def test_a_second_run_on_the_same_store_stops_at_once(slow_week):
    cfg, server = slow_week
    first = start_run(cfg)
    try:
        wait_for_requests(server, 1, first)
        second = subprocess.run([sys.executable, "-m", "digest", "--config", str(cfg), "run", "--yes"],
                                capture_output=True, text=True, timeout=120)
        said = " ".join((second.stdout + second.stderr).split())
        assert second.returncode == ExitStatus.ERROR and "another `digest run`" in said
    finally:
        first.kill()
        first.communicate()
