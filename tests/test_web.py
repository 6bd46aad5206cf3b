"""`digest serve` over real HTTP (waitress on 127.0.0.1): subscribe, confirm, unsubscribe, one-click, the site."""

from __future__ import annotations

import re
import socket

import httpx
import pytest
from factories import make_issue
from smtp_helpers import Inbox, smtp_server
from web_helpers import web_server

from digest.mail.delivery import send_issue
from digest.mail.subscribers import add_subscriber, get_subscriber


@pytest.fixture
def inbox():
    return Inbox()


@pytest.fixture
def site(config, store, inbox):
    """(client, base URL) with SMTP for confirmation mails."""
    config.mail.host = "127.0.0.1"
    config.mail.security = "none"
    config.mail.per_minute = 0
    with smtp_server(inbox) as smtp_port:
        config.mail.port = smtp_port
        with web_server(config, store) as base:
            config.web.public_url = base  # where confirmation links point
            with httpx.Client(base_url=base, timeout=60) as client:
                yield client, base


def _confirm_link(inbox: Inbox, address: str) -> str:
    mails = [m for m in inbox.messages if m.rcpt_tos == [address]]
    assert len(mails) == 1
    body = mails[0].msg.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+/confirm/[A-Za-z0-9_-]+", body).group(0)


def test_subscribe_confirm_then_unsubscribe(site, store, inbox, config):
    client, base = site
    form = client.get("/subscribe")
    assert form.status_code == 200 and 'name="email"' in form.text
    assert form.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in form.headers["content-security-policy"]

    r = client.post("/subscribe", data={"email": "Hanako@Example.jp", "name": "山田 花子"})
    assert r.status_code == 200 and "Check your inbox" in r.text
    sub = get_subscriber(store, "hanako@example.jp")
    assert sub.status == "pending" and sub.name == "山田 花子"
    link = _confirm_link(inbox, "Hanako@example.jp")
    assert link.startswith(base + "/confirm/")
    confirm_mail = inbox.messages[0].msg
    assert confirm_mail["To"].addresses[0].display_name == "山田 花子"
    assert "Confirm your subscription" in confirm_mail["Subject"]

    # An unconfirmed address gets no issue.
    make_issue(store)
    assert send_issue(config, store).sent == []
    assert len(inbox.messages) == 1

    # GET shows a button and changes nothing (link scanners follow links).
    page = client.get(link)
    assert page.status_code == 200 and "<form method=\"post\"" in page.text
    assert get_subscriber(store, "hanako@example.jp").status == "pending"
    r = client.post(link)
    assert r.status_code == 200 and "You are subscribed" in r.text
    assert client.post(link).status_code == 200  # idempotent
    assert get_subscriber(store, "hanako@example.jp").status == "active"
    assert send_issue(config, store).sent == ["Hanako@example.jp"]

    # Unsubscribe: GET asks, POST does it, and again is fine.
    token = get_subscriber(store, "hanako@example.jp").token
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and f'action="/unsubscribe/{token}"' in page.text
    assert get_subscriber(store, "hanako@example.jp").status == "active"
    r = client.post(f"/unsubscribe/{token}")
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    r2 = client.post(f"/unsubscribe/{token}")
    assert r2.status_code == 200 and r2.text == r.text
    assert get_subscriber(store, "hanako@example.jp").status == "unsubscribed"
    # The old confirmation link does not resubscribe.
    assert client.post(link).status_code == 404
    assert get_subscriber(store, "hanako@example.jp").status == "unsubscribed"
    # And the next issue does not go to them.
    make_issue(store, week=-1)
    assert send_issue(config, store).sent == []


def test_subscribe_answer_does_not_reveal_who_is_subscribed(site, store, inbox, config):
    client, _ = site
    add_subscriber(store, "known@example.org")
    known = client.post("/subscribe", data={"email": "known@example.org"})
    new = client.post("/subscribe", data={"email": "new@example.org"})
    assert known.status_code == new.status_code == 200 and known.text == new.text
    # Only the new address got a confirmation mail; the active one got nothing.
    assert [m.rcpt_tos for m in inbox.messages] == [["new@example.org"]]
    # A forged Host header does not change where the confirmation link points.
    config.web.public_url = ""
    client.post("/subscribe", data={"email": "host@example.org"}, headers={"Host": "evil.example"})
    link = _confirm_link(inbox, "host@example.org")
    assert link.startswith(f"http://{config.web.host}:{config.web.port}/confirm/") and "evil" not in link
    # Asking again at once sends no second mail (the form cannot flood a mailbox).
    again = client.post("/subscribe", data={"email": "new@example.org"})
    assert again.text == new.text and len(inbox.messages) == 2  # new@ once, host@ once
    bad = client.post("/subscribe", data={"email": "not an address"})
    assert bad.status_code == 400 and "does not look like an email address" in bad.text
    assert get_subscriber(store, "not an address") is None


