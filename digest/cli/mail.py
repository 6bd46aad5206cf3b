"""Commands of the email side: `digest subscribers ...`, `digest send`, `digest serve`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from digest.cli.common import LazyConsole, escape, existing_store
from digest.errors import DigestError, ExitStatus
from digest.wording import plural

if TYPE_CHECKING:
    from digest.channels.delivery import ChannelsReport
    from digest.mail.delivery import SendReport

console = LazyConsole(stderr=True, emoji=False)
out = LazyConsole(emoji=False)


class _Statuses(click.Choice):
    """click.Choice(STATUSES), with STATUSES read from the mail stage only when a value is checked or the
    command's own --help shown: defining the commands (as `digest --help` does) stays cheap."""

    def __init__(self) -> None:
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:
        from digest.mail.subscribers import STATUSES
        return STATUSES

# Exit statuses of a send, the numbers of digest.errors.ExitStatus (SUCCESS, PARTIAL) once it lands.
def send_exit_status(report: SendReport) -> ExitStatus:
    """SUCCESS when every recipient has the issue (or failed in an earlier, reported send); PARTIAL when some need attention."""
    return ExitStatus.SUCCESS if report.ok else ExitStatus.PARTIAL


def run_send(obj: Any, issue_id: str | None = None, *, dry_run: bool = False, to: str | None = None,
             out_dir: str | None = None) -> SendReport:
    """Send with a progress bar and print the final table; for `digest send` and `digest run --send`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from digest.mail.delivery import send_issue
    with Progress(TextColumn("[bold]sending"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console.get(), transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("send", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = send_issue(obj.config, existing_store(obj), issue_id, dry_run=dry_run, to=to, out_dir=out_dir,
                            progress=progress)
    print_report(report)
    return report


def deliver_all(obj: Any, issue_id: str | None = None, *, dry_run: bool = False, to: str | None = None,
                out_dir: str | None = None, channels: tuple[str, ...] = ()) -> ExitStatus:
    """Email the issue and post it to the channels (only the named ones, and no email, with `channels`).

    For `digest send` and `digest run --send`. An error that stops the email still lets the channels
    get the issue; it is raised afterwards. A draft stops both.
    """
    from digest.errors import QualityGateError
    status = ExitStatus.SUCCESS
    email_error: DigestError | None = None
    if not channels:
        try:
            if not run_send(obj, issue_id, dry_run=dry_run, to=to, out_dir=out_dir).ok:
                status = ExitStatus.PARTIAL
        except QualityGateError:
            raise
        except DigestError as e:
            email_error = e
    # --to is a test copy of the email: the channels are not posted to.
    if to is None and not run_channels(obj, issue_id, names=list(channels) or None, dry_run=dry_run).ok:
        status = ExitStatus.PARTIAL
    if email_error is not None:
        raise email_error
    return status


def run_channels(obj: Any, issue_id: str | None = None, *, names: list[str] | None = None,
                 dry_run: bool = False) -> ChannelsReport:
    """Post to the chat channels and print what happened (the payloads, URL redacted, for a dry run)."""
    from digest.channels.delivery import deliver_issue
    report = deliver_issue(obj.config, existing_store(obj), issue_id, names=names, dry_run=dry_run)
    if report.results:
        print_channels(obj.config, report)
    return report


def print_channels(config: Any, report: ChannelsReport) -> None:
    """The channels' table; the payloads for a dry run. Webhook URLs are never shown, only their variable."""
    import json

    from rich.table import Table
    env_of = {c.name: c.url_env for c in config.channels}
    if report.dry_run:
        for r in report.results:
            for i, payload in enumerate(r.payloads, 1):
                click.echo(f"# {r.name} ({r.kind}, {r.mode}) message {i} of {r.parts}: "
                           f"POST to the URL in ${env_of.get(r.name, '?')} (redacted)")
                click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    t = Table(title=f"Channels, issue {report.issue_id}" + (" (dry run: nothing sent)" if report.dry_run else ""))
    for c in ("channel", "kind", "messages", "sent", "resent", "skipped", "outcome"):
        t.add_column(c, justify="right" if c in ("messages", "sent", "resent", "skipped") else "left")
    for r in report.results:
        t.add_row(escape(r.name), r.kind, str(r.parts), str(r.sent), str(r.resent), str(r.skipped), r.status)
    out.print(t)
    # Reasons go on lines of their own, unwrapped, so a log shows the server's answer whole.
    for r in report.results:
        if r.error:
            what = {"deferred": "deferred, the next send retries it", "unknown": "cut off in flight, the next "
                    "send posts it again", "failed": "failed, check the channel's URL"}.get(r.status, r.status)
            out.print(f"{r.name}: {what}: {r.error}", markup=False, highlight=False, soft_wrap=True)
        if r.resent:
            out.print(f"{r.name}: {plural(r.resent, 'message')} {'was' if r.resent == 1 else 'were'} in flight when an earlier send was interrupted "
                      "and were posted again; the channel may show them twice.", markup=False, highlight=False,
                      soft_wrap=True)
        if r.truncated:
            out.print(f"{r.name}: the text of {plural(len(r.truncated), 'paper')} was too long for {r.kind} and was cut "
                      f"with a link to the full text: {'; '.join(r.truncated)}", markup=False, highlight=False,
                      soft_wrap=True)


