"""Weekly selection: from hundreds of listed papers to the ten or so of an issue, with reasons.

Filters (published versions, announce types, exclude/include keywords, categories) decide
what may be taken; the watch list goes first; the rest is ranked by BM25 similarity of
title + abstract to the owner's interests and liked papers, then moved up or down by how
similar each paper is to the papers readers voted "more like this" or "less like this" on.
Every decision is written down in `reasons`, for `digest fetch --explain`.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from digest.config import SelectionConfig
from digest.feedback import PaperFeedback
from digest.records import Paper
from digest.store import Store
from digest.text import STOPWORDS, TermScorer, fix_mojibake, same_author, terms

# Words every abstract uses; in a profile built from liked papers they would only add noise.
PROFILE_STOPWORDS = STOPWORDS | {
    "paper", "papers", "study", "studies", "propose", "proposed", "proposes", "approach",
    "approaches", "method", "methods", "result", "results", "show", "shows", "shown", "new",
    "novel", "work", "works", "present", "presents", "based", "demonstrate", "demonstrates",
    "existing", "experiments", "experimental", "furthermore", "moreover", "significantly",
    "achieve", "achieves", "performance", "problem", "problems", "task", "tasks", "first",
    "introduce", "introduces", "effective", "different", "various", "including", "large",
}
_LIKED_WEIGHT = 0.5  # a term every liked paper shares counts half as much as one the owner wrote
_MAX_PROFILE_TERMS = 200
_TOP_TERMS_SHOWN = 3
# A candidate as close to a voted paper as that paper is to itself moves by this share of the week's
# best interest score, per vote: one "less like this" can take a near-copy from first to last.
_FEEDBACK_WEIGHT = 1.0
_MAX_VOTES_COUNTED = 3       # per paper: a popular paper must not drown every other signal
# A subscriber's vote moves their own issue fully (digest.readers) and the editor's ranking at this weight.
_READER_VOTE_WEIGHT = 0.5
_MAX_FEEDBACK_PAPERS = 200   # the most recently voted; older votes stop counting
_MIN_SIMILARITY_SHOWN = 0.1  # weaker resemblances still count but are not worth a reason line


@dataclass
class Candidate:
    """One listed paper with the selection's decision about it and why."""

    paper: Paper
    score: float                 # ranking score (higher = closer to the owner's interests)
    selected: bool
    reasons: list[str] = field(default_factory=list)
    is_update: bool = False      # newer version of a paper already published
    rank: int | None = None      # 1-based among the papers that passed the filters


# ---- matching ---------------------------------------------------------------------------

def keyword_pattern(keyword: str) -> re.Pattern:
    """Case-insensitive, whole-word pattern: 'LLM' matches 'LLMs' but not 'LLMOps'; 'summari*' is a prefix."""
    words = keyword.strip().split()
    parts = []
    for w in words:
        if w.endswith("*"):
            parts.append(re.escape(w[:-1]) + r"\w*")
        else:
            parts.append(re.escape(w))
    body = r"[\s\-]+".join(parts)  # "language model" also matches "language-model"
    tail = "" if keyword.strip().endswith("*") else r"(?:s|es)?"
    return re.compile(rf"(?<!\w){body}{tail}(?!\w)", re.IGNORECASE)


# ---- ranking ----------------------------------------------------------------------------

_PHRASE_BREAK_RE = re.compile(r"[,.;:!?()\[\]\n]+")


def _profile_terms(text: str) -> list[tuple[str, str]]:
    """Words and adjacent word pairs of a text, as (stem, surface); pairs never cross punctuation.

    Pairs let "retrieval-augmented generation" count for more than "generation" alone.
    """
    out: list[tuple[str, str]] = []
    for phrase in _PHRASE_BREAK_RE.split(text):
        words = terms(phrase, PROFILE_STOPWORDS)
        out.extend(words)
        out.extend((f"{a}_{b}", f"{x} {y}") for (a, x), (b, y) in zip(words, words[1:]))
    return out


@dataclass
class Profile:
    """Weighted query terms (stems and word pairs) and the word to show for each."""

    weights: dict[str, float]          # stem -> query weight
    surface: dict[str, str]            # stem -> the word to show for it


