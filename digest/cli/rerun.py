"""Commands: rerun, compare, issues list/use, batch status/collect (and --batch for run)."""

from __future__ import annotations

import click

from digest.cli.common import RichReporter, console, escape, existing_store, out, plan_table
from digest.wording import plural


def print_submitted(rep) -> None:
    if rep.dry_run:
        priced = f"${rep.estimated_cost:.4f} at batch prices"
        if rep.live_cost:  # the week's re-rank is one live call, at the model's own price
            priced = (f"${rep.estimated_cost:.4f}: ${rep.estimated_cost - rep.live_cost:.4f} at batch prices and "
                      f"${rep.live_cost:.4f} for the week's re-rank, a live call")
        out.print(f"dry run: {plural(rep.requests, rep.phase + ' request')} for {plural(rep.papers, 'paper')}, estimated "
                  f"{priced}; nothing sent.", highlight=False)
    elif rep.finished:
        out.print(f"Nothing to send: every call was already made; {', '.join(rep.issues) or 'the issue'} "
                  "updated.", highlight=False)
    else:
        out.print(f"Submitted {plural(len(rep.batch_ids), 'batch', 'batches')} of "
                  f"{plural(rep.requests, rep.phase + ' request')} for {plural(rep.papers, 'paper')} (estimated ${rep.estimated_cost:.4f}): {', '.join(rep.batch_ids)}. "
                  "Results come within 24 h: run `digest batch collect` (twice: outlines, then answers).",
                  highlight=False)


