"""Command: `digest export`, an issue as BibTeX, RIS or CSL JSON for reference managers."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.common import console, escape, existing_store
from digest.wording import plural

# Spelled out rather than read from digest.export so that `digest export --help` imports no stage;
# tests/test_export.py checks the two lists agree.
FORMAT_NAMES = ("bibtex", "ris", "csljson")


def register(cli: click.Group) -> None:
    """Add `export` to the `digest` group."""

    @cli.command("export")
    @click.argument("issue_id", required=False, metavar="[ISSUE]")
    @click.option("--format", "-f", "fmt", type=click.Choice(FORMAT_NAMES), default="bibtex", show_default=True,
                  help="bibtex (LaTeX, JabRef, Zotero), ris (EndNote, Mendeley, Zotero) or csljson (Zotero, pandoc).")
    @click.option("--output", "-o", "output", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write to FILE instead of standard output.")
    @click.pass_obj
    def export(app, issue_id: str | None, fmt: str, output: Path | None) -> None:
        """Write an issue's papers (default: the newest published issue) for a reference manager.

        Each entry carries the arXiv ID and version, DOI, authors, title, abstract, URL, date,
        primary category and the issue's TL;DR as a note. See docs/export.md.
        """
        from digest.export import export_issue
        issue = existing_store(app).load_issue(issue_id)
        text = export_issue(issue, fmt)
        if issue.status != "published":
            console.print(f"note: {escape(issue.id)} is a draft (held by the quality gate)", highlight=False)
        if output is None or str(output) == "-":
            # Bytes, so the UTF-8 of Japanese names survives whatever the terminal's locale is.
            click.echo(text.encode("utf-8"), nl=False)
            return
        output.write_text(text, encoding="utf-8")
        n = len(issue.entries)
        console.print(f"Wrote {plural(n, 'paper')} of {escape(issue.id)} to {escape(str(output))}",
                      highlight=False)
