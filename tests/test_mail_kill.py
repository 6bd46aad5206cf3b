"""`digest send` killed with SIGKILL mid-send and started again: every subscriber gets the issue.

The message in flight at the kill is sent again with the same Message-ID: whether the server kept it
(the receiver then sees one Message-ID twice and may drop the copy) or lost it (the subscriber would
otherwise never get the issue), the rerun exits 0 only when everyone has it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from factories import make_issue
from smtp_helpers import Inbox, smtp_server
from waits import wait_for

from digest.mail.subscribers import add_subscriber

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = "from digest.cli import main\nmain()\n"


def _digest(conf: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    return subprocess.Popen([sys.executable, "-c", LAUNCH, "--config", str(conf), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@dataclass
class HoldingInbox(Inbox):
    """Answers at once up to the `hold_from`-th message, which it holds unanswered until the client goes away.

    The kill then always lands in the ambiguous moment, however long the test takes to see the message.
    """

    hold_from: int = 0  # 0: hold nothing

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            nth = len(self.messages) + len(self.lost) + 1
        # One send is one connection, one message at a time: setting the delay here is not racy.
        self.delay = 600.0 if self.hold_from and nth >= self.hold_from else 0.0
        return await super().handle_DATA(server, session, envelope)


def _write_config(path: Path, archive: Path, port: int) -> None:
    path.write_text(
        f'[store]\narchive_dir = "{archive}"\n'
        f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nper_minute = 0\ntimeout = 120\n'
        'unsubscribe_url = "https://digest.example.org/unsubscribe/{token}"\n', encoding="utf-8")



def _kill_mid_message(conf: Path, inbox: HoldingInbox, nth: int) -> None:
    """Start `digest send` and SIGKILL it while the server holds the nth message, before its 250 reply."""
    inbox.hold_from = nth
    proc = _digest(conf, "send")
    # The ambiguous moment a real crash can hit: the data went out, the answer did not come back.
    wait_for(lambda: len(inbox.messages) + len(inbox.lost) >= nth or proc.poll() is not None)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read()


def _subscribe(store, n: int) -> list[str]:
    emails = [f"reader{i}@example.org" for i in range(n)]
    for i, e in enumerate(emails):
        add_subscriber(store, e, "山田 花子" if i == 0 else f"Reader {i}")
    return emails


def test_kill_9_while_the_server_loses_the_message_then_rerun_delivers_it(config, store, tmp_path):
    """The server drops the unanswered message: the rerun must send it, or that subscriber gets nothing."""
    make_issue(store, n_papers=2)
    emails = _subscribe(store, 8)
    conf = tmp_path / "digest.toml"
    inbox = HoldingInbox(lose_unanswered=True)
    with smtp_server(inbox) as port:
        _write_config(conf, config.archive_dir, port)
        _kill_mid_message(conf, inbox, 4)
        wait_for(lambda: len(inbox.lost) == 1)
        assert len(inbox.messages) == 3

        inbox.hold_from = 0
        rerun = _digest(conf, "send")
        output, _ = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, output
        assert {e: inbox.count_for(e) for e in emails} == {e: 1 for e in emails}, output
        assert "resent after an interrupted send" in output
        third = _digest(conf, "send")
        output3, _ = third.communicate(timeout=60)
        assert third.returncode == 0, output3
        assert "skipped, already sent" in output3

    assert {e: inbox.count_for(e) for e in emails} == {e: 1 for e in emails}
    lost = inbox.lost[0]
    again = next(m for m in inbox.messages if m.rcpt_tos == lost.rcpt_tos)
    assert again.msg["Message-ID"] == lost.msg["Message-ID"]
    assert [r[0] for r in store.query("SELECT status FROM deliveries")] == ["sent"] * len(emails)


def test_kill_9_after_the_server_kept_the_message_resends_it_with_the_same_message_id(config, store, tmp_path):
    """Nobody can tell the server kept it: one subscriber gets a copy with the same Message-ID, nobody none."""
    make_issue(store, n_papers=1)
    emails = _subscribe(store, 5)
    conf = tmp_path / "digest.toml"
    inbox = HoldingInbox()
    with smtp_server(inbox) as port:
        _write_config(conf, config.archive_dir, port)
        _kill_mid_message(conf, inbox, 2)
        got_before = len(inbox.messages)
        assert got_before == 2

        inbox.hold_from = 0
        rerun = _digest(conf, "send")
        output, _ = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, output
        third = _digest(conf, "send")
        output3, _ = third.communicate(timeout=60)
        assert third.returncode == 0, output3

    counts = sorted(inbox.count_for(e) for e in emails)
    assert counts == [1] * (len(emails) - 1) + [2], counts
    twice = next(e for e in emails if inbox.count_for(e) == 2)
    ids = {m.msg["Message-ID"] for m in inbox.messages if m.rcpt_tos == [twice]}
    assert len(ids) == 1  # a receiver that already has it can recognise the copy
    assert [r[0] for r in store.query("SELECT status FROM deliveries")] == ["sent"] * len(emails)
