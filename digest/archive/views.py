"""What the archive site shows, loaded from the store in a few queries: the issues and a view of each paper.

Two levels: `load_heads` reads the little every build needs of every paper and issue (what lists order and
group them by, the cards of the lists of issues, and a fingerprint of each made of the stamps the store keeps
of their changes, see migrations.m017_archive_changes); `load_site_data` reads the whole of the papers whose
pages a build renders, and nothing of the others.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from digest.archive.search import document_text
from digest.records import Generation, Issue, IssueEntry, Paper
from digest.store import Store
from digest.text import slugify
from digest.archive import queries


@dataclass
class PaperView:
    """What the site knows about one published paper."""

    paper: Paper
    slug: str
    issue_ids: list[str] = field(default_factory=list)  # newest first
    generations: list[Generation] = field(default_factory=list)  # newest first
    shown_in: dict[str, list[str]] = field(default_factory=dict)  # generation key -> issue ids
    language: str = "en"
    tldr: str = ""
    text_generations: list[Generation] = field(default_factory=list)  # what search indexes of the paper
    text_source: str = ""  # the stored stamps of text_generations

    def search_text(self) -> tuple[str, str]:
        """The summary text and the Q&A text search indexes (its generations must be filled: fill_views)."""
        return document_text(self.text_generations)



@dataclass
class SearchViews:
    """What the search files show of the papers, read from their views once loaded (a SearchSource)."""

    views: dict[str, PaperView]

    def shown(self, key: str) -> tuple[str, str, str, str]:
        """Title, authors, TL;DR and language."""
        v = self.views[key]
        return v.paper.title, "; ".join(v.paper.authors), v.tldr, v.language

    def text(self, key: str) -> tuple[str, str]:
        """The summary text and the Q&A text."""
        return self.views[key].search_text()


@dataclass
class PaperHead:
    """What every build knows of a published paper, whose page it may not render."""

    paper: Paper  # only what names its PDF and thumbnail, and its categories (each once, sorted)
    slug: str
    authors: str  # as stored (JSON): read only where a watched author could be among them
    issue_ids: list[str]  # newest first
    fp: str  # a fingerprint of everything the site shows of it: its stamp and its issues'


class CardPaper(NamedTuple):
    """What an issue's card shows of a paper (index pages, the Markdown index)."""

    key: str
    title: str


class CardTLDR(NamedTuple):
    """The TL;DR of the generation an issue shows, as its card shows it."""

    tldr: str


class Card(NamedTuple):
    """An entry of an issue's card: read for every issue on every build, so a tuple, not an IssueEntry."""

    position: int
    paper: CardPaper
    generation: CardTLDR | None


@dataclass
class SiteHeads:
    """The published issues and papers as every build sees them (see load_heads)."""

    issues: list[Issue]  # newest first; each entry only with its paper's title and the TL;DR shown (cards)
    meta: dict[str, dict]  # issue id -> stored times and models
    papers: dict[str, PaperHead]
    issue_fp: dict[str, str]  # issue id -> a fingerprint of everything its page shows of it and its papers
    members: dict[str, list[str]]  # issue id -> its papers' keys, in order
    pool: dict[str, list[str]] = field(default_factory=dict)  # issue id -> its pool's other papers' keys


def load_heads(store: Store) -> SiteHeads:
    """Every published issue's card and every published paper's head, with fingerprints made of the stamps
    the store keeps of their changes: a few cheap queries, nothing per paper that grows with its text."""
    paper_stamps, issue_stamps = queries.archive_stamps(store)
    issues, _, _ = queries.published_issues_bulk(store, keys=set())
    by_id = {i.id: i for i in issues}
    ids: dict[str, list[str]] = {}
    for issue_id, key, position, title, tldr in queries.published_cards(store):
        by_id[issue_id].entries.append(Card(position, CardPaper(key, title), None if tldr is None else CardTLDR(tldr)))
        ids.setdefault(key, []).append(issue_id)
    pool: dict[str, list[str]] = {}
    order = {i.id: n for n, i in enumerate(issues)}
    for issue_id, key, *_ in queries.published_pool(store):  # issue 21: the papers written up for readers' own issues
        pool.setdefault(issue_id, []).append(key)
        ids.setdefault(key, []).append(issue_id)
        ids[key].sort(key=order.__getitem__)  # newest first, as the editor's issues are
    issue_stamp = {i.id: issue_stamps.get(i.id, "") for i in issues}
    issue_token = {i: f"{i}@{stamp}" for i, stamp in issue_stamp.items()}  # made once, not once per paper
    categories: dict[str, list[str]] = {}  # the same few lists recur: each read (and sorted) once
    papers = {}
    for key, arxiv_id, version, local_pdf, pdf_url, raw, authors in queries.published_paper_heads(store):
        if raw not in categories:
            categories[raw] = sorted(set(json.loads(raw)))
        issue_ids = ids.get(key, [])
        papers[key] = PaperHead(
            paper=Paper(key=key, title="", arxiv_id=arxiv_id, version=version, local_pdf=local_pdf, pdf_url=pdf_url,
                        categories=categories[raw]),
            slug=slugify(key), authors=authors, issue_ids=issue_ids,
            fp=quick_fingerprint(key, paper_stamps.get(key, ""), *[issue_token[i] for i in issue_ids]))
    issue_fp = {i.id: quick_fingerprint(i.id, issue_stamp[i.id], *(
        f"{e.paper.key}@{paper_stamps.get(e.paper.key, '')}" for e in i.entries)) for i in issues}
    members = {i.id: [e.paper.key for e in i.entries] for i in issues}
    return SiteHeads(issues=issues, meta=queries.issue_times_and_models(store), papers=papers, issue_fp=issue_fp,
                     members=members, pool=pool)


