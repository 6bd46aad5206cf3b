"""The issue email against a real SMTP server (aiosmtpd): structure, headers, encoding, escaping, delivery state."""

from __future__ import annotations

import html as html_lib
import shutil
import subprocess
import sys
import threading
import time
from email.header import decode_header, make_header
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import HOSTILE_TITLE, make_issue
from smtp_helpers import PASSWORD, USER, Inbox, free_port, make_cert, smtp_server

from digest.cli.main import cli
from digest.errors import DigestError, MailError
from digest.mail.delivery import send_issue
from digest.mail.message import Recipient, list_unsubscribe_value, message_id
from digest.mail.subscribers import add_subscriber, get_subscriber, list_subscribers, request_subscription

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cfg(config):
    config.mail.host = "127.0.0.1"
    config.mail.security = "none"
    config.mail.per_minute = 0
    config.mail.sender = "Paper digest <digest@example.org>"
    config.mail.reply_to = "editor@example.org"
    config.mail.list_id = "weekly.example.org"
    config.mail.unsubscribe_mailto = "leave@example.org"
    config.mail.unsubscribe_url = "https://digest.example.org/unsubscribe/{token}"
    config.output.archive_url = "https://digest.example.org"
    return config


def _subscribe_three(store):
    add_subscriber(store, "ada@example.org", "Ada Lovelace")
    add_subscriber(store, "hanako@example.jp", "山田 花子")
    add_subscriber(store, "bob@example.net")
    return list_subscribers(store, "active")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _check_html_is_inert(html: str, site: str = "https://digest.example.org/") -> None:
    p = _Tags()
    p.feed(html)
    names = {t for t, _ in p.tags}
    assert not names & {"script", "iframe", "object", "embed", "link", "form"}
    # One <style>, in the head, with colours only: nothing it could load.
    assert names.isdisjoint({"style"}) or (html.count("<style>") == 1 and html.index("<style>") < html.index("<body"))
    assert "url(" not in html and "@import" not in html
    for tag, attrs in p.tags:
        assert not any(k.startswith("on") for k in attrs), attrs
        href = attrs.get("href")
        if href is not None:
            assert href.startswith(("https://", "http://", "mailto:", "#")), href
        if tag == "img":  # only the paper thumbnails, from the public site, sized and described
            assert attrs["src"].startswith(site + "thumbs/") and attrs["alt"] and attrs["width"] and attrs["height"]


