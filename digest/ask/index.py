"""The passage index of the whole archive: SQLite FTS5 with BM25 over every stored paper's body passages.

Built paper by paper as page texts are stored (index_paper, one transaction per paper, so a kill -9 leaves
either the old rows or the new ones), caught up by ensure_index after an upgrade or an interrupted run.
"""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from digest.ask.records import Hit
from digest.errors import StoreError
from digest.store import Store, utcnow
from digest.text import STOPWORDS, stem, strip_accents
from digest.writers.retrieval import mark_appendix, split_passages

# Words of a question that ask about the archive rather than name a topic.
_QUESTION_WORDS = frozenset({
    "paper", "papers", "work", "works", "study", "studies", "article", "articles", "author", "authors",
    "archive", "read", "tell", "explain", "describe", "mention", "mentions", "say", "says", "said", "anything",
    "what", "which", "who", "whom", "whose", "how", "why", "when", "where", "does", "do", "did", "have",
    "has", "had", "any", "there", "please",
})
QUESTION_STOPWORDS = STOPWORDS | _QUESTION_WORDS
MAX_QUERY_TERMS = 16
# How many passages a term is counted up to: past it a term is "common". Counting stops there, so looking a
# question's terms up costs the same at 500 papers as at 50,000.
COMMON_DF = 3000
# Passages the BM25 query may score, summed over its terms (rarest first): a search stays well under 200 ms
# at 50,000 papers. A common term tells BM25 little; it is used only when the question has no rarer one.
POSTINGS_BUDGET = 20_000
COMMON_BUDGET = 6_000  # the newest passages a question of common words only is searched in
MAX_COMMON_TERMS = 6  # BM25's work per passage grows with the terms
# BM25 column weights: the passage's words, its section heading, the paper's title.
_WEIGHTS = (1.0, 0.5, 0.8)
_PROBE = ("Models modelling summarization summarize studies running approaches compressed evaluation "
          "Größe naïve cafés 日本語 KVキャッシュ")


_WORD = re.compile(r"[^\W_]+")
_BROKEN_WORD = re.compile(r"(?<=[a-z])-\s+(?=[a-z])")
_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f"
_SCRIPT_CHANGE = re.compile(f"(?<=[{_CJK}])(?=[^{_CJK}])|(?<=[^{_CJK}])(?=[{_CJK}])")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return stem(word)


