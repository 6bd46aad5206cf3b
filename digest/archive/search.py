"""Full-text search over the published papers (title, authors, summary, Q&A) with SQLite FTS5.

Two indexes hold the same text: `search_fts` (unicode61: whole words, good ranking) and
`search_trigram` (substrings, so Japanese and Chinese words are found without segmentation).
The index is rebuilt whenever what it was built from has changed, so a search is never stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from digest.records import Generation, Paper
from digest.store import Store
from digest.text import CJK_RE, fold
from digest.archive import queries

_TERM_RE = re.compile(r'"([^"]+)"|(\S+)')
_SIGNATURE_SQL = (
    "SELECT (SELECT count(*) FROM issues) || '/' || (SELECT count(*) FROM issue_papers) || '/' || "
    "(SELECT count(*) FROM issue_generations) || '/' || coalesce((SELECT max(updated) FROM issues), '') "
    "|| '/' || coalesce((SELECT max(rowid) FROM generations), 0) || '/' || "
    "coalesce((SELECT max(last_seen) FROM papers), '') AS signature"
)


@dataclass
class SearchHit:
    """One paper found by a search, best first."""

    paper_key: str
    title: str
    authors: list[str]
    snippet: str  # a short passage around the first match, plain text
    issue_ids: list[str] = field(default_factory=list)  # newest first
    rank: float = 0.0  # lower is better (FTS5 bm25)


@dataclass
class SearchDoc:
    """The searchable text of one published paper."""

    paper: Paper
    summary: str  # TL;DRs and summaries of every generation shown in an issue
    qa: str  # their questions and answers


def document_text(generations: list[Generation]) -> tuple[str, str]:
    """The summary text and the Q&A text of a paper's generations, each passage once, in order."""
    summary: list[str] = []
    qa: list[str] = []
    for g in generations:
        for text in (g.tldr, g.summary):
            if text and text not in summary:
                summary.append(text)
        for q in g.qa:
            for text in (q.question, q.answer):
                if text and text not in qa:
                    qa.append(text)
    return "\n".join(summary), "\n".join(qa)


def published_documents(store: Store) -> list[SearchDoc]:
    """Every paper that appeared in an issue or was written up for its pool (as the archive site shows them),
    with the text of the generations issues show."""
    papers = {p.key: p for p in queries.published_papers(store)}
    gens: dict[str, list[Generation]] = {}
    for r in store.query(
        "SELECT * FROM generations WHERE key IN (SELECT generation_key FROM issue_generations) "
        "ORDER BY paper_key, created DESC, key"
    ):
        gens.setdefault(r["paper_key"], []).append(store.generation_from_row(r))
    docs = []
    for key, paper in papers.items():
        summary, qa = document_text(gens.get(key, []))
        docs.append(SearchDoc(paper=paper, summary=summary, qa=qa))
    return docs


def _signature(store: Store) -> str:
    return store.query(_SIGNATURE_SQL)[0]["signature"]


def reindex(store: Store) -> int:
    """Rebuild both search indexes from the published papers; returns how many papers are indexed."""
    docs = published_documents(store)
    rows = [(d.paper.key, d.paper.title, "; ".join(d.paper.authors), d.summary, d.qa) for d in docs]
    with store.transaction() as db:
        signature = db.execute(_SIGNATURE_SQL).fetchone()[0]
        for table in ("search_fts", "search_trigram"):
            db.execute(f"DELETE FROM {table}")
            db.executemany(
                f"INSERT INTO {table} (paper_key, title, authors, summary, qa) VALUES (?,?,?,?,?)", rows
            )
        db.execute(
            "INSERT INTO search_state (id, signature) VALUES (1, ?) "
            "ON CONFLICT(id) DO UPDATE SET signature=excluded.signature", (signature,),
        )
    return len(rows)


def ensure_index(store: Store) -> bool:
    """Rebuild the index if issues, papers or generations changed since it was built; True if rebuilt."""
    rows = store.query("SELECT signature FROM search_state WHERE id=1")
    if rows and rows[0]["signature"] == _signature(store):
        return False
    reindex(store)
    return True


