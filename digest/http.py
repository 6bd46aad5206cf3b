"""HTTP for feeds, the arXiv API and PDFs: one client with a timeout and our User-Agent, conditional GET, and
every read bounded by a deadline for the whole request and a cap on the decompressed bytes."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlparse

import httpx

from digest import USER_AGENT
from digest.errors import FetchError


def check_http_url(url: str) -> None:
    """Refuse anything but http(s) URLs (file:, ftp:, data: ... never reach the network code)."""
    if urlparse(url).scheme not in ("http", "https"):
        raise FetchError(url, "only http(s) URLs are fetched")


def make_client(timeout: float = 30.0) -> httpx.Client:
    """An httpx client with our User-Agent, redirects followed and a timeout on every phase."""
    return httpx.Client(
        headers={"User-Agent": USER_AGENT},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        follow_redirects=True,
    )


class UnreachableError(FetchError):
    """The host could not be reached at all (name lookup, refused, connect timeout): often no network."""

    def __init__(self, url: str, reason: str):
        super().__init__(url, f"unreachable: {reason}", retry=True, hint="check the network")
        self.host = urlparse(url).hostname or url
        self.reason = reason


@dataclass
class HttpResponse:
    """A whole response body read within a deadline and a size cap."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes


@dataclass
class FeedResponse:
    """A feed body, or not_modified when the server answered 304 to our validators."""

    url: str
    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


def _bounded_timeout(client: httpx.Client, seconds_left: float) -> httpx.Timeout:
    """The client's timeouts, none longer than what is left of the deadline."""
    t = client.timeout
    left = max(0.001, seconds_left)
    cap = lambda v: left if v is None else min(v, left)  # noqa: E731
    return httpx.Timeout(connect=cap(t.connect), read=cap(t.read), write=cap(t.write), pool=cap(t.pool))


def _reason(e: httpx.HTTPError) -> str:
    text = str(e).strip() or type(e).__name__
    return text if len(text) < 200 else text[:200] + "..."


def _stream_body(r: httpx.Response, url: str, *, until: float, deadline_text: str, max_bytes: int,
                 too_large: str, sink) -> int:
    """Feed the decoded body to `sink` chunk by chunk; FetchError past `until` or over `max_bytes`."""
    size = 0
    # iter_bytes() yields decoded bytes, so the cap holds for a gzip body that inflates a thousandfold,
    # and each chunk is checked against the deadline a per-read timeout cannot enforce.
    for chunk in r.iter_bytes():
        if time.monotonic() > until:
            raise FetchError(url, deadline_text, retry=True,
                             hint="the server is too slow; try again later")
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(url, too_large, hint="check the address")
        sink(chunk)
    return size


@contextmanager
def _http_errors(url: str, what: str) -> Iterator[None]:
    """httpx's failures as our FetchError family: unreachable hosts apart, timeouts and the rest retryable."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as e:
        raise UnreachableError(url, _reason(e)) from None
    except httpx.TimeoutException:
        raise FetchError(url, f"{what} timed out", retry=True) from None
    except httpx.HTTPError as e:
        raise FetchError(url, f"{what} failed: {_reason(e)}", retry=True) from None


def fetch(client: httpx.Client, url: str, *, deadline: float, max_bytes: int,
          headers: dict[str, str] | None = None) -> HttpResponse:
    """GET `url` whole within `deadline` seconds (connecting and every read included) and `max_bytes`
    decompressed bytes; raises FetchError (UnreachableError when the host cannot be reached)."""
    check_http_url(url)
    until = time.monotonic() + deadline
    parts: list[bytes] = []
    with _http_errors(url, "request"), \
            client.stream("GET", url, headers=headers, timeout=_bounded_timeout(client, deadline)) as r:
        _stream_body(r, url, until=until, deadline_text=f"took longer than {deadline:.0f} s in all (limits.http_deadline)",
                     max_bytes=max_bytes,
                     too_large=f"answer too large (over {max_bytes / 2**20:g} MB decompressed; limits.feed_max_mb)",
                     sink=parts.append)
        return HttpResponse(url, r.status_code, r.headers, b"".join(parts))


def get_feed(client: httpx.Client, url: str, *, deadline: float, max_bytes: int, etag: str | None = None,
             last_modified: str | None = None) -> FeedResponse:
    """GET a feed within a deadline and a size cap, sending If-None-Match / If-Modified-Since when we have
    validators."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    r = fetch(client, url, deadline=deadline, max_bytes=max_bytes, headers=headers)
    if r.status == 304:
        return FeedResponse(url, 304, etag=etag, last_modified=last_modified, not_modified=True)
    return FeedResponse(url, r.status, r.body, r.headers.get("ETag"), r.headers.get("Last-Modified"))


def retry_after_seconds(headers: httpx.Headers | dict[str, str], now: datetime | None = None) -> float | None:
    """The wait a Retry-After header asks for (seconds or an HTTP date), or None when absent or unreadable."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def download_to_file(client: httpx.Client, url: str, dest: Path, *, max_bytes: int,
                     timeout: float | None = None) -> None:
    """Stream `url` into `dest` atomically (temp file + rename).

    `timeout` bounds the whole download. A download that fails, is cut off, runs out of time or
    exceeds `max_bytes` leaves no file at `dest`.
    """
    check_http_url(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{dest.name}.part-"
    for stale in dest.parent.glob(prefix + "*"):  # left by a process killed mid-download
        if time.time() - stale.stat().st_mtime > 3600:
            stale.unlink(missing_ok=True)
    # The temporary name never ends like the real file, so it can never be taken as cached.
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=prefix)
    until = time.monotonic() + timeout if timeout else float("inf")
    request_timeout = _bounded_timeout(client, timeout) if timeout else client.timeout
    try:
        with os.fdopen(fd, "wb") as f:
            with _http_errors(url, "download"), client.stream("GET", url, timeout=request_timeout) as r:
                if r.status_code != 200:
                    raise FetchError(url, f"HTTP {r.status_code}", status=r.status_code,
                                     retry=r.status_code in (429, 500, 502, 503, 504))
                declared = r.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(url, f"too large ({int(declared) // 2**20} MB > cap "
                                          f"{max_bytes // 2**20} MB)")

                _stream_body(r, url, until=until, deadline_text=f"download took longer than {timeout or 0:.0f} s",
                             max_bytes=max_bytes, too_large=f"too large (over the {max_bytes // 2**20} MB cap)",
                             sink=f.write)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