def stems(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """The words of a text as the index holds them: digest.text.tokenize's stems, made fast enough to index
    50,000 papers (ASCII text skips the accent folding, and each word is stemmed once per process), with
    Latin words split from the CJK text around them."""
    low = text.casefold()
    if not low.isascii():
        # A Japanese question names its topic in Latin letters inside a run of kana and kanji ("KVキャッシュの
        # 圧縮"): the Latin words stand alone, so they can meet the papers' words.
        low = _SCRIPT_CHANGE.sub(" ", strip_accents(low))
    low = _BROKEN_WORD.sub("", low)
    return [_stem(w) for w in _WORD.findall(low) if len(w) >= 2 and not w.isdigit() and w not in stopwords]


def _tokenizer_id() -> str:
    """A fingerprint of the stems the index holds: rows of another stemmer could not be deleted exactly."""
    return hashlib.sha256(" ".join(stems(_PROBE)).encode()).hexdigest()[:12]


TOKENIZER = _tokenizer_id()


def _terms(text: str) -> str:
    return " ".join(stems(text))


@dataclass(frozen=True)
class _Row:
    page: int
    seq: int
    heading: str
    text: str


def _paper_rows(store: Store, key: str) -> tuple[list[_Row], int, str] | None:
    """The passages to index for a paper, its pages' mark and its title; None when it has no stored text."""
    rows = store.query("SELECT p.title, max(pg.rowid) AS mark FROM papers p JOIN pages pg ON pg.paper_key = p.key "
                       "WHERE p.key=? AND p.text_status='ok' GROUP BY p.key", (key,))
    if not rows or rows[0]["mark"] is None:
        return None
    passages = mark_appendix(split_passages(store.pages(key)), store.structure(key))
    # The references are never in a passage (split_passages reads bodies only); an appendix is not the paper's
    # claim either, as in the issue's answers.
    out = [_Row(p.page, p.index, p.section, p.text) for p in passages if not p.appendix and p.text.strip()]
    return out, rows[0]["mark"], rows[0]["title"] or ""


def _delete_rows(db: sqlite3.Connection, key: str) -> None:
    """Remove a paper's passages; a contentless FTS5 row is deleted by giving back the values it was made of."""
    state = db.execute("SELECT title FROM passage_index_papers WHERE paper_key=?", (key,)).fetchone()
    title = _terms(state[0]) if state else ""
    old = db.execute("SELECT id, heading, text FROM passages WHERE paper_key=?", (key,)).fetchall()
    db.executemany(
        "INSERT INTO passage_fts (passage_fts, rowid, terms, heading, title) VALUES ('delete', ?, ?, ?, ?)",
        [(r[0], _terms(r[2]), _terms(r[1]), title) for r in old])
    db.execute("DELETE FROM passages WHERE paper_key=?", (key,))
    db.execute("DELETE FROM passage_index_papers WHERE paper_key=?", (key,))


def _reset(store: Store) -> None:
    """Empty the index (its stems came from another stemmer); ensure_index builds it again."""
    with store.transaction() as db:
        db.execute("INSERT INTO passage_fts (passage_fts) VALUES ('delete-all')")
        db.execute("DELETE FROM passages")
        db.execute("DELETE FROM passage_index_papers")
        db.execute("DELETE FROM passage_index_state")


def rebuild_index(store: Store, progress: Callable[[int, int], None] | None = None) -> int:
    """Drop the whole index and build it again from the stored page texts; returns how many papers it holds."""
    _reset(store)
    return ensure_index(store, progress)


def _other_tokenizer(store: Store) -> bool:
    return bool(store.query("SELECT 1 FROM passage_index_papers WHERE tokenizer != ? LIMIT 1", (TOKENIZER,)))


def index_paper(store: Store, key: str) -> int:
    """Replace a paper's passages in the index with those of its stored pages, in one transaction; returns
    how many it has now (0 when it has no stored text)."""
    if _other_tokenizer(store):
        _reset(store)
    found = _paper_rows(store, key)
    with store.transaction() as db:
        _delete_rows(db, key)
        if found is None:
            return 0
        rows, mark, title = found
        title_terms = _terms(title)
        for r in rows:
            cur = db.execute("INSERT INTO passages (paper_key, page, seq, heading, text) VALUES (?,?,?,?,?)",
                             (key, r.page, r.seq, r.heading, r.text))
            db.execute("INSERT INTO passage_fts (rowid, terms, heading, title) VALUES (?,?,?,?)",
                       (cur.lastrowid, _terms(r.text), _terms(r.heading), title_terms))
        db.execute("INSERT INTO passage_index_papers (paper_key, pages_mark, title, tokenizer, passages, indexed) "
                   "VALUES (?,?,?,?,?,?)", (key, mark, title, TOKENIZER, len(rows), utcnow()))
    return len(rows)


def stale_papers(store: Store) -> list[str]:
    """Papers whose index rows are missing or were built from other page texts (or that lost their text)."""
    rows = store.query(
        "SELECT p.key FROM papers p JOIN (SELECT paper_key, max(rowid) AS mark FROM pages GROUP BY paper_key) g "
        "ON g.paper_key = p.key LEFT JOIN passage_index_papers i ON i.paper_key = p.key "
        "WHERE p.text_status='ok' AND (i.paper_key IS NULL OR i.pages_mark != g.mark OR i.tokenizer != ?) "
        "UNION SELECT i.paper_key FROM passage_index_papers i LEFT JOIN papers p ON p.key = i.paper_key "
        "WHERE p.key IS NULL OR p.text_status != 'ok' ORDER BY 1", (TOKENIZER,))
    return [r[0] for r in rows]


def _text_changes(store: Store) -> int:
    return store.query("SELECT n FROM text_changes WHERE id = 1")[0][0]


def index_is_current(store: Store) -> bool:
    """Whether no page text has changed since the index was last found whole (one row read, at any size)."""
    rows = store.query("SELECT text_changes, tokenizer FROM passage_index_state WHERE id = 1")
    return bool(rows) and rows[0]["tokenizer"] == TOKENIZER and rows[0]["text_changes"] == _text_changes(store)


def ensure_index(store: Store, progress: Callable[[int, int], None] | None = None) -> int:
    """Index every stored paper not indexed yet or indexed from older texts; returns how many were (re)indexed."""
    if index_is_current(store):
        return 0
    # Read before the scan: a text stored while it runs moves the counter past this, and is found next time.
    changes = _text_changes(store)
    if _other_tokenizer(store):
        _reset(store)
    todo = stale_papers(store)
    for n, key in enumerate(todo, 1):
        index_paper(store, key)
        if progress:
            progress(n, len(todo))
    store.execute("INSERT INTO passage_index_state (id, text_changes, tokenizer) VALUES (1, ?, ?) "
                  "ON CONFLICT (id) DO UPDATE SET text_changes = excluded.text_changes, "
                  "tokenizer = excluded.tokenizer", (changes, TOKENIZER))
    return len(todo)


def indexed_papers(store: Store) -> int:
    """How many papers the index holds."""
    return store.query("SELECT count(*) FROM passage_index_papers")[0][0]


# ---- search -------------------------------------------------------------------------------


def question_terms(question: str) -> list[str]:
    """The stems of a question's topic words, in order, each once."""
    return list(dict.fromkeys(stems(question, QUESTION_STOPWORDS)))


def _fts_query(terms: list[str]) -> str:
    """An FTS5 query that only ever means "any of these terms": each is a quoted string, so no user text is
    read as FTS syntax (AND, NEAR, *, ^, column filters)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def _document_frequencies(store: Store, terms: list[str], cap: int) -> dict[str, int]:
    """How many passages hold each term, counted up to `cap` (reading a term's list stops there)."""
    out = {}
    for t in terms:
        out[t] = store.query("SELECT count(*) FROM (SELECT rowid FROM passage_fts WHERE passage_fts MATCH ? LIMIT ?)",
                             (_fts_query([t]), cap))[0][0]
    return out


def _query_terms(df: dict[str, int]) -> tuple[list[str], bool]:
    """The terms the BM25 query uses, the rarest while the budget lasts, and whether they are all common
    (the question has no rarer word)."""
    rare = sorted((t for t, n in df.items() if 0 < n < COMMON_DF), key=lambda t: df[t])
    kept, spent = [], 0
    for t in rare[:MAX_QUERY_TERMS]:
        if kept and spent + df[t] > POSTINGS_BUDGET:
            break
        kept.append(t)
        spent += df[t]
    if kept:
        return kept, False
    return [t for t, n in df.items() if n >= COMMON_DF][:MAX_COMMON_TERMS], True


def _scope(since: str | None, category: str | None, issue: str | None,
           paper_key: str | None) -> tuple[str, list]:
    """SQL selecting the keys of the papers a question is limited to ('' when it is not), and its parameters."""
    where, params = [], []
    if since:
        where.append("coalesce(published, first_seen) >= ?")
        params.append(since)
    if category:
        where.append("(primary_category = ? OR EXISTS (SELECT 1 FROM json_each(papers.categories) "
                     "WHERE value = ?))")
        params += [category, category]
    if issue:
        where.append("key IN (SELECT paper_key FROM issue_papers WHERE issue_id = ?)")
        params.append(issue)
    if paper_key:
        where.append("key = ?")
        params.append(paper_key)
    if not where:
        return "", []
    return "SELECT key FROM papers WHERE " + " AND ".join(where), params


def search(store: Store, question: str, *, k: int = 8, since: str | None = None, category: str | None = None,
           issue: str | None = None, paper_key: str | None = None) -> list[Hit]:
    """The k passages that best match a question (BM25), within the papers the filters leave; best first."""
    terms = question_terms(question)[:4 * MAX_QUERY_TERMS]
    if not terms or k <= 0:
        return []
    # Passages ever indexed (ids are not reused while the largest stays): near enough the count for term
    # weights, and read from the index's end instead of summed over every paper.
    total = store.query("SELECT coalesce(max(id), 0) FROM passages")[0][0]
    df = _document_frequencies(store, terms, COMMON_DF)
    kept, common = _query_terms(df)
    if not kept:
        return []
    query = _fts_query(kept)
    where, params = "", []
    if common and not paper_key:
        # Common words only: BM25 scores the newest COMMON_BUDGET passages (a digest reads forward), not the
        # hundreds of thousands that hold "model" at 50,000 papers; FTS5 reads only that range of ids.
        where, params = " AND f.rowid > ?", [total - COMMON_BUDGET]
    if paper_key:
        # A paper's passages are one run of ids (written in one transaction): FTS5 reads only that range.
        lo, hi = store.query("SELECT min(id), max(id) FROM passages WHERE paper_key=?", (paper_key,))[0]
        if lo is None:
            return []
        where += " AND f.rowid BETWEEN ? AND ?"
        params += [lo, hi]
    scope, scope_params = _scope(since, category, issue, paper_key)
    if scope:
        where += f" AND f.rowid IN (SELECT id FROM passages WHERE paper_key IN ({scope}))"
        params += scope_params
    sql = ("SELECT f.rowid AS id, bm25(passage_fts, ?, ?, ?) AS bm FROM passage_fts f WHERE passage_fts MATCH ?"
           + where + " ORDER BY bm LIMIT ?")
    try:
        ranked = store.query(sql, (*_WEIGHTS, query, *params, k))
    except sqlite3.OperationalError as e:  # only a damaged index can get here: the query is always well formed
        raise StoreError(f"the passage index cannot be searched: {e}",
                         hint="rebuild it with `digest ask --reindex`") from None
    if not ranked:
        return []
    ids = [r["id"] for r in ranked]
    marks = ",".join("?" * len(ids))
    found = {r["id"]: r for r in store.query(
        f"SELECT s.id, s.paper_key, s.page, s.heading, s.text, i.title FROM passages s "
        f"JOIN passage_index_papers i ON i.paper_key = s.paper_key WHERE s.id IN ({marks})", tuple(ids))}
    # Over every term asked, found or not: a question half about things no paper mentions is half answered.
    # A common term's count stopped at COMMON_DF: its weight is at most that small.
    idf = {t: math.log(1 + max(0.0, total - df[t] + 0.5) / (df[t] + 0.5)) for t in terms}
    weight = sum(idf.values()) or 1.0
    hits = []
    for r in ranked:
        row = found.get(r["id"])
        if row is None:
            continue
        have = set(stems(row["text"] + " " + row["heading"] + " " + row["title"]))
        coverage = sum(w for t, w in idf.items() if t in have) / weight
        hits.append(Hit(paper_key=row["paper_key"], page=row["page"], section=row["heading"], text=row["text"],
                        score=-r["bm"], coverage=round(coverage, 4), passage_id=row["id"]))
    return hits