def build_profile(interests: str, liked: list[Paper]) -> Profile:
    """The ranking profile of words written by someone (weight 1) and of papers they liked (shared terms)."""
    weights: dict[str, float] = {}
    seen: dict[str, Counter] = defaultdict(Counter)
    for stem_, word in _profile_terms(interests):
        weights[stem_] = 1.0
        seen[stem_][word] += 1
    if liked:
        doc_freq: Counter = Counter()
        for p in liked:
            pairs = _profile_terms(f"{p.title}\n{p.abstract}")
            doc_freq.update({s for s, _ in pairs})
            for s, w in pairs:
                seen[s][w] += 1
        for s, df in doc_freq.items():
            weights[s] = max(weights.get(s, 0.0), _LIKED_WEIGHT * df / len(liked))
    if len(weights) > _MAX_PROFILE_TERMS:
        # Keep the heaviest terms; ties by term so the profile does not depend on dict order.
        keep = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:_MAX_PROFILE_TERMS]
        weights = dict(keep)
    surface = {s: seen[s].most_common(1)[0][0] for s in weights}
    return Profile(weights, surface)


class TermIndex:
    """The BM25 term scores of a set of papers, computed once and matched against any number of profiles.

    The editor's selection matches one profile; each reader's issue matches one more against the same
    pool, so a term's scores are computed the first time any profile asks for them, and kept sparse (the
    papers that have the term): what is kept is bounded by the pool's own text, whatever the profiles.
    """

    def __init__(self, papers: list[Paper]):
        self.papers = list(papers)
        self.docs = [[s for s, _ in _profile_terms(f"{p.title}\n{p.abstract}")] for p in self.papers]
        self.scorer = TermScorer(self.docs)
        self._terms_of = [set(d) for d in self.docs]
        self._sparse: dict[str, tuple[np.ndarray, np.ndarray, dict[int, float]]] = {}

    def _scores(self, term: str) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
        found = self._sparse.get(term)
        if found is None:
            dense = self.scorer.term_scores(term).astype(np.float64)
            where = np.flatnonzero(dense)
            found = self._sparse[term] = (where, dense[where], dict(zip(where.tolist(), dense[where].tolist())))
        return found

    def score(self, term: str, i: int) -> float:
        """The term's BM25 contribution to paper i (0 when the paper does not have it)."""
        return self._scores(term)[2].get(i, 0.0) if term in self._terms_of[i] else 0.0

    def match(self, profile: Profile) -> ProfileMatch:
        """Each paper's similarity to a profile; ProfileMatch tells what each term contributed to a paper."""
        known = {t: w for t, w in sorted(profile.weights.items()) if t in self.scorer.vocab}
        total = np.zeros(len(self.papers), dtype=np.float64)
        for t, w in known.items():  # term by term in sorted order: the same sums, bit for bit, as ever
            where, values, _ = self._scores(t)
            total[where] += w * values
        return ProfileMatch(total, known, profile.surface, self)


@dataclass
class ProfileMatch:
    """How a profile matched a TermIndex: total score per paper, and each term's part of it on demand."""

    total: np.ndarray
    weights: dict[str, float]          # the profile's terms that some paper has
    surface: dict[str, str]
    index: TermIndex

    def contributions(self, i: int) -> list[tuple[float, str]]:
        """(contribution, term) of each profile term paper i has, the largest first (ties by term)."""
        hits = ((w * self.index.score(t, i), t) for t in self.index._terms_of[i] if (w := self.weights.get(t)))
        return sorted(((c, t) for c, t in hits if c > 0), key=lambda x: (-x[0], x[1]))

    def top_terms(self, i: int, k: int = _TOP_TERMS_SHOWN) -> list[str]:
        """The words that matched paper i best, as the profile spells them."""
        return [self.surface[t] for _, t in self.contributions(i)[:k]]


def _bm25_scores(index: TermIndex, profile: Profile) -> tuple[np.ndarray, list[list[str]]]:
    """Each paper's similarity to the profile and its best-matching terms."""
    m = index.match(profile)
    return m.total, [m.top_terms(i) for i in range(len(index.papers))]


def feedback_similarity(index: TermIndex, voted: list[Paper]) -> np.ndarray:
    """similarity[i, j] of candidate i to voted paper j: its BM25 score for j's terms over j's own."""
    docs = index.docs
    queries = [sorted({s for s, _ in _profile_terms(f"{p.title}\n{p.abstract}")}) for p in voted]
    # The voted papers join the index so that each can be scored against itself, the yardstick.
    scorer = TermScorer(docs + queries)
    out = np.zeros((len(docs), len(voted)), dtype=np.float64)
    for j, q in enumerate(queries):
        known = [t for t in q if t in scorer.vocab]
        if not known:
            continue
        scores = np.asarray(scorer.bm25.get_scores(known), dtype=np.float64)
        itself = scores[len(docs) + j]
        if itself > 0:
            out[:, j] = scores[: len(docs)] / itself
    return out


