"""Several SMTP connections at once (mail.connections) with the same exactly-once ledger, and the issue
rendered once per send with each recipient's own links filled in (issue 23)."""

from __future__ import annotations

import asyncio
import html as html_lib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from click.testing import CliRunner
from email_fixtures import long_issue
from factories import HOSTILE_TITLE, add_reader, make_issue, make_paper, store_week_with_pool
from smtp_helpers import Inbox, Received, free_port, smtp_server
from waits import wait_for

from digest.cli.main import cli
from digest.errors import ExitStatus, MailError
from digest.feedback import feedback_secret
from digest.mail import delivery
from digest.mail import message as message_mod
from digest.mail.delivery import _Pacer, send_issue
from digest.mail.message import IssueMail, Recipient, feedback_links, message_id, render_parts, unsubscribe_url
from digest.mail.mime import BodyTemplate, encode_body
from digest.mail.preferences import preferences_url
from digest.mail.smtp import Mailer
from digest.mail.subscribers import add_subscriber, list_subscribers
from digest.readers import ReaderInterests, set_interests
from digest.records import Issue

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = "from digest.cli import main\nmain()\n"
CONNECTIONS = 4


@pytest.fixture
def cfg(config):
    config.mail.host, config.mail.security, config.mail.per_minute = "127.0.0.1", "none", 0
    config.mail.unsubscribe_url = "https://digest.example.org/unsubscribe/{token}"
    config.web.public_url = "https://digest.example.org"  # vote and preferences links in every message
    config.mail.connections = CONNECTIONS
    return config


def _subscribe(store, n: int) -> list[str]:
    emails = [f"reader{i:03d}@example.org" for i in range(n)]
    for i, e in enumerate(emails):
        add_subscriber(store, e, "山田 花子" if i == 0 else f"Reader {i}")
    return emails


@dataclass
class GatheringInbox(Inbox):
    """Holds the first messages unanswered until `together` of them are in at once, from as many connections:
    a send that does not really use its connections side by side never gets past them (and the test fails)."""

    together: int = CONNECTIONS
    gate: asyncio.Event | None = None
    peers_at_gate: set = field(default_factory=set)

    async def handle_DATA(self, server, session, envelope):
        if self.gate is None:
            self.gate = asyncio.Event()
        if not self.gate.is_set():
            self.peers_at_gate.add(tuple(session.peer))
            if len(self.peers_at_gate) >= self.together:
                self.gate.set()
            else:
                try:
                    await asyncio.wait_for(self.gate.wait(), 60)  # bounds a hang only
                except TimeoutError:
                    pass
        return await super().handle_DATA(server, session, envelope)


def test_four_connections_deliver_every_message_once_each_with_its_own_links(cfg, store):
    issue = make_issue(store, n_papers=2, titles=[HOSTILE_TITLE])
    emails = _subscribe(store, 40)
    inbox = GatheringInbox()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        report = send_issue(cfg, store)
        again = send_issue(cfg, store)
    assert report.ok and sorted(report.sent) == emails and report.resent == []
    assert again.sent == [] and sorted(again.skipped) == emails
    assert len(inbox.peers_at_gate) == CONNECTIONS  # four messages were in flight at one moment
    assert len({m.peer for m in inbox.messages}) == CONNECTIONS
    assert sorted(m.rcpt_tos[0] for m in inbox.messages) == emails  # each exactly once
    subs = {s.email: s for s in list_subscribers(store, "active")}
    key = feedback_secret(store)
    for got in inbox.messages:
        sub = subs[got.rcpt_tos[0]]
        rcpt = Recipient(sub.email, sub.name, sub.token, sub.id, key)
        msg = got.msg
        assert msg["Message-ID"] == message_id(cfg, issue.id, rcpt)
        assert msg["To"].addresses[0].addr_spec == sub.email
        text, html = (p.get_content() for p in msg.iter_parts())
        # Each message carries its own reader's links, none of another's, in both parts.
        own = [unsubscribe_url(cfg, sub.token), preferences_url(cfg, rcpt)]
        own += [u for urls in feedback_links(cfg, issue, rcpt).values() for u in urls.values()]
        assert all(u and u in text and u.replace("&", "&amp;") in html for u in own)
        assert sum(s.token in text for s in subs.values()) == 1
    rows = store.query("SELECT status, count(*) AS n FROM deliveries GROUP BY status")
    assert [(r["status"], r["n"]) for r in rows] == [("sent", len(emails))]


