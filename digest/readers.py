"""Each reader's own issue: their interests, and their top papers of the week's pool, each with why.

The LLM writes every paper of the pool once; choosing and ordering for a reader only ranks those
write-ups against what the reader asked for (keywords, authors, categories, their library) and
what they voted on, so the cost of a week grows with papers, never with readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from digest.errors import DigestError, NotFoundError
from digest.store import Store, utcnow

_MAX_ITEMS = 200           # keywords, authors or categories a reader may keep
_MAX_LIBRARY = 2000        # papers of a reader's library kept for ranking
_MAX_TEXT = 2000           # characters of one library abstract kept
_MAX_PAPERS_LIMIT = 100    # papers one reader's issue may hold


@dataclass
class ReaderInterests:
    """What one reader wants: keywords, followed authors, arXiv categories, their library, issue length."""

    keywords: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    library: list[dict] = field(default_factory=list)  # {"title", "authors", "abstract"} per library paper
    max_papers: int | None = None                      # None: the editor's max_papers

    def is_empty(self) -> bool:
        """True when the reader asked for nothing: they get the editor's issue."""
        return not (self.keywords or self.authors or self.categories or self.library)


def _clean_list(values, what: str) -> list[str]:
    out: list[str] = []
    for v in values or []:
        if not isinstance(v, str):
            raise DigestError(f"{what}: {v!r} is not text", hint=f"give {what} as words or names")
        text = " ".join(v.split())[:200]
        if text and text.casefold() not in {o.casefold() for o in out}:
            out.append(text)
    if len(out) > _MAX_ITEMS:
        raise DigestError(f"too many {what}: {len(out)}", hint=f"keep at most {_MAX_ITEMS}")
    return out


def _clean_library(items) -> list[dict]:
    out = []
    for it in items or []:
        if not isinstance(it, dict):
            continue
        title = " ".join(str(it.get("title") or "").split())[:500]
        authors = [" ".join(str(a).split())[:200] for a in (it.get("authors") or []) if str(a).strip()][:50]
        abstract = " ".join(str(it.get("abstract") or "").split())[:_MAX_TEXT]
        if title or abstract:
            out.append({"title": title, "authors": authors, "abstract": abstract})
    return out[:_MAX_LIBRARY]


def clean_interests(i: ReaderInterests) -> ReaderInterests:
    """The interests in normal form (trimmed, deduplicated, bounded); raises DigestError on a bad value."""
    if i.max_papers is not None and (isinstance(i.max_papers, bool) or not isinstance(i.max_papers, int)
                                     or not 1 <= i.max_papers <= _MAX_PAPERS_LIMIT):
        raise DigestError(f"max papers {i.max_papers!r} is out of range",
                          hint=f"give a whole number from 1 to {_MAX_PAPERS_LIMIT}, or none for the editor's")
    return ReaderInterests(keywords=_clean_list(i.keywords, "keywords"), authors=_clean_list(i.authors, "authors"),
                           categories=_clean_list(i.categories, "categories"), library=_clean_library(i.library),
                           max_papers=i.max_papers)


def _from_row(r) -> ReaderInterests:
    return ReaderInterests(keywords=json.loads(r["keywords"]), authors=json.loads(r["authors"]),
                           categories=json.loads(r["categories"]), library=json.loads(r["library"]),
                           max_papers=r["max_papers"])


def get_interests(store: Store, subscriber_id: int) -> ReaderInterests:
    """A subscriber's interests; empty ones when none were set."""
    rows = store.query("SELECT * FROM subscriber_interests WHERE subscriber_id=?", (subscriber_id,))
    return _from_row(rows[0]) if rows else ReaderInterests()


def all_interests(store: Store, subscriber_ids: list[int] | None = None) -> dict[int, ReaderInterests]:
    """The interests of every subscriber who set some (or of the ones given), by subscriber id."""
    rows = store.query("SELECT * FROM subscriber_interests ORDER BY subscriber_id")
    wanted = set(subscriber_ids) if subscriber_ids is not None else None
    return {r["subscriber_id"]: _from_row(r) for r in rows if wanted is None or r["subscriber_id"] in wanted}


def set_interests(store: Store, subscriber_id: int, interests: ReaderInterests) -> ReaderInterests:
    """Replace a subscriber's interests (cleaned first); returns what was stored."""
    clean = clean_interests(interests)
    if not store.query("SELECT 1 FROM subscribers WHERE id=?", (subscriber_id,)):
        raise NotFoundError(f"no subscriber with id {subscriber_id}", hint="see `digest subscribers list`")
    store.execute(
        "INSERT INTO subscriber_interests (subscriber_id, keywords, authors, categories, library, max_papers, "
        "updated) VALUES (?,?,?,?,?,?,?) ON CONFLICT(subscriber_id) DO UPDATE SET keywords=excluded.keywords, "
        "authors=excluded.authors, categories=excluded.categories, library=excluded.library, "
        "max_papers=excluded.max_papers, updated=excluded.updated",
        (subscriber_id, json.dumps(clean.keywords, ensure_ascii=False), json.dumps(clean.authors, ensure_ascii=False),
         json.dumps(clean.categories, ensure_ascii=False), json.dumps(clean.library, ensure_ascii=False),
         clean.max_papers, utcnow()),
    )
    return clean