def vote_weights(voted: list[PaperFeedback]) -> np.ndarray:
    """Each voted paper's signed weight: its net votes (a subscriber's at _READER_VOTE_WEIGHT), capped so a
    popular paper cannot drown the rest."""
    nets = [f.net - (1 - _READER_VOTE_WEIGHT) * f.readers for f in voted]
    return np.array([np.sign(n) * min(abs(n), _MAX_VOTES_COUNTED) for n in nets], dtype=np.float64)


def vote_moves(sim: np.ndarray, signed: np.ndarray, scale: float) -> np.ndarray:
    """moves[i, j]: how far voted paper j moves candidate i, on the scale of the week's best interest score."""
    return sim * signed * (_FEEDBACK_WEIGHT * scale)


def strongest_votes(sim_row: np.ndarray, signed: np.ndarray, moves_row: np.ndarray,
                    keys: list[str]) -> dict[int, int]:
    """{+1: j, -1: j}: the voted paper that moved a candidate most up and most down (worth a reason)."""
    out = {}
    for direction in (1, -1):
        best = max((j for j in range(len(keys)) if np.sign(signed[j]) == direction
                    and sim_row[j] >= _MIN_SIMILARITY_SHOWN),
                   key=lambda j: (abs(moves_row[j]), keys[j]), default=None)
        if best is not None:
            out[direction] = best
    return out


def _feedback_adjustments(index: TermIndex, feedback: list[PaperFeedback],
                          scale: float) -> tuple[np.ndarray, list[list[str]]]:
    """Each candidate's score change from reader votes, and the reasons naming the voted papers."""
    voted = [f for f in feedback if f.net][:_MAX_FEEDBACK_PAPERS]
    n = len(index.papers)
    if not voted or not n:
        return np.zeros(n), [[] for _ in range(n)]
    sim = feedback_similarity(index, [f.paper for f in voted])
    signed = vote_weights(voted)
    moves = vote_moves(sim, signed, scale)
    keys = [f.paper.key for f in voted]
    reasons: list[list[str]] = []
    for i in range(n):
        lines = []
        for direction, j in strongest_votes(sim[i], signed, moves[i], keys).items():
            f = voted[j]
            votes = abs(f.net)
            lines.append(f"ranked {'up' if direction > 0 else 'down'}: similar to {f.paper.key} you "
                         f"{'liked' if direction > 0 else 'disliked'} (similarity {sim[i, j]:.2f}"
                         + (f", {votes} votes" if votes > 1 else "") + ")")
        reasons.append(lines)
    return moves.sum(axis=1), reasons


# ---- selection --------------------------------------------------------------------------

def _dedupe(papers: list[Paper]) -> tuple[list[Paper], dict[str, list[str]]]:
    """One paper per key (the highest version; the first seen among equals)."""
    best: dict[str, Paper] = {}
    notes: dict[str, list[str]] = defaultdict(list)
    for p in papers:
        old = best.get(p.key)
        if old is None:
            best[p.key] = p
            continue
        if (p.version or 0) > (old.version or 0):
            best[p.key] = p
            notes[p.key].append(f"listed more than once; kept v{p.version} over v{old.version or '?'}")
        else:
            notes[p.key].append("listed more than once; kept the first listing")
    return list(best.values()), notes


def _type_allowed(kind: str, allowed: set[str]) -> bool:
    """An arXiv announce type is taken when listed; replace-cross also when both parts are."""
    if kind in allowed:
        return True
    return kind == "replace-cross" and {"replace", "cross"} <= allowed


def _published_reason(key: str, pv: int | None, published_in: dict[str, str]) -> str:
    where = f" in {published_in[key]}" if key in published_in else ""
    return f"already published{where}" + (f" (v{pv})" if pv else "")


