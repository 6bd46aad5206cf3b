"""Nothing hangs: feeds and the arXiv API against servers that never answer, drip-feed, inflate, or ask to wait.

Every server here is real and local (pytest-httpserver, or a small threaded socket server for
answers no HTTP framework would send); the time bounds are generous (120 s), only there to bound a
hang: every server here stalls for 600 s or more, and the exact checks are the messages and request counts.
"""

from __future__ import annotations

import gzip
import io
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from werkzeug import Request, Response

from digest.errors import SourceError
from digest.sources.registry import fetch_source, fetch_sources

ATOM = "application/atom+xml"
CLOSED_PORT_API = "http://127.0.0.1:9/api/query"  # discard port: connection refused at once
LISTING = "arxiv_rss/rss2_new-format_2026-09-24_cs.LG+cs.AI+cs.CL+stat.ML_4items.xml"
API_ONE = "arxiv_api/api2026_id_list_2104.12255v1_single.xml"


class RawServer:
    """A TCP server on 127.0.0.1 that hands each connection to `handle(conn, stop)` in a thread.

    It stops by itself: `close()` sets `stop`, which every handler watches, and the accept loop
    gives up after ten minutes in any case.
    """

    def __init__(self, handle: Callable[[socket.socket, threading.Event], None]):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.handle = handle
        self.threads: list[threading.Thread] = []
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    def url(self, path: str) -> str:
        """The server's URL for `path`."""
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        until = time.monotonic() + 600
        while not self.stop.is_set() and time.monotonic() < until:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request; its content does not matter here
                self.handle(conn, self.stop)
            except OSError:
                pass  # the client gave up: that is what the tests want

    def close(self) -> None:
        """Stop accepting, end every handler, and wait for them."""
        self.stop.set()
        self.accepter.join(5)
        for t in self.threads:
            t.join(5)
        self.sock.close()


@pytest.fixture
def raw_server():
    """Start RawServers with a handler; all are closed after the test."""
    servers: list[RawServer] = []

    def start(handle: Callable[[socket.socket, threading.Event], None]) -> RawServer:
        servers.append(RawServer(handle))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def never_answer(conn: socket.socket, stop: threading.Event) -> None:
    """Accept the request and say nothing (for at most 600 s)."""
    stop.wait(600)


def drip(content_type: str) -> Callable[[socket.socket, threading.Event], None]:
    """A handler that sends the headers of a 100 kB body, then one byte every 0.3 s (for at most 600 s)."""

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: 100000\r\n\r\n".encode())
        for _ in range(2000):
            if stop.wait(0.3):
                return
            conn.sendall(b" ")

    return handle


