"""The child-process side of PDF extraction: runs pypdf under an address-space limit, answers over a pipe.

Every failure becomes a short reason in PageText.error; only the parent decides about timeouts.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import resource
import signal
import sys
import threading
import time
import warnings
from multiprocessing.connection import Connection
from pathlib import Path

from digest.pdf.clean import clean_field, clean_pages, find_arxiv_stamp, normalize_text, split_authors
from digest.pdf.header import NOT_TITLE_RE, plausible_title
from digest.pdf.marks import read_marks
from digest.pdf.structure import read_structure
from digest.records import PageText, PaperStructure

_TITLE_CONTINUATION_RE = re.compile(r"^[^\W\d_][\w\s\-:'’&()/?!]*$")


def _limit_memory(memory_mb: int) -> None:
    if memory_mb <= 0:
        return
    limit = memory_mb * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_PARENT_CHECK_SECONDS = 1.0


def _die_with_parent(parent_pid: int) -> None:
    """Make sure this worker does not outlive the process that started it (even one killed with -9).

    On Linux the kernel sends SIGKILL when the parent goes (PR_SET_PDEATHSIG). Everywhere, a daemon
    thread notices that the parent changed (the worker was re-parented) and exits; it runs while
    pypdf is busy on a hostile page, which a check between tasks alone would not.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl in this libc: the thread below still applies
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(_PARENT_CHECK_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def worker_main(tasks: Connection, results: Connection, memory_mb: int, parent_pid: int | None = None) -> None:
    """Child loop: say 'ready', then answer (task_id, path, mode) with (task_id, PageText) until told to stop."""
    _die_with_parent(parent_pid or os.getppid())
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
        if msg is None or (parent_pid and os.getppid() != parent_pid):
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
    from pypdf.errors import (
        DependencyError,
        EmptyFileError,
        FileNotDecryptedError,
        LimitReachedError,
        PdfReadError,
        WrongPasswordError,
    )

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


class _FontRuns:
    """A pypdf text visitor that keeps each upright text run's font size and baseline (for page 1's title)."""

    def __init__(self, page) -> None:
        self.runs: list[tuple[float, float, str]] = []  # (size, baseline y, text), in content order
        try:
            box = page.mediabox
            self.middle = (float(box.bottom) + float(box.top)) / 2
        except Exception:  # a broken /MediaBox: look at the whole page
            self.middle = float("-inf")

    def __call__(self, text, cm, tm, font, size) -> None:
        try:
            b = tm[0] * cm[1] + tm[1] * cm[3]
            c = tm[2] * cm[0] + tm[3] * cm[2]
            d = tm[2] * cm[1] + tm[3] * cm[3]
            if abs(b) > 1e-3 or abs(c) > 1e-3:
                return  # rotated text: the arXiv margin stamp, not the title
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            self.runs.append((round(float(size) * (c * c + d * d) ** 0.5, 1), float(y), str(text)))
        except (TypeError, ValueError, OverflowError):
            pass  # a matrix the file got wrong costs the title guess, not the page text

    def largest_text(self) -> str | None:
        """The lines that hold the largest font on the page, whole: small caps ('L' 'ONG' 'E' 'VAL') are
        set in a smaller size on the same baseline."""
        # A title sits in the upper half; big type lower down is a logo or a figure.
        sized = [(s, y) for s, y, t in self.runs if t.strip() and y >= self.middle]
        if not sized:
            return None
        top = max(s for s, _ in sized)
        baselines = [y for s, y in sized if abs(s - top) < 0.5]
        out: list[str] = []
        last_y = None
        for _, y, t in self.runs:
            if not t or not any(abs(y - b) < 1.0 for b in baselines):
                continue
            # Within a line pypdf already emitted the spaces it saw; only separate lines need one.
            gap = last_y is not None and abs(y - last_y) >= 1.0 and not (t[0].isspace() or out[-1][-1].isspace())
            out.append(" " + t if gap else t)
            last_y = y
        return "".join(out)


def _first_page_title(text: str) -> str | None:
    """The title from the first page: the first plausible line, plus wrapped continuation lines."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    for i, line in enumerate(lines[:12]):
        if NOT_TITLE_RE.search(line) or len(line) < 8 or len(line.split()) < 2:
            continue
        title = [line]
        for nxt in lines[i + 1:i + 3]:
            if len(title[-1]) < 35 or not _TITLE_CONTINUATION_RE.match(nxt) or len(nxt.split()) > 12:
                break
            title.append(nxt)
        return " ".join(title)
    return None


def _structure(path: Path, mode: str) -> PaperStructure | None:
    """The header (and in 'full' mode the section tree) read with pypdfium2; None when it cannot read the
    file, since pypdf's page texts do not depend on it."""
    try:
        return read_structure(path, header_only=mode == "identify")
    except MemoryError:
        raise
    except Exception:  # pdfium refuses what pypdf may still read: the structure is a bonus, never a failure
        return None


def _identity(reader, first_page_raw: str, runs: _FontRuns, structure: PaperStructure | None) -> PageText:
    """Title, authors, arXiv ID and category from the PDF metadata and the first page (ok=True, no pages)."""
    meta_title = meta_author = ""
    try:
        info = reader.metadata
        if info:
            # Mojibake is repaired before normalize_text, whose NFKC would turn 'Ã¼' into 'Ã1⁄4' for good.
            meta_title, meta_author = clean_field(str(info.title or "")), clean_field(str(info.author or ""))
    except Exception:  # broken /Info dictionaries are common and not worth failing for
        pass
    # The metadata title when it is a real one, else the title the layout shows (pdfium), else the largest
    # type pypdf saw on page 1, else its first title-like lines.
    title = (plausible_title(meta_title) or (structure.title if structure else None)
             or plausible_title(runs.largest_text())
             or plausible_title(_first_page_title(normalize_text(first_page_raw))))
    # The authors the PDF's own metadata names, else the names printed under the title.
    authors = split_authors(normalize_text(meta_author)) or (list(structure.authors) if structure else [])
    stamp = find_arxiv_stamp(first_page_raw)
    return PageText(ok=True, title=title, authors=authors, arxiv_id=stamp.id if stamp else None,
                    category=stamp.category if stamp else None, structure=structure)


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
        runs = _FontRuns(wanted[0])
        raw: list[str] = []
        first_error: Exception | None = None
        for i, page in enumerate(wanted):
            try:
                # Page 1 is read once, collecting font sizes for the title as it goes.
                raw.append((page.extract_text(visitor_text=runs) if i == 0 else page.extract_text()) or "")
            except (MemoryError, RecursionError):
                raise
            except Exception as e:  # one bad page should not cost the whole paper
                first_error = first_error or e
                raw.append("")
        if first_error is not None and not any(t.strip() for t in raw):
            raise first_error
        result = _identity(reader, raw[0], runs, _structure(path, mode))
    except BaseException as e:  # broken PDFs raise anything; this is the boundary
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return PageText(ok=False, error=_classify(e, path))
    if mode == "identify":
        if not result.title and not result.arxiv_id and not raw[0].strip():
            # Nothing to name it by and nothing to read: not a paper anyone can be told about.
            return PageText(ok=False, error="no-text")
        return result
    if not any(t.strip() for t in raw):
        result.ok, result.error = False, "no-text"
        return result
    try:
        # Superscript marks are read off pypdfium2's glyphs (~4 ms a page); None keeps pypdf's text as it is.
        result.pages = clean_pages(raw, read_marks(path))
    except MemoryError:
        return PageText(ok=False, error="memory")
    return result


if __name__ == "__main__":
    # Started by digest.pdf.pool as: python -m digest.pdf.worker <task fd> <result fd> <memory MB> [<parent pid>]
    worker_main(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False),
                int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
