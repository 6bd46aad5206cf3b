"""`digest extract`: show what the PDF stage reads from local PDFs (to check a dir: source or a bad file)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from digest.errors import DigestError
from digest.records import PageText
from digest.wording import plural


def register(cli: click.Group) -> None:
    """Add the PDF commands to the `digest` group."""
    cli.add_command(extract)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--text", "show_text", is_flag=True, help="Print the cleaned text of every page.")
@click.option("--refs", "show_refs", is_flag=True, help="With --text, also print the references part.")
@click.option("--workers", type=int, default=None, help="Parsing processes (default: limits.workers).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object per file (JSON Lines): title, authors, affiliations, abstract, "
                   "published, sections (heading, level, number, page, kind) and page texts.")
@click.pass_obj
def extract(app, paths: tuple[Path, ...], show_text: bool, show_refs: bool, workers: int | None,
            as_json: bool) -> None:
    """Extract and clean the text of local PDF files, as `digest run` would.

    Prints one line per file: ok or the failure reason (encrypted, not-a-pdf, truncated, damaged,
    timeout, memory, no-text, ...), pages, arXiv ID from the margin stamp, and title. Each file is
    parsed in a worker process under limits.pdf_parse_timeout and limits.pdf_parse_memory_mb.
    With --json, each file is one line of JSON with what the layout says (header, sections) and the
    page texts; a file that cannot be read has "ok": false and its "error".
    """
    from digest.pdf.pool import extract_many
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DigestError(f"no such file: {', '.join(missing)}", hint="give paths to PDF files")
    failed = 0
    for path, result in extract_many(list(paths), app.config, workers=workers):
        if as_json:
            failed += not result.ok
            click.echo(json.dumps(_as_json(path, result), ensure_ascii=False))
            continue
        if not result.ok:
            failed += 1
            click.echo(f"{path}: FAILED ({result.error})")
            continue
        n_refs = sum(1 for p in result.pages if p.refs)
        click.echo(f"{path}: ok, {plural(len(result.pages), 'page')} ({n_refs} with references), "
                   f"arXiv {result.arxiv_id or '-'}, title: {result.title or '-'}")
        if show_text:
            for page in result.pages:
                click.echo(f"--- page {page.number} ---")
                click.echo(page.body)
                if show_refs and page.refs:
                    click.echo(f"--- page {page.number} references ---")
                    click.echo(page.refs)
    if failed:
        raise DigestError(f"{failed} of {plural(len(paths), 'PDF')} could not be read")


def _as_json(path: Path, result: PageText) -> dict:
    """One file's extraction as plain data: the header and sections when the layout gave them, then the pages."""
    if not result.ok:
        return {"path": str(path), "ok": False, "error": result.error}
    st = result.structure
    return {
        "path": str(path), "ok": True, "arxiv_id": result.arxiv_id, "category": result.category,
        "title": result.title, "authors": result.authors,
        "affiliations": st.affiliations if st else [], "abstract": st.abstract if st else "",
        "published": st.published if st else None,
        "sections": [asdict(s) for s in st.sections] if st else [],
        "structure": st is not None,  # false: pypdfium2 could not read the layout; the page texts are pypdf's
        "pages": [{"number": p.number, "body": p.body, "refs": p.refs} for p in result.pages],
    }