def print_report(report: SendReport) -> None:
    """The final table of a send: counts per outcome, then the addresses that need attention."""
    from rich.table import Table
    t = Table(title=f"Issue {report.issue_id}" + (" (dry run: nothing sent)" if report.dry_run else ""))
    t.add_column("outcome")
    t.add_column("count", justify="right")
    t.add_row("written as .eml" if report.dry_run else "sent", str(len(report.sent)))
    if not report.dry_run:
        t.add_row("  of which resent after an interrupted send (same Message-ID)", str(len(report.resent)))
        t.add_row("skipped, already sent", str(len(report.skipped)))
        t.add_row("unknown, connection lost mid-message (resent by the next send)", str(len(report.unknown)))
        t.add_row("deferred, temporary failure (retried by the next send)", str(len(report.deferred)))
        t.add_row("failed, permanent", str(len(report.failed)))
        t.add_row("failed in an earlier send (not retried)", str(len(report.failed_earlier)))
        t.add_row("marked bounced", str(len(report.bounced)))
    out.print(t)
    if report.unknown or report.deferred or report.failed or report.failed_earlier:
        d = Table(title="Needs attention")
        d.add_column("address")
        d.add_column("outcome")
        d.add_column("reason")
        # Server replies and addresses are data, not rich markup.
        for a in report.unknown:
            d.add_row(escape(a), "unknown", "connection lost while the message was in flight; it may have arrived")
        for a, why in report.deferred:
            d.add_row(escape(a), "deferred", escape(why))
        for a, why in report.failed:
            d.add_row(escape(a), "bounced" if a in report.bounced else "failed", escape(why))
        for a, why in report.failed_earlier:
            d.add_row(escape(a), "failed earlier", escape(why))
        out.print(d)
    if report.dry_run and report.files:
        out.print(f"Preview: {report.files[0]}  (and {len(report.files) - 1} more files beside it)",
                  markup=False, highlight=False)
        print_email_size(report.files)
    if report.dry_run and report.selections:
        shown = 10  # the whole list is in selections.txt beside the preview
        gets = "gets" if len(report.selections) == 1 else "get"
        out.print(f"{plural(len(report.selections), 'reader')} {gets} their own issue (the others the editor's):",
                  markup=False, highlight=False)
        for email, papers in report.selections[:shown]:
            out.print(f"  {email}: " + "; ".join(f"{key} ({why})" if why else key for key, _, why in papers),
                      markup=False, highlight=False)
        if len(report.selections) > shown:
            out.print(f"  ... every reader's papers: {report.files[-1]}", markup=False, highlight=False)


def print_email_size(files: list[Path]) -> None:
    """For a dry run: the size of the HTML part (of the first .eml, else the preview), warning past Gmail's clip."""
    from email import message_from_bytes
    from email.policy import default

    from digest.mail.message import GMAIL_CLIP_BYTES, html_part_sizes
    eml = next((f for f in files if f.suffix == ".eml"), None)
    if eml is not None:
        raw, sent = html_part_sizes(message_from_bytes(eml.read_bytes(), policy=default))
    else:
        preview = next((f for f in files if f.name == "preview.html"), None)
        if preview is None:
            return
        raw = sent = preview.stat().st_size
    kb = 1024
    out.print(f"HTML part: {raw / kb:.1f} KB, {sent / kb:.1f} KB as sent (Gmail clips above "
              f"{GMAIL_CLIP_BYTES // kb} KB).", markup=False, highlight=False)
    if max(raw, sent) > GMAIL_CLIP_BYTES:
        console.print(f"Warning: at {max(raw, sent) / kb:.1f} KB the HTML part is over Gmail's clip limit: Gmail "
                      "shows the start with \"[Message clipped]\" and hides the rest, the unsubscribe link included. "
                      'Set [mail] edition = "compact" or fewer [mail] answers.', markup=False, highlight=False,
                      soft_wrap=True)


