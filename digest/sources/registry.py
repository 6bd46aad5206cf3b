"""The sources stage: turn source specs (arxiv:, arxiv-query:, rss:, list:, dir:, a feed file) into Papers.

Each kind lives in its own module with one `fetch(spec, rest, config, store, client, *, since,
conditional)`; this module names the kinds, dispatches a spec to its kind, and merges what several
sources found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import httpx

from digest.config import Config
from digest.errors import SourceError
from digest.http import make_client
from digest.records import Paper
from digest.sources import arxiv_query, arxiv_rss, feed, pdf_folder, reading_list
from digest.sources.base import SourceResult, merge_duplicates, merge_papers, remember_feed_state
from digest.sources.feed import parse_feed_bytes
from digest.sources.ingest import clean_papers
from digest.sources.reading_list import papers_from_text
from digest.store import Store

__all__ = [
    "KINDS", "SourceResult", "fetch_source", "fetch_sources", "parse_feed_bytes", "papers_from_text",
    "merge_papers", "merge_duplicates", "remember_feed_state", "split_spec",
]

KINDS = {
    "arxiv": "arxiv:cs.CL or arxiv:cs.CL+cs.LG (the arXiv RSS listing)",
    "arxiv-query": "arxiv-query:ti:summarization or arxiv-query:id:2104.12255,quant-ph/0201082",
    "rss": "rss:https://example.org/feed.xml (any RSS/Atom feed linking to arXiv or PDFs)",
    "list": "list:reading-list.md (arXiv IDs and URLs in a text file)",
    "dir": "dir:papers/ or dir:papers/** (local PDFs)",
}
_KINDS_HINT = ("write kind:rest with kind one of " + ", ".join(f"{k}:" for k in KINDS)
               + " (e.g. arxiv:cs.CL), or a path to a feed file; see `digest sources check --help`")

# A bare feed path or URL ("file") is read as rss: is.
_FETCH = {"arxiv": arxiv_rss.fetch, "arxiv-query": arxiv_query.fetch, "rss": feed.fetch, "file": feed.fetch,
          "list": reading_list.fetch, "dir": pdf_folder.fetch}


def split_spec(spec: str) -> tuple[str, str]:
    """('arxiv', 'cs.CL') for 'arxiv:cs.CL'; ('file', path) for a bare feed path; ('rss', url) for a bare URL."""
    spec = spec.strip()
    m = re.match(r"^([A-Za-z][\w-]*):(.*)$", spec, re.DOTALL)
    if m and m.group(1).lower() in KINDS:
        return m.group(1).lower(), m.group(2).strip()
    if re.match(r"^https?://", spec, re.IGNORECASE):
        return "rss", spec
    if spec.startswith("file://") or not m:
        return "file", spec
    raise SourceError(spec, f"unknown source kind '{m.group(1)}'", hint=_KINDS_HINT)


def fetch_source(spec: str, config: Config, store: Store, client: httpx.Client | None = None, *,
                 since: datetime | None = None, conditional: bool = True) -> SourceResult:
    """One source; raises SourceError (naming the spec) when it cannot be read at all.

    `conditional=False` neither sends nor stores feed validators (for a look that must not make
    the next real fetch answer 304). Every kind's papers, API metadata included, leave cleaned.
    """
    kind, rest = split_spec(spec)
    if not rest:
        raise SourceError(spec, "nothing after the kind", hint=_KINDS_HINT)
    result = _FETCH[kind](spec, rest, config, store, client, since=since, conditional=conditional)
    result.warnings += clean_papers(result.papers)
    return result


def fetch_sources(specs: list[str], config: Config, store: Store, *, since: datetime | None = None,
                  on_source: Callable[[str, SourceResult | SourceError], None] | None = None,
                  conditional: bool = True) -> tuple[list[SourceResult], list[SourceError]]:
    """All sources; one failing source does not stop the others. De-duplicate papers across sources.

    A paper found by several sources appears once, in the result of the first source that found
    it, as the merged record (highest version, richest metadata). `on_source(spec, result or
    error)` is called as each source finishes (for progress display).
    """
    results: list[SourceResult] = []
    errors: list[SourceError] = []
    with make_client(config.limits.http_timeout) as client:
        for spec in specs:
            try:
                r = fetch_source(spec, config, store, client, since=since, conditional=conditional)
            except SourceError as e:
                errors.append(e)
                if on_source:
                    on_source(spec, e)
                continue
            results.append(r)
            if on_source:
                on_source(spec, r)
    owner: dict[str, tuple[list[Paper], int]] = {}
    for r in results:
        kept: list[Paper] = []
        for p in r.papers:
            if p.key in owner:
                papers, i = owner[p.key]
                papers[i] = merge_papers(papers[i], p)
            else:
                owner[p.key] = (kept, len(kept))
                kept.append(p)
        r.papers = kept
    return results, errors