def test_forged_and_reused_tokens(site, store):
    client, _ = site
    a, _ = add_subscriber(store, "a@example.org")
    b, _ = add_subscriber(store, "b@example.org")
    forged = "x" * len(a.token)
    # GET looks the same for a real and a forged token: no oracle, nothing changes.
    g_real, g_forged = client.get(f"/unsubscribe/{a.token}"), client.get(f"/unsubscribe/{forged}")
    assert g_real.status_code == g_forged.status_code == 200
    assert g_real.text.replace(a.token, "T") == g_forged.text.replace(forged, "T")
    for bad in (forged, a.token[:-1], a.token + "A", a.token.upper(), "%27%20OR%201%3D1"):
        r = client.post(f"/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 404 and "not valid" in r.text
    assert client.post("/confirm/" + forged).status_code == 404
    assert {s: get_subscriber(store, s).status for s in ("a@example.org", "b@example.org")} == \
        {"a@example.org": "active", "b@example.org": "active"}
    # a's token unsubscribes only a, and reusing it is harmless.
    assert client.post(f"/unsubscribe/{a.token}").status_code == 200
    assert client.post(f"/unsubscribe/{a.token}").status_code == 200
    assert get_subscriber(store, "a@example.org").status == "unsubscribed"
    assert get_subscriber(store, "b@example.org").status == "active"
    # Confirm tokens cannot be used as unsubscribe tokens and vice versa.
    assert client.post(f"/confirm/{b.token}").status_code == 404


def test_one_click_unsubscribe_from_the_list_unsubscribe_header(store, config, inbox):
    """RFC 8058: the mail client POSTs List-Unsubscribe=One-Click to the link in the header."""
    config.mail.host, config.mail.security, config.mail.per_minute = "127.0.0.1", "none", 0
    make_issue(store)
    add_subscriber(store, "reader@example.org")
    add_subscriber(store, "other@example.org")
    with smtp_server(inbox) as smtp_port, web_server(config, store) as base:
        config.mail.port = smtp_port
        config.web.public_url = base  # unsubscribe links point at this app
        send_issue(config, store)
        msg = next(m.msg for m in inbox.messages if m.rcpt_tos == ["reader@example.org"])
        url = re.search(r"<(http[^>]+)>", msg["List-Unsubscribe"]).group(1)
        assert url.startswith(base + "/unsubscribe/")
        r = httpx.post(url, content=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=60)
        assert r.status_code == 200
        # The unsubscribe link in the HTML body goes to the same place.
        assert url in msg.get_body(("html",)).get_content()
    assert get_subscriber(store, "reader@example.org").status == "unsubscribed"
    assert get_subscriber(store, "other@example.org").status == "active"


def test_serves_the_archive_site_and_nothing_outside_it(config, store):
    with web_server(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        r = client.get("/")
        assert r.status_code == 200 and "digest archive build" in r.text and 'href="/subscribe"' in r.text
        assert client.get("/issues/2026-W47.html").status_code == 404
        site = config.archive_dir / "site"
        (site / "issues").mkdir(parents=True)
        (site / "index.html").write_text("<h1>Index of issues</h1>", encoding="utf-8")
        (site / "issues" / "2026-W47.html").write_text("<h1>Issue 2026-W47</h1>", encoding="utf-8")
        (site / "issues" / "index.html").write_text("<h1>All issues</h1>", encoding="utf-8")
        assert "Index of issues" in client.get("/").text
        assert "Issue 2026-W47" in client.get("/issues/2026-W47.html").text
        assert "All issues" in client.get("/issues/").text
        (site / "feed.xml").write_text('<feed xmlns="http://www.w3.org/2005/Atom"/>', encoding="utf-8")
        assert client.get("/feed.xml").headers["content-type"].startswith("application/atom+xml")
        assert client.get("/missing.html").status_code == 404
        for sneaky in ("/../digest.sqlite", "/%2e%2e/digest.sqlite", "/issues/..%2f..%2fdigest.sqlite"):
            r = client.get(sneaky)
            assert r.status_code == 404 and b"SQLite" not in r.content


def test_pages_follow_the_output_language(config, store):
    config.output.language = "ja"
    with web_server(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        r = client.get("/subscribe")
        assert '<html lang="ja">' in r.text and "購読する" in r.text
        r = client.get("/unsubscribe/" + "x" * 43)
        assert "配信を停止する" in r.text


def test_the_built_sites_subscribe_link_reaches_the_live_form(config, store):
    """A site built without web.public_url links to subscribe.html; `digest serve` answers it with its form."""
    from digest.archive.site import build_archive

    make_issue(store)
    build_archive(config, store)
    static_page = (config.archive_dir / "site" / "subscribe.html").read_text(encoding="utf-8")
    assert "subscribe-form" not in static_page  # opened from disk or a static host: the feed, no form going nowhere
    with web_server(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        index = client.get("/").text
        assert 'href="subscribe.html"' in index
        r = client.get("/subscribe.html")
        assert r.status_code == 200 and 'action="/subscribe"' in r.text and 'name="email"' in r.text


def _half_open(base: str, n: int, source: str = "127.0.0.1") -> list[socket.socket]:
    """n connections that send the start of a request and then nothing, as a slowloris holds them."""
    host, port = base.removeprefix("http://").split(":")
    held = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)), timeout=60, source_address=(source, 0))
        s.sendall(b"GET / HTTP/1.1\r\nHost: digest\r\n")
        held.append(s)
    return held


@pytest.mark.parametrize("limits", [{"connection_limit": 40, "per_client": 1000},
                                    {"connection_limit": 1000, "per_client": 20}], ids=["limit", "per client"])
def test_held_open_connections_do_not_lock_a_reader_out(config, store, limits):
    """Three times the limit of half-sent requests are held; a reader's GET is still answered.

    Before, waitress stopped accepting at its limit and the GET waited for the held sockets' timeout.
    The idle timeout is set far out here, so only making room for the new connection can answer it.
    """
    held: list[socket.socket] = []
    with web_server(config, store, limits={**limits, "channel_timeout": 600}) as base:
        try:
            held = _half_open(base, 120)
            r = httpx.get(base + "/subscribe", timeout=60)  # bounds a hang only: answered at once
            assert r.status_code == 200 and 'name="email"' in r.text
        finally:
            for s in held:
                s.close()


def test_an_idle_connection_is_closed_after_the_channel_timeout(config, store):
    with web_server(config, store, limits={"channel_timeout": 1}) as base:
        [s] = _half_open(base, 1)
        with s:
            assert s.recv(1) == b""  # closed by the server; the socket's 60 s timeout only bounds a hang


def test_room_is_made_by_closing_the_longest_idle_connection_never_a_busy_one():
    from types import SimpleNamespace

    from digest.mail.web import _shed

    closed: list[str] = []
    channels: dict = {}

    def channel(name: str, addr: str, idle_since: float, busy: bool = False) -> None:
        def close():
            closed.append(name)
            del channels[name]
        channels[name] = SimpleNamespace(addr=(addr, 1), requests=["GET"] if busy else [], total_outbufs_len=0,
                                         last_activity=idle_since, handle_close=close)

    channel("busy-oldest", "10.0.0.1", 1.0, busy=True)
    channel("idle-old", "10.0.0.1", 2.0)
    channel("idle-newer", "10.0.0.1", 3.0)
    channel("other-client", "10.0.0.2", 0.5)
    channel("new", "10.0.0.1", 9.0)
    _shed(channels, ("10.0.0.1", 1), connection_limit=10, per_client=3)
    assert closed == ["idle-old"]  # one address over its share: its own longest idle one goes
    _shed(channels, ("10.0.0.1", 1), connection_limit=3, per_client=10)
    assert closed == ["idle-old", "other-client"]  # over the limit: the longest idle of anyone's
    channels["new"].requests = ["GET"]
    channels["idle-newer"].requests = ["GET"]
    channel("newest", "10.0.0.3", 10.0)
    _shed(channels, ("10.0.0.3", 1), connection_limit=3, per_client=10)
    assert closed[-1] == "newest" and len(channels) == 3  # everyone busy: the new connection is refused
