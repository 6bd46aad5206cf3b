"""Regenerate a past issue with another model (or prompts, or language) from the stored page texts.

A rerun never downloads or parses: it reads the papers and their page texts from the store and
calls only the model. Every variant of an issue is kept (issue_generations); the issue shows one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from digest import readers
from digest.config import Config
from digest.errors import ConfigError, NotFoundError, QualityGateError
from digest.pipeline import (
    Reporter,
    SilentReporter,
    Spend,
    describe_updates,
    generate_papers,
    make_writer,
    markdown_dir,
)
from digest.quality import Verdict, judge_issue
from digest.records import Issue, Paper
from digest.render import write_markdown
from digest.store import Store
from digest.writers.overview import write_overview
from digest.writers.prompts import PromptSet


@dataclass(kw_only=True)
class RerunReport(Spend):
    """What `digest rerun` did to one issue."""

    issue_id: str
    model: str
    variant: str
    papers: int = 0
    pool: int = 0  # papers beyond the editor's written up for readers' own issues (issue 21)
    reused: int = 0  # generations that already existed for this paper version, prompts, model, settings
    fallbacks: list[str] = field(default_factory=list)  # papers the model failed on (abstract-only)
    overview_note: str = ""  # why the variant has no overview (or left part of it out)


def variant_name(model_id: str, language: str, issue_language: str, prompts_tag: str | None = None) -> str:
    """The name a variant of an issue is known by: the model id, marked when language or prompts differ."""
    name = model_id
    if language != issue_language:
        name += f"@{language}"
    if prompts_tag:
        name += f"+prompts-{prompts_tag}"
    return name


def prompts_tag(config: Config, writer, prompts_dir: str | None) -> str | None:
    """A short tag when --prompts gives templates other than the configured ones, else None."""
    if not prompts_dir or not hasattr(writer, "prompts"):
        return None
    default = PromptSet(config.llm.prompts_dir or None).version
    return writer.prompts.version[:6] if writer.prompts.version != default else None


def issue_papers(issue: Issue) -> list[Paper]:
    """The papers of an issue as published (the version the issue showed)."""
    return [e.paper for e in issue.entries]


def pool_extra(store: Store, issue: Issue) -> tuple[list[Paper], set[str]]:
    """The papers of the issue's pool beyond its own entries (each reader's issue is chosen from the entries and
    these), and the keys of those that update a published paper."""
    pooled, updates = readers.pool_papers(store, issue.id)
    have = {e.paper.key for e in issue.entries}
    return [p for p in pooled if p.key not in have], updates


def rerun_issue(config: Config, store: Store, issue_id: str, model_id: str, *, prompts_dir: str | None = None,
                language: str | None = None, yes: bool = False, dry_run: bool = False,
                reporter: Reporter | None = None) -> RerunReport:
    """Generate every paper of a stored issue, its pool's too, with `model_id` and attach them as a new variant."""
    started = time.monotonic()
    reporter = reporter or SilentReporter()
    issue = store.load_issue(issue_id)
    language = language or issue.language
    writer = make_writer(config, store, model_id, language, prompts_dir, dry_run=dry_run)
    if not dry_run:
        writer.preflight()
    variant = variant_name(model_id, language, issue.language, prompts_tag(config, writer, prompts_dir))
    papers = issue_papers(issue)
    extra, pool_updates = pool_extra(store, issue)  # readers' issues keep their papers in the new variant
    rep = RerunReport(issue_id=issue.id, model=model_id, variant=variant, papers=len(papers), pool=len(extra))
    rep.reused = sum(1 for p in papers + extra if writer.existing(p) is not None)
    gens = generate_papers(config, store, writer, papers, yes=yes, dry_run=dry_run, reporter=reporter,
                           report=rep, pool=extra)
    if not dry_run:  # the variant tells what changed in its updated papers too, in its own words
        updated = [e.paper for e in issue.entries if e.is_update] + [p for p in extra if p.key in pool_updates]
        describe_updates(config, store, writer, updated, issue_id=issue.id, language=language, reporter=reporter,
                         report=rep)
    for p in papers + extra:
        g = gens.get(p.key)
        if g is None:
            continue
        store.add_issue_generation(issue.id, g, variant)
        if g.status == "fallback":
            rep.fallbacks.append(f"{p.versioned_id}: {g.note}")
    if not dry_run:  # the variant's own overview; the other variants keep theirs
        last_id = store.last_llm_call_id()
        outcome = write_overview(config, store.load_issue(issue.id, model=variant), writer, language=language,
                                 yes=yes, already=max(sum(e.cost for _, e in rep.estimate), rep.cost))
        store.set_overview(issue.id, variant, language, outcome.overview)
        rep.overview_note = outcome.note
        # Counted from the call log like the papers' calls: a failed or repaired overview was paid for too.
        rep.add_logged(store.llm_spend_after(last_id))
    rep.seconds = time.monotonic() - started
    return rep


