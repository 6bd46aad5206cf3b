"""HTTP for feeds and PDFs: one client with a timeout and our User-Agent, conditional GET, capped atomic downloads."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
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


@dataclass
class FeedResponse:
    """A feed body, or not_modified when the server answered 304 to our validators."""

    url: str
    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


def get_feed(client: httpx.Client, url: str, *, etag: str | None = None,
             last_modified: str | None = None) -> FeedResponse:
    """GET a feed, sending If-None-Match / If-Modified-Since when we have validators."""
    check_http_url(url)
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        r = client.get(url, headers=headers)
    except httpx.TimeoutException:
        raise FetchError(url, "timed out", retry=True) from None
    except httpx.HTTPError as e:
        raise FetchError(url, f"request failed: {e}", retry=True) from None
    if r.status_code == 304:
        return FeedResponse(url, 304, etag=etag, last_modified=last_modified, not_modified=True)
    return FeedResponse(url, r.status_code, r.content, r.headers.get("ETag"),
                        r.headers.get("Last-Modified"))


def download_to_file(client: httpx.Client, url: str, dest: Path, *, max_bytes: int,
                     timeout: float | None = None) -> None:
    """Stream `url` into `dest` atomically (temp file + rename).

    A download that fails, is cut off or exceeds `max_bytes` leaves no file at `dest`.
    """
    check_http_url(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{dest.name}.part-"
    for stale in dest.parent.glob(prefix + "*"):  # left by a process killed mid-download
        if time.time() - stale.stat().st_mtime > 3600:
            stale.unlink(missing_ok=True)
    # The temporary name never ends like the real file, so it can never be taken as cached.
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                with client.stream("GET", url, timeout=timeout) as r:
                    if r.status_code != 200:
                        raise FetchError(url, f"HTTP {r.status_code}", status=r.status_code,
                                         retry=r.status_code in (429, 500, 502, 503, 504))
                    declared = r.headers.get("Content-Length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise FetchError(url, f"too large ({int(declared) // 2**20} MB > cap "
                                              f"{max_bytes // 2**20} MB)")
                    size = 0
                    # httpx's timeout is per read: a server trickling bytes would never trip it.
                    deadline = time.monotonic() + timeout if timeout else None
                    for chunk in r.iter_bytes():  # as the bytes arrive, so the deadline is checked
                        if deadline and time.monotonic() > deadline:
                            raise FetchError(url, f"download took longer than {timeout:.0f} s", retry=True)
                        size += len(chunk)
                        if size > max_bytes:
                            raise FetchError(url, f"too large (over the {max_bytes // 2**20} MB cap)")
                        f.write(chunk)
            except httpx.TimeoutException:
                raise FetchError(url, "download timed out", retry=True) from None
            except httpx.HTTPError as e:
                raise FetchError(url, f"download failed: {e}", retry=True) from None
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
