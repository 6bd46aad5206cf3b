"""dir:<folder> or dir:<folder>/**: local PDFs, each identified (arXiv stamp, title, authors) in a worker process."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import httpx

from digest.config import Config
from digest.errors import SourceError
from digest.pdf.pool import identify_many
from digest.records import PageText, Paper, split_arxiv_id
from digest.sources.base import SourceResult, merge_duplicates, placeholder_paper
from digest.sources.enrich import enrich
from digest.store import Store


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_pdfs(folder: Path, recursive: bool) -> list[Path]:
    """The *.pdf files of a folder (any case of the suffix), sorted by path."""
    it = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in it if p.is_file() and p.suffix.lower() == ".pdf")


def paper_from_pdf(path: Path, ident: PageText, source: str, config: Config) -> tuple[Paper | None, str | None]:
    """A Paper for a local PDF from its identity, or None and the reason when the PDF cannot be read at all.

    An unreadable file would be an entry with no text, no abstract and its file name for a title: it is
    reported as that file's failure instead.
    """
    path = path.resolve()
    if not ident.ok:
        return None, f"{path.name}: left out, the PDF cannot be read ({ident.error})"
    if ident.arxiv_id:
        aid, version = split_arxiv_id(ident.arxiv_id)
        p = placeholder_paper(aid, version, source, config)
        p.primary_category = ident.category
        p.categories = [ident.category] if ident.category else []
    else:
        p = Paper(key="file:" + file_sha256(path)[:16], title="", source=source)
    p.title = ident.title or path.stem
    p.authors = list(ident.authors)
    header = ident.structure
    if header is not None:
        # What the first page prints, for a paper no feed describes (issue 20): its abstract and date.
        if not ident.arxiv_id:  # an arXiv paper gets its abstract and dates from the API
            p.abstract = p.abstract or header.abstract
        if header.published and not p.published and not ident.arxiv_id:
            p.published = f"{header.published}T00:00:00+00:00"  # a printed day: midnight UTC, like the API's times
    p.local_pdf = str(path)
    return p, None


def papers_from_pdfs(paths: list[Path], source: str, config: Config) -> tuple[list[Paper], list[str]]:
    """Papers for local PDFs, in the order given, and warnings; all are identified in one batch of
    time- and memory-limited worker processes, since a PDF in a folder may be hostile."""
    paths = [p.resolve() for p in paths]
    found = dict(identify_many(paths, config))
    papers: list[Paper] = []
    warnings: list[str] = []
    for path in paths:
        p, warning = paper_from_pdf(path, found[path], source, config)
        if p is not None:
            papers.append(p)
        if warning:
            warnings.append(warning)
    return papers, warnings


def fetch(spec: str, rest: str, config: Config, store: Store, client: httpx.Client | None, *,
          since: datetime | None, conditional: bool) -> SourceResult:
    """The folder's PDFs (its subfolders' too with /**), arXiv ones given the API's metadata."""
    recursive = rest.endswith("/**") or rest == "**"
    folder = config.resolve(rest[:-3] if rest.endswith("/**") else rest.rstrip("*") or ".")
    if not folder.is_dir():
        raise SourceError(spec, f"{folder} is not a folder", hint="write dir:path/to/pdfs")
    result = SourceResult(source=spec)
    papers, result.warnings = papers_from_pdfs(list_pdfs(folder, recursive), spec, config)
    result.papers = merge_duplicates(papers)
    enrich(result.papers, result, config)
    result.empty_listing = not result.papers
    return result
