"""Each reader's own issue: their interests, and their top papers of the week's pool, each with why.

The LLM writes every paper of the pool once; choosing and ordering for a reader only ranks those
write-ups against what the reader asked for (keywords, authors, categories, their library) and
what they voted on, so the cost of a week grows with papers, never with readers.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field, replace

import numpy as np

from digest.config import Config, SelectionConfig
from digest.errors import DigestError, NotFoundError
from digest.feedback import subscriber_voter
from digest.library import parse_library
from digest.records import Issue, IssueEntry, Paper, Theme
from digest.select import (
    Candidate,
    Profile,
    TermIndex,
    build_profile,
    feedback_similarity,
    keyword_pattern,
    strongest_votes,
    vote_moves,
)
from digest.store import Store, utcnow
from digest.text import fix_mojibake, fold, same_author

__all__ = ["ReaderInterests", "get_interests", "set_interests", "parse_library", "reader_issue", "PoolRanker",
           "choose_pool", "save_pool", "pool_entries"]

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
                   | {_title_key(it["title"]) for it in library if _title_key(it["title"])})
    return {"terms": {t: [round(w, 4), profile.surface[t]] for t, w in profile.weights.items()}, "known": known}


def _name_words(name: str) -> list[str]:
    """The words of a person's name, folded, as digest.text.same_author compares them."""
    return re.findall(r"[^\W\d_]+", fold(fix_mojibake(name)))


def _title_key(title: str) -> str:
    """A title as compared across sources: folded, letters and digits only ('RAG: a Study' == 'rag -- a study')."""
    return "".join(c for c in fold(title or "") if c.isalnum())


# ---- ranking the pool for one reader ------------------------------------------------------------

# Bonuses are shares of the reader's best BM25 score, so words, names and categories weigh alike for
# every reader whatever their profile's size. A followed author counts as much as the best word match,
# as the editor's watch list puts its authors first.
_KEYWORD_BONUS = 0.5       # per keyword the paper matches as a whole word
_MAX_KEYWORDS_COUNTED = 2
_AUTHOR_BONUS = 1.0
_CATEGORY_BONUS = 0.5
_MAX_READER_VOTES = 200    # the most recent; older votes stop counting, as for the editor
_MAX_WHY_PARTS = 3


@dataclass
class Choice:
    """One paper of a reader's issue: its place in the pool, its score, and the line saying why."""

    index: int
    score: float
    why: str