def gzip_bomb(inflated_mb: int) -> bytes:
    """A gzip body of a few tens of kB that inflates to `inflated_mb` MB of an XML feed's whitespace."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as z:
        z.write(b"<?xml version='1.0'?><rss version='2.0'><channel>")
        block = b" " * 2**20
        for _ in range(inflated_mb):
            z.write(block)
    return buf.getvalue()


@pytest.fixture
def cfg(config):
    """The test config with short limits: 2 s per read, 3 s per request, 1 MB per feed."""
    config.arxiv.api_url = CLOSED_PORT_API
    config.limits.http_timeout = 2
    config.limits.http_deadline = 3
    config.limits.feed_max_mb = 1
    return config


# ---- feeds ------------------------------------------------------------------------------------------

def test_drip_fed_feed_is_cut_at_the_deadline(cfg, store, raw_server):
    cfg.limits.http_timeout = 60  # no read waits that long, however busy the machine: only the deadline cuts
    srv = raw_server(drip("application/rss+xml"))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"took longer than 3 s in all \(limits.http_deadline\)"):
        fetch_source("rss:" + srv.url("/feed.xml"), cfg, store)
    assert time.monotonic() - started < 120  # the per-read timeout alone let this run for hours


def test_gzip_bomb_feed_fails_alone_and_the_good_feed_delivers(cfg, store, httpserver, corpus):
    httpserver.expect_request("/bomb.xml").respond_with_data(
        gzip_bomb(64), headers={"Content-Encoding": "gzip"}, content_type="application/rss+xml")
    httpserver.expect_request("/rss/cs.LG").respond_with_data((corpus / LISTING).read_bytes())
    cfg.arxiv.rss_url = httpserver.url_for("/rss/{categories}")
    bomb = "rss:" + httpserver.url_for("/bomb.xml")
    results, errors = fetch_sources([bomb, "arxiv:cs.LG"], cfg, store)
    assert [e.source for e in errors] == [bomb]
    assert "answer too large (over 1 MB decompressed; limits.feed_max_mb)" in errors[0].detail
    assert [r.source for r in results] == ["arxiv:cs.LG"] and len(results[0].papers) == 4


# ---- the arXiv API ------------------------------------------------------------------------------------

def test_api_that_never_answers_fails_fast_naming_the_endpoint(cfg, store, raw_server):
    srv = raw_server(never_answer)
    cfg.arxiv.api_url = srv.url("/api/query")
    started = time.monotonic()
    with pytest.raises(SourceError) as exc:
        fetch_source("arxiv-query:ti:summarization", cfg, store)
    assert f"arXiv API (127.0.0.1:{srv.port})" in exc.value.detail and "timed out" in exc.value.detail
    assert time.monotonic() - started < 120


def test_dir_source_keeps_its_papers_when_the_api_never_answers(cfg, store, raw_server, corpus, tmp_path):
    srv = raw_server(never_answer)
    cfg.arxiv.api_url = srv.url("/api/query")
    folder = tmp_path / "pdfs"
    folder.mkdir()
    shutil.copy(corpus / "pdfs" / "arxiv" / "arxiv_2304.02623v1_beyond-summarization_cs.CL.pdf", folder / "a.pdf")
    started = time.monotonic()
    r = fetch_source(f"dir:{folder}", cfg, store)
    assert [p.key for p in r.papers] == ["2304.02623"]
    assert any("arXiv metadata look-up failed for 1 paper (" in w for w in r.warnings), r.warnings
    assert time.monotonic() - started < 120


def test_drip_fed_api_answer_is_cut_at_the_deadline(cfg, store, raw_server):
    cfg.limits.http_timeout = 60  # no read waits that long, however busy the machine: only the deadline cuts
    srv = raw_server(drip(ATOM))
    cfg.arxiv.api_url = srv.url("/api/query")
    started = time.monotonic()
    with pytest.raises(SourceError, match="took longer than 3 s in all"):
        fetch_source("arxiv-query:ti:summarization", cfg, store)
    assert time.monotonic() - started < 120


def test_gzip_bomb_api_answer_is_refused(cfg, store, httpserver):
    httpserver.expect_request("/api/query").respond_with_data(
        gzip_bomb(64), headers={"Content-Encoding": "gzip"}, content_type=ATOM)
    cfg.arxiv.api_url = httpserver.url_for("/api/query")
    with pytest.raises(SourceError, match="answer too large"):
        fetch_source("arxiv-query:ti:summarization", cfg, store)


def test_retry_after_past_the_deadline_gives_up_at_once_saying_so(cfg, store, httpserver):
    httpserver.expect_request("/api/query").respond_with_data("busy", status=503, headers={"Retry-After": "600"})
    cfg.arxiv.api_url = httpserver.url_for("/api/query")
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"asking to wait 600 s \(Retry-After\), past the 3 s deadline"):
        fetch_source("arxiv-query:ti:summarization", cfg, store)
    assert len(httpserver.log) == 1  # no retry that the server asked us not to make
    assert time.monotonic() - started < 120  # not the 600 s asked for; bounds a hang only


def test_retry_after_within_the_deadline_is_waited_for(cfg, store, httpserver, corpus):
    cfg.limits.http_deadline = 120  # bounds a hang only: the 1 s asked for fits on any machine
    asked: list[float] = []

    def handler(request: Request) -> Response:
        asked.append(time.monotonic())
        if len(asked) == 1:
            return Response("busy", status=503, headers={"Retry-After": "1"})
        return Response((corpus / API_ONE).read_bytes(), content_type=ATOM)

    httpserver.expect_request("/api/query").respond_with_handler(handler)
    cfg.arxiv.api_url = httpserver.url_for("/api/query")
    r = fetch_source("arxiv-query:id:2104.12255v1", cfg, store)
    assert [p.key for p in r.papers] == ["2104.12255"]
    assert len(asked) == 2 and asked[1] - asked[0] >= 0.9  # the test config's API delay is 0 s


def test_unreachable_api_says_how_to_run_offline(cfg, store):
    with pytest.raises(SourceError) as exc:
        fetch_source("arxiv-query:cat:cs.CL", cfg, store)
    assert exc.value.detail.startswith("arXiv API unreachable (127.0.0.1:9): ")
    assert exc.value.detail.endswith("; offline, run on local PDFs: digest run --source dir:path/to/pdfs")


def test_digest_run_without_network_ends_fast_saying_the_source_is_unreachable(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DIGEST_ARXIV_API_URL": CLOSED_PORT_API,
           "COLUMNS": "250"}
    subprocess.run([sys.executable, "-m", "digest", "init"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=60)
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "digest", "run"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "arXiv API unreachable (127.0.0.1:9)" in out and "digest run --source dir:path/to/pdfs" in out, out
    assert "widen --since" not in out
    assert time.monotonic() - started < 60