@dataclass
class IssueSummary:
    """One line of `digest issues list`."""

    id: str
    week_start: str
    week_end: str
    language: str
    chosen: str
    papers: int
    variants: list[str]


def list_issues(store: Store) -> list[IssueSummary]:
    """Every issue, newest first, with its variants and the one it shows."""
    rows = store.query(
        "SELECT i.*, (SELECT count(*) FROM issue_papers ip WHERE ip.issue_id = i.id) AS n "
        "FROM issues i ORDER BY i.week_start DESC, i.id DESC")
    return [IssueSummary(id=r["id"], week_start=r["week_start"], week_end=r["week_end"], language=r["language"],
                         chosen=r["model"], papers=r["n"], variants=store.issue_models(r["id"]))
            for r in rows]


@dataclass
class VariantShown:
    """What `digest issues use` did: the issue as it now stands, the file written, and the gate's verdict."""

    issue: Issue
    path: Path
    verdict: Verdict
    forced: bool = False  # shown although the variant fails the quality gate (--force)


def use_variant(config: Config, store: Store, issue_id: str, variant: str, *, force: bool = False) -> VariantShown:
    """Make an issue show another variant, and rewrite its Markdown; send and the archive follow it.

    A variant that fails the quality gate is refused unless `force`; a published issue stays published
    whatever it shows (it may have been mailed: it never turns back into a draft).
    """
    issue = store.load_issue(issue_id)
    variants = store.issue_models(issue.id)
    if variant not in variants:
        raise NotFoundError(
            f"issue {issue.id} has no variant {variant!r} (it has: {', '.join(variants) or 'none'})",
            hint=f"generate it with `digest rerun {issue.id} --model MODEL`; see `digest issues list`",
        )
    langs = store.variant_languages(issue.id, variant)
    if len(langs) > 1:
        raise ConfigError(f"variant {variant} of {issue.id} mixes languages {sorted(langs)}")
    verdict = judge_issue(store.load_issue(issue.id, model=variant), max_failed_share=config.llm.max_failed_share)
    if not verdict.passed and not force:
        keeps = "stays a draft" if issue.status == "draft" else "stays published"
        raise QualityGateError(
            f"variant {variant} of {issue.id} fails the quality gate: {verdict.message()}; {issue.id} still "
            f"shows {issue.model} and {keeps}",
            hint=f"choose a variant that passes (see `digest compare {issue.id}`), or add --force to show it "
                 "anyway")
    # A draft whose new variant passes the gate is published; a published issue is never unpublished.
    published = issue.status == "published" or verdict.passed
    store.show_variant(issue.id, variant, language=langs.pop() if langs else None, published=published)
    chosen = store.load_issue(issue.id)
    folder = markdown_dir(config, chosen)
    path = write_markdown(chosen, folder, title=config.output.title)
    if published:  # the held copy would read as if the issue were still waiting for the gate
        (config.archive_dir / "drafts" / path.name).unlink(missing_ok=True)
    return VariantShown(issue=chosen, path=path, verdict=verdict, forced=not verdict.passed)
