"""Build stored papers, generations and issues for tests of the later stages (mail, archive, rerun)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import click

from digest.mail.subscribers import add_subscriber
from digest.readers import ReaderInterests, save_pool, set_interests
from digest.records import QA, Generation, Issue, IssueEntry, Paper, Usage
from digest.store import Store

HOSTILE_TITLE = '<script>alert(1)</script> <img src=x onerror=alert(2)> Attention & "Quotes"'


def make_paper(i: int, *, title: str | None = None, week: int = 0) -> Paper:
    """A plausible arXiv paper record numbered i."""
    aid = f"2611.{10000 + i:05d}"
    return Paper(
        key=aid, arxiv_id=aid, version=1 + i % 2,
        title=title or f"Paper {i}: grounded summarisation of long documents",
        authors=["Ada Lovelace", "山田 太郎", f"Author {i}"],
        abstract=f"We study problem {i}. Our method improves ROUGE-L by {i}.5 points on arXiv-summ.",
        categories=["cs.CL", "cs.LG"], primary_category="cs.CL",
        published=f"2026-11-{16 - week * 7 if 16 - week * 7 > 0 else 1:02d}T00:00:00+00:00",
        updated=f"2026-11-{17 - week * 7 if 17 - week * 7 > 0 else 2:02d}T00:00:00+00:00",
        abs_url=f"https://arxiv.org/abs/{aid}", pdf_url=f"https://arxiv.org/pdf/{aid}",
        announce_type="new", license="http://creativecommons.org/licenses/by/4.0/",
    )


def make_generation(paper: Paper, model: str = "test-model", language: str = "en",
                    *, unique_word: str | None = None,
                    created: str = "2026-11-16T08:00:00+00:00") -> Generation:
    """A generation with 8 Q&A pairs, one of them unverified, written at a fixed `created` time."""
    qa = [
        QA(question=f"What does question {j} ask about {paper.title}?",
           answer=f"Answer {j}: the method reaches {j}0.5% accuracy on the benchmark"
                  + (f" ({unique_word})" if unique_word and j == 3 else "") + ".",
           pages=[1 + j % 3], quote=f"reaches {j}0.5% accuracy", verified=j != 7)
        for j in range(8)
    ]
    return Generation(
        key=f"{paper.key}-{model}-{language}", paper_key=paper.key, version=paper.version,
        model=model, prompt_version="p1", language=language,
        tldr=f"TL;DR of {paper.title}.", summary=f"Summary of {paper.title}: it works well.",
        qa=qa, usage=Usage(input_tokens=1000, cached_tokens=200, output_tokens=300, cost=0.001, latency_ms=900),
        created=created,
    )


def make_issue(store: Store, *, week: int = 0, n_papers: int = 3, language: str = "en",
               model: str = "test-model", titles: list[str] | None = None,
               unique_word: str | None = None) -> Issue:
    """Store n papers, their generations and an issue for ISO week 2026-W47 minus `week`."""
    start = date(2026, 11, 16) - timedelta(weeks=week)
    iso = start.isocalendar()
    issue = Issue(id=f"{iso.year}-W{iso.week:02d}", week_start=start.isoformat(),
                  week_end=(start + timedelta(days=6)).isoformat(), language=language, model=model,
                  created=f"{start.isoformat()}T08:00:00+00:00")
    gens = {}
    for i in range(n_papers):
        n = week * 100 + i
        title = titles[i] if titles and i < len(titles) else None
        p = make_paper(n, title=title, week=week)
        store.upsert_paper(p)
        g = make_generation(p, model, language, unique_word=unique_word if i == 0 else None,
                            created=issue.created)
        store.save_generation(g, {"model": model})
        gens[p.key] = g
        issue.entries.append(IssueEntry(paper=p, generation=g, position=i + 1))
    store.save_issue(issue, gens)
    return store.load_issue(issue.id)


def command_group(config, store: Store, register: Callable[[click.Group], None]) -> click.Group:
    """A `digest`-like click group holding one command family, its context object carrying config and store."""
    class Obj:
        def __init__(self):
            self.config, self.store = config, store

    @click.group()
    @click.pass_context
    def cli(ctx):
        ctx.obj = Obj()

    register(cli)
    return cli


def add_reader(store: Store, email: str, **interests) -> int:
    """A subscriber with these interests (none: a reader who asked for nothing); returns their id."""
    sub, _ = add_subscriber(store, email)
    if interests:
        set_interests(store, sub.id, ReaderInterests(**interests))
    return sub.id


def store_week_with_pool(store: Store, papers: list[Paper], editor: int) -> Issue:
    """Store every paper written up, an issue of the first `editor` of them, and all of them as its pool;
    returns the issue as stored (before save_pool, so a caller can attach more, e.g. an overview)."""
    gens = {}
    for p in papers:
        store.upsert_paper(p)
        g = make_generation(p)
        store.save_generation(g, {"model": g.model})
        gens[p.key] = g
    issue = Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en", model="test-model",
                  created="2026-11-16T08:00:00+00:00")
    issue.entries = [IssueEntry(paper=p, generation=gens[p.key], position=n) for n, p in enumerate(papers[:editor], 1)]
    store.save_issue(issue, gens)
    save_pool(store, issue.id, papers)
    return issue
