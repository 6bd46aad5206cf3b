"""Commands for the archive: `digest archive build` (static site, feed, Markdown index) and `digest search`."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.common import LazyConsole, escape
from digest.wording import plural

out = LazyConsole(emoji=False)


@click.group("archive")
def archive_group() -> None:
    """The browsable archive of every issue: a static HTML site with search and an Atom feed."""


@archive_group.command("build")
@click.option("--out", "out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the site (default: <archive_dir>/site).")
@click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Processes to render a large build in (0: one per CPU; 1: this process only).")
@click.pass_obj
def archive_build(app, out_dir: Path | None, workers: int) -> None:
    """Render the archive site from the store: an index of all issues, a page per issue and per paper,
    category and watched-author pages, offline search and an Atom feed (feed.xml).

    Also writes <archive_dir>/README.md, an index of the Markdown issues that reads well on a Git host.
    Files whose content did not change are left untouched, so rebuilding is safe and cheap.
    Open <site>/index.html in a browser, or serve the folder from any static host or `digest serve`.
    """
    from digest.archive.site import build_archive
    result = build_archive(app.config, app.store, out_dir, workers)
    out.print(
        f"Archive: {plural(result.issues, 'issue')}, {plural(result.papers, 'paper')}, {result.indexed:,} indexed "
        f"for search; {plural(result.written, 'file')} written, {result.unchanged:,} unchanged, "
        f"{result.removed:,} removed" + (f" ({result.processes} processes)." if result.processes > 1 else "."),
        highlight=False
    )
    out.print(f"Open {escape(str(result.site_dir / 'index.html'))}", highlight=False)


@click.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(1, 1000),
              help="Most papers to show.")
@click.pass_obj
def search_command(app, query: tuple[str, ...], limit: int) -> None:
    """Find published papers by words in their title, authors, summary or Q&A.

    Every word must occur (prefix match: `summar` finds summary, summarisation);
    "quoted words" match as a phrase; Japanese and Chinese words are found too.
    """
    from digest.archive.search import search
    text = " ".join(query)
    hits = search(app.store, text, limit=limit)
    if not hits:
        out.print(f"No published paper matches {escape(text)!r}.", highlight=False)
        return
    for h in hits:
        # Paper-derived text is escaped: a title like "[red]" must print as itself.
        out.print(f"[bold]{escape(h.title)}[/]  [dim]{escape(h.paper_key)}[/]", highlight=False)
        if h.authors:
            out.print(f"  {escape(', '.join(h.authors))}", highlight=False)
        if h.issue_ids:
            out.print(f"  [cyan]{escape(', '.join(h.issue_ids))}[/]", highlight=False)
        if h.snippet:
            out.print(f"  [dim]{escape(h.snippet)}[/]", highlight=False)
    out.print(f"{plural(len(hits), 'paper')}.", highlight=False)


def register(cli: click.Group) -> None:
    """Add `archive` (with `build`) and `search` to the main command group."""
    cli.add_command(archive_group)
    cli.add_command(search_command)
