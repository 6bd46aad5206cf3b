"""The `digest` command: a thin layer over the library; DigestError becomes a one-line message here."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.common import (
    RichReporter,
    console,
    escape,
    out,
    plan_table,
    print_failures,
    sources_status,
)
from digest.config import DEFAULT_CONFIG_NAME, Config, default_config_text, load_config
from digest.errors import DigestError, ExitStatus, QualityGateError
from digest.wording import plural, shorten

if TYPE_CHECKING:
    from datetime import datetime

    from rich.table import Table

    from digest.records import Paper
    from digest.store import Store


class App:
    """What every command needs: the config and, opened on first use, the store."""

    def __init__(self, config_path: str | None, debug: bool):
        self.config_path = config_path
        self.debug = debug
        self._config: Config | None = None
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def store(self) -> Store:
        if self._store is None:
            from digest.store import Store
            self._store = Store(self.config.db_path)
        return self._store


pass_app = click.make_pass_decorator(App)


def _today():
    """The date a run is for: today, or DIGEST_TODAY (YYYY-MM-DD; undocumented, for tests) when set."""
    import os
    from datetime import date
    value = os.environ.get("DIGEST_TODAY")
    return date.fromisoformat(value) if value else None


class _Since(click.ParamType):
    """--since as a start time: a wrong value is a command-line error (exit 2), found before anything is opened."""

    name = "7d|DATE"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        from digest.pipeline import parse_since
        try:
            return parse_since(value, _today())
        except DigestError as e:
            self.fail(e.message.removeprefix(f"--since {value!r}: "), param, ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH", envvar="DIGEST_CONFIG",
              help="Config file (default: ./digest.toml; env DIGEST_CONFIG).")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.version_option(package_name="paper-digest")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """paper-digest: find this week's papers, summarise them with grounded Q&A, publish the issue.

    Typical week: `digest run` (fetch, select, generate, write the Markdown issue),
    then `digest send` (email subscribers) and `digest archive build` (the HTML site).
    """
    ctx.obj = App(config_path, debug)
    import logging
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    else:
        # Library warnings (an encoding fallback, a model downgrade) as one short line each.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger = logging.getLogger("digest")
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)
        logger.propagate = False


@cli.command()
@click.option("--path", "path", default=DEFAULT_CONFIG_NAME, show_default=True, help="Where to write it.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented config file to start from."""
    p = Path(path)
    if p.exists() and not force:
        # Not an error: the README's one-line start can be run again without losing your edits.
        console.print(f"{p} already exists; keeping it (use --force to write a fresh one).")
        return
    p.write_text(default_config_text(), encoding="utf-8")
    out.print(f"Wrote {p}. Edit its sources and interests, then run `digest fetch` or `digest run`.")


def _fetch_table(rep) -> Table:
    from rich.table import Table
    t = Table(title=f"Fetch {rep.week}", show_header=False)
    for label, value in [("found", rep.found), ("new", rep.new), ("updated", rep.updated),
                         ("candidates this week", rep.candidates), ("selected", len(rep.selected)),
                         ("more for readers' own issues", len(rep.pool)),
                         ("PDFs downloaded", rep.downloaded), ("PDFs from cache", rep.from_cache),
                         ("pages extracted", rep.pages), ("failures", len(rep.failures))]:
        t.add_row(label, str(value))
    return t


def _print_failures(rep) -> None:
    print_failures(rep.failures, rep.warnings)


def _print_explain(rep) -> None:
    from rich.table import Table
    t = Table(title="Selection", show_lines=False)
    t.add_column("#", justify="right")
    t.add_column("paper")
    t.add_column("score", justify="right")
    t.add_column("why")
    for c in rep.explain:
        mark = "[green]✔[/]" if c.selected else "·"
        t.add_row(mark, escape(f"{c.paper.versioned_id} {shorten(c.paper.title, 60)}"), f"{c.score:.2f}",
                  escape("; ".join(c.reasons)))
    out.print(t)


@cli.command()
@click.option("--since", type=_Since(), metavar="7d|DATE", help="Window of papers to consider (default 7d).")
@click.option("--source", "sources", multiple=True, metavar="SPEC", help="A source instead of the configured ones (repeatable).")
@click.option("--explain", is_flag=True, help="Show why each paper was chosen or left out.")
@pass_app
def fetch(app: App, since: datetime | None, sources: tuple[str, ...], explain: bool) -> None:
    """Read the sources, select this week's papers, download and parse their PDFs."""
    from digest.pipeline import fetch_week, issue_week, parse_since
    today = _today()
    start = since or parse_since(None, today)
    with RichReporter() as reporter:
        rep = fetch_week(app.config, app.store, since=start, sources=list(sources) or None,
                         week=issue_week(start, today)[0], reporter=reporter)
    if explain:
        _print_explain(rep)
    _print_failures(rep)
    out.print(_fetch_table(rep))
    click.get_current_context().exit(sources_status(rep.sources_failed, rep.sources))


