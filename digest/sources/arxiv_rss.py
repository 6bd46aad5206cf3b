"""arxiv:cs.CL or arxiv:cs.CL+cs.LG: the day's arXiv RSS listing of those categories (empty at weekends)."""

from __future__ import annotations

from datetime import datetime

import httpx

from digest.categories import is_category
from digest.config import Config
from digest.errors import SourceError
from digest.sources.base import SourceResult
from digest.sources.feed import fetch_feed
from digest.store import Store


def fetch(spec: str, rest: str, config: Config, store: Store, client: httpx.Client | None, *,
          since: datetime | None, conditional: bool) -> SourceResult:
    """The listing at arxiv.rss_url for the categories; kept whole, as its dates are announcement days."""
    cats = rest.replace(",", "+").replace(" ", "")
    if not all(is_category(c) for c in cats.split("+")):
        raise SourceError(spec, f"not arXiv categories: {rest!r}", hint="write e.g. arxiv:cs.CL+cs.LG")
    url = config.arxiv.rss_url.format(categories=cats)
    return fetch_feed(url, spec, config, store, client, since=since, listing=True, conditional=conditional)
