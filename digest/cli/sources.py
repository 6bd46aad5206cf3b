"""`digest sources ...`: look at what the sources give without storing papers or feed validators."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from digest.cli.common import LazyConsole, sources_status
from digest.errors import SourceError

if TYPE_CHECKING:
    from digest.sources.registry import SourceResult

_out = LazyConsole(emoji=False)
_err = LazyConsole(stderr=True, emoji=False)

_CHECK_HELP = (
    "Read SPECs (default: the configured sources) and show their papers and warnings.\n\n"
    "Nothing is stored, and no ETag/Last-Modified is sent or remembered, so the next "
    "`digest fetch` still reads every feed in full. Exit status 3 if a source failed, 1 if all did."
)


class _CheckCommand(click.Command):
    """`sources check`, whose --help ends with the source kinds, read from the sources stage only when
    that help is shown: defining the command (as `digest --help` does) stays cheap."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from digest.sources.registry import KINDS
        self.help = (_CHECK_HELP + "\n\n\b\nKinds:\n" + "\n".join(f"  {v}" for v in KINDS.values())
                     + "\n  or a path to a local RSS/Atom file")
        super().format_help_text(ctx, formatter)


def register(cli: click.Group) -> None:
    """Add the `sources` command group to the CLI."""

    @cli.group("sources")
    def sources() -> None:
        """Check the sources papers come from (kinds: arxiv:, arxiv-query:, rss:, list:, dir:)."""

    @sources.command("check", cls=_CheckCommand, help=_CHECK_HELP)
    @click.argument("specs", nargs=-1, metavar="[SPEC]...")
    @click.option("--papers/--no-papers", "show_papers", default=True, show_default=True,
                  help="List the papers each source gives.")
    @click.pass_context
    def check(ctx: click.Context, specs: tuple[str, ...], show_papers: bool) -> None:
        from rich.table import Table
        from rich.text import Text

        from digest.sources.registry import fetch_sources
        app = ctx.obj
        specs_list = list(specs) or list(app.config.sources)
        if not specs_list:
            raise click.UsageError("no SPEC given and no sources configured")
        results, errors = fetch_sources(specs_list, app.config, app.store, conditional=False,
                                        on_source=lambda spec, r: _err.print(Text(f"read {spec}")))
        by_spec: dict[str, SourceResult | SourceError] = {r.source: r for r in results}
        by_spec.update({e.source: e for e in errors})
        summary = Table(title="Sources", show_lines=False)
        for col in ("source", "papers", "status"):
            summary.add_column(col, overflow="fold")
        for spec in specs_list:
            r = by_spec.get(spec)
            if isinstance(r, SourceError):
                reason = r.message.split(": ", 1)[-1] + (f" ({r.hint})" if r.hint else "")
                summary.add_row(Text(spec), "-", Text.assemble(("failed: ", "red"), reason))
                continue
            if r is None:
                continue
            status = ("not modified" if r.not_modified else "empty listing" if r.empty_listing else "ok")
            summary.add_row(Text(spec), str(len(r.papers)), Text("; ".join([status, *r.warnings])))
        _out.print(summary)
        if show_papers:
            for r in results:
                if not r.papers:
                    continue
                t = Table(title=Text(r.source), show_lines=False)
                for col in ("key", "v", "title", "authors", "announce"):
                    t.add_column(col, overflow="fold")
                for p in r.papers:
                    authors = ", ".join(p.authors[:3]) + (" et al." if len(p.authors) > 3 else "")
                    t.add_row(Text(p.key), str(p.version or ""), Text(p.title), Text(authors), p.announce_type or "")
                _out.print(t)
        ctx.exit(sources_status(len(errors), len(specs_list)))
