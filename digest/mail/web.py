"""`digest serve`: subscribe with double opt-in, confirm, unsubscribe (RFC 8058 one-click), reader
feedback ("more / less like this") and the archive site.

A Flask app served by waitress. Tokens travel only in URL paths of pages that send
`Referrer-Policy: no-referrer`, so they do not leak to other sites.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, request, send_from_directory
from werkzeug.exceptions import HTTPException

from digest.config import Config
from digest.errors import DigestError, MailError
from digest.feedback import VOTE_NAMES, check_token, vote_with_token
from digest.i18n import labels
from digest.mail.delivery import send_confirmation
from digest.mail.message import template_env
from digest.mail.preferences_page import register as register_preferences
from digest.mail.subscribers import confirm_subscription, normalize_email, request_subscription, unsubscribe
from digest.store import Store

# One confirmation mail per address per this many seconds: the form cannot be used to flood someone.
CONFIRM_INTERVAL = 600.0
# Connections held open without a request must not lock readers out (make_server): an idle connection is
# closed after this many seconds, and past these counts the longest idle one makes room for a new one.
CHANNEL_TIMEOUT = 10
CONNECTION_LIMIT = 200  # waitress waits in select(): well below its 1024 descriptors
PER_CLIENT = 50  # behind a reverse proxy every reader is the proxy's address: room for its connections
# waitress reads a whole request body before the app sees it: past the largest form the app takes (a library
# file on the preferences page) it answers 413 itself instead of buffering up to its default of 1 GB.
MAX_BODY = 4 * 1024 * 1024

_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class _Throttle:
    """Remembers when each address was last sent a confirmation (in memory, per process)."""

    def __init__(self, interval: float):
        self.interval = interval
        self.last: dict[str, float] = {}
        self.lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self.lock:
            if now - self.last.get(key, -1e18) < self.interval:
                return False
            self.last[key] = now
            if len(self.last) > 10_000:  # forget the oldest half rather than grow without bound
                for k in sorted(self.last, key=self.last.get)[:5_000]:
                    del self.last[k]
            return True


def create_app(config: Config, store: Store, *, confirm_interval: float = CONFIRM_INTERVAL,
               pages: Sequence[Callable[..., Any]] = ()) -> Flask:
    """The WSGI app of `digest serve` for one config and store; `pages` add theirs as f(app, config, store, page).

    Pages of layers above mail (the Ask page, digest.ask.web.register) come in through `pages`: mail may not
    import them.
    """
    app = Flask("digest.mail.web", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    L = labels(config.output.language)
    title = config.output.title
    throttle = _Throttle(confirm_interval)
    site = config.archive_dir / "site"

    def page(template: str, status: int = 200, **ctx) -> Response:
        html = template_env().get_template(f"web/{template}.html.j2").render(
            L=L, lang=config.output.language, title=title, **ctx)
        return Response(html, status=status, mimetype="text/html", headers=_PAGE_HEADERS)

    def message(text: str, status: int = 200, **ctx) -> Response:
        return page("message", status, text=text, **ctx)

    def base_url() -> str:
        # Never the request's Host header: anyone could make our confirmation mail link elsewhere.
        if config.web.public_url:
            return config.web.public_url.rstrip("/")
        return f"http://{config.web.host}:{config.web.port}"

    register_preferences(app, config, store, page)
    for add_pages in pages:
        add_pages(app, config, store, page)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Response:
        return message(f"{e.code} {e.name}", e.code or 500)

    @app.get("/subscribe")
    @app.get("/subscribe.html")  # the archive site's Subscribe link: here the live form answers it
    def subscribe_form() -> Response:
        return page("subscribe", email="", name="", error="")

    @app.post("/subscribe")
    def subscribe() -> Response:
        email = request.form.get("email", "")[:320]
        name = request.form.get("name", "")[:200]
        try:
            address = normalize_email(email)
        except DigestError:
            return page("subscribe", 400, email=email, name=name, error=L["web_invalid_email"])
        # The same answer whether the address is new, pending or already subscribed:
        # the form must not tell a stranger who is on the list.
        if throttle.allow(address.lower()):
            sub, token = request_subscription(store, address, name)
            if token is not None:
                try:
                    send_confirmation(config, sub.email, sub.name, f"{base_url()}/confirm/{token}")
                except MailError:
                    app.logger.exception("confirmation mail to a subscriber failed")
                    abort(503)
        return message(L["web_check_inbox"])

    @app.get("/confirm/<token>")
    def confirm_form(token: str) -> Response:
        return page("confirm", token=token)

    @app.post("/confirm/<token>")
    def confirm(token: str) -> Response:
        sub = confirm_subscription(store, token)
        if sub is None or sub.status != "active":
            return message(L["web_invalid_link"], 404)
        return message(L["web_confirmed"])

    @app.get("/unsubscribe/<token>")
    def unsubscribe_form(token: str) -> Response:
        # The same page for every token: a GET (often a link scanner) changes nothing and reveals nothing.
        return page("unsubscribe", token=token)

    @app.post("/unsubscribe/<token>")
    def unsubscribe_post(token: str) -> Response:
        # Both the page's button and RFC 8058 one-click (body List-Unsubscribe=One-Click) land here.
        sub = unsubscribe(store, token)
        if sub is None:
            return message(L["web_invalid_link"], 404)
        return message(L["web_unsubscribed"].format(title=title), link=("/subscribe", L["web_resubscribe"]))

    @app.get("/feedback/<token>")
    def feedback_form(token: str) -> Response:
        # A GET only asks: link scanners and mail previews open links, and must not vote.
        found = check_token(store, token)
        if found is None:
            return message(L["web_invalid_link"], 404)
        vote, paper = found
        name = VOTE_NAMES[vote.vote]
        return page("feedback", token=token, heading=L[f"web_feedback_heading_{name}"],
                    question=L["web_feedback_question"].format(paper=paper.title or paper.key),
                    button=L[f"web_feedback_button_{name}"])

    @app.post("/feedback/<token>")
    def feedback_post(token: str) -> Response:
        found = vote_with_token(store, token)
        if found is None:
            return message(L["web_invalid_link"], 404)
        vote, paper = found
        return message(L[f"web_feedback_thanks_{VOTE_NAMES[vote.vote]}"].format(paper=paper.title or paper.key))

    @app.get("/")
    @app.get("/<path:path>")
    def archive_site(path: str = "") -> Response:
        if not (site / "index.html").is_file():
            if path:
                abort(404)
            return message(L["web_no_site"], link=("/subscribe", L["web_subscribe_heading"].format(title=title)))
        target = site / path
        if path == "" or path.endswith("/") or target.is_dir():
            path = path.rstrip("/") + "/index.html" if path else "index.html"
        # safe_join: no way out of the site folder. The feed says what it is, for feed readers.
        kind = "application/atom+xml" if path.rsplit("/", 1)[-1] == "feed.xml" else None
        return send_from_directory(site, path, mimetype=kind)

    return app


def serve(config: Config, store: Store, *, threads: int = 4, on_ready: Callable[[str], None] | None = None,
          pages: Sequence[Callable[..., Any]] = ()) -> None:
    """Run the app under waitress until interrupted; `on_ready` gets the URL once the port is bound."""
    # Bind first: a busy port is an OSError here, before anything says the server is running.
    server = make_server(create_app(config, store, pages=pages), host=config.web.host, port=config.web.port,
                         threads=threads)
    if on_ready:
        on_ready(f"http://{config.web.host}:{server.effective_port}/")
    server.run()


def make_server(app: Callable, *, host: str, port: int, threads: int = 4, channel_timeout: int = CHANNEL_TIMEOUT,
                connection_limit: int = CONNECTION_LIMIT, per_client: int = PER_CLIENT) -> Any:
    """waitress on host:port, bound, shedding idle connections so that held-open sockets cannot lock readers out.

    waitress stops accepting at its connection limit, so a few hundred sockets that never send a request
    (a slowloris, or a scanner) would leave every reader waiting. Here a new connection past the limit, or
    past `per_client` from one address, closes the longest idle one instead (a connection whose request is
    being served is never closed), and a connection idle for `channel_timeout` seconds is closed.
    """
    from waitress.adjustments import Adjustments
    from waitress.server import MultiSocketServer, TcpWSGIServer
    from waitress.task import ThreadedTaskDispatcher

    class GuardedServer(TcpWSGIServer):
        def handle_accept(self) -> None:
            before = set(self.active_channels)
            super().handle_accept()
            for fd in set(self.active_channels) - before:
                _shed(self.active_channels, self.active_channels[fd].addr, connection_limit, per_client)

    # waitress's own limit counts the listening socket and its trigger too: it must never be the one to act.
    adj = Adjustments(host=host, port=port, threads=threads, ident="paper-digest", channel_timeout=channel_timeout,
                      cleanup_interval=1, connection_limit=connection_limit + 3, max_request_body_size=MAX_BODY)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    sockets: dict = {}
    servers = [GuardedServer(app, sockets, dispatcher=dispatcher, adj=adj, sockinfo=info) for info in adj.listen]
    if len(servers) == 1:
        return servers[0]
    both = MultiSocketServer(sockets, adj, [(s.effective_host, s.effective_port) for s in servers], dispatcher,
                             servers[0].log_info)
    both.effective_port = servers[0].effective_port  # a name like localhost binds each of its addresses
    return both


def _shed(channels: dict, addr: Any, connection_limit: int, per_client: int) -> None:
    """Close the longest idle connections (no request in service, nothing left to send) over the limits."""
    for cap, client in ((per_client, _host(addr)), (connection_limit, None)):
        group = [c for c in channels.values() if client is None or _host(c.addr) == client]
        idle = sorted((c for c in group if not c.requests and not c.total_outbufs_len),
                      key=lambda c: c.last_activity)
        for victim in idle[:max(0, len(group) - cap)]:  # the newest is idle too: all busy refuses it
            victim.handle_close()


def _host(addr: Any) -> Any:
    return addr[0] if isinstance(addr, tuple) else addr


def site_dir(config: Config) -> Path:
    """Where `digest serve` looks for the built archive site."""
    return config.archive_dir / "site"
