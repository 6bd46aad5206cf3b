"""`digest send` killed with SIGKILL mid-send and started again: every subscriber has exactly one message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from factories import make_issue
from smtp_helpers import Inbox, smtp_server

from digest.mail.subscribers import add_subscriber

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = "from digest.cli import main\nmain()\n"


def _digest(conf: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    return subprocess.Popen([sys.executable, "-c", LAUNCH, "--config", str(conf), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _write_config(path: Path, archive: Path, port: int) -> None:
    path.write_text(
        f'[store]\narchive_dir = "{archive}"\n'
        f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nper_minute = 0\ntimeout = 10\n'
        'unsubscribe_url = "https://digest.example.org/unsubscribe/{token}"\n', encoding="utf-8")


def _wait_for(cond, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.005)


def test_kill_9_mid_send_then_rerun_delivers_exactly_once(config, store, tmp_path):
    make_issue(store, n_papers=2)
    emails = [f"reader{i}@example.org" for i in range(8)]
    for i, e in enumerate(emails):
        add_subscriber(store, e, "山田 花子" if i == 0 else f"Reader {i}")
    conf = tmp_path / "digest.toml"
    inbox = Inbox(delay=0.4)  # a slow server: each message waits before its 250
    with smtp_server(inbox) as port:
        _write_config(conf, config.archive_dir, port)
        proc = _digest(conf, "send")
        # Kill while the server holds the 4th message, after it received the data but before it answered:
        # the ambiguous moment a real crash can hit.
        _wait_for(lambda: len(inbox.messages) >= 4 or proc.poll() is not None)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL, proc.stdout.read()
        got_before = len(inbox.messages)
        assert 4 <= got_before < len(emails)

        inbox.delay = 0.0
        rerun = _digest(conf, "send")
        output, _ = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, output
        assert "unknown, not resent" in output
        third = _digest(conf, "send")
        output3, _ = third.communicate(timeout=60)
        assert third.returncode == 0, output3

    counts = {e: inbox.count_for(e) for e in emails}
    assert counts == {e: 1 for e in emails}, counts
    rows = store.query("SELECT status, count(*) AS n FROM deliveries GROUP BY status")
    states = {r["status"]: r["n"] for r in rows}
    # The message in flight at the kill stays 'sending' (delivered, but we could not know): never resent.
    assert states == {"sent": len(emails) - 1, "sending": 1}
    assert "skipped, already sent" in output3


def test_resend_unknown_sends_the_interrupted_message_again(config, store, tmp_path):
    """The owner may choose to resend the ambiguous one: that one subscriber may then have two."""
    make_issue(store, n_papers=1)
    emails = [f"early{i}@example.org" for i in range(3)]
    for e in emails:
        add_subscriber(store, e)
    conf = tmp_path / "digest.toml"
    inbox = Inbox(delay=0.4)
    with smtp_server(inbox) as port:
        _write_config(conf, config.archive_dir, port)
        proc = _digest(conf, "send")
        _wait_for(lambda: len(inbox.messages) >= 1 or proc.poll() is not None)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        inbox.delay = 0.0
        out, _ = _digest(conf, "send", "--resend-unknown").communicate(timeout=60)
    assert sorted(inbox.count_for(e) for e in emails) == [1, 1, 2], out
    assert [r[0] for r in store.query("SELECT status FROM deliveries")] == ["sent"] * 3
