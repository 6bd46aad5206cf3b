"""A reader's interests: keywords, followed authors, arXiv categories, their library, their issue's length.

Set by the operator (`digest subscribers set`, the subscribers CSV) or by the reader (the preferences
page). What ranking needs of a library (its profile, what identifies its papers) is derived once, when
it is stored, so that choosing for thousands of readers never reads a library again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from digest.errors import DigestError, NotFoundError
from digest.records import Paper
from digest.select import build_profile
from digest.store import Store, utcnow
from digest.text import fold

_MAX_ITEMS = 200           # keywords, authors or categories a reader may keep
_MAX_LIBRARY = 1000        # papers of a reader's library kept for ranking
_MAX_TEXT = 1500           # characters of one library abstract kept
_MAX_PAPERS_LIMIT = 100    # papers one reader's issue may hold


@dataclass
class ReaderInterests:
    """What one reader wants: keywords, followed authors, arXiv categories, their library, issue length."""

    keywords: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    library: list[dict] = field(default_factory=list)  # {"title", "authors", "abstract"} per library paper
    max_papers: int | None = None                      # None: the editor's max_papers
    # Derived from `library` when stored, never set by hand: {"terms": {stem: [weight, word]}, the library's
    # ranking profile, "known": [arXiv IDs and folded titles], papers the reader has and is not shown again}.
    library_terms: dict = field(default_factory=dict, repr=False, compare=False)

    def is_empty(self) -> bool:
        """True when the reader asked for nothing: they get the editor's issue."""
        return not (self.keywords or self.authors or self.categories or self.library
                    or self.library_terms.get("terms") or self.library_terms.get("known"))


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
        arxiv_id = str(it.get("arxiv_id") or "").strip()[:40] or None
        if title or abstract:
            out.append({"title": title, "authors": authors, "abstract": abstract, "arxiv_id": arxiv_id})
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
    keys = r.keys()
    return ReaderInterests(keywords=json.loads(r["keywords"]), authors=json.loads(r["authors"]),
                           categories=json.loads(r["categories"]),
                           library=json.loads(r["library"]) if "library" in keys else [],
                           max_papers=r["max_papers"], library_terms=json.loads(r["library_terms"]))


# What ranking reads: the library's profile, not the library (a Zotero export may be megabytes).
_RANKING_COLUMNS = "subscriber_id, keywords, authors, categories, library_terms, max_papers"


def get_interests(store: Store, subscriber_id: int) -> ReaderInterests:
    """A subscriber's interests; empty ones when none were set."""
    rows = store.query("SELECT * FROM subscriber_interests WHERE subscriber_id=?", (subscriber_id,))
    return _from_row(rows[0]) if rows else ReaderInterests()


def ranking_interests(store: Store, subscriber_id: int) -> ReaderInterests:
    """A subscriber's interests as ranking reads them: the library's profile, without the library itself."""
    rows = store.query(f"SELECT {_RANKING_COLUMNS} FROM subscriber_interests WHERE subscriber_id=?",
                       (subscriber_id,))
    return _from_row(rows[0]) if rows else ReaderInterests()


def active_readers(store: Store) -> dict[int, ReaderInterests]:
    """The interests (as ranking reads them) of every active subscriber who set some, by subscriber id."""
    rows = store.query(f"SELECT {_RANKING_COLUMNS} FROM subscriber_interests si JOIN subscribers s "
                       "ON s.id = si.subscriber_id WHERE s.status = 'active' ORDER BY subscriber_id")
    return {r["subscriber_id"]: _from_row(r) for r in rows}


def set_interests(store: Store, subscriber_id: int, interests: ReaderInterests) -> ReaderInterests:
    """Replace a subscriber's interests (cleaned first); returns what was stored."""
    clean = clean_interests(interests)
    if not store.query("SELECT 1 FROM subscribers WHERE id=?", (subscriber_id,)):
        raise NotFoundError(f"no subscriber with id {subscriber_id}", hint="see `digest subscribers list`")
    clean.library_terms = _library_terms(clean.library)
    store.execute(
        "INSERT INTO subscriber_interests (subscriber_id, keywords, authors, categories, library, library_terms, "
        "max_papers, updated) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(subscriber_id) DO UPDATE SET "
        "keywords=excluded.keywords, authors=excluded.authors, categories=excluded.categories, "
        "library=excluded.library, library_terms=excluded.library_terms, max_papers=excluded.max_papers, "
        "updated=excluded.updated",
        (subscriber_id, json.dumps(clean.keywords, ensure_ascii=False), json.dumps(clean.authors, ensure_ascii=False),
         json.dumps(clean.categories, ensure_ascii=False), json.dumps(clean.library, ensure_ascii=False),
         json.dumps(clean.library_terms, ensure_ascii=False), clean.max_papers, utcnow()),
    )
    return clean


def _library_terms(library: list[dict]) -> dict:
    """The library's ranking profile, as the editor's liked papers make one (terms many of its papers share),
    and what identifies its papers (arXiv IDs, folded titles)."""
    papers = [Paper(key=f"library:{i}", title=it["title"], abstract=it["abstract"]) for i, it in enumerate(library)]
    profile = build_profile("", papers)
    known = sorted({it["arxiv_id"] for it in library if it.get("arxiv_id")}
                   | {title_key(it["title"]) for it in library if title_key(it["title"])})
    return {"terms": {t: [round(w, 4), profile.surface[t]] for t, w in profile.weights.items()}, "known": known}


def title_key(title: str) -> str:
    """A title as compared across sources: folded, letters and digits only ('RAG: a Study' == 'rag -- a study')."""
    return "".join(c for c in fold(title or "") if c.isalnum())