def test_the_rendered_once_bodies_are_what_a_full_rendering_gives(cfg, store, monkeypatch):
    key = feedback_secret(store)
    renders = []
    monkeypatch.setattr(message_mod, "render_parts", lambda *a: renders.append(a) or render_parts(*a))
    cfg.mail.unsubscribe_url = "https://digest.example.org/unsubscribe?t={token}&list=weekly"  # '&' to escape
    for language in ("en", "ja"):
        issue = long_issue(language)
        mail = IssueMail(cfg, issue)
        for i, rcpt in enumerate([Recipient("ada@example.org", "Ada", "tok-ada", 7, key),
                                  Recipient("bob@example.net", "", "tok&bob<", 8, key),
                                  Recipient("owner@example.org", vote_key=key),  # a test copy: no unsubscribe
                                  Recipient("nokey@example.org", "", "tok-nk", 9)]):
            links = (unsubscribe_url(cfg, rcpt.token), feedback_links(cfg, issue, rcpt), preferences_url(cfg, rcpt))
            full = render_parts(cfg, issue, *links)
            assert mail.parts(rcpt) == full, (language, i)
            sent = message_from_bytes(mail.message_bytes(rcpt)[1], policy=default)
            decoded = [p.get_content().replace("\r\n", "\n").rstrip("\n") for p in sent.iter_parts()]
            assert decoded == [b.replace("\r\n", "\n").rstrip("\n") for b in full], (language, i)
        # Three sets of links (Ada and Bob share one), each rendered with markers and checked once: no
        # template rendering per recipient.
        assert len(renders) == 2 * 3
        renders.clear()


def test_a_template_that_changes_a_link_is_rendered_in_full_for_every_recipient(cfg, store, monkeypatch):
    """The marker shortcut is checked against one full rendering: a link a template transforms falls back."""
    issue = make_issue(store, n_papers=1)
    real = message_mod.render_parts

    def shouting(config, issue, unsubscribe, *rest):
        text, html = real(config, issue, unsubscribe, *rest)
        return text + f"\n{(unsubscribe or '').upper()}\n", html

    monkeypatch.setattr(message_mod, "render_parts", shouting)
    mail = IssueMail(cfg, issue)
    for token in ("first-token", "second-token", "third-token"):
        rcpt = Recipient("a@example.org", "", token, 1, b"k" * 32)
        assert mail.parts(rcpt)[0].endswith(f"HTTPS://DIGEST.EXAMPLE.ORG/UNSUBSCRIBE/{token.upper()}\n")


@pytest.mark.parametrize("body", [
    "plain words, a link LINK0 here\n.dot line\ntrailing space \n" + "long " * 60 + "LINK1\nlast",
    "<p>論文の要約 LINK0</p>\n" + "論文の要約" * 300 + "\n<a href=\"LINK1\">x</a>\n",
])
def test_body_template_encodes_as_the_whole_body_would_be(body):
    tpl = BodyTemplate(body.replace("LINK0", "mark1n0x").replace("LINK1", "mark1n1x"), "mark1n([0-9]+)x")
    for values in (["https://a.example/u/1", "https://b.example/v?x=1&y=2"], ["=", "é " * 50]):
        filled = tpl.text(values)
        assert filled == body.replace("LINK0", values[0]).replace("LINK1", values[1])
        assert tpl.encoded(values) == encode_body(filled, tpl.cte)
    assert tpl.encoded(["a\nb", "c"]) == encode_body(tpl.text(["a\nb", "c"]), tpl.cte)  # a line end in a value


def test_the_rate_limit_holds_across_connections():
    """Four connections asking for turns at once get one turn each 60/per_minute s apart, never two together."""
    pacer = _Pacer(600, clock=lambda: 100.0)  # a clock that does not move: only the spacing is left
    slots: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(5):
            at = pacer.reserve()
            with lock:
                slots.append(at)

    threads = [threading.Thread(target=take) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(slots) == pytest.approx([100.0 + 0.1 * i for i in range(5 * CONNECTIONS)])
    free = _Pacer(0, clock=lambda: 100.0)
    assert [free.reserve() for _ in range(3)] == [100.0] * 3


def test_no_server_is_one_loud_error_with_four_connections(cfg, store):
    make_issue(store, n_papers=1)
    _subscribe(store, 8)
    cfg.mail.port = free_port()  # nothing listens there
    with pytest.raises(MailError, match="cannot connect"):
        send_issue(cfg, store)
    assert store.query("SELECT count(*) AS n FROM deliveries")[0]["n"] == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("smtp-")]