class PoolRanker:
    """A week's pool indexed once (term vectors, keyword, author and category matches, cached), ranked per reader.

    Everything cached is keyed by a word, a name, a category or a voted paper, never by a reader: memory
    grows with what readers ask for in common, not with how many they are.
    """

    def __init__(self, papers: list[Paper], editor_keys: set[str] | None = None):
        self.papers = list(papers)
        self.index = TermIndex(self.papers)
        self.editor_keys = set(editor_keys or ())
        self._texts = [f"{p.title}\n{p.abstract}" for p in self.papers]
        self._lowered = [t.lower() for t in self._texts]
        # Every word of every author's name -> (paper, author): a followed name is compared with the
        # authors that share a word with it, not with every author of the pool.
        self._author_words: dict[str, set[tuple[int, str]]] = {}
        for i, p in enumerate(self.papers):
            for a in p.authors:
                for w in _name_words(a):
                    self._author_words.setdefault(w, set()).add((i, a))
        # A paper the reader's library already has is not shown to them again: by arXiv ID or title.
        self._known: dict[str, list[int]] = {}
        for i, p in enumerate(self.papers):
            for k in {p.key, p.arxiv_id or "", _title_key(p.title)} - {""}:
                self._known.setdefault(k, []).append(i)
        self._categories = [{c.casefold() for c in p.categories} | ({p.primary_category.casefold()}
                            if p.primary_category else set()) for p in self.papers]
        self._keyword: dict[str, np.ndarray] = {}
        self._author: dict[str, np.ndarray] = {}
        self._category: dict[str, np.ndarray] = {}
        self._voted: dict[str, np.ndarray] = {}  # voted paper key -> similarity of every pool paper to it
        self._lock = threading.Lock()

    def keyword_hits(self, keyword: str) -> np.ndarray:
        """Which pool papers mention a keyword as the editor's include_keywords match it."""
        k = keyword.casefold()
        hits = self._keyword.get(k)
        if hits is None:
            pat = keyword_pattern(keyword)
            # The regex runs only where the keyword's first word is a substring at all: most papers are not.
            first = (keyword.split() or [""])[0].rstrip("*").lower()
            hits = self._keyword[k] = np.array([first in low and bool(pat.search(t))
                                                for t, low in zip(self._texts, self._lowered)], dtype=bool)
        return hits

    def author_hits(self, name: str) -> np.ndarray:
        """Which pool papers a followed author wrote (spellings matched as the editor's watch list does)."""
        k = fold(name)
        hits = self._author.get(k)
        if hits is None:
            hits = np.zeros(len(self.papers), dtype=bool)
            # Two spellings of one person share their family name, a word of both.
            for i, a in set().union(*(self._author_words.get(w, set()) for w in _name_words(name))):
                if not hits[i] and same_author(name, a):
                    hits[i] = True
            self._author[k] = hits
        return hits

    def category_hits(self, category: str) -> np.ndarray:
        """Which pool papers are in an arXiv category (or below it: 'cs' takes every cs.* paper)."""
        k = category.strip().casefold()
        hits = self._category.get(k)
        if hits is None:
            hits = self._category[k] = np.array([any(c == k or c.startswith(k + ".") for c in cats)
                                                 for cats in self._categories], dtype=bool)
        return hits

    def learn_votes(self, voted: list[Paper]) -> None:
        """Compute, in one index, how close every pool paper is to each voted paper not seen yet."""
        todo = list({p.key: p for p in voted if p.key not in self._voted}.values())
        if not todo or not self.papers:
            return
        sim = feedback_similarity(self.index, todo)
        with self._lock:
            for j, p in enumerate(todo):
                self._voted[p.key] = sim[:, j]

    def knows_vote(self, key: str) -> bool:
        """Whether the similarity to a voted paper is known already."""
        return key in self._voted

    @staticmethod
    def profile(interests: ReaderInterests) -> tuple[Profile, set[str]]:
        """The reader's ranking profile (their keywords at weight 1, their library's shared terms), and the
        terms that came from their keywords."""
        words = build_profile("\n".join(interests.keywords), [])
        weights, surface = dict(words.weights), dict(words.surface)
        for term, (weight, word) in interests.library_terms.get("terms", {}).items():
            if weight > weights.get(term, 0.0):
                weights[term] = weight
                surface.setdefault(term, word)
        return Profile(weights, surface), set(words.weights)

    def rank(self, interests: ReaderInterests, votes: list[tuple[str, int]], limit: int) -> list[Choice]:
        """The reader's top `limit` papers of the pool, best first, each with why; ties keep the pool's order."""
        n = len(self.papers)
        if not n:
            return []
        profile, own_words = self.profile(interests)
        match = self.index.match(profile)
        total = match.total.copy()
        scale = float(total.max()) if total.max() > 0 else 1.0
        keywords = [(k, self.keyword_hits(k)) for k in interests.keywords]
        if keywords:
            count = np.sum([h for _, h in keywords], axis=0)
            total += np.minimum(count, _MAX_KEYWORDS_COUNTED) * (_KEYWORD_BONUS * scale)
        authors = [(a, self.author_hits(a)) for a in interests.authors]
        if authors:
            total += np.any([h for _, h in authors], axis=0) * (_AUTHOR_BONUS * scale)
        categories = [(c, self.category_hits(c)) for c in interests.categories]
        if categories:
            total += np.any([h for _, h in categories], axis=0) * (_CATEGORY_BONUS * scale)
        voted = [(k, v) for k, v in votes if k in self._voted][:_MAX_READER_VOTES]
        sim = signed = moves = None
        if voted:
            sim = np.stack([self._voted[k] for k, _ in voted], axis=1)
            signed = np.array([float(v) for _, v in voted])
            moves = vote_moves(sim, signed, scale)
            total += moves.sum(axis=1)
        have = {i for k in interests.library_terms.get("known", ()) for i in self._known.get(k, ())}
        order = [i for i in np.lexsort((np.arange(n), -np.round(total, 9))) if i not in have][:limit]
        keys = [k for k, _ in voted]
        return [Choice(int(i), float(total[i]), self._why(int(i), match, own_words, keywords, authors, categories,
                                                          (sim, signed, moves, keys)))
                for i in order]

    def _why(self, i, match, own_words, keywords, authors, categories, votes) -> str:
        parts = []
        said = [k for k, h in keywords if h[i]][:_MAX_KEYWORDS_COUNTED]
        if said:
            parts.append("matches " + " and ".join(f"'{k}'" for k in said))
        paper = self.papers[i]
        followed = next((a for a, h in authors if h[i]), None)
        if followed:
            spelled = next((a for a in paper.authors if same_author(followed, a)), followed)
            parts.append(f"by {fix_mojibake(spelled)}, whom you follow")
        category = next((c for c, h in categories if h[i]), None)
        if category:
            parts.append(f"in {category}, which you follow")
        sim, signed, moves, keys = votes
        if sim is not None:
            liked = strongest_votes(sim[i], signed, moves[i], keys).get(1)
            if liked is not None:
                parts.append(f"similar to {keys[liked]} you liked")
        if not said and match.total[i] > 0:
            # The two terms that matched best, and whether the reader wrote them or their library has them.
            hits = match.contributions(i)[:2]
            if hits:
                where = "your keywords" if any(t in own_words for _, t in hits) else "your library"
                parts.append(f"shares {', '.join(repr(match.surface[t]) for _, t in hits)} with {where}")
        if not parts:
            parts.append("the editor's pick" if paper.key in self.editor_keys else "among the week's papers")
        return "; ".join(parts[:_MAX_WHY_PARTS])


