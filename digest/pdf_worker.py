"""The child-process side of PDF extraction: runs pypdf under an address-space limit, answers over a pipe.

Every failure becomes a short reason in PageText.error; only the parent decides about timeouts.
"""

from __future__ import annotations

import logging
import re
import resource
import sys
import warnings
from multiprocessing.connection import Connection
from pathlib import Path

from .pdf_clean import clean_pages, find_arxiv_stamp, normalize_text
from .records import PageText

# Lines on a first page that are not the title: venue banners, copyright, dates, links.
_NOT_TITLE_RE = re.compile(
    r"proceedings|journal|conference|©|\(c\)|copyright|https?:|doi|preprint|vol\.|pages?\s+\d|"
    r"advance access|accepted|received|published|arxiv|under review|workshop|^\d+$|^[\W\d_]+$",
    re.IGNORECASE,
)
_TITLE_CONTINUATION_RE = re.compile(r"^[^\W\d_][\w\s\-:'’&()/?!]*$")
_JUNK_TITLE_RE = re.compile(r"^(untitled|microsoft word|title)\b|\.(pdf|docx?|tex|dvi)$", re.IGNORECASE)


def _limit_memory(memory_mb: int) -> None:
    if memory_mb <= 0:
        return
    limit = memory_mb * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def worker_main(tasks: Connection, results: Connection, memory_mb: int) -> None:
    """Child loop: say 'ready', then answer (task_id, path, mode) with (task_id, PageText) until told to stop."""
    import pypdf  # noqa: F401  imported before the limit so the limit is spent on PDFs, not on imports

    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")
    _limit_memory(memory_mb)
    results.send("ready")
    while True:
        try:
            msg = tasks.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg is None:
            return
        task_id, path, mode = msg
        try:
            result = extract_in_process(Path(path), mode)
        except MemoryError:
            result = PageText(ok=False, error="memory")
        except Exception as e:  # a bug of ours must cost one PDF, not the worker
            result = PageText(ok=False, error=f"error:{type(e).__name__}")
        try:
            results.send((task_id, result))
        except MemoryError:
            results.send((task_id, PageText(ok=False, error="memory")))
        if result.error == "memory":
            return


def _classify(exc: BaseException, path: Path) -> str:
    """A short reason for a pypdf failure, using the message and a look at the file's bytes."""
    from pypdf.errors import (DependencyError, EmptyFileError, FileNotDecryptedError, LimitReachedError,
                              PdfReadError, WrongPasswordError)

    msg = str(exc).lower()
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, RecursionError):
        return "too-deep"
    if isinstance(exc, (FileNotDecryptedError, WrongPasswordError, DependencyError)):
        return "encrypted"
    if isinstance(exc, EmptyFileError):
        return "empty-file"
    if "cyclic" in msg:
        return "cyclic-page-tree"
    if isinstance(exc, LimitReachedError):
        return "too-deep" if ("depth" in msg or "nest" in msg) else "error:LimitReachedError"
    if "startxref" in msg or "xref" in msg or "trailer" in msg:
        return "damaged"
    try:
        with path.open("rb") as f:
            data = f.read()
    except OSError:
        data = b""
    if b"[" * 100 in data or b"<<" * 100 in data:
        return "too-deep"
    if b"%%EOF" not in data[-2048:]:
        return "truncated"
    if isinstance(exc, PdfReadError):
        return "damaged"
    return f"error:{type(exc).__name__}"


def _metadata_authors(raw: str) -> list[str]:
    """Authors from a /Author entry: 'A ; B', 'Last, First and Last, First', or 'A, B'."""
    raw = raw.strip()
    if not raw:
        return []
    if ";" in raw:
        parts = raw.split(";")
    elif " and " in raw:
        parts = [" ".join(reversed(p.split(",", 1))) if "," in p else p for p in raw.split(" and ")]
    else:
        parts = raw.split(",")
    return [re.sub(r"\s+", " ", p).strip() for p in parts if p.strip()]


def _first_page_title(text: str) -> str | None:
    """The title from the first page: the first plausible line, plus wrapped continuation lines."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    for i, line in enumerate(lines[:12]):
        if _NOT_TITLE_RE.search(line) or len(line) < 8 or len(line.split()) < 2:
            continue
        title = [line]
        for nxt in lines[i + 1:i + 3]:
            if len(title[-1]) < 35 or not _TITLE_CONTINUATION_RE.match(nxt) or len(nxt.split()) > 12:
                break
            title.append(nxt)
        return " ".join(title)
    return None


def _identity(reader, first_page_raw: str) -> tuple[str | None, list[str], str | None]:
    """(title, authors, arXiv ID) from the PDF metadata and the raw first page."""
    meta = {}
    try:
        meta = dict(reader.metadata or {})
    except Exception:  # broken /Info dictionaries are common and not worth failing for
        meta = {}
    title = normalize_text(str(meta.get("/Title") or "")).strip()
    if not title or _JUNK_TITLE_RE.search(title) or len(title) < 5:
        title = _first_page_title(normalize_text(first_page_raw)) or ""
    authors = _metadata_authors(normalize_text(str(meta.get("/Author") or "")))
    return (re.sub(r"\s+", " ", title) or None), authors, find_arxiv_stamp(first_page_raw)


def extract_in_process(path: Path, mode: str) -> PageText:
    """Open and extract one PDF in this process ('full' or 'identify'); every failure becomes a reason."""
    from pypdf import PdfReader

    try:
        size = path.stat().st_size
        if size == 0:
            return PageText(ok=False, error="empty-file")
        with path.open("rb") as f:
            head = f.read(1024)
        if b"%PDF-" not in head:
            return PageText(ok=False, error="not-a-pdf")
    except OSError as e:
        return PageText(ok=False, error=f"error:{type(e).__name__}")
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted and int(reader.decrypt("")) == 0:
            return PageText(ok=False, error="encrypted")
        pages = reader.pages
        if len(pages) == 0:
            return PageText(ok=False, error="damaged")
        wanted = [pages[0]] if mode == "identify" else list(pages)
        raw: list[str] = []
        first_error: Exception | None = None
        for page in wanted:
            try:
                raw.append(page.extract_text() or "")
            except (MemoryError, RecursionError):
                raise
            except Exception as e:  # one bad page should not cost the whole paper
                first_error = first_error or e
                raw.append("")
        if first_error is not None and not any(t.strip() for t in raw):
            raise first_error
        title, authors, arxiv_id = _identity(reader, raw[0])
    except BaseException as e:  # broken PDFs raise anything; this is the boundary
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return PageText(ok=False, error=_classify(e, path))
    if mode == "identify":
        return PageText(ok=True, title=title, authors=authors, arxiv_id=arxiv_id)
    if not any(t.strip() for t in raw):
        return PageText(ok=False, error="no-text", title=title, authors=authors, arxiv_id=arxiv_id)
    try:
        cleaned = clean_pages(raw)
    except MemoryError:
        return PageText(ok=False, error="memory")
    return PageText(ok=True, pages=cleaned, title=title, authors=authors, arxiv_id=arxiv_id)


if __name__ == "__main__":
    # Started by digest.pdf as: python -m digest.pdf_worker <task fd> <result fd> <memory MB>
    worker_main(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False),
                int(sys.argv[3]))