class _AtMostTwo(Controller):
    """An SMTP server that turns away a third connection at once with 421, as providers limit them."""

    def __init__(self, handler, **kwargs):
        super().__init__(handler, **kwargs)
        self.open = 0

    def factory(self):
        controller = self

        class Limited(SMTP):
            def connection_made(self, transport):
                if controller.open >= 2:
                    transport.write(b"421 4.7.0 too many connections\r\n")
                    transport.close()
                    return
                controller.open += 1
                super().connection_made(transport)

            def connection_lost(self, exc):
                controller.open -= 1
                super().connection_lost(exc)

        return Limited(self.handler, **self.SMTP_kwargs)


def test_a_server_that_takes_fewer_connections_says_to_lower_mail_connections(cfg, store):
    make_issue(store, n_papers=1)
    emails = _subscribe(store, 12)
    inbox = GatheringInbox(together=2)  # the two connections it takes are both open before the third is tried
    controller = _AtMostTwo(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        cfg.mail.port = controller.port
        with pytest.raises(MailError) as err:
            send_issue(cfg, store)
        assert "cannot connect" in str(err.value) and "lower mail.connections (now 4)" in str(err.value)
        cfg.mail.connections = 2
        report = send_issue(cfg, store)
    finally:
        controller.stop()
    assert report.ok and sorted(report.sent + report.skipped) == emails
    assert sorted(m.rcpt_tos[0] for m in inbox.messages) == emails


def test_an_error_in_one_connection_stops_the_others_and_a_rerun_finishes(cfg, store, monkeypatch):
    make_issue(store, n_papers=1)
    emails = _subscribe(store, 24)
    real = delivery._send_one
    broken = {"reader005@example.org"}

    def send_one(store_, mailer, mail, r, sender):
        if r.email in broken:
            raise RuntimeError("disk full")
        return real(store_, mailer, mail, r, sender)

    inbox = Inbox()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        monkeypatch.setattr(delivery, "_send_one", send_one)
        with pytest.raises(RuntimeError, match="disk full"):
            send_issue(cfg, store)
        assert not [t for t in threading.enumerate() if t.name.startswith("smtp-")]
        first = [m.rcpt_tos[0] for m in inbox.messages]
        assert len(first) < len(emails) and "reader005@example.org" not in first
        broken.clear()
        report = send_issue(cfg, store)
    assert report.ok and sorted(report.sent + report.skipped) == emails
    assert sorted(m.rcpt_tos[0] for m in inbox.messages) == emails  # nobody twice, nobody left out


# ---- each reader's own issue (issue 21) -------------------------------------------------------------


POOL = ["Grounded summarisation of long documents", "Faithful abstractive summaries",
        "Dense retrieval for open-domain questions", "Protein folding with diffusion models"]


def _week_with_pool(store) -> Issue:
    """The editor's issue of the first two papers; all four written up, in the week's pool."""
    issue = store_week_with_pool(store, [make_paper(i, title=t) for i, t in enumerate(POOL)], 2)
    return store.load_issue(issue.id)


def _bodies(got: Received) -> tuple[str, str]:
    text, html = (p.get_content() for p in got.msg.iter_parts())
    return text, html_lib.unescape(html)


def test_each_reader_gets_their_own_issue_with_its_reasons_once(cfg, store, tmp_path):
    _week_with_pool(store)
    add_reader(store, "rag@example.org", keywords=["retrieval"], max_papers=1)
    add_reader(store, "bio@example.org", keywords=["protein"], max_papers=1)
    plain = [f"plain{i}@example.org" for i in range(6)]
    for e in plain:
        add_reader(store, e)
    dry = send_issue(cfg, store, dry_run=True, out_dir=tmp_path / "outbox")
    assert {e: [(k, why) for k, _, why in papers] for e, papers in dry.selections} == {
        "rag@example.org": [("2611.10002", "matches 'retrieval'")],
        "bio@example.org": [("2611.10003", "matches 'protein'")]}
    listing = (tmp_path / "outbox" / "selections.txt").read_text(encoding="utf-8")
    assert "rag@example.org: their own issue, 1 papers\n  1. 2611.10002 Dense retrieval" in listing
    assert "plain0@example.org: the editor's issue" in listing
    inbox = Inbox()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        report = send_issue(cfg, store)
        again = send_issue(cfg, store)
    assert report.ok and len(report.sent) == 8 and again.sent == []
    got = {m.rcpt_tos[0]: m for m in inbox.messages}
    assert len(inbox.messages) == len(got) == 8  # one message per reader
    for email, title, why, other in (("rag@example.org", POOL[2], "matches 'retrieval'", POOL[3]),
                                     ("bio@example.org", POOL[3], "matches 'protein'", POOL[2])):
        text, html = _bodies(got[email])
        assert got[email].msg["Subject"] == "Paper digest 2026-W47: 1 paper"
        assert all(title in body and why in body and other not in body and POOL[0] not in body
                   for body in (text, html))
        assert f"({why})" in text  # under the paper's title
    for email in plain:  # the editor's issue, without reasons
        text, html = _bodies(got[email])
        assert POOL[0] in text and POOL[1] in text and POOL[2] not in text and "matches" not in text + html
    rows = store.query("SELECT status, count(*) AS n FROM deliveries GROUP BY status")
    assert [(r["status"], r["n"]) for r in rows] == [("sent", 8)]


def test_send_dry_run_shows_each_readers_selection(config, store, tmp_path):
    _week_with_pool(store)
    add_reader(store, "rag@example.org", keywords=["retrieval"], max_papers=1)
    add_reader(store, "plain@example.org")
    conf = tmp_path / "digest.toml"
    conf.write_text(f'[store]\narchive_dir = "{config.archive_dir}"\n[mail]\nhost = "127.0.0.1"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(conf), "send", "--dry-run", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "1 reader gets their own issue (the others the editor's)" in said
    assert "rag@example.org: 2611.10002 (matches 'retrieval')" in said and "plain@example.org" not in said
    assert "HTML part:" in said  # the size check of a dry run is still there


def test_a_reason_is_escaped_in_the_html(cfg, store):
    issue = make_issue(store, n_papers=1)
    rcpt = Recipient("a@example.org", "", "tok", 1, b"k" * 32)
    text, html = IssueMail(cfg, issue, {issue.entries[0].paper.key: "matches '<script>x</script>'"}).parts(rcpt)
    assert "matches '<script>x</script>'" in text
    assert "<script>" not in html and "matches &#39;&lt;script&gt;x&lt;/script&gt;&#39;" in html


# ---- kill -9 in the middle of a send on four connections --------------------------------------------


@dataclass
class HoldAfter(Inbox):
    """Answers the first `answer` messages at once and holds every later one unanswered: with four
    connections, four messages end up in flight together, and the kill lands while they are."""

    answer: int = 0
    held: int = 0

    async def handle_DATA(self, server, session, envelope):
        got = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, False, False,
                       tuple(session.peer))
        with self.lock:
            hold = len(self.messages) + len(self.lost) >= self.answer
            self.messages.append(got)
            self.held += hold
        if hold:
            await self.hold(got, 600)
        return "250 2.0.0 OK"