# ---- the week's pool ----------------------------------------------------------------------------

def _votes_by_reader(store: Store, subscriber_id: int | None = None) -> dict[int, list[tuple[str, int]]]:
    """Each subscriber's votes (paper key, +1/-1), most recent first; one subscriber's alone when given."""
    if subscriber_id is None:
        rows = store.query("SELECT voter, paper_key, vote FROM feedback WHERE voter LIKE 'subscriber:%' "
                           "ORDER BY updated DESC, paper_key")
    else:
        rows = store.query("SELECT voter, paper_key, vote FROM feedback WHERE voter=? ORDER BY updated DESC, "
                           "paper_key LIMIT ?", (subscriber_voter(subscriber_id), _MAX_READER_VOTES))
    out: dict[int, list[tuple[str, int]]] = {}
    for r in rows:
        who = r["voter"].partition(":")[2]
        if who.isdigit() and len(out.setdefault(int(who), [])) < _MAX_READER_VOTES:
            out[int(who)].append((r["paper_key"], r["vote"]))
    return out


def _learn(store: Store, ranker: PoolRanker, keys) -> None:
    unknown = sorted({k for k in keys if not ranker.knows_vote(k)})
    papers = [store.get_paper(k) for k in unknown
              if store.query("SELECT 1 FROM papers WHERE key=?", (k,))]
    ranker.learn_votes(papers)


def choose_pool(store: Store, candidates: list[Candidate], selection: SelectionConfig) -> list[Candidate]:
    """The candidates past the editor's selection that readers rank high, up to selection.pool_max in all.

    Only papers that passed the editor's filters (exclude keywords, categories, announce types, published)
    can join: the editor still decides what may go out, each reader only what of it comes first. A paper
    in the top of more readers' issues goes in first; the editor's rank breaks ties.
    """
    selected = [c for c in candidates if c.selected]
    others = [c for c in candidates if c.rank is not None and not c.selected]
    room = selection.pool_max - len(selected)
    readers = active_readers(store) if room > 0 and others else {}
    if not readers:
        return []
    ranked = selected + others
    ranker = PoolRanker([c.paper for c in ranked], {c.paper.key for c in selected})
    votes = _votes_by_reader(store)
    _learn(store, ranker, {k for sid in readers for k, _ in votes.get(sid, ())})
    wanted: dict[int, list[int]] = {}
    for sid, interests in readers.items():
        limit = interests.max_papers or selection.max_papers
        for place, choice in enumerate(ranker.rank(interests, votes.get(sid, []), limit), 1):
            if choice.index >= len(selected):
                wanted.setdefault(choice.index, []).append(place)
    order = sorted(wanted, key=lambda i: (-len(wanted[i]), sum(wanted[i]), i))[:room]
    chosen = [ranked[i] for i in order]
    for c, i in zip(chosen, order):
        n = len(wanted[i])
        c.reasons.append(f"in the week's pool: in the own issue of {n} reader{'s' if n != 1 else ''}")
    return chosen


def save_pool(store: Store, issue_id: str, papers: list[Paper], updates: set[str] = frozenset()) -> None:
    """Store the papers written up for an issue, the editor's first, for readers' issues to be chosen from."""
    now = utcnow()
    with store.transaction() as db:
        db.execute("DELETE FROM issue_pool WHERE issue_id=?", (issue_id,))
        db.executemany("INSERT INTO issue_pool (issue_id, paper_key, version, position, is_update) "
                       "VALUES (?,?,?,?,?)", [(issue_id, p.key, p.version, n, int(p.key in updates))
                                              for n, p in enumerate(papers, 1)])
        # A reader's issue is chosen from a pool read once per process: a changed pool must be read again.
        db.execute("UPDATE issues SET updated=? WHERE id=?", (now, issue_id))