@cli.group()
def papers() -> None:
    """List and inspect stored papers."""


@papers.command("list")
@click.option("--limit", default=50, show_default=True)
@pass_app
def papers_list(app: App, limit: int) -> None:
    """Papers in the store, newest first."""
    from rich import box
    from rich.table import Table

    papers = app.store.list_papers(limit=limit)
    if not papers:
        out.print("No papers yet (`digest fetch` or `digest run` stores them).")
        return
    # One column for the text: its page count when it was read, else why not (pending, failed, abstract).
    rows = [(p.versioned_id, escape(p.title), (p.published or "")[:10],
             str(p.page_count or "") if p.text_status == "ok" else p.text_status.removesuffix("-only"))
            for p in papers]
    heads = ("id", "title", "published", "pages")
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(heads)]
    # Ids stay whole (they are copied into other commands); the title takes the rest and wraps. On a
    # narrow terminal the date goes first, so a title keeps room to be read.
    keep = [0, 1, 2, 3]
    if out.width - (widths[0] + widths[2] + widths[3] + 2 * 3) < 24:
        keep.remove(2)
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i in keep:
        if heads[i] == "title":
            t.add_column("title", ratio=1, min_width=12, overflow="fold")
        else:
            t.add_column(heads[i], no_wrap=True, min_width=widths[i], justify="right" if i == 3 else "left")
    for row in rows:
        t.add_row(*(row[i] for i in keep))
    out.print(t, soft_wrap=False)


def _token_count(store: Store, p: Paper) -> int | None:
    """The paper's tokens in cl100k_base: stored by older runs, else counted now from its page texts."""
    if p.token_count is not None or p.text_status != "ok":
        return p.token_count
    from digest.llm.tokens import count_tokens
    return count_tokens("\n".join(pg.body for pg in store.pages(p.key)))


@papers.command("show")
@click.argument("paper_id")
@pass_app
def papers_show(app: App, paper_id: str) -> None:
    """Metadata, text status, page and token counts, abstract and section tree of one paper."""
    from rich.table import Table
    p = app.store.get_paper(paper_id)
    t = Table(show_header=False, title=escape(p.title))
    rows = [("id", p.versioned_id), ("authors", ", ".join(p.authors)), ("published", p.published),
            ("updated", p.updated), ("categories", ", ".join(p.categories)), ("primary", p.primary_category),
            ("abs", p.abs_url), ("pdf", p.pdf_url or p.local_pdf), ("announce", p.announce_type),
            ("licence", p.license), ("doi", p.doi), ("source", p.source),
            ("text", p.text_status + (f" ({p.text_error})" if p.text_error else "")),
            ("pages", p.page_count), ("tokens", _token_count(app.store, p)),
            ("issues", ", ".join(app.store.issues_of_paper(p.key)))]
    for k, v in rows:
        if v not in (None, ""):
            t.add_row(k, escape(str(v)))
    out.print(t)
    if p.abstract:
        out.print(p.abstract, highlight=False)
    structure = app.store.structure(p.key)
    if structure and structure.sections:
        # The section tree read from the PDF's layout (issue 20), indented by level, with its first page.
        out.print("\nSections:", highlight=False)
        for s in structure.sections:
            label = f"{s.number} {s.heading}" if s.number else s.heading
            note = "" if s.kind == "body" else f" [{s.kind}]"
            out.print(f"{'  ' * s.level}{escape(label + note)}  p. {s.page}", highlight=False)


@cli.command()
@click.option("--since", type=_Since(), metavar="7d|DATE", help="Window of papers to consider (default 7d).")
@click.option("--source", "sources", multiple=True, metavar="SPEC", help="A source instead of the configured ones.")
@click.option("--model", help="Model id (default: llm.model; env DIGEST_MODEL).")
@click.option("--language", help="Output language, e.g. en, ja (default: output.language).")
@click.option("--yes", is_flag=True, help="Spend even above llm.max_cost.")
@click.option("--dry-run", is_flag=True, help="Show planned calls, tokens and cost; call no model.")
@click.option("--send", "send_mail", is_flag=True, help="Email the issue to subscribers and post it to the channels afterwards.")
@click.option("--batch", is_flag=True,
              help="Generate through the OpenAI Batch API (half price, within 24 h; then `digest batch collect`).")