def select_papers(candidates: list[Paper], selection: SelectionConfig, *, liked: list[Paper] = (),
                  published: dict[str, int | None] | None = None, max_papers: int | None = None,
                  published_in: dict[str, str] | None = None,
                  feedback: list[PaperFeedback] = ()) -> list[Candidate]:
    """Every candidate with its decision and reasons, selected ones first in rank order.

    `published` maps paper key -> highest published version (None or 0: unknown);
    `published_in` optionally maps paper key -> the issue it appeared in, for the reasons;
    `feedback` holds the readers' votes (digest.feedback.load_feedback), most recent first.
    """
    published = published or {}
    published_in = published_in or {}
    limit = selection.max_papers if max_papers is None else max_papers
    papers, notes = _dedupe(list(candidates))
    allowed_types = {t.strip().lower() for t in selection.announce_types}
    excludes = [(k, keyword_pattern(k)) for k in selection.exclude_keywords if k.strip()]
    includes = [(k, keyword_pattern(k)) for k in selection.include_keywords if k.strip()]
    wanted_categories = {c.strip() for c in selection.categories if c.strip()}

    profile = build_profile(selection.interests or "", list(liked))
    index = TermIndex(papers)
    if profile.weights and papers:
        scores, top_terms = _bm25_scores(index, profile)
    else:
        scores, top_terms = np.zeros(len(papers)), [[] for _ in papers]
    # Votes move papers on the interests' own scale, so neither signal dwarfs the other.
    scale = float(scores.max()) if len(papers) and scores.max() > 0 else 1.0
    moves, vote_reasons = _feedback_adjustments(index, list(feedback), scale)
    by_profile = bool(profile.weights) or bool(np.any(moves))

    decided: list[tuple[Candidate, bool, bool]] = []  # (candidate, passed the filters, watched)
    for i, p in enumerate(papers):
        c = Candidate(paper=p, score=round(float(scores[i] + moves[i]), 4), selected=False,
                      reasons=list(notes[p.key]))
        text = f"{p.title}\n{p.abstract}"
        eligible = True
        watched = watched_author(p, selection.authors)
        watched_as = next((a for a in p.authors if watched and same_author(watched, a)), None)

        if p.key in published:
            pv = published[p.key]
            if p.version and pv and p.version > pv:
                c.is_update = True
                where = f" in {published_in[p.key]}" if p.key in published_in else ""
                c.reasons.append(f"updated: v{p.version} (published v{pv}{where})")
            else:
                eligible = False
                c.reasons.append(_published_reason(p.key, pv, published_in))
        kind = (p.announce_type or "").lower()
        if eligible and kind and not _type_allowed(kind, allowed_types):
            if c.is_update:
                # The product promise: a published paper's new version is reported, whatever
                # announce types the owner takes for papers never shown before.
                c.reasons.append(f"announce type {kind} taken: it updates a published paper")
            else:
                eligible = False
                c.reasons.append(f"announce type {kind} not taken")
        if eligible:
            hit = next((k for k, pat in excludes if pat.search(text)), None)
            if hit:
                eligible = False
                c.reasons.append(f"excluded: keyword '{hit}'")
        if eligible and wanted_categories and not watched:
            cats = set(p.categories) | ({p.primary_category} if p.primary_category else set())
            if not cats:
                c.reasons.append("categories unknown; category filter not applied")
            elif not cats & wanted_categories:
                eligible = False
                c.reasons.append(f"not in categories {', '.join(sorted(wanted_categories))}"
                                 f" (has {', '.join(sorted(cats))})")
        if eligible and includes:
            hits = [k for k, pat in includes if pat.search(text)]
            if hits:
                c.reasons.extend(f"matches keyword '{k}'" for k in hits)
            elif not watched:
                eligible = False
                c.reasons.append("no include keyword matched ("
                                 + ", ".join(k for k, _ in includes) + ")")
        if watched:
            c.reasons.append(f"author on watch list: {fix_mojibake(watched_as)}")
        if profile.weights:
            if top_terms[i]:
                c.reasons.append(f"BM25 similarity {scores[i]:.2f} to interests"
                                 f" (top terms: {', '.join(top_terms[i])})")
            else:
                c.reasons.append("BM25 similarity 0.00 to interests (no shared terms)")
        c.reasons.extend(vote_reasons[i])
        decided.append((c, eligible, bool(watched)))

    return _rank(decided, limit, by_profile)


def _rank(decided: list[tuple[Candidate, bool, bool]], limit: int, by_profile: bool) -> list[Candidate]:
    def recency(c: Candidate) -> tuple:
        # ISO dates sort as strings; a paper without a date goes last. Ties: by key.
        return (-_date_number(c.paper.published), c.paper.key)

    def similarity(c: Candidate) -> tuple:
        return (-c.score, c.paper.key)

    order = similarity if by_profile else recency
    eligible = [(c, w) for c, ok, w in decided if ok]
    ranked = sorted((c for c, w in eligible if w), key=order) + sorted((c for c, w in eligible if not w), key=order)
    for n, c in enumerate(ranked, 1):
        c.rank = n
        if not by_profile:
            c.reasons.append(f"no interest profile: ranked by recency (published {c.paper.published or 'unknown'})")
        c.selected = n <= limit
        c.reasons.append(_rank_line(n, len(ranked), limit))
    left_out = sorted((c for c, ok, _ in decided if not ok), key=lambda c: (-c.score, c.paper.key))
    return ranked + left_out


