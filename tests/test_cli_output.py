"""What the terminal shows: one progress line with cost and rate-limit waits, the next step, plurals, short titles."""

from __future__ import annotations

import io
import shutil
import threading

import pytest
from click.testing import CliRunner
from conftest import FIXTURES
from factories import make_paper
from rich.console import Console

from digest.cli.common import RichReporter
from digest.cli.main import cli
from digest.llm.support import RateLimiter, rate_limit_waiters
from digest.wording import plural, shorten


def _terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)


def _shown(reporter: RichReporter) -> str:
    """The progress display as it is drawn right now, as plain text."""
    c = Console(file=io.StringIO(), width=160, color_system=None)
    c.print(reporter.progress.make_tasks_table(reporter.progress.tasks))
    return c.file.getvalue()


def test_every_step_reuses_the_one_progress_line():
    with RichReporter(_terminal(), waiting=lambda: 0) as rep:
        rep.start("sources", 2)
        rep.advance(2)
        rep.start("PDFs", 3)
        rep.advance()
        rep.start("page texts", 3)
        shown = _shown(rep)
    assert len(rep.progress.tasks) == 1
    assert "page texts" in shown and "0/3" in shown
    assert "sources" not in shown and "PDFs" not in shown  # a finished step is not drawn again


def test_progress_line_shows_cost_so_far_and_rate_limit_waits():
    waiting = [0]
    with RichReporter(_terminal(), waiting=lambda: waiting[0]) as rep:
        rep.start("generating (m)", 4)
        assert "so far" not in _shown(rep) and "rate limit" not in _shown(rep)  # nothing spent yet
        rep.spent(0.01234)
        rep.advance()
        assert "$0.0123 so far" in _shown(rep)
        waiting[0] = 2
        assert "waiting for the rate limit (2 calls)" in _shown(rep)
        waiting[0] = 1
        assert "(1 call)" in _shown(rep)


def test_a_call_held_by_the_rate_limiter_is_counted_while_it_waits(monkeypatch):
    import types

    import digest.llm.support as support

    # The limiter's clock and sleep, held by the test: the second request waits until it is let go,
    # however long the machine takes to start the thread.
    clock, asleep, wake = [0.0], threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        asleep.set()
        wake.wait(60)
        clock[0] += seconds

    monkeypatch.setattr(support, "time", types.SimpleNamespace(monotonic=lambda: clock[0], sleep=sleep))
    limiter = RateLimiter(rpm=60, tpm=0)  # one request per second
    limiter.acquire(0)
    t = threading.Thread(target=lambda: limiter.acquire(0))
    t.start()
    assert asleep.wait(60)  # bounds a hang only
    assert rate_limit_waiters() == 1
    wake.set()
    t.join(60)
    assert rate_limit_waiters() == 0


def test_plural_and_shorten():
    assert [plural(0, "issue"), plural(1, "issue"), plural(2, "issue")] == ["0 issues", "1 issue", "2 issues"]
    assert plural(1, "batch", "batches") == "1 batch" and plural(3, "batch", "batches") == "3 batches"
    assert plural(12345, "token") == "12,345 tokens"
    title = "LongEval: Guidelines for Human Evaluation of Faithfulness in Long-form Summarization"
    cut = shorten(title, 40)
    assert cut.endswith("…") and len(cut) <= 40 and title.startswith(cut[:-1])
    assert cut == "LongEval: Guidelines for Human…"  # cut at a word, not inside one
    assert shorten("Short\n title", 40) == "Short title"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder with a config and one real CC BY paper, run from inside it as a user would."""
    folder = tmp_path / "papers"
    folder.mkdir()
    shutil.copy(FIXTURES / "papers" / "2023.eacl-main.121.pdf", folder)
    (tmp_path / "digest.toml").write_text(
        'sources = ["dir:papers"]\n[selection]\ninterests = ""\n[store]\narchive_dir = "archive"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    return tmp_path


def _invoke(*args: str):
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, r.output + repr(r.exception)
    return r


def test_run_says_one_paper_and_what_to_do_next(workspace):
    r = _invoke("run")
    assert "1 paper, 0 LLM calls, 0 tokens" in r.stdout and "1 papers" not in r.stdout
    assert r.stdout.strip().splitlines()[-1].startswith("1 paper, ")  # the summary stays stdout's last line
    last = r.stderr.strip().splitlines()[-1]  # the next step goes with the notes, on stderr
    assert last.startswith(f"Next: read {workspace / 'archive' / '2026-W47.md'}; ")
    assert "add readers with `digest subscribers add EMAIL` (or [[channels]] in the config)" in last
    assert "`digest archive build`" in last and "digest send --dry-run" not in last  # nobody to send it to yet
    _invoke("subscribers", "add", "ada@example.org")
    last = _invoke("run").stderr.strip().splitlines()[-1]
    assert "`digest send --dry-run`, then `digest send` (1 subscriber)" in last
    assert "subscribers add" not in last
    built = _invoke("archive", "build").stdout
    assert "Archive: 1 issue, 1 paper, " in built and "1 file written" not in built


def test_papers_list_is_readable_at_80_columns(tmp_path):
    """Ids whole, the whole title wrapped in a column wide enough to read, nothing past the terminal's edge."""
    import os
    import subprocess
    import sys

    from rich.cells import cell_len

    from digest.store import Store

    cfg = tmp_path / "digest.toml"
    cfg.write_text(f'[store]\narchive_dir = "{tmp_path / "archive"}"\n', encoding="utf-8")
    long_title = ("Grounded summarisation of long scientific documents with retrieval, verification and "
                  "page-level citations at scale: a unique ending word zyzzyva")
    store = Store(tmp_path / "archive" / "digest.sqlite")
    store.upsert_paper(make_paper(1, title=long_title))
    store.upsert_paper(make_paper(2, title="大規模言語モデルによる科学論文の要約と根拠付き質問応答の評価"))
    store.close()

    def listing(columns: int) -> list[str]:
        done = subprocess.run([sys.executable, "-m", "digest", "--config", str(cfg), "papers", "list"],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": str(columns)})
        assert done.returncode == 0, done.stderr
        lines = done.stdout.rstrip("\n").splitlines()
        assert max(cell_len(line.rstrip()) for line in lines) <= columns, "\n".join(lines)
        return lines

    lines = listing(80)
    header = lines[0].split()
    assert header == ["id", "title", "published", "pages"], lines[0]
    text = " ".join(" ".join(lines).split())
    assert "2611.10001v2" in text and "2611.10002v1" in text and "2026-11-16" in text and "pending" in text
    assert "zyzzyva" in text and "…" not in text  # the whole title, wrapped
    title_at = lines[0].index("title")
    first = next(line for line in lines if "2611.10001v2" in line)
    assert len(first[title_at:].split("  ")[0]) >= 30  # a column a title can be read in, not squeezed
    narrow = listing(50)  # narrower: the date gives way before the title does
    assert narrow[0].split() == ["id", "title", "pages"] and "zyzzyva" in " ".join(narrow)
