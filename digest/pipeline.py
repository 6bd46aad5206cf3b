"""The weekly job in order: sources, selection, PDFs, page texts, generation, issue. No stage logic here."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from digest import readers, select
from digest.archive.search import reindex
from digest.ask.index import index_paper
from digest.config import Config
from digest.errors import ConfigError, DigestError, SourceError
from digest.feedback import load_feedback
from digest.http import make_client
from digest.llm.client import get_model
from digest.pdf.download import fetch_pdf
from digest.pdf.pool import extract_many
from digest.pdf.versions import earlier_version_pages
from digest.quality import Verdict, judge_issue
from digest.records import Generation, Issue, IssueEntry, Paper, Usage, VersionChanges
from digest.render import write_markdown
from digest.sources import registry as src
from digest.store import Store, utcnow
from digest.writers.base import Estimate, Writer, check_budget, generate_many
from digest.writers.changes import ChangesWriter, describe_update
from digest.writers.chat import ChatWriter
from digest.writers.extractive import ExtractiveWriter, abstract_from_pages
from digest.writers.overview import EarlyOverview, estimate_overview, write_overview
from digest.writers.prompts import PromptSet
from digest.writers.rerank import Rerank
from digest.writers.support_check import SupportCheck, plan_judge

log = logging.getLogger("digest")


class Reporter(Protocol):
    """Progress for long steps; the CLI shows bars, tests pass nothing."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def note(self, message: str) -> None: ...

    def spent(self, cost: float) -> None: ...


class SilentReporter:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        log.info(message)

    def spent(self, cost: float) -> None:
        pass


def parse_since(text: str | None, today: date | None = None) -> datetime:
    """'7d', '2w', '36h' or an ISO date -> the UTC start of the window (default: 7 days ago)."""
    now = datetime.combine(today, datetime.max.time(), UTC) if today else datetime.now(UTC)
    if not text:
        return now - timedelta(days=7)
    m = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return now - {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--since {text!r}: use a duration like 7d, 2w, 36h or a date like 2026-11-16") from None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def issue_week(since: datetime | None, today: date | None = None) -> tuple[str, date, date]:
    """The ISO week an issue covering [since, now] belongs to: the week most of its last 7 days fall in.

    A run early on Monday is about the week that just ended, not the one that is starting; a
    longer window (catching up) still makes this week's issue.
    """
    now = datetime.combine(today, datetime.max.time(), UTC) if today else datetime.now(UTC)
    start = max(since or parse_since(None, today), now - timedelta(days=7))
    return iso_week((start + (now - start) / 2).date())


def iso_week(d: date) -> tuple[str, date, date]:
    """('2026-W47', Monday, Sunday) of the ISO week containing d."""
    y, w, wd = d.isocalendar()
    start = d - timedelta(days=wd - 1)
    return f"{y}-W{w:02d}", start, start + timedelta(days=6)


@dataclass
class FetchReport:
    """What `digest fetch` did, for its closing table."""

    week: str = ""
    sources: int = 0  # how many sources were read, and how many of them failed
    sources_failed: int = 0
    found: int = 0
    new: int = 0
    updated: int = 0
    candidates: int = 0
    selected: list[Paper] = field(default_factory=list)
    downloaded: int = 0
    from_cache: int = 0
    pages: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    explain: list = field(default_factory=list)  # select.Candidate, for --explain
    pool: list[Paper] = field(default_factory=list)  # not selected, but readers' own interests rank them high


@dataclass(kw_only=True)
class Spend(Usage):
    """What generating took: calls, tokens, money and time; the plan per paper, and whether it was a dry run."""

    calls: int = 0
    seconds: float = 0.0
    estimate: list[tuple[Paper, Estimate]] = field(default_factory=list)
    overview_estimate: Estimate = field(default_factory=Estimate)  # the week's overview call, if one is planned
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)  # e.g. why the support judge was skipped
    early_overview: EarlyOverview | None = field(default=None, repr=False)  # made while papers were written

    def add_spent(self, usage: Usage, calls: int) -> None:
        """Add what a step's `calls` model calls spent (their time stays the step's own)."""
        self.calls += calls
        self.input_tokens += usage.input_tokens
        self.cached_tokens += usage.cached_tokens
        self.output_tokens += usage.output_tokens
        self.cost += usage.cost

    def add_logged(self, spent) -> None:
        """Add what the call log says a step spent (a Store.llm_spend_after row)."""
        self.add_spent(Usage(input_tokens=spent["input_tokens"], output_tokens=spent["output_tokens"],
                             cost=spent["cost"]), spent["calls"])