def pool_entries(store: Store, issue: Issue) -> list[IssueEntry]:
    """Every paper written up for an issue, as entries: the editor's issue first, then the rest of the pool.

    A pool paper without a write-up in the variant the issue shows (a rerun with another model writes the
    editor's papers only) is left out; an issue from before pools were kept is its own pool.
    """
    entries = list(issue.entries)
    have = {e.paper.key for e in entries}
    rows = store.query(
        "SELECT ip.paper_key AS pool_key, ip.version AS pool_version, ip.is_update AS pool_update, p.*, "
        "g.key AS generation_key FROM issue_pool ip JOIN papers p ON p.key = ip.paper_key "
        "JOIN issue_generations ig ON ig.issue_id = ip.issue_id AND ig.paper_key = ip.paper_key AND ig.model = ? "
        "JOIN generations g ON g.key = ig.generation_key WHERE ip.issue_id=? ORDER BY ip.position",
        (issue.model, issue.id))
    for r in rows:
        if r["pool_key"] in have:
            continue
        paper = store.paper_from_row(r)
        paper.version = r["pool_version"] if r["pool_version"] is not None else paper.version
        gen = store.get_generation(r["generation_key"])
        changes = store.shown_changes(paper, gen, issue) if r["pool_update"] else None
        entries.append(IssueEntry(paper=paper, generation=gen, position=len(entries) + 1,
                                  is_update=bool(r["pool_update"]), changes=changes))
    return entries


# ---- each reader's issue ------------------------------------------------------------------------

class _Chooser:
    """One issue's pool, indexed once, and the readers' issues chosen from it."""

    def __init__(self, store: Store, issue: Issue):
        self.issue = issue
        self.entries = pool_entries(store, issue)
        self.ranker = PoolRanker([e.paper for e in self.entries], {e.paper.key for e in issue.entries})
        # Every reader's voted papers in one index build: per reader it would be one build per reader.
        _learn(store, self.ranker, {k for votes in _votes_by_reader(store).values() for k, _ in votes})

    def issue_for(self, store: Store, interests: ReaderInterests, votes: list[tuple[str, int]],
                  limit: int) -> tuple[Issue, dict[str, str]]:
        _learn(store, self.ranker, [k for k, _ in votes])
        choices = self.ranker.rank(interests, votes, limit)
        entries = [replace(self.entries[c.index], position=n) for n, c in enumerate(choices, 1)]
        why = {e.paper.key: c.why for e, c in zip(entries, choices)}
        return replace(self.issue, entries=entries, overview=_overview_for(self.issue, choices)), why


def _overview_for(issue: Issue, choices: list[Choice]):
    """The editor's overview told for a reader's papers: themes renumbered, themes without their papers gone."""
    ov = issue.overview
    if ov is None:
        return None
    # Theme numbers are positions in the editor's issue; the pool lists the editor's papers first, in order.
    where = {c.index + 1: n for n, c in enumerate(choices, 1) if c.index < len(issue.entries)}
    themes = [Theme(title=t.title, text=t.text, papers=sorted(where[p] for p in t.papers if p in where))
              for t in ov.themes]
    themes = [t for t in themes if t.papers]
    return replace(ov, themes=themes) if themes else None


_CHOOSERS: dict[tuple, _Chooser] = {}
_CHOOSERS_LOCK = threading.Lock()


def _chooser(store: Store, issue: Issue) -> _Chooser:
    rows = store.query("SELECT updated FROM issues WHERE id=?", (issue.id,))
    key = (id(store), str(store.path), issue.id, issue.model, issue.language, rows[0]["updated"] if rows else None,
           tuple((e.paper.key, e.generation.key if e.generation else None) for e in issue.entries))
    with _CHOOSERS_LOCK:
        found = _CHOOSERS.get(key)
        if found is None:
            _CHOOSERS.clear()  # one issue at a time: a send is about one issue
            found = _CHOOSERS[key] = _Chooser(store, issue)
        return found


def reader_issue(store: Store, issue: Issue, subscriber_id: int, config: Config) -> tuple[Issue, dict[str, str]]:
    """The issue one reader gets, and why each paper is in it (by paper key).

    Their top max_papers (theirs, or the editor's) of the week's pool in their own order; a reader who
    set no interests and cast no votes gets the editor's issue itself, with no reasons.
    """
    interests = ranking_interests(store, subscriber_id)
    votes = _votes_by_reader(store, subscriber_id).get(subscriber_id, [])
    if interests.is_empty() and not votes:
        return issue, {}
    limit = interests.max_papers or config.selection.max_papers
    return _chooser(store, issue).issue_for(store, interests, votes, limit)