def _digest(conf: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    return subprocess.Popen([sys.executable, "-c", LAUNCH, "--config", str(conf), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kill_with_four_in_flight(config, tmp_path, inbox: HoldAfter, port: int) -> Path:
    conf = tmp_path / "digest.toml"
    conf.write_text(
        f'[store]\narchive_dir = "{config.archive_dir}"\n'
        f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nper_minute = 0\ntimeout = 120\n'
        f'connections = {CONNECTIONS}\nunsubscribe_url = "https://digest.example.org/unsubscribe/{{token}}"\n',
        encoding="utf-8")
    proc = _digest(conf, "send")
    wait_for(lambda: inbox.held >= CONNECTIONS or proc.poll() is not None)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read()
    return conf


def _rerun(conf: Path) -> str:
    rerun = _digest(conf, "send")
    output, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, output
    return output


def test_kill_9_with_four_messages_in_flight_then_rerun_loses_and_duplicates_nothing(config, store, tmp_path):
    """The server keeps no unanswered message (RFC 5321: it answers 250 once it has taken it)."""
    make_issue(store, n_papers=2)
    emails = _subscribe(store, 30)
    for sub in list_subscribers(store, "active")[::3]:  # a third get their own issue, with reasons
        set_interests(store, sub.id, ReaderInterests(keywords=["grounded"], max_papers=1))
    inbox = HoldAfter(answer=10, lose_unanswered=True)
    with smtp_server(inbox) as port:
        conf = _kill_with_four_in_flight(config, tmp_path, inbox, port)
        wait_for(lambda: len(inbox.lost) == CONNECTIONS)
        assert len(inbox.messages) == 10
        rows = {r["status"]: r["n"] for r in store.query("SELECT status, count(*) AS n FROM deliveries GROUP BY status")}
        assert rows == {"sent": 10, "sending": CONNECTIONS}  # exactly the four in flight are in doubt
        inbox.answer = 10 ** 6
        output = _rerun(conf)
        assert "resent after an interrupted send" in output
        assert "skipped, already sent" in _rerun(conf)
    assert {e: inbox.count_for(e) for e in emails} == {e: 1 for e in emails}  # 0 duplicates, 0 missing
    assert sum(m.msg["Subject"].endswith(": 1 paper") for m in inbox.messages) == 10  # the readers' own issues
    for lost in inbox.lost:
        again = [m for m in inbox.messages if m.rcpt_tos == lost.rcpt_tos]
        assert [m.msg["Message-ID"] for m in again] == [lost.msg["Message-ID"]]
    assert [r[0] for r in store.query("SELECT DISTINCT status FROM deliveries")] == ["sent"]


def test_kill_9_after_the_server_kept_the_four_in_flight_copies_only_those(config, store, tmp_path):
    """Nobody can tell the server kept them: the four in flight arrive twice, same Message-ID; nobody else."""
    make_issue(store, n_papers=1)
    emails = _subscribe(store, 20)
    inbox = HoldAfter(answer=6)
    with smtp_server(inbox) as port:
        conf = _kill_with_four_in_flight(config, tmp_path, inbox, port)
        in_flight = {m.rcpt_tos[0] for m in inbox.messages[6:]}
        inbox.answer = 10 ** 6
        _rerun(conf)
    counts = {e: inbox.count_for(e) for e in emails}
    assert {e for e, n in counts.items() if n == 2} == in_flight and len(in_flight) == CONNECTIONS
    assert all(n == 1 for e, n in counts.items() if e not in in_flight)
    for e in in_flight:
        assert len({m.msg["Message-ID"] for m in inbox.messages if m.rcpt_tos == [e]}) == 1


def test_ctrl_c_with_four_messages_in_flight_stops_at_once_and_a_rerun_completes(config, store, tmp_path):
    """The server holds four messages for 600 s and the SMTP timeout is 120 s: exiting within a minute shows
    the send did not wait for them; they were never answered, so the rerun sends each exactly once."""
    make_issue(store, n_papers=1)
    emails = _subscribe(store, 16)
    inbox = HoldAfter(answer=4, lose_unanswered=True)
    with smtp_server(inbox) as port:
        conf = tmp_path / "digest.toml"
        conf.write_text(
            f'[store]\narchive_dir = "{config.archive_dir}"\n'
            f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nper_minute = 0\ntimeout = 120\n'
            f'connections = {CONNECTIONS}\n', encoding="utf-8")
        proc = _digest(conf, "send")
        wait_for(lambda: inbox.held >= CONNECTIONS or proc.poll() is not None)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == ExitStatus.INTERRUPTED and "Interrupted" in output, output
        wait_for(lambda: len(inbox.lost) == CONNECTIONS)
        inbox.answer = 10 ** 6
        _rerun(conf)
    assert {e: inbox.count_for(e) for e in emails} == {e: 1 for e in emails}
    # Nothing else went into a message: every one the server kept is whole.
    assert all(m.msg.get_body(("html",)).get_content().rstrip().endswith("</html>") for m in inbox.messages)


def test_closing_a_connection_another_thread_is_dropping_does_not_fail(config):
    """After Ctrl-C the main thread closes every connection while a sending thread, its socket just cut by
    abort(), drops the same one: whichever sees it first, the other must not fail on what is gone."""
    mailer = Mailer(config.mail)

    class CutConnection:
        closed = 0

        def quit(self):
            mailer._drop()  # the sending thread, between our look at the connection and our use of it
            raise OSError("connection reset")

        def close(self):
            CutConnection.closed += 1

    mailer.smtp = CutConnection()
    mailer.close()
    assert mailer.smtp is None and CutConnection.closed >= 1