@dataclass(kw_only=True)
class RunReport(Spend):
    """What `digest run` did, for its last line."""

    fetch: FetchReport
    issue: Issue | None = None
    path: str | None = None
    model: str = ""
    verdict: Verdict | None = None  # the quality gate's; a failed one means the issue is a draft
    overview_note: str = ""  # why the issue has no overview (or left part of it out)
    rerank: Estimate = field(default_factory=Estimate)  # the week's re-rank call (selection.rerank_model), if any


def fetch_week(config: Config, store: Store, *, since: datetime | None = None,
               sources: list[str] | None = None, week: str | None = None,
               reporter: Reporter | None = None, rerank: Rerank | None = None) -> FetchReport:
    """Read the sources, store the papers, select this week's (re-ranked by `rerank`, by default
    selection.rerank_model as `digest run` would), and store their page texts."""

    reporter = reporter or SilentReporter()
    # `digest fetch` selects what `digest run` would: a run after it takes the re-rank from the call log.
    rerank = rerank or Rerank(config, store, reporter=reporter)
    since = since or parse_since(None)
    specs = sources or config.sources
    if not specs:
        raise ConfigError("no sources configured", hint="add sources to digest.toml or pass --source")
    week = week or issue_week(since)[0]
    rep = FetchReport(week=week)

    reporter.start("sources", len(specs))
    results, errors = src.fetch_sources(specs, config, store, since=since,
                                        on_source=lambda *_: reporter.advance())
    rep.sources, rep.sources_failed = len(specs), len(errors)
    for e in errors:
        rep.failures.append((e.source, e.detail))
    for r in results:
        rep.warnings.extend(f"{r.source}: {w}" for w in r.warnings)
        for p in r.papers:
            rep.found += 1
            state = store.upsert_paper(p)
            rep.new += state == "new"
            rep.updated += state == "updated"
        src.remember_feed_state(store, r)

    liked: list[Paper] = []
    for spec in config.selection.liked:
        try:
            liked.extend(src.fetch_source(spec, config, store).papers)
        except DigestError as e:
            rep.warnings.append(f"liked list {spec}: {e}")
    pool = store.papers_seen_since(since)
    rep.candidates = len(pool)
    chosen = select.select_papers(pool, config.selection, liked=liked,
                                  published=store.published_versions(exclude_issue=week),
                                  published_in=select.published_issues(store, exclude_issue=week),
                                  feedback=load_feedback(store))
    if rerank:  # the model's order with its reasons; the BM25 order, and a warning, when its reply is unusable
        chosen = rerank.apply(chosen, week, rep.warnings)
    pooled = readers.choose_pool(store, chosen, config.selection)
    select.save_selection(store, week, chosen)
    rep.explain = chosen
    rep.selected = [c.paper for c in chosen if c.selected]
    rep.pool = [c.paper for c in pooled]
    store_page_texts(config, store, rep.selected + rep.pool, rep, reporter)
    return rep


def store_page_texts(config: Config, store: Store, papers: list[Paper], rep: FetchReport,
                     reporter: Reporter) -> None:
    """Download (once) and parse the PDFs of papers whose text is missing or of an older version."""

    todo = [p for p in papers if not store.has_current_text(p)]
    if not todo:
        return
    reporter.start("PDFs", len(todo))
    paths = {}
    with make_client(config.limits.http_timeout) as client:
        for p in todo:
            try:
                path, cached = fetch_pdf(p, config, client)
                paths[path] = p
                rep.from_cache += cached
                rep.downloaded += not cached
            except DigestError as e:
                store.mark_text_failed(p.key, p.version, f"download: {e.message}")
                rep.failures.append((p.versioned_id, f"download: {e.message}"))
            reporter.advance()
    reporter.start("page texts", len(paths))
    for path, text in extract_many(list(paths), config):
        p = paths[path]
        if text.ok:
            # No token count here: it is only shown by `digest papers show`, which counts then; loading a
            # tiktoken encoding for it cost every run ~45 MB, the extractive run included (issue 23).
            store.save_pages(p.key, p.version, text.pages, pdf_path=str(path), token_count=None)
            if text.structure is not None:
                store.save_structure(p.key, p.version, text.structure)
            index_paper(store, p.key)  # `digest ask` finds it from now on; ensure_index catches up after a kill
            rep.pages += len(text.pages)
            if not p.abstract:  # local PDFs and unreachable metadata: take the abstract from the text
                abstract = text.structure.abstract if text.structure else ""
                store.fill_missing(p.key, abstract=abstract or abstract_from_pages(text.pages))
        else:
            store.mark_text_failed(p.key, p.version, text.error or "unreadable")
            rep.failures.append((p.versioned_id, f"PDF: {text.error}"))
        reporter.advance()


def make_writer(config: Config, store: Store, model_id: str, language: str,
                prompts_dir: str | None = None, *, dry_run: bool = False) -> Writer:
    """The extractive writer, or a chat model writer for any other model id (a dry run needs no key)."""
    if model_id == "extractive":
        return ExtractiveWriter(config, store, language)
    return ChatWriter(config, store, get_model(model_id, config, store, check_key=not dry_run),
                      PromptSet(prompts_dir or config.llm.prompts_dir or None), language)