@pass_app
def run(app: App, since, sources, model, language, yes, dry_run, send_mail, batch) -> None:
    """Fetch, select, generate and write this week's issue (Markdown in the archive)."""
    from digest.pipeline import parse_since, run_week
    cfg = app.config
    if batch:
        _run_batch(app, since, sources, model, language, yes, dry_run, send_mail)
        return
    model_id = model or cfg.llm.model
    if model_id == "extractive":
        console.print("No LLM configured: using the built-in extractive model (sentences taken from the "
                      "papers; set llm.model or --model for written summaries).")
    with RichReporter() as reporter:
        today = _today()
        rep = run_week(cfg, app.store, since=since or parse_since(None, today), sources=list(sources) or None,
                       model=model_id, language=language, yes=yes, dry_run=dry_run, reporter=reporter, today=today)
    _print_failures(rep.fetch)
    if dry_run:
        _print_plan(rep)
        return
    n = len(rep.issue.entries) if rep.issue else 0
    tokens = rep.input_tokens + rep.output_tokens
    if rep.verdict and rep.verdict.answers:  # before the last line, which scripts read
        out.print(rep.verdict.answers_line(), highlight=False)
    out.print(f"{plural(n, 'paper')}, {plural(rep.calls, 'LLM call')}, {plural(tokens, 'token')}, ${rep.cost:.4f}, "
              f"{rep.seconds:.1f} s -> {rep.path}", highlight=False)
    if rep.overview_note:
        console.print(f"note: {escape(rep.overview_note)}", highlight=False)
    if rep.verdict and rep.verdict.drops:
        console.print(f"dropped: {escape(rep.verdict.drop_report())}", highlight=False)
    if rep.verdict and rep.verdict.failed and rep.verdict.passed:
        console.print(f"warning: the model failed for {len(rep.verdict.failed)} of {rep.verdict.papers} papers "
                      f"({escape(rep.verdict.cause())}): {escape(', '.join(rep.verdict.failed))}", highlight=False)
    if rep.verdict and not rep.verdict.passed:
        raise QualityGateError(
            f"{rep.issue.id} is kept as a draft and was not sent: {rep.verdict.message()}",
            hint="fix the model or its endpoint and run again; llm.max_failed_share sets the threshold")
    if send_mail and rep.issue:
        from digest.cli.mail import deliver_all
        sent = deliver_all(app, rep.issue.id)
        if sent != ExitStatus.SUCCESS:
            sys.exit(sent)  # as `digest send`: some deliveries failed, were deferred or are unknown
    if rep.issue:
        # On stderr, with the notes: the summary above stays the last line of stdout, which scripts read.
        console.print(next_step(app, rep.path, sent=send_mail), markup=False, highlight=False, soft_wrap=True)
    click.get_current_context().exit(sources_status(rep.fetch.sources_failed, rep.fetch.sources))


def next_step(app: App, path: str | None, *, sent: bool) -> str:
    """What to do after `digest run`, from what is configured: read, preview and send, build the site."""
    from digest.mail.subscribers import list_subscribers
    steps = [f"read {path}"] if path else []
    if not sent:
        active = len(list_subscribers(app.store, "active"))
        channels = len(app.config.channels)
        if active or channels:
            to = " and ".join(x for x in (active and plural(active, "subscriber"),
                                          channels and plural(channels, "channel")) if x)
            steps.append(f"preview the email with `digest send --dry-run`, then `digest send` ({to})")
        else:
            steps.append("add readers with `digest subscribers add EMAIL` (or [[channels]] in the config) "
                         "to send it")
    steps.append("`digest archive build` for the HTML site")
    return f"Next: {'; '.join(steps)}."


def _run_batch(app: App, since, sources, model, language, yes, dry_run, send_mail) -> None:
    from digest.batch import submit_week
    from digest.cli.rerun import print_submitted
    from digest.pipeline import parse_since
    if send_mail:
        raise DigestError("--send cannot be used with --batch",
                          hint="send after `digest batch collect` has published the issue")
    with RichReporter() as reporter:
        today = _today()
        fetched, rep = submit_week(app.config, app.store, since=since or parse_since(None, today),
                                   sources=list(sources) or None, model=model, language=language, yes=yes,
                                   dry_run=dry_run, reporter=reporter, today=today)
    print_failures(fetched.failures)
    print_submitted(rep)