def register(cli: click.Group) -> None:
    """Add the mail commands to the `digest` group."""

    @cli.group()
    def subscribers() -> None:
        """Manage the people who receive the weekly email."""

    @subscribers.command("add")
    @click.argument("email")
    @click.option("--name", default="", help="Display name, e.g. \"山田 花子\".")
    @click.option("--reactivate", is_flag=True, help="Also resubscribe an address that unsubscribed or bounced.")
    @click.pass_obj
    def add(obj: Any, email: str, name: str, reactivate: bool) -> None:
        """Add an active subscriber (you vouch for the address; no confirmation mail)."""
        from digest.mail.subscribers import add_subscriber
        sub, created = add_subscriber(obj.store, email, name, reactivate=reactivate)
        if created:
            out.print(f"Added {sub.email}.", markup=False)
        elif sub.status == "active":
            out.print(f"{sub.email} is subscribed.", markup=False)
        else:
            raise DigestError(f"{sub.email} is {sub.status}; not resubscribed",
                              hint="add --reactivate if they asked to be subscribed again")

    @subscribers.command("remove")
    @click.argument("email")
    @click.option("--purge", is_flag=True, help="Delete the record entirely (it could then be re-imported).")
    @click.pass_obj
    def remove(obj: Any, email: str, purge: bool) -> None:
        """Unsubscribe an address (kept as unsubscribed so it is never mailed again)."""
        from digest.mail.subscribers import remove_subscriber
        sub = remove_subscriber(obj.store, email, purge=purge)
        out.print(f"{'Deleted' if purge else 'Unsubscribed'} {sub.email}.", markup=False)

    @subscribers.command("list")
    @click.option("--status", type=_Statuses(), help="Only this status.")
    @click.pass_obj
    def list_(obj: Any, status: str | None) -> None:
        """Show subscribers with their status."""
        from rich.table import Table

        from digest.mail.subscribers import STATUSES, list_subscribers
        subs = list_subscribers(obj.store, status)
        if not subs:
            # "No subscribers yet" is only true of the whole list; a filter that matched none says so.
            everyone = len(list_subscribers(obj.store)) if status else 0
            out.print(f"No {status} subscribers ({everyone} in all)." if everyone else "No subscribers yet.")
            return
        t = Table()
        for c in ("email", "name", "status", "since", "bounces"):
            t.add_column(c)
        for s in subs:
            t.add_row(escape(s.email), escape(s.name), s.status, (s.confirmed or s.created)[:10], str(s.bounces))
        out.print(t)
        counts = {st: sum(1 for s in subs if s.status == st) for st in STATUSES}
        out.print(", ".join(f"{n} {st}" for st, n in counts.items() if n))

    @subscribers.command("set")
    @click.argument("email")
    @click.option("--keywords", metavar="'K1; K2'", help="Words or phrases, separated by semicolons ('' clears).")
    @click.option("--authors", metavar="'A1; A2'", help="Authors to follow, separated by semicolons ('' clears).")
    @click.option("--categories", metavar="'C1; C2'", help="arXiv categories, e.g. 'cs.CL; cs.IR' ('' clears).")
    @click.option("--library", type=click.Path(dir_okay=False), metavar="FILE",
                  help="Their library: a BibTeX, RIS or CSL JSON export ('' clears).")
    @click.option("--max-papers", type=click.IntRange(0, 100), help="Papers in their issue (0: the editor's).")
    @click.pass_obj
    def set_(obj: Any, email: str, keywords: str | None, authors: str | None, categories: str | None,
             library: str | None, max_papers: int | None) -> None:
        """Set a subscriber's own interests: their issue is their top papers of the week's pool, in their order.

        Options left out keep what was set; a subscriber with no interests gets the editor's issue.
        """
        from dataclasses import replace

        from digest.library import parse_library
        from digest.mail.subscribers import get_subscriber, split_list
        from digest.readers import get_interests, set_interests
        sub = get_subscriber(obj.store, email)
        if sub is None:
            raise DigestError(f"no subscriber {email!r}", hint=f"add them first: digest subscribers add {email}")
        now = get_interests(obj.store, sub.id)
        if library:
            try:
                text = Path(library).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as e:
                raise DigestError(f"cannot read {library}: {e}",
                                  hint="give a BibTeX, RIS or CSL JSON file exported from a reference manager") from None
            items = parse_library(text, library)
            if not items:
                raise DigestError(f"no papers with a title or abstract in {library}",
                                  hint="export the collection with titles (and abstracts, for better ranking)")
        new = replace(now, keywords=now.keywords if keywords is None else split_list(keywords),
                      authors=now.authors if authors is None else split_list(authors),
                      categories=now.categories if categories is None else split_list(categories),
                      library=now.library if library is None else (items if library else []),
                      max_papers=now.max_papers if max_papers is None else (max_papers or None))
        got = set_interests(obj.store, sub.id, new)
        if got.is_empty():
            out.print(f"{sub.email} has no interests: they get the editor's issue.", markup=False)
            return
        parts = [f"keywords: {'; '.join(got.keywords)}" if got.keywords else "",
                 f"authors: {'; '.join(got.authors)}" if got.authors else "",
                 f"categories: {'; '.join(got.categories)}" if got.categories else "",
                 f"library: {plural(len(got.library), 'paper')}" if got.library else "",
                 f"max papers: {got.max_papers or 'the editor’s'}"]
        out.print(f"{sub.email}: " + "; ".join(p for p in parts if p) + ".", markup=False, highlight=False,
                  soft_wrap=True)

    @subscribers.command("import")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.pass_obj
    def import_(obj: Any, file: str) -> None:
        """Add the addresses of a CSV file (columns email[,name]; header optional; keywords, authors, categories,
        max_papers set interests)."""
        from digest.mail.subscribers import import_csv
        r = import_csv(obj.store, file)
        out.print(f"Added {len(r.added)}, already known {len(r.existing)}, invalid {len(r.invalid)}.")
        for line, text, why in r.invalid:
            console.print(f"  line {line}: {text!r}: {why}", highlight=False, markup=False)

    @subscribers.command("export")
    @click.option("--status", type=_Statuses(), help="Only this status.")
    @click.pass_obj
    def export(obj: Any, status: str | None) -> None:
        """Write subscribers as CSV to standard output."""
        from digest.mail.subscribers import export_csv
        export_csv(obj.store, sys.stdout, status)

    @cli.command()
    @click.argument("issue", required=False)
    @click.option("--dry-run", is_flag=True, help="Write one .eml per recipient and an HTML preview, print the channels' payloads (URLs redacted); "
                  "send nothing.")
    @click.option("--to", "to", metavar="ADDRESS", help="Send only to this address (a test copy if not a subscriber).")
    @click.option("--out", "out_dir", metavar="DIR", help="Folder for --dry-run files (default archive/outbox/ISSUE).")
    @click.option("--channel", "channels", multiple=True, metavar="NAME",
                  help="Post only to this [[channels]] entry (repeatable); no email.")
    # Kept so existing cron lines still run: resending an interrupted message is now the default.
    @click.option("--resend-unknown", is_flag=True, hidden=True)
    @click.pass_obj
    def send(obj: Any, issue: str | None, dry_run: bool, to: str | None, out_dir: str | None,
             channels: tuple[str, ...], resend_unknown: bool) -> None:
        """Email an issue (default: the newest) to subscribers not yet sent it, and post it to the channels.

        Run it again after an interruption and it continues where it stopped; the one message
        in flight at a crash is sent again (email with the same Message-ID). Exit status 0: everyone
        has the issue; 3: some delivery or channel is deferred, unknown or failed (see the tables).
        SMTP settings come from [mail]; the password from the variable named by mail.password_env;
        channels from [[channels]], each webhook URL from the variable named by its url_env.
        """
        if to and channels:
            raise click.UsageError("--to sends a test email; it cannot be combined with --channel")
        status = deliver_all(obj, issue, dry_run=dry_run, to=to, out_dir=out_dir, channels=channels)
        if status != ExitStatus.SUCCESS:
            sys.exit(status)

    @cli.command()
    @click.option("--host", help="Interface to listen on (default: web.host).")
    @click.option("--port", type=int, help="Port (default: web.port).")
    @click.pass_obj
    def serve(obj: Any, host: str | None, port: int | None) -> None:
        """Run the web app: subscribe/confirm/unsubscribe pages, vote links, the Ask page and the archive site."""
        from digest.ask.web import register as ask_pages
        from digest.mail.web import serve as run_server

        cfg = obj.config
        cfg.web.host = host or cfg.web.host
        cfg.web.port = port or cfg.web.port
        run_server(cfg, obj.store, pages=[ask_pages], on_ready=lambda url: console.print(
            f"Serving on {url} (subscribe at /subscribe); Ctrl-C stops.", highlight=False))
