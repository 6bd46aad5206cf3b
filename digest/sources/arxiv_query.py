"""arxiv-query:<search query> or arxiv-query:id:<IDs>: papers straight from the arXiv API, with full metadata."""

from __future__ import annotations

import re
from datetime import datetime

import httpx

from digest.config import Config
from digest.errors import SourceError
from digest.records import split_arxiv_id
from digest.sources.arxiv_api import query_api
from digest.sources.base import SourceResult, merge_duplicates
from digest.store import Store


def fetch(spec: str, rest: str, config: Config, store: Store, client: httpx.Client | None, *,
          since: datetime | None, conditional: bool) -> SourceResult:
    """A search, newest submissions first (back to `since`), or a look-up of the IDs after 'id:'."""
    result = SourceResult(source=spec)
    if rest.startswith("id:"):
        ids = [i.strip() for i in re.split(r"[,\s]+", rest[3:]) if i.strip()]
        for i in ids:
            try:
                split_arxiv_id(i)
            except ValueError:
                raise SourceError(spec, f"not an arXiv ID: {i!r}", hint="write e.g. id:2104.12255v1") from None
        answer = query_api(config, spec, id_list=ids)
        if answer.not_looked_up:
            answer.warnings.append(f"only the first {config.arxiv.api_max_ids:,} of {len(ids):,} IDs looked up "
                                   f"(arxiv.api_max_ids); {len(answer.not_looked_up):,} left out")
    else:
        answer = query_api(config, spec, query=rest, since=since)
    result.papers, result.warnings = merge_duplicates(answer.papers), answer.warnings
    result.empty_listing = not result.papers
    return result