def quick_fingerprint(*parts: str) -> str:
    """A short stable hash of some strings (none holding a NUL): what incremental.fingerprint makes of any
    data, without the repr, for the thousands of heads every build fingerprints."""
    return hashlib.sha1("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:20]


def load_site_data(store: Store, keys: set[str] | None = None) -> tuple[
        list[Issue], dict[str, dict], dict[str, PaperView], dict[str, str], dict[str, list[IssueEntry]]]:
    """Every published issue (newest first), their stored times and models, a view of every published paper,
    a stamp of each generation's stored content (its row and revision), and each issue's pool past its own
    papers as entries (issue 21: the papers written up for readers' own issues).

    With `keys`, only those papers are loaded, and each issue gets only their entries: whole for an issue all
    of whose papers are among them. Generations come without their summaries and answers (most of what
    loading them all cost): `fill_views` loads those of the papers whose pages are rendered."""
    meta = queries.issue_times_and_models(store)
    views = {p.key: PaperView(paper=p, slug=slugify(p.key)) for p in queries.published_papers(store, keys)}
    generations: dict[str, Generation] = {}
    shown: dict[str, list[Generation]] = {}
    stamps: dict[str, str] = {}
    for g, in_issue, stamp in queries.published_generation_heads(store, keys):
        generations[g.key] = g
        stamps[g.key] = stamp
        v = views.get(g.paper_key)
        if v is not None:
            v.generations.append(g)
            if in_issue:
                shown.setdefault(g.paper_key, []).append(g)
    issues, pools = _assemble_issues(store, views, generations, keys)
    for issue in issues:
        for e in issue.entries + pools.get(issue.id, []):
            v = views.get(e.paper.key)
            if v is None:
                continue
            if not v.issue_ids:  # the newest issue gives the page its language and TL;DR
                v.language = issue.language
                v.tldr = e.generation.tldr if e.generation else ""
            v.issue_ids.append(issue.id)
            if e.generation:
                v.shown_in.setdefault(e.generation.key, []).append(issue.id)
    # Search indexes the generations issues show, or all of a paper's if those have no text at all: known
    # from the TL;DRs alone but for the rare paper whose shown generations have none (those are filled).
    untold = [g for key in views for g in shown.get(key, []) if not any(s.tldr for s in shown[key])]
    queries.fill_generations(store, untold)
    for key, v in views.items():
        used = shown.get(key, [])
        if not any(document_text([g]) != ("", "") for g in used):
            used = v.generations
        v.text_generations = used
        v.text_source = " ".join(stamps[g.key] for g in used)
    return issues, meta, views, stamps, pools


def fill_views(store: Store, views: dict[str, PaperView], keys: set[str]) -> int:
    """Load the summaries and answers of every generation of the papers `keys` (loaded without them by
    load_site_data): an issue's entries share these objects; the number of generations filled."""
    todo = [g for k in sorted(keys) if k in views for g in views[k].generations if not g.summary and not g.qa]
    queries.fill_generations(store, todo)
    return len(todo)

def _assemble_issues(store: Store, views: dict[str, PaperView], generations: dict[str, Generation],
                     keys: set[str] | None) -> tuple[list[Issue], dict[str, list[IssueEntry]]]:
    # As Store.load_issue builds each issue, but from the papers and generations loaded once for all.
    issues, entries, links = queries.published_issues_bulk(store, keys)
    by_id = {i.id: i for i in issues}
    chosen = {(r["issue_id"], r["paper_key"]): r["generation_key"]
              for r in links if r["issue_id"] in by_id and r["model"] == by_id[r["issue_id"]].model}
    pools: dict[str, list[IssueEntry]] = {}
    for r, into in [(r, by_id[r["issue_id"]].entries) for r in entries] + [
            (r, pools.setdefault(r["issue_id"], [])) for r in queries.published_pool(store, keys) if r["issue_id"] in by_id]:
        paper = views[r["paper_key"]].paper
        if r["version"] is not None and r["version"] != paper.version:
            paper = replace(paper, version=r["version"])
        g = generations.get(chosen.get((r["issue_id"], r["paper_key"]), ""))
        changes = store.shown_changes(paper, g, by_id[r["issue_id"]]) if r["is_update"] else None
        into.append(IssueEntry(paper=paper, generation=g, position=r["position"], is_update=bool(r["is_update"]),
                               changes=changes))
    store.attach_overviews(issues)
    return issues, pools