def _raw_headers(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def test_three_subscribers_get_one_correct_message_each_and_a_rerun_sends_none(cfg, store):
    issue = make_issue(store, titles=[HOSTILE_TITLE])
    subs = _subscribe_three(store)
    inbox = Inbox()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        report = send_issue(cfg, store)
        assert sorted(report.sent) == sorted(s.email for s in subs) and report.ok
        again = send_issue(cfg, store)
    assert again.sent == [] and sorted(again.skipped) == sorted(report.sent)
    assert len(inbox.messages) == 3
    assert len({m.peer for m in inbox.messages}) == 1  # one connection for all recipients
    by_rcpt = {m.rcpt_tos[0]: m for m in inbox.messages}
    assert all(len(m.rcpt_tos) == 1 for m in inbox.messages)
    for sub in subs:
        got = by_rcpt[sub.email]
        assert got.mail_from == "digest@example.org"
        msg = got.msg
        assert msg.get_content_type() == "multipart/alternative"
        parts = list(msg.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        assert all(p.get_content_charset() == "utf-8" for p in parts)
        assert msg["Subject"] == "Paper digest 2026-W47: 3 papers"
        assert msg["From"] == "Paper digest <digest@example.org>"
        assert msg["Reply-To"] == "editor@example.org"
        assert msg["To"].addresses[0].addr_spec == sub.email
        assert msg["To"].addresses[0].display_name == sub.name
        assert msg["Date"].datetime is not None
        assert msg["Message-ID"] == message_id(cfg, issue.id, Recipient(sub.email, sub.name, sub.token, sub.id))
        assert msg["List-Id"] == "Paper digest <weekly.example.org>"
        unsub = msg["List-Unsubscribe"]
        assert "<mailto:leave@example.org?subject=unsubscribe>" in unsub
        assert f"<https://digest.example.org/unsubscribe/{sub.token}>" in unsub
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # Headers are 7-bit on the wire, whatever the names are.
        _raw_headers(got.data).decode("ascii")
        text, html = (p.get_content() for p in parts)
        for e in issue.entries:
            # The whole TL;DR of this paper, not just the "TL;DR" prefix every factory TL;DR starts with.
            assert e.generation.tldr in text and e.generation.tldr in html_lib.unescape(html)
            assert e.paper.title in text
            assert e.generation.summary in text
            # The compact edition: the two best answers (verified first), then a link to all eight.
            shown = [q for q in e.generation.qa if q.verified][:2]
            for q in e.generation.qa:
                assert (q.question in text and q.answer in text and q.quote in text) == (q in shown), q
            page = f"https://digest.example.org/papers/{e.paper.key}.html"
            assert f"All 8 answers: {page}" in text and f'href="{page}"' in html
            assert e.paper.abs_url in text and e.paper.abs_url in html
            assert f'href="{e.paper.pdf_url}"' in html and f"PDF: {e.paper.pdf_url}" in text
        assert "(p. 2)" in text
        # Each cited page opens the PDF at that page.
        assert f'(p. <a href="{issue.entries[0].paper.pdf_url}#page=2" class="a">2</a>)' in html
        assert "https://digest.example.org/issues/2026-W47.html" in text
        assert 'href="https://digest.example.org/issues/2026-W47.html"' in html
        assert sub.token in text and sub.token in html
        # The hostile title shows as text in HTML, and never as markup.
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html.lower()
        assert "&lt;img src=x onerror=alert(2)&gt;" in html
        _check_html_is_inert(html)
    # The store says sent, once each.
    rows = store.query("SELECT status, attempts FROM deliveries WHERE issue_id=?", (issue.id,))
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * 3


def test_japanese_issue_is_encoded_and_localised(cfg, store):
    cfg.output.title = "論文ダイジェスト"
    cfg.mail.sender = "論文ダイジェスト <digest@example.org>"
    issue = make_issue(store, language="ja", n_papers=2, titles=["大規模言語モデルの要約", "Second paper"])
    add_subscriber(store, "hanako@example.jp", "山田 花子")
    inbox = Inbox()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        send_issue(cfg, store)
    got = inbox.messages[0]
    raw = _raw_headers(got.data).decode("ascii")
    assert "=?utf-8?" in raw
    msg = got.msg
    assert msg["Subject"] == "論文ダイジェスト 2026-W47: 2本の論文"
    assert str(make_header(decode_header(raw.split("Subject: ", 1)[1].split("\r\n")[0]))).startswith("論文")
    assert msg["From"].addresses[0].display_name == "論文ダイジェスト"
    assert msg["To"].addresses[0].display_name == "山田 花子"
    assert msg["List-Id"] == "論文ダイジェスト <weekly.example.org>"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for body in (text, html):
        assert "大規模言語モデルの要約" in body and "今週の論文" in body and "配信停止" in body
    assert '<html lang="ja">' in html
    assert issue.entries[0].generation.qa[0].answer in html


@pytest.fixture
def trusted_cert(tmp_path, monkeypatch):
    """A test CA's certificate for the SMTP server, trusted the way a private CA would be."""
    cert = make_cert(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    return cert


def test_starttls_with_login(cfg, store, trusted_cert, monkeypatch):
    cert = trusted_cert
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    make_issue(store)
    add_subscriber(store, "ada@example.org")
    cfg.mail.security, cfg.mail.username, cfg.mail.password_env = "starttls", USER, "TEST_SMTP_PASSWORD"
    inbox = Inbox()
    with smtp_server(inbox, security="starttls", auth=True, cert=cert) as port:
        cfg.mail.port = port
        report = send_issue(cfg, store)
    assert report.sent == ["ada@example.org"]
    assert inbox.messages[0].tls and inbox.messages[0].authenticated
    assert PASSWORD.encode() not in inbox.messages[0].data


def test_implicit_tls_without_login(cfg, store, trusted_cert, monkeypatch):
    cert = trusted_cert
    make_issue(store)
    add_subscriber(store, "ada@example.org")
    cfg.mail.security = "ssl"
    inbox = Inbox()
    with smtp_server(inbox, security="ssl", cert=cert) as port:
        cfg.mail.port = port
        assert send_issue(cfg, store).sent == ["ada@example.org"]
    assert inbox.messages[0].tls and not inbox.messages[0].authenticated


def test_bad_password_or_missing_password_stops_and_records_nothing(cfg, store, trusted_cert, monkeypatch):
    cert = trusted_cert
    make_issue(store)
    add_subscriber(store, "ada@example.org")
    cfg.mail.security, cfg.mail.username, cfg.mail.password_env = "starttls", USER, "TEST_SMTP_PASSWORD"
    inbox = Inbox()
    with smtp_server(inbox, security="starttls", auth=True, cert=cert) as port:
        cfg.mail.port = port
        monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
        with pytest.raises(MailError, match="TEST_SMTP_PASSWORD"):
            send_issue(cfg, store)
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password-123")
        with pytest.raises(MailError) as e:
            send_issue(cfg, store)
    assert "refused" in str(e.value) and "wrong-password-123" not in str(e.value)
    assert inbox.messages == []
    assert store.query("SELECT * FROM deliveries") == []


def test_untrusted_certificate_is_refused(cfg, store, tmp_path):
    cert = make_cert(tmp_path)
    make_issue(store)
    add_subscriber(store, "ada@example.org")
    cfg.mail.security = "starttls"
    inbox = Inbox()
    with smtp_server(inbox, security="starttls", cert=cert) as port:
        cfg.mail.port = port
        with pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
            send_issue(cfg, store)
    assert inbox.messages == []


def test_451_is_deferred_and_550_bounces(cfg, store):
    issue = make_issue(store)
    add_subscriber(store, "ok@example.org")
    add_subscriber(store, "later@example.org")
    add_subscriber(store, "nobody@example.org")
    cfg.mail.bounce_after = 1
    inbox = Inbox(rcpt_replies={"later@example.org": "451 4.2.1 Mailbox busy, try later",
                                "nobody@example.org": "550 5.1.1 No such user"})
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        r = send_issue(cfg, store, retry_rounds=1, retry_delay=0)
        assert r.sent == ["ok@example.org"]
        assert [(a, why[:3]) for a, why in r.deferred] == [("later@example.org", "451")]
        assert [(a, why[:3]) for a, why in r.failed] == [("nobody@example.org", "550")]
        assert r.bounced == ["nobody@example.org"] and not r.ok
        assert get_subscriber(store, "nobody@example.org").status == "bounced"
        rows = {r["subscriber_id"]: (r["status"], r["attempts"]) for r in store.query("SELECT * FROM deliveries")}
        later = get_subscriber(store, "later@example.org")
        assert rows[later.id] == ("deferred", 2)  # tried, then retried once in the same run
        # The server recovers: the next run sends to the deferred address only.
        inbox.rcpt_replies.clear()
        r2 = send_issue(cfg, store)
    assert r2.sent == ["later@example.org"] and r2.skipped == ["ok@example.org"]
    assert [inbox.count_for(a) for a in ("ok@example.org", "later@example.org", "nobody@example.org")] == [1, 1, 0]
    assert store.query("SELECT status FROM deliveries WHERE subscriber_id=?", (later.id,))[0][0] == "sent"
    assert issue.id == r2.issue_id


def test_bounce_after_counts_permanent_failures_across_issues(cfg, store):
    make_issue(store, week=1)
    make_issue(store, week=0)
    add_subscriber(store, "nobody@example.org")
    cfg.mail.bounce_after = 2
    inbox = Inbox(rcpt_replies={"nobody@example.org": "550 5.1.1 No such user"})
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        send_issue(cfg, store, "2026-W46")
        assert get_subscriber(store, "nobody@example.org").status == "active"
        again = send_issue(cfg, store, "2026-W46")  # a permanent failure is not retried for the same issue
        assert again.failed == [] and again.failed_earlier[0][1].startswith("550") and again.ok
        assert get_subscriber(store, "nobody@example.org").bounces == 1
        r = send_issue(cfg, store, "2026-W47")
    assert r.bounced == ["nobody@example.org"]
    assert get_subscriber(store, "nobody@example.org").status == "bounced"


class _DropOnce(Inbox):
    """Closes the connection at the first RCPT it sees: the client must reconnect and retry."""

    dropped = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.dropped:
            self.dropped = True
            server.transport.close()
            return "421 closing"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def test_dropped_connection_is_retried_on_a_new_connection(cfg, store):
    make_issue(store)
    _subscribe_three(store)
    inbox = _DropOnce()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        r = send_issue(cfg, store, retry_delay=0)
    assert sorted(r.sent) == ["ada@example.org", "bob@example.net", "hanako@example.jp"] and r.ok
    assert sorted(m.rcpt_tos[0] for m in inbox.messages) == sorted(r.sent)


class _LoseAfterData(Inbox):
    """Takes the message data, then closes the connection without answering and without keeping it."""

    losses = 1

    async def handle_DATA(self, server, session, envelope):
        if self.losses:
            self.losses -= 1
            server.transport.close()
            return "421 closing"
        return await super().handle_DATA(server, session, envelope)


def test_connection_lost_mid_message_is_resent_with_the_same_message_id(cfg, store):
    make_issue(store)
    _subscribe_three(store)
    inbox = _LoseAfterData()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        r = send_issue(cfg, store, retry_delay=0)
    assert sorted(r.sent) == ["ada@example.org", "bob@example.net", "hanako@example.jp"] and r.ok
    assert r.resent == ["ada@example.org"] and r.unknown == []
    assert sorted(m.rcpt_tos[0] for m in inbox.messages) == sorted(r.sent)
    rows = store.query("SELECT status, attempts FROM deliveries ORDER BY subscriber_id")
    assert [(row["status"], row["attempts"]) for row in rows] == [("sent", 2), ("sent", 1), ("sent", 1)]


def test_unknown_left_by_one_send_is_resent_by_the_next(cfg, store):
    """Without a retry round the outcome stays unknown: not ok, and the next send delivers it."""
    issue = make_issue(store)
    add_subscriber(store, "ada@example.org", "Ada")
    inbox = _LoseAfterData()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        r = send_issue(cfg, store, retry_rounds=0)
        assert r.unknown == ["ada@example.org"] and r.sent == [] and not r.ok
        assert store.query("SELECT status FROM deliveries")[0][0] == "sending"
        r2 = send_issue(cfg, store)
    assert r2.sent == r2.resent == ["ada@example.org"] and r2.ok
    sub = get_subscriber(store, "ada@example.org")
    assert inbox.messages[0].msg["Message-ID"] == message_id(cfg, issue.id, Recipient(sub.email, sub.name,
                                                                                       sub.token, sub.id))


def test_only_active_subscribers_are_mailed(cfg, store):
    make_issue(store)
    add_subscriber(store, "ada@example.org")
    request_subscription(store, "pending@example.org")  # never confirmed
    add_subscriber(store, "gone@example.org")
    from digest.mail.subscribers import remove_subscriber
    remove_subscriber(store, "gone@example.org")
    inbox = Inbox()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        r = send_issue(cfg, store)
    assert r.sent == ["ada@example.org"]
    assert [m.rcpt_tos for m in inbox.messages] == [["ada@example.org"]]


def _raw_field(data: bytes, name: bytes) -> list[bytes]:
    """The physical lines of one header field exactly as they came over the wire (first line + folds)."""
    lines = _raw_headers(data).split(b"\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith(name.lower() + b":"):
            end = i + 1
            while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
                end += 1
            return lines[i:end]
    raise AssertionError(f"no {name!r} header in {data[:2000]!r}")


def test_list_unsubscribe_is_written_as_plain_urls_on_the_wire(cfg, store):
    """RFC 2369/8058: angle-bracketed URLs, folded only between entries; never an RFC 2047 encoded-word."""
    cfg.mail.unsubscribe_url = ""  # the link comes from web.public_url, as in a default setup
    cfg.web.public_url = "https://newsletters.research-group.example.university.edu/paper-digest/weekly-issue"
    make_issue(store, n_papers=1)
    sub, _ = add_subscriber(store, "ada@example.org", "Ada Lovelace")
    token = "tok_" + "Zx9-" * 24  # longer than the default tokens: the link alone is over 78 characters
    store.execute("UPDATE subscribers SET token=? WHERE id=?", (token, sub.id))
    inbox = Inbox()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        send_issue(cfg, store)
    data = inbox.messages[0].data
    https = f"https://newsletters.research-group.example.university.edu/paper-digest/weekly-issue/unsubscribe/{token}"
    lines = _raw_field(data, b"List-Unsubscribe")
    assert all(b"=?" not in line for line in lines), lines
    assert all(len(line) <= 998 for line in lines)
    # Unfolding (RFC 5322 2.2.3: remove the CRLF before the whitespace) gives the field as written.
    assert b"\r\n".join(lines).replace(b"\r\n", b"").decode("ascii") == (
        f"List-Unsubscribe: <mailto:leave@example.org?subject=unsubscribe>, <{https}>")
    assert _raw_field(data, b"List-Unsubscribe-Post") == [b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
    assert inbox.messages[0].msg["List-Unsubscribe"] == f"<mailto:leave@example.org?subject=unsubscribe>, <{https}>"


def test_list_unsubscribe_urls_cannot_leave_their_brackets():
    assert list_unsubscribe_value(["mailto:退会@example.jp?subject=unsubscribe"]) == (
        "<mailto:%E9%80%80%E4%BC%9A@example.jp?subject=unsubscribe>")
    assert list_unsubscribe_value(["mailto:a@example.org>\r\nBcc: x@example.org"]) == (
        "<mailto:a@example.org%3E%0D%0ABcc:%20x@example.org>")
    assert list_unsubscribe_value(["https://example.org/u/a%2Fb"]) == "<https://example.org/u/a%2Fb>"
    with pytest.raises(DigestError, match="too long for a mail header"):
        list_unsubscribe_value(["https://example.org/" + "a" * 1000])


def test_to_a_non_subscriber_sends_an_unrecorded_test_copy(cfg, store):
    make_issue(store)
    add_subscriber(store, "ada@example.org")
    inbox = Inbox()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        r = send_issue(cfg, store, to="owner@example.org")
        r2 = send_issue(cfg, store, to="owner@example.org")
    assert r.sent == r2.sent == ["owner@example.org"]
    assert [m.rcpt_tos for m in inbox.messages] == [["owner@example.org"]] * 2
    msg = inbox.messages[0].msg
    assert msg["List-Unsubscribe"] == "<mailto:leave@example.org?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] is None
    assert store.query("SELECT * FROM deliveries") == []


def test_dry_run_writes_eml_and_preview_and_sends_nothing(cfg, store, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "hunter2-very-secret")
    cfg.mail.username = "digest"
    cfg.mail.port = free_port()  # nothing listens there: any connection attempt would fail
    make_issue(store, titles=[HOSTILE_TITLE])
    subs = _subscribe_three(store)
    out = tmp_path / "outbox"
    r = send_issue(cfg, store, dry_run=True, out_dir=out)
    emls = sorted(out.glob("*.eml"))
    assert len(emls) == 3 and (out / "preview.html").is_file() and (out / "preview.txt").is_file()
    assert store.query("SELECT * FROM deliveries") == []
    preview = (out / "preview.html").read_text(encoding="utf-8")
    _check_html_is_inert(preview)
    for f in out.iterdir():
        data = f.read_bytes()
        assert b"hunter2-very-secret" not in data
    for s in subs:
        assert s.token.encode() not in (out / "preview.html").read_bytes()
    assert len(r.sent) == 3


def test_rate_limit_spaces_messages(cfg, store):
    make_issue(store, n_papers=1)
    _subscribe_three(store)
    cfg.mail.per_minute = 600  # one message per 0.1 s
    inbox = Inbox()
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        t0 = time.monotonic()
        send_issue(cfg, store)
        elapsed = time.monotonic() - t0
    assert len(inbox.messages) == 3 and elapsed >= 0.2


def test_cli_as_a_new_user(cfg, store, tmp_path):
    """subscribers add x3 (one Japanese name), send delivers three, a second send delivers none."""
    make_issue(store)
    inbox = Inbox()
    with smtp_server(inbox) as port:
        conf = tmp_path / "digest.toml"
        conf.write_text(
            f'[store]\narchive_dir = "{cfg.archive_dir}"\n[mail]\nhost = "127.0.0.1"\nport = {port}\n'
            'security = "none"\nper_minute = 0\n'
            'unsubscribe_url = "https://digest.example.org/unsubscribe/{token}"\n', encoding="utf-8")
        runner = CliRunner()
        base = ["--config", str(conf)]
        for args in (["ada@example.org", "--name", "Ada"], ["hanako@example.jp", "--name", "山田 花子"],
                     ["bob@example.net"]):
            res = runner.invoke(cli, base + ["subscribers", "add", *args], catch_exceptions=False)
            assert res.exit_code == 0, res.output
        res = runner.invoke(cli, base + ["subscribers", "list"], catch_exceptions=False)
        assert "hanako@example.jp" in res.output and "3 active" in res.output
        res = runner.invoke(cli, base + ["send"], catch_exceptions=False)
        assert res.exit_code == 0 and "sent" in res.output
        assert len(inbox.messages) == 3
        res = runner.invoke(cli, base + ["send"], catch_exceptions=False)
        assert res.exit_code == 0 and "already sent" in res.output
        assert len(inbox.messages) == 3
        res = runner.invoke(cli, base + ["subscribers", "export"], catch_exceptions=False)
        assert res.output.splitlines()[0].startswith("email,name,status")
        assert "hanako@example.jp,山田 花子,active" in res.output
    names = {m.msg["To"].addresses[0].display_name for m in inbox.messages}
    assert names == {"Ada", "山田 花子", ""}


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_html_part_fits_600_and_375_px_in_chromium(cfg, store, tmp_path):
    make_issue(store, titles=[HOSTILE_TITLE + " " + "Supercalifragilistic" * 6])
    _subscribe_three(store)
    send_issue(cfg, store, dry_run=True, out_dir=tmp_path / "out")
    eml = sorted((tmp_path / "out").glob("*.eml"))[0]
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_email_html.py"), str(eml),
                          "--out", str(tmp_path / "shots")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "600px: ok" in res.stdout and "375px: ok" in res.stdout
    assert (tmp_path / "shots" / "email-600.png").stat().st_size > 1000
    assert (tmp_path / "shots" / "email-375.png").stat().st_size > 1000


def test_extractive_abstract_only_missing_generation_and_updates_are_shown(cfg):
    from factories import make_generation, make_paper

    from digest.mail.message import render_parts
    from digest.records import Issue, IssueEntry

    p1, p2, p3 = make_paper(1), make_paper(2), make_paper(3, title="No generation at all")
    g1 = make_generation(p1, "extractive")
    g2 = make_generation(p2, "extractive")
    g2.status, g2.note, g2.qa = "abstract-only", "the PDF is encrypted", []
    issue = Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en",
                  model="extractive", created="2026-11-16T08:00:00+00:00", entries=[
                      IssueEntry(p1, g1, 1, is_update=True), IssueEntry(p2, g2, 2), IssueEntry(p3, None, 3)])
    text, html = render_parts(cfg, issue, None)
    for body in (text, html):
        assert "Written without an LLM" in body
        assert f"Updated: new version v{p1.version}" in body
        assert "Summarised from the abstract only: the PDF is encrypted." in body
        assert "No generation at all" in body and p3.abstract in body
        assert "<mailto:" not in body and "mailto:leave@example.org?subject=unsubscribe" in body
    assert text.count("-- Q&A (2 of 8 answers) --") == 1  # only the paper that has answers


def test_cli_shows_names_and_server_replies_as_text(cfg, store, tmp_path):
    make_issue(store, n_papers=1)
    add_subscriber(store, "mal@example.org", "[/bold] [red]Mal")
    add_subscriber(store, "nobody@example.org")
    inbox = Inbox(rcpt_replies={"nobody@example.org": "550 5.1.1 [/nobody] unknown"})
    with smtp_server(inbox) as port:
        conf = tmp_path / "digest.toml"
        conf.write_text(f'[store]\narchive_dir = "{cfg.archive_dir}"\n[mail]\nhost = "127.0.0.1"\n'
                        f'port = {port}\nsecurity = "none"\nper_minute = 0\n', encoding="utf-8")
        runner = CliRunner()
        res = runner.invoke(cli, ["--config", str(conf), "subscribers", "list"], catch_exceptions=False)
        assert "[/bold] [red]Mal" in res.output
        res = runner.invoke(cli, ["--config", str(conf), "send"])
    assert res.exit_code == 3, res.output  # something failed: a scheduler can notice
    assert "[/nobody] unknown" in res.output and "failed" in res.output


def test_send_exit_status_tells_a_scheduler_what_needs_attention(cfg, store, tmp_path):
    """3 while a delivery is deferred or newly failed; 0 once everyone has it or failed in an earlier send."""
    make_issue(store, n_papers=1)
    for a in ("ok@example.org", "later@example.org", "nobody@example.org"):
        add_subscriber(store, a)
    inbox = Inbox(rcpt_replies={"later@example.org": "451 4.2.1 Mailbox busy, try later",
                                "nobody@example.org": "550 5.1.1 No such user"})
    with smtp_server(inbox) as port:
        conf = tmp_path / "digest.toml"
        conf.write_text(f'[store]\narchive_dir = "{cfg.archive_dir}"\n[mail]\nhost = "127.0.0.1"\n'
                        f'port = {port}\nsecurity = "none"\nper_minute = 0\nbounce_after = 3\n', encoding="utf-8")
        runner = CliRunner()
        first = runner.invoke(cli, ["--config", str(conf), "send"])
        inbox.rcpt_replies.pop("later@example.org")  # the server recovers; the 550 address stays unknown
        second = runner.invoke(cli, ["--config", str(conf), "send"])
        third = runner.invoke(cli, ["--config", str(conf), "send", "--resend-unknown"])  # old flag: accepted
    assert first.exit_code == 3, first.output
    assert "deferred" in first.output and "451 4.2.1" in first.output and "550 5.1.1" in first.output
    assert second.exit_code == 0, second.output
    assert "failed in an earlier send" in second.output and "550 5.1.1" in second.output
    assert third.exit_code == 0, third.output
    assert [inbox.count_for(a) for a in ("ok@example.org", "later@example.org", "nobody@example.org")] == [1, 1, 0]


def test_a_second_send_while_one_runs_is_refused(cfg, store):
    make_issue(store, n_papers=1)
    _subscribe_three(store)
    import asyncio

    inbox, release = Inbox(), threading.Event()
    take = inbox.handle_DATA

    async def held(server, session, envelope):  # the first send keeps running until the second was refused
        reply = await take(server, session, envelope)
        await asyncio.to_thread(release.wait, 60)
        return reply

    inbox.handle_DATA = held
    with smtp_server(inbox) as port:
        cfg.mail.port = port
        first: dict = {}
        t = threading.Thread(target=lambda: first.update(r=send_issue(cfg, store)))
        t.start()
        assert inbox.received.wait(60)  # bounds a hang only
        try:
            with pytest.raises(MailError, match="another `digest send` is running"):
                send_issue(cfg, store)
        finally:
            release.set()
        t.join(60)
    assert len(first["r"].sent) == 3 and len(inbox.messages) == 3
