"""The text of an earlier version of a paper: kept in the store, or read once from that version's PDF."""

from __future__ import annotations

import logging

import httpx

from digest.config import Config
from digest.errors import DigestError
from digest.pdf.download import fetch_pdf
from digest.pdf.pool import extract_pdf
from digest.records import Page, Paper
from digest.store import Store

log = logging.getLogger("digest")


def earlier_version_pages(config: Config, store: Store, paper: Paper, version: int,
                          client: httpx.Client | None = None) -> list[Page]:
    """The page texts of `version` of an arXiv paper (empty when they cannot be had)."""
    pages = store.version_pages(paper.key, version)
    if pages or not paper.arxiv_id:
        return pages
    # Only the arXiv ID names an earlier version's PDF; the paper's own pdf_url is the newest one.
    earlier = Paper(key=paper.key, title=paper.title, arxiv_id=paper.arxiv_id, version=version)
    try:
        path, _ = fetch_pdf(earlier, config, client)
    except DigestError as e:
        log.info("%sv%s: %s", paper.arxiv_id, version, e)
        return []
    text = extract_pdf(path, config)
    if not text.ok:
        log.info("%sv%s: PDF: %s", paper.arxiv_id, version, text.error)
        return []
    store.save_version_pages(paper.key, version, text.pages)
    return text.pages