def query_terms(query: str) -> list[str]:
    """Split a query into terms; "quoted phrases" stay together; terms without letters or digits are dropped."""
    terms = []
    for m in _TERM_RE.finditer(query):
        term = (m.group(1) or m.group(2)).strip()
        if any(ch.isalnum() for ch in term):
            terms.append(term)
    return terms


def _fts_phrase(term: str, prefix: bool) -> str:
    # Quoting makes any user input a plain phrase: no FTS5 operators, no syntax errors.
    return '"' + term.replace('"', '""') + '"' + ("*" if prefix else "")


def _like_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def make_snippet(texts: list[str], terms: list[str], width: int = 160) -> str:
    """A one-line passage around the first term found in the first text that has one."""
    folded_terms = [fold(t) for t in terms]
    for text in texts:
        flat = " ".join(text.split())
        folded = fold(flat)
        if len(folded) != len(flat):  # folding changed lengths: positions would not line up
            folded = flat.casefold()
        hits = [i for i in (folded.find(t) for t in folded_terms) if i >= 0]
        if hits:
            start = max(0, min(hits) - width // 3)
            piece = flat[start:start + width]
            return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")
    first = " ".join((texts[0] if texts else "").split())
    return first[:width] + ("…" if len(first) > width else "")


def search(store: Store, query: str, limit: int = 20) -> list[SearchHit]:
    """Papers matching every term of `query` in title, authors, summary or Q&A, best first."""
    terms = query_terms(query)
    if not terms:
        return []
    ensure_index(store)
    if any(CJK_RE.search(t) for t in terms):
        rows = _search_trigram(store, terms, limit)
    else:
        match = " ".join(_fts_phrase(t, prefix=True) for t in terms)
        rows = store.query(
            "SELECT paper_key, title, authors, summary, qa, bm25(search_fts, 0, 10, 5, 2, 1) AS rank "
            "FROM search_fts WHERE search_fts MATCH ? ORDER BY rank, paper_key LIMIT ?",
            (match, limit),
        )
    hits = []
    for r in rows:
        issues = [
            x["issue_id"] for x in store.query(
                "SELECT ip.issue_id FROM (SELECT issue_id, paper_key FROM issue_papers UNION "
                "SELECT issue_id, paper_key FROM issue_pool) ip JOIN issues i ON i.id = ip.issue_id "
                "WHERE ip.paper_key=? ORDER BY i.week_start DESC, i.id DESC", (r["paper_key"],),
            )
        ]
        hits.append(SearchHit(
            paper_key=r["paper_key"], title=r["title"],
            authors=[a for a in r["authors"].split("; ") if a],
            snippet=make_snippet([r["summary"], r["qa"], r["title"], r["authors"]], terms),
            issue_ids=issues, rank=float(r["rank"]),
        ))
    return hits


def _search_trigram(store: Store, terms: list[str], limit: int):
    # Trigrams need three characters: shorter terms (most Japanese words are two) use LIKE,
    # which the trigram table also answers, by scanning.
    long_terms = [t for t in terms if len(t) >= 3]
    short_terms = [t for t in terms if len(t) < 3]
    where, params = [], []
    if long_terms:
        where.append("search_trigram MATCH ?")
        params.append(" ".join(_fts_phrase(t, prefix=False) for t in long_terms))
    for t in short_terms:
        where.append(
            "(title LIKE ? ESCAPE '\\' OR authors LIKE ? ESCAPE '\\' OR summary LIKE ? ESCAPE '\\' "
            "OR qa LIKE ? ESCAPE '\\')"
        )
        params.extend([_like_pattern(t)] * 4)
    rank = "bm25(search_trigram, 0, 10, 5, 2, 1)" if long_terms else "0.0"
    return store.query(
        f"SELECT paper_key, title, authors, summary, qa, {rank} AS rank FROM search_trigram "
        f"WHERE {' AND '.join(where)} ORDER BY rank, paper_key LIMIT ?",
        (*params, limit),
    )