def estimate_papers(writer: Writer, papers: list[Paper]) -> list[tuple[Paper, Estimate]]:
    """The planned calls, tokens and cost per paper."""
    return [(p, writer.estimate(p)) for p in papers]


def generate_papers(config: Config, store: Store, writer: Writer, papers: list[Paper], *,
                    yes: bool, dry_run: bool, reporter: Reporter, report: Spend,
                    issue_id: str | None = None, pool: list[Paper] = ()) -> dict[str, Generation]:
    """Estimate, check the budget, then generate; returns generations by paper key.

    `pool` papers are written up too, for readers' own issues, but are not the issue's: no overview reads them.

    With `issue_id`, a chat model's overview of that issue is written as soon as every paper's TL;DR and
    summary are in, among the answers calls (EarlyOverview); write_overview then finds it in the call log.
    """
    everything = [*papers, *pool]
    report.estimate = plan_judge(config, store, writer.model_id, estimate_papers(writer, everything))
    report.overview_estimate = estimate_overview(config, writer, papers)
    # report.cost: what the run spent before its papers (the week's re-rank call)
    total = sum(e.cost for _, e in report.estimate) + report.overview_estimate.cost + report.cost
    if dry_run:
        report.dry_run = True
        return {}
    check_budget(total, config.llm.max_cost, yes=yes)
    reporter.start(f"generating ({writer.model_id})", len(everything))
    last_id = store.last_llm_call_id()
    support = SupportCheck(config, store)
    early = None
    if issue_id and papers and isinstance(writer, ChatWriter):
        planned = sum(e.cost for _, e in report.estimate)
        early = EarlyOverview(config, writer, papers, issue_id=issue_id, model=writer.model_id, yes=yes,
                              already=lambda: max(planned, store.llm_spend_after(last_id)["cost"]))
        report.early_overview = early

    def done(paper: Paper, gen: Generation) -> None:
        support.label(paper, gen)  # whether each answer's quote backs it by its words and numbers, as it arrives
        reporter.advance()
        reporter.spent(store.llm_spend_after(last_id)["cost"])  # calls of papers still in flight count too

    reporter.spent(0.0)
    gens = generate_many(everything, writer, concurrency=config.llm.concurrency, on_done=done,
                         on_outline=early.outline_in if early else None)
    if early:
        early.wait()
    # A judge call per paper when configured, within what the papers' calls left of the budget (the overview's
    # early call is not theirs: it used to come after the judge, and still counts only against the overview).
    spent = store.llm_spend_after(last_id)["cost"] - (early.spent if early else 0.0)
    result = support.finish(everything, gens, spent=spent)
    for note in result.notes:
        reporter.note(note)
    report.notes.extend(result.notes)
    # What this run spent: the calls it logged (calls resumed from an earlier run cost nothing now).
    report.add_logged(store.llm_spend_after(last_id))
    return gens


def describe_updates(config: Config, store: Store, writer: Writer, papers: list[Paper], *, issue_id: str,
                     language: str, reporter: Reporter, report: Spend) -> dict[str, VersionChanges]:
    """What changed in each paper since the version an earlier issue published (one call per paper)."""
    todo = []
    for p in papers:
        old = store.earlier_published_version(p.key, p.version, exclude_issue=issue_id) if p.version else None
        if old:
            todo.append((p, old))
    if not todo:
        return {}
    chat = None
    if isinstance(writer, ChatWriter):
        chat = ChangesWriter(store, writer.model, writer.prompts, language, config.output.title,
                             drop_unverified=config.llm.unverified == "drop")
    reporter.start("what changed", len(todo))
    last_id = store.last_llm_call_id()
    found = {}
    with make_client(config.limits.http_timeout) as client:
        for p, old in todo:
            found[p.key] = describe_update(store, chat, p, old, earlier_version_pages(config, store, p, old, client),
                                           store.version_pages(p.key, p.version), model=writer.model_id,
                                           language=language)
            reporter.advance()
    report.add_logged(store.llm_spend_after(last_id))
    return found


def run_week(config: Config, store: Store, *, since: datetime | None = None, sources: list[str] | None = None,
             model: str | None = None, language: str | None = None, yes: bool = False,
             dry_run: bool = False, reporter: Reporter | None = None, today: date | None = None) -> RunReport:
    """Fetch, select, generate and write this week's issue (one run at a time per store)."""
    busy = DigestError("another `digest run` is working on this store",
                       hint="wait for it to finish; running the same week again afterwards makes no new calls")
    with store.exclusive("run", busy):
        return _run_week(config, store, since=since, sources=sources, model=model, language=language, yes=yes,
                         dry_run=dry_run, reporter=reporter, today=today)


