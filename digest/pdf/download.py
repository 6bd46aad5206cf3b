"""The PDF download cache: each paper's PDF fetched once over http(s), size- and time-capped, written atomically."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx

from digest.config import Config
from digest.errors import FetchError
from digest.http import check_http_url, download_to_file, make_client
from digest.records import Paper


def cached_pdf_path(paper: Paper, config: Config) -> Path:
    """Where the paper's PDF is cached: <cache>/<arXiv ID+version>.pdf, or <cache>/<sha256 of URL>.pdf."""
    return config.cache_dir / cached_pdf_name(paper)


def cached_pdf_name(paper: Paper) -> str:
    """The file name of the paper's PDF in the cache (see cached_pdf_path); FetchError when it has no PDF URL."""
    if paper.arxiv_id:
        name = paper.versioned_id.replace("/", "_")
    elif paper.pdf_url:
        name = hashlib.sha256(paper.pdf_url.encode()).hexdigest()
    else:
        raise FetchError(paper.key, "no PDF URL", hint="the source gave neither an arXiv ID nor a PDF link")
    return f"{name}.pdf"


def _pdf_url(paper: Paper, config: Config) -> str:
    if paper.pdf_url:
        return paper.pdf_url
    if paper.arxiv_id:
        return config.arxiv.pdf_url.format(id=paper.versioned_id)
    raise FetchError(paper.key, "no PDF URL", hint="the source gave neither an arXiv ID nor a PDF link")


def fetch_pdf(paper: Paper, config: Config, client: httpx.Client | None = None) -> tuple[Path, bool]:
    """Return (path, from_cache): the cached PDF, downloading it once (http(s) only, size- and time-capped).

    A dir: paper's local file is used in place and counts as cached. Raises FetchError.
    """
    if paper.local_pdf:
        local = Path(paper.local_pdf)
        if not local.is_file():
            raise FetchError(str(local), "local PDF not found", hint="check the dir: source folder")
        return local, True
    url = _pdf_url(paper, config)
    check_http_url(url)
    dest = cached_pdf_path(paper, config)
    if dest.is_file() and dest.stat().st_size > 0:
        return dest, True
    _drop_stale_parts(dest.parent)
    own = client is None
    client = client or make_client(config.limits.http_timeout)
    try:
        download_to_file(client, url, dest, max_bytes=int(config.limits.pdf_max_mb * 2**20),
                         timeout=config.limits.pdf_download_timeout)
    finally:
        if own:
            client.close()
    with dest.open("rb") as f:
        head = f.read(1024)
    if b"%PDF-" not in head:
        # A 200 with an HTML page ("PDF being generated", a captcha) must not poison the cache.
        dest.unlink(missing_ok=True)
        raise FetchError(url, "the server did not send a PDF", retry=True,
                         hint="open the URL in a browser to see what it returns")
    return dest, False


def _drop_stale_parts(cache: Path, max_age: float = 24 * 3600) -> None:
    """Remove partial downloads left by a killed process (fresh ones may belong to a running download)."""
    if not cache.is_dir():
        return
    cutoff = time.time() - max_age
    for part in cache.glob(".*.part-*"):  # download_to_file writes .<name>.part-<random>
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
        except OSError:
            pass