def _rank_line(n: int, total: int, limit: int) -> str:
    return f"rank {n} of {total}: selected" if n <= limit else f"rank {n} > max_papers {limit}"


_RANK_LINE = re.compile(r"rank \d+ (?:of \d+: selected|> max_papers \d+)")


def reorder(candidates: list[Candidate], order: list[str], limit: int, why: dict[str, str]) -> list[Candidate]:
    """The candidates with the ranked ones at the front put in `order` (keys), ranks and selection redone.

    `order` must be a permutation of the keys of the first len(order) ranked candidates (a re-rank moves
    papers within the top, it never brings in one the filters left out); `why[key]` is added as a reason.
    """
    ranked = [c for c in candidates if c.rank is not None]
    head = {c.paper.key: c for c in ranked[:len(order)]}
    if sorted(order) != sorted(head):
        raise ValueError("a re-rank may only reorder the top of the ranked candidates")
    ranked = [head[k] for k in order] + ranked[len(order):]
    for n, c in enumerate(ranked, 1):
        if c.paper.key in why:
            c.reasons.append(why[c.paper.key])
        c.rank, c.selected = n, n <= limit
        c.reasons = [r for r in c.reasons if not _RANK_LINE.fullmatch(r)] + [_rank_line(n, len(ranked), limit)]
    return ranked + [c for c in candidates if c.rank is None]


def watched_author(paper: Paper, authors: list[str]) -> str | None:
    """The watch list's name of one of the paper's authors, or None."""
    return next((w for w in authors for a in paper.authors if same_author(w, a)), None)


def _date_number(iso: str | None) -> int:
    digits = re.sub(r"\D", "", (iso or "")[:19])
    return int(digits.ljust(14, "0")) if digits else -1


# ---- persistence ------------------------------------------------------------------------

def save_selection(store: Store, week: str, candidates: list[Candidate]) -> None:
    """Replace the stored selection of a week (papers are stored too, if they were not yet)."""
    for c in candidates:
        if not store.query("SELECT 1 FROM papers WHERE key=?", (c.paper.key,)):
            store.upsert_paper(c.paper)
    with store.transaction() as db:
        db.execute("DELETE FROM candidates WHERE week=?", (week,))
        db.executemany(
            "INSERT INTO candidates (week, paper_key, version, score, selected, rank, reasons, is_update) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(week, c.paper.key, c.paper.version, c.score, int(c.selected), c.rank,
              json.dumps(c.reasons, ensure_ascii=False), int(c.is_update)) for c in candidates],
        )


def published_issues(store: Store, exclude_issue: str | None = None) -> dict[str, str]:
    """The latest issue each published paper appeared in (for select_papers' published_in)."""
    rows = store.query(
        "SELECT ip.paper_key, ip.issue_id FROM issue_papers ip JOIN issues i ON i.id = ip.issue_id "
        "WHERE ip.issue_id != coalesce(?, '') AND i.status = 'published' ORDER BY i.week_start, ip.issue_id",
        (exclude_issue,),
    )
    return {r["paper_key"]: r["issue_id"] for r in rows}


def load_selection(store: Store, week: str) -> list[Candidate]:
    """A week's stored selection, in the order it was decided (selected first, by rank)."""
    rows = store.query(
        "SELECT p.*, c.version AS considered_version, c.score, c.selected, c.rank, c.reasons, "
        "c.is_update AS updates_published "
        "FROM candidates c JOIN papers p ON p.key = c.paper_key WHERE c.week=? "
        "ORDER BY c.rank IS NULL, c.rank, c.score DESC, c.paper_key",
        (week,),
    )
    out = []
    for r in rows:
        paper = store.paper_from_row(r)
        paper.version = r["considered_version"]  # the version that was considered, not the newest seen since
        reasons = json.loads(r["reasons"] or "[]")
        out.append(Candidate(
            paper=paper, score=r["score"], selected=bool(r["selected"]), reasons=reasons,
            is_update=bool(r["updates_published"]), rank=r["rank"],
        ))
    return out


def updated_papers(store: Store, week: str) -> set[str]:
    """Keys of the papers a week's stored selection took as new versions of published ones."""
    return {c.paper.key for c in load_selection(store, week) if c.selected and c.is_update}
