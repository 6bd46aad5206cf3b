"""The week's pool (every paper written up once) and each reader's issue chosen from it.

`digest run` writes up the editor's issue plus what readers rank high (choose_pool, save_pool);
reader_issue then gives each reader their top papers of it, in their order, each with why.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from digest.config import Config, SelectionConfig
from digest.feedback import subscriber_voter
from digest.readers.interests import ReaderInterests, active_readers, ranking_interests
from digest.readers.ranking import MAX_READER_VOTES, Choice, PoolRanker
from digest.records import Issue, IssueEntry, Paper, Theme
from digest.select import Candidate
from digest.store import Store, utcnow


def _votes_by_reader(store: Store, subscriber_id: int | None = None) -> dict[int, list[tuple[str, int]]]:
    """Each subscriber's votes (paper key, +1/-1), most recent first; one subscriber's alone when given."""
    if subscriber_id is None:
        rows = store.query("SELECT voter, paper_key, vote FROM feedback WHERE voter LIKE 'subscriber:%' "
                           "ORDER BY updated DESC, paper_key")
    else:
        rows = store.query("SELECT voter, paper_key, vote FROM feedback WHERE voter=? ORDER BY updated DESC, "
                           "paper_key LIMIT ?", (subscriber_voter(subscriber_id), MAX_READER_VOTES))
    out: dict[int, list[tuple[str, int]]] = {}
    for r in rows:
        who = r["voter"].partition(":")[2]
        if who.isdigit() and len(out.setdefault(int(who), [])) < MAX_READER_VOTES:
            out[int(who)].append((r["paper_key"], r["vote"]))
    return out


def _learn(store: Store, ranker: PoolRanker, keys) -> None:
    unknown = sorted({k for k in keys if not ranker.knows_vote(k)})
    papers = [store.get_paper(k) for k in unknown
              if store.query("SELECT 1 FROM papers WHERE key=?", (k,))]
    ranker.learn_votes(papers)


def choose_pool(store: Store, candidates: list[Candidate], selection: SelectionConfig) -> list[Candidate]:
    """The candidates past the editor's selection that readers rank high, filling the pool to
    selection.pool_max papers as soon as one reader has interests.

    Only papers that passed the editor's filters (exclude keywords, categories, announce types, published)
    can join: the editor still decides what may go out, each reader only what of it comes first. A paper
    in the top of more readers' issues goes in first, then the papers next in readers' rankings, then the
    editor's; the editor's rank breaks ties. Filling the pool keeps the week's LLM calls the same for one
    reader as for thousands (pool_max is the knob), and a reader who changes their interests or votes
    before the send is chosen for from all pool_max papers.
    """
    selected = [c for c in candidates if c.selected]
    others = [c for c in candidates if c.rank is not None and not c.selected]
    room = selection.pool_max - len(selected)
    readers = active_readers(store) if room > 0 and others else {}
    readers = {sid: i for sid, i in readers.items() if not i.is_empty()}  # cleared: the editor's issue
    if not readers:
        return []
    ranked = selected + others
    ranker = PoolRanker([c.paper for c in ranked], {c.paper.key for c in selected})
    votes = _votes_by_reader(store)
    _learn(store, ranker, {k for sid in readers for k, _ in votes.get(sid, ())})
    # Places in each reader's own issue, and (to fill the pool) the places just below it.
    wanted: dict[int, list[int]] = {}
    next_up: dict[int, list[int]] = {}
    for sid, interests in readers.items():
        limit = interests.max_papers or selection.max_papers
        depth = max(limit, selection.pool_max)  # deep enough to hold `room` papers past the editor's
        for place, choice in enumerate(ranker.rank(interests, votes.get(sid, []), depth, explain=False), 1):
            if choice.index >= len(selected):
                (wanted if place <= limit else next_up).setdefault(choice.index, []).append(place)

    def by_readers(places: dict[int, list[int]]) -> list[int]:
        return sorted(places, key=lambda i: (-len(places[i]), sum(places[i]), i))
    fill = [i for i in by_readers(next_up) if i not in wanted]
    rest = [i for i in range(len(selected), len(ranked)) if i not in wanted and i not in next_up]
    chosen = []
    for i in (by_readers(wanted) + fill + rest)[:room]:
        c, n = ranked[i], len(wanted.get(i) or next_up.get(i) or ())
        who = f"{n} reader{'s' if n != 1 else ''}"
        c.reasons.append(f"in the week's pool: in the own issue of {who}" if i in wanted else
                         f"in the week's pool (filled to pool_max): next in the ranking of {who}" if n else
                         "in the week's pool (filled to pool_max): next in the editor's ranking")
        chosen.append(c)
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


def pool_papers(store: Store, issue_id: str) -> tuple[list[Paper], set[str]]:
    """The papers written up for an issue, the editor's first, each at the version written up, and the keys of
    those that update a published paper (none for an issue from before pools were kept)."""
    rows = store.query("SELECT ip.version AS pool_version, ip.is_update AS pool_update, p.* FROM issue_pool ip "
                       "JOIN papers p ON p.key = ip.paper_key WHERE ip.issue_id=? ORDER BY ip.position", (issue_id,))
    papers = []
    for r in rows:
        paper = store.paper_from_row(r)
        paper.version = r["pool_version"] if r["pool_version"] is not None else paper.version
        papers.append(paper)
    return papers, {p.key for p, r in zip(papers, rows) if r["pool_update"]}


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


def forget_pools() -> None:
    """Drop the pools read so far (the next reader_issue reads its issue's pool again)."""
    with _CHOOSERS_LOCK:
        _CHOOSERS.clear()
