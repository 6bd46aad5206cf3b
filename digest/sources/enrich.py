"""arXiv metadata for the papers of a feed, a reading list or a folder: batched API look-ups, capped."""

from __future__ import annotations

from dataclasses import fields

from digest.config import Config
from digest.errors import SourceError
from digest.records import Paper
from digest.sources.arxiv_api import ApiUnreachable, query_api
from digest.sources.base import SourceResult


def has_arxiv_metadata(p: Paper) -> bool:
    """An entry written by arXiv itself (it names a primary category), with abstract and authors."""
    return bool(p.primary_category and p.abstract and p.authors)


def enrich(papers: list[Paper], result: SourceResult, config: Config) -> None:
    """Fill arXiv papers' metadata from batched id_list look-ups (at most arxiv.api_max_ids IDs); on failure
    keep them, with a warning."""
    wanted = [p for p in papers if p.arxiv_id]
    if not wanted:
        return
    try:
        answer = query_api(config, result.source, id_list=[p.versioned_id for p in wanted])
    except SourceError as e:
        why = e.short if isinstance(e, ApiUnreachable) else e.detail  # offline advice is no help to dir:
        result.warnings.append(f"arXiv metadata look-up failed for {len(wanted)} paper{'s' if len(wanted) != 1 else ''} "
                               f"({why}); {'they keep' if len(wanted) != 1 else 'it keeps'} what the source gave")
        return
    result.warnings += answer.warnings
    if answer.not_looked_up:
        n = len(answer.not_looked_up)
        result.warnings.append(f"arXiv metadata looked up for the first {len(wanted) - n:,} of {len(wanted):,} papers "
                               f"(arxiv.api_max_ids = {config.arxiv.api_max_ids}); the other {n:,} keep what the "
                               "source gave")
    found = {p.arxiv_id: p for p in answer.papers}
    for p in wanted:
        meta = found.get(p.arxiv_id)
        if meta is None:
            continue
        local_pdf, announce = p.local_pdf, p.announce_type
        for f in fields(Paper):
            v = getattr(meta, f.name)
            if f.name not in ("source", "text_status") and v not in (None, "", []):
                setattr(p, f.name, v)
        p.local_pdf, p.announce_type = local_pdf, announce

