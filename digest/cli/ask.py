"""Command: `digest ask "QUESTION"`, a grounded answer from every paper the archive has read (issue 22)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from digest.cli.common import console, escape, existing_store, out
from digest.wording import plural

if TYPE_CHECKING:
    from digest.ask.records import AskAnswer
    from digest.config import Config
    from digest.records import Paper
    from digest.store import Store


def register(cli: click.Group) -> None:
    """Add `ask` to the `digest` group."""

    @cli.command("ask")
    @click.argument("question")
    @click.option("--since", metavar="WHEN", help="Only papers published since WHEN: a date (2026-03-01) or 7d, 8w.")
    @click.option("--category", metavar="CAT", help="Only papers in this arXiv category (e.g. cs.CL).")
    @click.option("--issue", "issue_id", metavar="ISSUE", help="Only the papers of this issue (e.g. 2026-W47).")
    @click.option("--paper", "paper_key", metavar="KEY", help="Only this paper (its arXiv ID or store key).")
    @click.option("--papers", "n_papers", type=click.IntRange(1, 20), default=5, show_default=True,
                  help="How many papers the answer may draw on.")
    @click.option("--model", "model_id", metavar="MODEL",
                  help="The model that answers (default: llm.model); 'extractive' shows the best passages.")
    @click.option("--language", metavar="LANG", help="The answer's language (default: output.language), e.g. ja.")
    @click.option("--json", "as_json", is_flag=True, help="Print the answer, citations and links as JSON.")
    @click.option("--dry-run", is_flag=True, help="Show the passages found and the estimated cost; call no model.")
    @click.option("--reindex", is_flag=True, help="Build the passage index again from the stored page texts first.")
    @click.pass_obj
    def ask_command(app, question: str, since: str | None, category: str | None, issue_id: str | None,
                    paper_key: str | None, n_papers: int, model_id: str | None, language: str | None,
                    as_json: bool, dry_run: bool, reindex: bool) -> None:
        """Answer a question from the full texts of every paper the digest has read.

        With a chat model every claim cites a paper and page with a verbatim quote, and every quote is
        checked on its page (unverified claims are marked or dropped, as llm.unverified says); with
        `extractive` the best passages are shown as they are. "Nothing in the archive answers this" is
        an answer too. See docs/ask.md.
        """
        from digest.ask.answer import ask
        from digest.pipeline import parse_since

        config, store = app.config, existing_store(app)
        _catch_up(store, reindex)
        since_iso = parse_since(since).isoformat() if since else None
        answer = ask(config, store, question, model_id=model_id, language=language, papers=n_papers,
                     since=since_iso, category=category, issue=issue_id, paper_key=_paper_key(store, paper_key),
                     dry_run=dry_run)
        links = _links(config, store, answer)
        if as_json:
            click.echo(json.dumps(_as_json(answer, links), ensure_ascii=False, indent=2))
            return
        _print(answer, links)


def _catch_up(store: Store, reindex: bool) -> None:
    """Index the papers stored before the index existed or by an interrupted run (all of them with
    --reindex), with a progress line when there are any."""
    from contextlib import ExitStack

    from digest.ask.index import ensure_index, rebuild_index
    from digest.cli.common import RichReporter

    with ExitStack() as stack:
        reporter = None

        def progress(done: int, total: int) -> None:
            nonlocal reporter
            if reporter is None:  # the line appears only when there is something to index
                reporter = stack.enter_context(RichReporter())
                reporter.start("indexing passages", total)
            reporter.advance()

        (rebuild_index if reindex else ensure_index)(store, progress)


def _paper_key(store: Store, given: str | None) -> str | None:
    """The store key for --paper: a key as it is, or an arXiv ID with its version (2611.01234v2) without it."""
    if not given:
        return None
    if store.query("SELECT 1 FROM papers WHERE key=?", (given,)):
        return given
    bare = re.sub(r"v\d+$", "", given.strip())
    rows = store.query("SELECT key FROM papers WHERE arxiv_id=? OR key=?", (bare, bare))
    return rows[0]["key"] if rows else given  # an unknown key: ask() names it in its error


def _links(config: Config, store: Store, answer: AskAnswer) -> dict[str, dict[str, str]]:
    """Per paper key: its archive page and its PDF (the page number is added per citation)."""
    from digest.archive.site import SITE_DIR_NAME
    from digest.mail.message import paper_page_url, pdf_link, site_url

    site = site_url(config) or (config.archive_dir / SITE_DIR_NAME).resolve().as_uri()
    out_links = {}
    for p in answer.papers:
        paper: Paper = store.get_paper(p.key)
        out_links[p.key] = {"archive": paper_page_url(site, paper), "pdf": pdf_link(config, paper)}
    return out_links


def _page_link(pdf: str, page: int) -> str:
    return f"{pdf}#page={page}" if pdf else ""


def _as_json(answer: AskAnswer, links: dict[str, dict[str, str]]) -> dict:
    data = asdict(answer)
    for c in data["citations"]:
        pdf = links.get(c["paper_key"], {}).get("pdf", "")
        c["archive_url"] = links.get(c["paper_key"], {}).get("archive", "")
        c["pdf_url"] = _page_link(pdf, c["page"])
    for p in data["papers"]:
        p["archive_url"] = links.get(p["key"], {}).get("archive", "")
        p["pdf_url"] = links.get(p["key"], {}).get("pdf", "")
    data["extractive"] = answer.model == "extractive"
    return data


def _print(answer: AskAnswer, links: dict[str, dict[str, str]]) -> None:
    if answer.dry_run and answer.model != "extractive":
        e = answer.estimate
        console.print(f"dry run: {plural(len(answer.passages), 'passage')} from {plural(len(answer.papers), 'paper')}"
                      + (f"; 1 call to {escape(answer.model)}, about {e.input_tokens} input tokens, estimated "
                         f"${e.cost:.4f} (at most ${e.max_cost:.4f})" if e and not answer.nothing_found else
                         "; nothing in the archive answers this, so no call would be made") + "; nothing sent.",
                      highlight=False)
        for p in answer.papers:
            out.print(f"  {escape(p.title)} (pages {', '.join(map(str, p.pages))})", highlight=False)
        return
    out.print(escape(answer.text), highlight=False)
    if answer.nothing_found:
        return
    if answer.citations:
        out.print("", highlight=False)
    for c in answer.citations:
        state = "verified" if c.verified else f"NOT VERIFIED: {c.note}" if c.note else "NOT VERIFIED"
        pdf = _page_link(links.get(c.paper_key, {}).get("pdf", ""), c.page)
        out.print(f"[{c.n}] \"{escape(c.quote)}\" ({state})", highlight=False)
        out.print(f"    {escape(c.title)}, p. {c.page}" + (f" {escape(pdf)}" if pdf else ""), highlight=False)
    out.print("", highlight=False)
    out.print("Papers:" if answer.model != "extractive" else "Papers the passages are from:", highlight=False)
    for p in answer.papers:
        link = links.get(p.key, {})
        out.print(f"  {escape(p.title)}: {escape(link.get('archive', ''))}"
                  + (f" (PDF {escape(link['pdf'])})" if link.get("pdf") else ""), highlight=False)
    if answer.model != "extractive":
        verified = sum(c.verified for c in answer.citations)
        note = f"; {plural(answer.dropped, 'claim')} dropped (quote not found)" if answer.dropped else ""
        console.print(f"{escape(answer.model)}: {verified} of {plural(len(answer.citations), 'quote')} verified"
                      f"{note}; cost ${answer.cost:.4f}", highlight=False)