def register(cli: click.Group) -> None:
    """Add rerun, compare, issues and batch to the `digest` group."""

    @cli.command()
    @click.argument("issue_ids", nargs=-1, required=True, metavar="ISSUE...")
    @click.option("--model", "model_id", required=True, help="The model to regenerate with (a [models.*] id or extractive).")
    @click.option("--prompts", "prompts_dir", metavar="DIR", help="A folder of prompt templates overriding prompts/.")
    @click.option("--language", help="Write in another language (default: the issue's).")
    @click.option("--batch", is_flag=True, help="Send the calls through the OpenAI Batch API (half price, within 24 h).")
    @click.option("--yes", is_flag=True, help="Spend even above llm.max_cost.")
    @click.option("--dry-run", is_flag=True, help="Show planned calls and cost; call no model.")
    @click.pass_obj
    def rerun(app, issue_ids, model_id, prompts_dir, language, batch, yes, dry_run) -> None:
        """Regenerate past issues with another model from the stored page texts (no download, no parse).

        The new variant is kept beside the old one; the issue keeps showing its chosen variant until
        `digest issues use ISSUE --model MODEL`. Compare them with `digest compare ISSUE`.
        """
        if batch:
            from digest.batch import submit_rerun
            with RichReporter() as reporter:
                rep = submit_rerun(app.config, existing_store(app), list(issue_ids), model_id, prompts_dir=prompts_dir,
                                   language=language, yes=yes, dry_run=dry_run, reporter=reporter)
            print_submitted(rep)
            return
        from digest.rerun import rerun_issue
        for issue_id in issue_ids:
            with RichReporter() as reporter:
                rep = rerun_issue(app.config, existing_store(app), issue_id, model_id, prompts_dir=prompts_dir,
                                  language=language, yes=yes, dry_run=dry_run, reporter=reporter)
            if rep.dry_run:
                out.print(plan_table(f"Planned calls for {rep.issue_id} ({rep.model})", rep.estimate))
                ov = rep.overview_estimate
                if ov.calls:
                    out.print(f"the week's overview: {plural(ov.calls, 'call')}, estimated ${ov.cost:.4f}",
                              highlight=False)
                total = sum(e.cost for _, e in rep.estimate) + ov.cost
                out.print(f"dry run: {plural(sum(e.calls for _, e in rep.estimate) + ov.calls, 'call')}, "
                          f"estimated ${total:.4f}; nothing sent.", highlight=False)
                continue
            for f in rep.fallbacks:
                console.print(f"[yellow]model failed[/] {f} (abstract-only; run again to retry)", highlight=False)
            if rep.overview_note:
                console.print(f"note: {rep.overview_note}", highlight=False, markup=False)
            pool = f" and {rep.pool} more for readers' own issues" if rep.pool else ""
            out.print(f"{rep.issue_id}: {plural(rep.papers, 'paper')}{pool} as variant {rep.variant} ({rep.reused} already "
                      f"done), {plural(rep.calls, 'LLM call')}, {plural(rep.input_tokens + rep.output_tokens, 'token')}, "
                      f"${rep.cost:.4f}, "
                      f"{rep.seconds:.1f} s. Compare: digest compare {rep.issue_id}", highlight=False)

    @cli.command()
    @click.argument("issue_id")
    @click.option("--models", "models", multiple=True, metavar="MODEL",
                  help="Variants to compare (repeat, or give several after one --models); default: all.")
    @click.argument("more_models", nargs=-1, metavar="[MODEL...]")
    @click.pass_obj
    def compare(app, issue_id, models, more_models) -> None:
        """Write a new archive/compare/ISSUE_A_vs_B_N.html and .md (earlier ones are kept) and their index."""
        from digest.archive.compare import write_compare
        from digest.quality import judge_issue
        chosen = list(models) + list(more_models)
        store = existing_store(app)
        cmp, html_path, md_path = write_compare(app.config, store, issue_id, chosen or None)
        out.print(f"{cmp.issue.id}: {' vs '.join(cmp.models)}", highlight=False)
        for st in cmp.stats:
            u = st.usage
            # `digest issues use` refuses a variant the quality gate fails: say so before it is tried.
            verdict = judge_issue(store.load_issue(cmp.issue.id, model=st.model),
                                  max_failed_share=app.config.llm.max_failed_share)
            gate = "" if verdict.passed else f"; fails the quality gate ({verdict.message()})"
            out.print(f"  {st.model}: {plural(st.papers, 'paper')}, {_verified_text(st)}, {plural(st.dropped, 'answer')} dropped, {plural(u.calls, 'LLM call')}, "
                      f"{u.input_tokens:,} in / {u.cached_tokens:,} cached / {u.output_tokens:,} out tokens, "
                      f"${u.cost:.4f}{gate}", highlight=False)
        least = next((p for p in cmp.papers if p.rouge_l is not None), None)
        if least:
            out.print(f"  least agreement: {least.paper.versioned_id} (ROUGE-L {least.rouge_l:.2f})", highlight=False)
        out.print(f"-> {html_path}\n-> {md_path}", highlight=False)

    @cli.group()
    def issues() -> None:
        """List issues and choose which variant (model) each shows."""

    @issues.command("list")
    @click.pass_obj
    def issues_list(app) -> None:
        """Every issue with its papers, variants and the variant shown."""
        from rich.table import Table

        from digest.rerun import list_issues
        rows = list_issues(app.store)
        if not rows:
            out.print("No issues yet: run `digest run`.")
            return
        t = Table()
        for col in ("issue", "week", "papers", "language", "shows", "variants"):
            t.add_column(col)
        for s in rows:
            t.add_row(s.id, f"{s.week_start} – {s.week_end}", str(s.papers), s.language, s.chosen,
                      ", ".join(s.variants))
        out.print(t)

    @issues.command("use")
    @click.argument("issue_id")
    @click.option("--model", "variant", required=True, help="The variant to show (see `digest issues list`).")
    @click.option("--force", is_flag=True,
                  help="Show a variant that fails the quality gate anyway (a published issue stays published).")
    @click.pass_obj
    def issues_use(app, issue_id, variant, force) -> None:
        """Make an issue show another variant; send and the archive use it from now on.

        A variant that fails the quality gate is refused (exit 4) unless --force. A published issue
        is never turned back into a draft; a draft whose new variant passes the gate is published.
        """
        from digest.rerun import use_variant
        shown = use_variant(app.config, existing_store(app), issue_id, variant, force=force)
        issue = shown.issue
        if shown.forced:
            console.print(f"[yellow]warning[/] {escape(variant)} fails the quality gate "
                          f"({escape(shown.verdict.message())}); shown anyway because of --force", highlight=False)
        state = "published" if issue.status == "published" else "a draft (held by the quality gate; never sent)"
        out.print(f"{issue.id} now shows {issue.model} and is {state}; wrote {shown.path}. "
                  + ("Rebuild the site with `digest archive build`." if issue.status == "published" else ""),
                  highlight=False)

    @cli.group()
    def batch() -> None:
        """OpenAI Batch API jobs started by `rerun --batch` or `run --batch`."""

    @batch.command("status")
    @click.option("--offline", is_flag=True, help="Show what the store knows without asking the provider.")
    @click.pass_obj
    def batch_status_cmd(app, offline) -> None:
        """The state of every batch (asks the provider about those still running)."""
        from digest.batch import batch_status
        rows = batch_status(app.config, app.store, refresh=not offline)
        if not rows:
            out.print("No batches yet: `digest rerun ISSUE --model M --batch` starts one.")
            return
        # One line per batch rather than a table: batch ids are long and must stay copyable.
        for r in rows:
            out.print(f"{r.id}  {r.model}  {r.phase:<7}  {r.status:<11}  {r.done} done, {r.failed} failed, "
                      f"{r.pending} pending  {', '.join(r.issues)}  (created {r.created})", highlight=False)

    @batch.command("collect")
    @click.argument("batch_id", required=False)
    @click.pass_obj
    def batch_collect(app, batch_id) -> None:
        """Store the results of finished batches and move their jobs on (safe to run again at any time)."""
        from digest.batch import collect_all
        with RichReporter() as reporter:
            reports = collect_all(app.config, app.store, batch_id, reporter=reporter)
        if not reports:
            out.print("No batches to collect.")
        for r in reports:
            line = f"{r.batch_id}: {r.status}"
            if r.stored or r.failed:
                line += f", {plural(r.stored, 'result')} stored, {r.failed} failed (those are made live)"
            if r.next and r.next.batch_ids:
                line += f"; submitted {plural(r.next.requests, r.next.phase + ' request')}: {', '.join(r.next.batch_ids)}"
            elif r.next and r.next.finished:
                line += f"; done: {', '.join(r.next.issues) or 'the issue'} updated"
            out.print(line, highlight=False)


def _verified_text(st) -> str:
    """'7/8 quotes verified (88%)', or for excerpts, whose check cannot fail, what they are instead."""
    if st.verified_share is None:
        return f"{plural(st.answers, 'excerpt')} with their pages (nothing to verify)"
    return f"{st.checked_verified}/{plural(st.answers - st.excerpts, 'quote')} verified ({st.verified_share:.0%})"