def _run_week(config: Config, store: Store, *, since: datetime | None, sources: list[str] | None,
              model: str | None, language: str | None, yes: bool, dry_run: bool, reporter: Reporter | None,
              today: date | None) -> RunReport:
    started = time.monotonic()
    reporter = reporter or SilentReporter()
    since = since or parse_since(None, today)
    week, start, end = issue_week(since, today)
    model_id = model or config.llm.model
    language = language or config.output.language
    writer = make_writer(config, store, model_id, language, dry_run=dry_run)
    if not dry_run:
        writer.preflight()  # a rejected key or unknown model is said before minutes of fetching and parsing
    rerank = Rerank(config, store, yes=yes, dry_run=dry_run, reporter=reporter)
    fetched = fetch_week(config, store, since=since, sources=sources, week=week, reporter=reporter, rerank=rerank)
    report = RunReport(fetch=fetched, model=model_id, rerank=rerank.estimate)
    report.add_spent(rerank.usage, rerank.calls)
    if fetched.sources and fetched.sources_failed == fetched.sources:
        # Older candidates from earlier fetches must not make an issue that looks like this week's.
        failed = "; ".join(f"{what}: {why}" for what, why in fetched.failures[:3])
        offline = "" if "offline" in failed else "; offline, run on local PDFs: digest run --source dir:path/to/pdfs"
        raise SourceError("no source could be read", failed, hint="see `digest sources check`" + offline)
    papers = [store.get_paper(p.key) for p in fetched.selected]
    extra = [store.get_paper(p.key) for p in fetched.pool]  # for readers' own issues (issue 21)
    if not papers:
        failed = "; ".join(f"{what}: {why}" for what, why in fetched.failures[:3])
        if fetched.failures and not fetched.found:
            # No source could be read: their messages say why (and what to do); --since is not the cause.
            raise DigestError(failed)
        raise DigestError(
            f"no new papers for {week}" + (f" ({failed})" if failed else ""),
            hint="check the sources (`digest fetch --explain`) or widen --since",
        )
    gens = generate_papers(config, store, writer, papers, yes=yes, dry_run=dry_run, reporter=reporter,
                           report=report, issue_id=week, pool=extra)
    if dry_run:
        report.seconds = time.monotonic() - started
        return report
    # Selection decided which papers update published ones; the issue carries its word for it.
    written = {p.key for p in papers + extra}
    updates = {c.paper.key for c in fetched.explain if c.is_update and c.paper.key in written}
    changes = describe_updates(config, store, writer, [p for p in papers + extra if p.key in updates],
                               issue_id=week, language=language, reporter=reporter, report=report)
    issue = Issue(id=week, week_start=start.isoformat(), week_end=end.isoformat(), language=language,
                  model=model_id, created=utcnow())
    for i, p in enumerate(papers, 1):
        issue.entries.append(IssueEntry(paper=p, generation=gens.get(p.key), position=i, is_update=p.key in updates,
                                        changes=changes.get(p.key)))
    report.verdict = judge_issue(issue, max_failed_share=config.llm.max_failed_share)
    issue.status = "published" if report.verdict.passed else "draft"
    if issue.status == "published":  # a draft is not read: its overview would be spent for nothing
        planned = sum(e.cost for _, e in report.estimate)
        last_id = store.last_llm_call_id()
        early = report.early_overview.result_for(issue) if report.early_overview else None
        outcome = early or write_overview(config, issue, writer, language=language, yes=yes,
                                          already=max(planned, report.cost))
        issue.overview, report.overview_note = outcome.overview, outcome.note
        # Counted from the call log like the papers' calls: a failed or repaired overview was paid for too.
        report.add_logged(store.llm_spend_after(last_id))
    report.issue = publish_issue(config, store, issue, gens)
    readers.save_pool(store, week, papers + extra, updates)  # each reader's issue is chosen from these
    report.path = str(markdown_dir(config, issue) / f"{week}.md")
    report.seconds = time.monotonic() - started
    return report


def markdown_dir(config: Config, issue: Issue) -> Path:
    """Where an issue's Markdown goes: the archive, or archive/drafts/ for a draft."""
    return config.archive_dir / "drafts" if issue.status == "draft" else config.archive_dir


def publish_issue(config: Config, store: Store, issue: Issue, gens: dict[str, Generation]) -> Issue:
    """Store the issue and write its Markdown (and the search index when available)."""

    store.save_issue(issue, gens)
    store.set_overview(issue.id, issue.model, issue.language, issue.overview)
    stored = store.load_issue(issue.id)
    write_markdown(stored, markdown_dir(config, stored), title=config.output.title)
    reindex(store)  # `digest search` finds this week's papers at once
    return stored
