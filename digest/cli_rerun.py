"""Commands: rerun, compare, issues list/use, batch status/collect (and --batch for run)."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from .errors import DigestError

console = Console(stderr=True)
out = Console(soft_wrap=True)  # long result lines stay whole (and greppable)


class _Progress:
    """Progress bars on stderr for long steps (the pipeline's Reporter)."""

    def __init__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self.progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console)
        self.task = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def start(self, label: str, total: int) -> None:
        self.task = self.progress.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def note(self, message: str) -> None:
        self.progress.console.print(message)


def _plan_table(title: str, estimate) -> Table:
    t = Table(title=title)
    for col in ("paper", "mode", "calls", "input tokens", "cached", "output tokens", "est. cost"):
        t.add_column(col)
    for p, e in estimate:
        t.add_row(p.versioned_id, e.mode, str(e.calls), f"{e.input_tokens:,}", f"{e.cached_tokens:,}",
                  f"{e.output_tokens:,}", f"${e.cost:.4f}")
    return t


def _print_submitted(rep) -> None:
    if rep.dry_run:
        out.print(f"dry run: {rep.requests} {rep.phase} requests for {rep.papers} papers, estimated "
                  f"${rep.estimated_cost:.4f} at batch prices; nothing sent.", highlight=False)
    elif rep.finished:
        out.print(f"Nothing to send: every call was already made; {', '.join(rep.issues) or 'the issue'} "
                  "updated.", highlight=False)
    else:
        out.print(f"Submitted {len(rep.batch_ids)} batch(es) of {rep.requests} {rep.phase} requests "
                  f"for {rep.papers} papers (estimated ${rep.estimated_cost:.4f}): {', '.join(rep.batch_ids)}. "
                  "Results come within 24 h: run `digest batch collect` (twice: outlines, then answers).",
                  highlight=False)


def _rerun_batch_option(cli: click.Group) -> None:
    """Give `digest run` a --batch flag that sends the week's generation through the Batch API."""
    run_cmd = cli.commands.get("run")
    if run_cmd is None or any(p.name == "batch" for p in run_cmd.params):
        return
    run_cmd.params.append(click.Option(
        ["--batch"], is_flag=True,
        help="Generate through the OpenAI Batch API (half price, results within 24 h; then `digest batch collect`)."))
    live = run_cmd.callback

    @click.pass_context
    def callback(ctx: click.Context, batch: bool = False, **kwargs):
        if not batch:
            return ctx.invoke(live, **kwargs)
        from .batch import submit_week
        from .pipeline import parse_since
        if kwargs.get("send_mail"):
            raise DigestError("--send cannot be used with --batch",
                              hint="send after `digest batch collect` has published the issue")
        app = ctx.obj
        with _Progress() as reporter:
            fetched, rep = submit_week(app.config, app.store, since=parse_since(kwargs.get("since")),
                                       sources=list(kwargs.get("sources") or ()) or None,
                                       model=kwargs.get("model"), language=kwargs.get("language"),
                                       yes=kwargs.get("yes", False), dry_run=kwargs.get("dry_run", False),
                                       reporter=reporter)
        for what, why in fetched.failures:
            console.print(f"[yellow]failed[/] {what}: {why}", highlight=False)
        _print_submitted(rep)

    run_cmd.callback = callback


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
            from .batch import submit_rerun
            with _Progress() as reporter:
                rep = submit_rerun(app.config, app.store, list(issue_ids), model_id, prompts_dir=prompts_dir,
                                   language=language, yes=yes, dry_run=dry_run, reporter=reporter)
            _print_submitted(rep)
            return
        from .rerun import rerun_issue
        for issue_id in issue_ids:
            with _Progress() as reporter:
                rep = rerun_issue(app.config, app.store, issue_id, model_id, prompts_dir=prompts_dir,
                                  language=language, yes=yes, dry_run=dry_run, reporter=reporter)
            if rep.dry_run:
                out.print(_plan_table(f"Planned calls for {rep.issue_id} ({rep.model})", rep.estimate))
                total = sum(e.cost for _, e in rep.estimate)
                out.print(f"dry run: {sum(e.calls for _, e in rep.estimate)} calls, estimated ${total:.4f}; "
                          "nothing sent.", highlight=False)
                continue
            for f in rep.fallbacks:
                console.print(f"[yellow]model failed[/] {f} (abstract-only; run again to retry)", highlight=False)
            out.print(f"{rep.issue_id}: {rep.papers} papers as variant {rep.variant} ({rep.reused} already done), "
                      f"{rep.calls} LLM calls, {rep.input_tokens + rep.output_tokens:,} tokens, ${rep.cost:.4f}, "
                      f"{rep.seconds:.1f} s. Compare: digest compare {rep.issue_id}", highlight=False)

    @cli.command()
    @click.argument("issue_id")
    @click.option("--models", "models", multiple=True, metavar="MODEL",
                  help="Variants to compare (repeat, or give several after one --models); default: all.")
    @click.argument("more_models", nargs=-1, metavar="[MODEL...]")
    @click.pass_obj
    def compare(app, issue_id, models, more_models) -> None:
        """Write archive/compare/ISSUE.html and .md: the models' outputs side by side, costs, agreement."""
        from .compare import write_compare
        chosen = list(models) + list(more_models)
        cmp, html_path, md_path = write_compare(app.config, app.store, issue_id, chosen or None)
        out.print(f"{cmp.issue.id}: {' vs '.join(cmp.models)}", highlight=False)
        for st in cmp.stats:
            u = st.usage
            out.print(f"  {st.model}: {st.papers} papers, {st.verified}/{st.answers} quotes verified "
                      f"({st.verified_rate:.0%}), {st.dropped} answers dropped, {u.input_tokens:,} in / "
                      f"{u.cached_tokens:,} cached / {u.output_tokens:,} out tokens, ${u.cost:.4f}", highlight=False)
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
        from .rerun import list_issues
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
    @click.pass_obj
    def issues_use(app, issue_id, variant) -> None:
        """Make an issue show another variant; send and the archive use it from now on."""
        from .rerun import use_variant
        issue = use_variant(app.config, app.store, issue_id, variant)
        out.print(f"{issue.id} now shows {issue.model}; rewrote {app.config.archive_dir / (issue.id + '.md')}. "
                  "Rebuild the site with `digest archive build`.", highlight=False)

    @cli.group()
    def batch() -> None:
        """OpenAI Batch API jobs started by `rerun --batch` or `run --batch`."""

    @batch.command("status")
    @click.option("--offline", is_flag=True, help="Show what the store knows without asking the provider.")
    @click.pass_obj
    def batch_status_cmd(app, offline) -> None:
        """The state of every batch (asks the provider about those still running)."""
        from .batch import batch_status
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
        from .batch import collect_all
        with _Progress() as reporter:
            reports = collect_all(app.config, app.store, batch_id, reporter=reporter)
        if not reports:
            out.print("No batches to collect.")
        for r in reports:
            line = f"{r.batch_id}: {r.status}"
            if r.stored or r.failed:
                line += f", {r.stored} results stored, {r.failed} failed (those are made live)"
            if r.next and r.next.batch_ids:
                line += f"; submitted {r.next.requests} {r.next.phase} requests: {', '.join(r.next.batch_ids)}"
            elif r.next and r.next.finished:
                line += f"; done: {', '.join(r.next.issues) or 'the issue'} updated"
            out.print(line, highlight=False)

    _rerun_batch_option(cli)
