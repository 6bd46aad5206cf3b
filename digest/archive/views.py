"""What the archive site shows, loaded from the store in a few queries: the issues and a view of each paper."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from digest.archive.search import document_text
from digest.records import Generation, Issue, IssueEntry, Paper
from digest.store import Store
from digest.text import slugify


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



def load_site_data(store: Store) -> tuple[list[Issue], dict[str, dict], dict[str, PaperView], dict[str, str]]:
    """Every published issue (newest first), their stored times and models, a view of every published paper,
    and a stamp of each generation's stored content (its row and revision: what page fingerprints use).

    Generations come without their summaries and answers (most of what loading them all cost): fingerprints
    need only their stamps, and `fill_views` loads the content of the papers whose pages are rendered."""
    meta = store.issue_times_and_models()
    views = {p.key: PaperView(paper=p, slug=slugify(p.key)) for p in store.published_papers()}
    generations: dict[str, Generation] = {}
    shown: dict[str, list[Generation]] = {}
    stamps: dict[str, str] = {}
    for g, in_issue, stamp in store.published_generation_heads():
        generations[g.key] = g
        stamps[g.key] = stamp
        v = views.get(g.paper_key)
        if v is not None:
            v.generations.append(g)
            if in_issue:
                shown.setdefault(g.paper_key, []).append(g)
    issues = _assemble_issues(store, views, generations)
    for issue in issues:
        for e in issue.entries:
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
    store.fill_generations(untold)
    for key, v in views.items():
        used = shown.get(key, [])
        if not any(document_text([g]) != ("", "") for g in used):
            used = v.generations
        v.text_generations = used
        v.text_source = " ".join(stamps[g.key] for g in used)
    return issues, meta, views, stamps


def fill_views(store: Store, views: dict[str, PaperView], keys: set[str]) -> int:
    """Load the summaries and answers of every generation of the papers `keys` (loaded without them by
    load_site_data): an issue's entries share these objects; the number of generations filled."""
    todo = [g for k in sorted(keys) if k in views for g in views[k].generations if not g.summary and not g.qa]
    store.fill_generations(todo)
    return len(todo)

def _assemble_issues(store: Store, views: dict[str, PaperView], generations: dict[str, Generation]) -> list[Issue]:
    # As Store.load_issue builds each issue, but from the papers and generations loaded once for all.
    issues, entries, links = store.published_issues_bulk()
    by_id = {i.id: i for i in issues}
    chosen = {(r["issue_id"], r["paper_key"]): r["generation_key"]
              for r in links if r["issue_id"] in by_id and r["model"] == by_id[r["issue_id"]].model}
    for r in entries:
        paper = views[r["paper_key"]].paper
        if r["version"] is not None and r["version"] != paper.version:
            paper = replace(paper, version=r["version"])
        g = generations.get(chosen.get((r["issue_id"], r["paper_key"]), ""))
        changes = store.shown_changes(paper, g, by_id[r["issue_id"]]) if r["is_update"] else None
        by_id[r["issue_id"]].entries.append(IssueEntry(paper=paper, generation=g, position=r["position"],
                                                       is_update=bool(r["is_update"]), changes=changes))
    store.attach_overviews(issues)
    return issues
