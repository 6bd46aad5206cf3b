"""Ranking the week's pool for one reader, with one line per paper saying why it is there.

The pool's BM25 index (digest.select.TermIndex) is built once per issue; a reader's keywords and library
make a profile matched against it as the editor's interests are, and followed authors, categories and
their own votes move papers on the same scale.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from digest.readers.interests import ReaderInterests, title_key
from digest.records import Paper
from digest.select import (
    Profile,
    TermIndex,
    build_profile,
    feedback_similarity,
    keyword_pattern,
    strongest_votes,
    vote_moves,
)
from digest.text import fix_mojibake, fold, same_author

# Bonuses are shares of the reader's best BM25 score, so words, names and categories weigh alike for
# every reader whatever their profile's size. A followed author counts as much as the best word match,
# as the editor's watch list puts its authors first.
_KEYWORD_BONUS = 0.5       # per keyword the paper matches as a whole word
_MAX_KEYWORDS_COUNTED = 2
_AUTHOR_BONUS = 1.0
_CATEGORY_BONUS = 0.5
MAX_READER_VOTES = 200     # the most recent; older votes stop counting, as for the editor
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
            for k in {p.key, p.arxiv_id or "", title_key(p.title)} - {""}:
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

    def rank(self, interests: ReaderInterests, votes: list[tuple[str, int]], limit: int,
             explain: bool = True) -> list[Choice]:
        """The reader's top `limit` papers of the pool, best first, each with why (unless not `explain`);
        ties keep the pool's order."""
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
        voted = [(k, v) for k, v in votes if k in self._voted][:MAX_READER_VOTES]
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
                                                          (sim, signed, moves, keys)) if explain else "")
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


def _name_words(name: str) -> list[str]:
    """The words of a person's name, folded, as digest.text.same_author compares them."""
    return re.findall(r"[^\W\d_]+", fold(fix_mojibake(name)))