@cli.command()
@click.argument("issue_id", required=False)
@pass_app
def cost(app: App, issue_id: str | None) -> None:
    """Tokens and money spent, per model (for one issue when ISSUE is given: its papers and week's pool)."""
    from rich.table import Table

    from digest.llm.client import llm_cost_report
    if issue_id:
        app.store.load_issue(issue_id)  # a clear error for an unknown issue
    rows = llm_cost_report(app.store, issue_id)
    t = Table(title=f"LLM cost{' of ' + issue_id if issue_id else ''}")
    for col in ("model", "papers", "calls", "failed", "input", "cached", "output", "USD"):
        t.add_column(col, justify="right" if col != "model" else "left")
    for r in rows:
        t.add_row(r["model"], str(r["papers"]), str(r["calls"]), str(r["failed"]), f"{r['input_tokens']:,}",
                  f"{r['cached_tokens']:,}", f"{r['output_tokens']:,}", f"{r['cost']:.4f}")
    if not rows:
        out.print("No LLM calls recorded yet.")
        return
    out.print(t)


def _print_plan(rep) -> None:
    out.print(plan_table(f"Planned calls ({rep.model})", rep.estimate))
    ov, rr = rep.overview_estimate, rep.rerank
    if rr.calls:
        out.print(f"the week's re-rank: {plural(rr.calls, 'call')}, estimated ${rr.cost:.4f}", highlight=False)
    if ov.calls:
        out.print(f"the week's overview: {plural(ov.calls, 'call')}, estimated ${ov.cost:.4f}", highlight=False)
    total = sum(e.cost for _, e in rep.estimate) + ov.cost + rr.cost
    calls = sum(e.calls for _, e in rep.estimate) + ov.calls + rr.calls
    out.print(f"dry run: {plural(calls, 'call')}, estimated ${total:.4f}; nothing sent.", highlight=False)


# Commands of the later stages live in their own modules, each adding itself to the group.
from digest.cli import archive as cli_archive  # noqa: E402
from digest.cli import ask as cli_ask  # noqa: E402
from digest.cli import check as cli_check  # noqa: E402
from digest.cli import export as cli_export  # noqa: E402
from digest.cli import feedback as cli_feedback  # noqa: E402
from digest.cli import mail as cli_mail  # noqa: E402
from digest.cli import pdf as cli_pdf  # noqa: E402
from digest.cli import rerun as cli_rerun  # noqa: E402
from digest.cli import sources as cli_sources  # noqa: E402

for _module in (cli_sources, cli_check, cli_pdf, cli_mail, cli_archive, cli_rerun, cli_export, cli_feedback, cli_ask):
    _module.register(cli)


def main() -> None:
    """Entry point: run the CLI, turning our errors into one line and exit status 1."""
    debug = "--debug" in sys.argv
    _stop_on_sigterm()
    try:
        # Without standalone mode click returns the code of ctx.exit(N) instead of exiting with it.
        code = cli.main(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else ExitStatus.SUCCESS)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _interrupted()
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except DigestError as e:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        sys.exit(ExitStatus.QUALITY_GATE if isinstance(e, QualityGateError) else ExitStatus.ERROR)
    except OSError as e:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {escape(os_error_line(e))}", highlight=False)
        sys.exit(ExitStatus.ERROR)
    except Exception as e:  # noqa: BLE001 - the boundary: no traceback for users unless --debug
        if debug:
            raise
        console.print(f"[bold red]internal error:[/] {escape(f'{type(e).__name__}: {e}')} (run again with "
                      "--debug for a traceback)", highlight=False)
        sys.exit(1)


def _sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


def _stop_on_sigterm() -> None:
    """SIGTERM (cron's timeout, `systemctl stop`, `kill`) stops like Ctrl-C: the same line, exit 130, nothing lost."""
    import signal
    try:
        signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:  # not the main thread (an embedding program): its own handling stays
        pass


def _interrupted() -> None:
    """Ctrl-C or SIGTERM: say what happens to the work, and exit now rather than after the calls in flight."""
    console.print("Interrupted: every finished step is stored (papers, page texts, each paper's "
                  "generation); run the same command again to resume.")
    sys.stdout.flush()
    sys.stderr.flush()
    # sys.exit would wait for the worker threads' model calls in flight (up to their timeout).
    os._exit(ExitStatus.INTERRUPTED)


_OS_HINTS = {
    errno.EROFS: "choose a writable folder (store.archive_dir in the config, or --config elsewhere)",
    errno.EACCES: "fix the folder's permissions or choose another (store.archive_dir)",
    errno.EPERM: "fix the folder's permissions or choose another (store.archive_dir)",
    errno.ENOSPC: "free some disk space and run again",
    errno.EADDRINUSE: "another program listens there: pass --port or set web.port",
    errno.EADDRNOTAVAIL: "that address is not on this machine: pass --host or set web.host",
}


def os_error_line(e: OSError) -> str:
    """An OSError as one line: what failed, on which file, and what to do."""
    what = e.strerror or str(e) or type(e).__name__
    where = f": {e.filename}" if e.filename else ""
    hint = _OS_HINTS.get(e.errno)
    return f"{what}{where}" + (f" ({hint})" if hint else "")
