"""What a scholarly parser reads off a PDF besides its text: the header (title, authors, affiliations,
abstract, date) and the section tree, from pypdfium2's characters with their type and position.

Runs in the PDF worker process (digest.pdf.worker). Any failure here costs the structure (None), never
the page texts, which pypdf reads on its own.
"""

from __future__ import annotations

import re
from pathlib import Path

from digest.pdf import header as hd
from digest.pdf.layout import Line, PageLines, metadata, read_document
from digest.pdf.sections import BodyType, body_type, find_sections, heading_candidate
from digest.records import PaperStructure

_HEADER_PAGES = 2  # the abstract of a paper with a cover-like first page starts on page 2
_MIN_PROSE_CHARS = 40  # a header line is short; the abstract's lines are not
_MIN_HEADLESS_ABSTRACT_WORDS = 20  # an abstract without the word 'Abstract' is a paragraph, not a line


def read_structure(path: Path, *, header_only: bool = False) -> PaperStructure:
    """The header and (unless `header_only`) section tree of a PDF; raises when pypdfium2 cannot read it."""
    pages = read_document(path, max_pages=_HEADER_PAGES if header_only else None)
    try:
        meta = metadata(path)
    except Exception:  # a broken /Info dictionary costs the metadata, not the structure
        meta = {}
    return structure_from_lines(pages, meta, header_only=header_only)


def structure_from_lines(pages: list[PageLines], meta: dict[str, str] | None = None, *,
                         header_only: bool = False) -> PaperStructure:
    """PaperStructure from already-read lines (see read_structure)."""
    meta = meta or {}
    if not pages:
        return PaperStructure()
    body = body_type(pages)
    out, end = _header(pages, body, meta)
    if not header_only:
        out.sections = [s for s in find_sections(pages, start=end) if s.heading.casefold() != "abstract"]
    return out


_STOP_HEADINGS = {"introduction", "background", "related work", "overview", "motivation", "preliminaries"}
_FUNCTION_WORDS = {"the", "we", "is", "are", "to", "in", "that", "this", "with", "a", "an", "by", "on", "as", "be",
                   "can", "our", "it", "which", "these", "has", "have", "from", "at"}


def _is_heading(line: Line, body: BodyType) -> bool:
    """A numbered heading, or a heading that opens a paper's body ('Introduction'): the header is over."""
    got = heading_candidate(line, body)
    if got is None:
        return False
    number, heading = got
    return bool(number) or re.sub(r"[^a-z ]", "", heading.casefold()).strip() in _STOP_HEADINGS


def _header(pages: list[PageLines], body: BodyType, meta: dict[str, str]) -> tuple[PaperStructure, tuple[int, int]]:
    """The header from the first pages, and where the body starts (page, line index)."""
    first = pages[0]
    lines = first.lines
    # 'Abstract' as a heading or a run-in label, before any section heading.
    opened: tuple[int, int, str] | None = None
    for page in pages[:_HEADER_PAGES]:
        for i, ln in enumerate(page.lines):
            rest = hd.abstract_start(ln)
            if rest is not None:
                opened = (page.number, i, rest)
                break
            if _is_heading(ln, body) and not (page.number == 1 and ln.y0 > first.height * 0.6):
                break
        else:
            continue
        break
    # The title lies above the first e-mail, abstract or introduction line.
    stop_y = 0.0
    for i, ln in enumerate(lines):
        if "@" in ln.text or (opened and opened[0] == 1 and i == opened[1]) or hd.is_abstract_end(ln):
            stop_y = ln.y1 - 0.5
            break
    title, title_lines = hd.find_title(first, stop_y)
    out = PaperStructure(title=title)
    after = max((lines.index(ln) for ln in title_lines), default=-1) + 1
    title_bottom = min((ln.y0 for ln in title_lines), default=first.height)

    # Walk the header: names, places, e-mails, dates, until the abstract starts.
    author_size: float | None = None
    abstract_at: tuple[int, int] | None = (opened[0], opened[1]) if opened else None
    header_lines: list[Line] = []
    prose_at: tuple[int, int] | None = None
    # Without a title there is no header to walk (a page from the middle of a paper).
    for pi, page in enumerate(pages[:_HEADER_PAGES] if title else []):
        for i in range(after if pi == 0 else 0, len(page.lines)):
            ln = page.lines[i]
            if abstract_at and (page.number, i) >= abstract_at:
                break
            if pi == 0 and ln.y1 > title_bottom + 2 or not _upright(ln, page):
                continue  # above the title (a venue banner), or the arXiv stamp in the margin
            if hd.is_abstract_end(ln) or _is_heading(ln, body):
                break
            names, place = hd.author_line(ln)
            if names and (author_size is None or abs(ln.size - author_size) <= 1.5):
                author_size = author_size or ln.size
                out.authors += [n for n in names if n not in out.authors]
                if place:
                    out.affiliations.append(place)
                header_lines.append(ln)
                continue
            if _prose(ln):
                if abstract_at is None and title and (out.authors or pi > 0):
                    # The first prose after the header: an abstract without the word (ACM, APS layouts).
                    prose_at = (page.number, i - 1)
                    break
                continue
            if hd.is_affiliation(ln):
                out.affiliations += [p for p in hd.affiliation_parts(ln) if p not in out.affiliations]
            header_lines.append(ln)
        else:
            continue
        break
    if title and (not out.authors or any(len(a.split()) >= 4 for a in out.authors)):
        # Names in one row without commas ('Achim Zeileis Friedrich Leisch Kurt Hornik'), whether the row was
        # left unread or read as one long name: pairs, when the surnames are printed elsewhere on the first pages.
        elsewhere = "\n".join(ln.text for page in pages[:_HEADER_PAGES] for ln in page.lines
                              if ln not in header_lines)
        out.authors = [n for a in out.authors for n in (hd.names_in_a_row(a, elsewhere) or [a])]
        for ln in header_lines[:3] if not out.authors else []:
            out.authors = hd.names_in_a_row(hd.text_of(ln), elsewhere)
            if out.authors:
                break
    out.published = hd.find_date(header_lines + first.lines, hd.pdf_date(meta.get("CreationDate")))
    start = abstract_at or prose_at
    if start is None:
        return out, (1, after)
    text, end = _abstract(pages, start, opened[2] if opened else None, body)
    if not opened and len(text.split()) < _MIN_HEADLESS_ABSTRACT_WORDS:
        return out, (1, after)  # a line of an address or a footnote, not an abstract without its heading
    out.abstract = text
    return out, end


def _upright(line: Line, page: PageLines) -> bool:
    return hd.upright(line, page)


def _prose(line: Line) -> bool:
    """A line of running text: long, lower-case, with the small words sentences have."""
    text = hd.text_of(line)
    words = re.findall(r"\b[a-z]+\b", text)  # whole words: '1081a' or 'The Netherlands' hold no 'a' or 'he'
    small = sum(w in _FUNCTION_WORDS for w in words)
    return len(text) >= _MIN_PROSE_CHARS and (small >= 2 or small == 1 and not hd.is_affiliation(line))


def _abstract(pages: list[PageLines], at: tuple[int, int], first: str | None,
              body: BodyType) -> tuple[str, tuple[int, int]]:
    """The abstract from the line after `at` (or that line's own remainder `first`) to the first heading,
    keywords line, or change of type; and where the body starts. An abstract that fills its page to the
    bottom mid-sentence goes on at the top of the next one."""
    number = at[0]
    texts: list[str] = [first] if first else []
    size: float | None = None
    i = at[1] + 1
    while True:
        page = pages[number - 1]
        while i < len(page.lines):
            ln = page.lines[i]
            if hd.is_abstract_end(ln) or _is_heading(ln, body):
                return hd.join_lines(texts), (number, i)
            if ln.text.strip().isdigit() or hd.STAMP_LINE_RE.match(ln.text.strip()):
                i += 1
                continue  # a page number, or the date the document was compiled
            if size is None:
                size = ln.size
            elif abs(ln.size - size) > 0.8 and not (i and _continues(ln, page.lines[i - 1])):
                # a footnote, a caption, or the body text of the next column
                return hd.join_lines(texts), (number, i)
            texts.append(hd.text_of(ln))
            i += 1
        if number >= len(pages) or not texts or re.search(r"[.!?]\W*$", texts[-1]):
            return hd.join_lines(texts), (number, i)
        number, i = number + 1, 0


def _continues(line: Line, prev: Line) -> bool:
    """A line of another size that still continues the paragraph: a formula or a symbol run in its middle."""
    return len(line.text) < 12 and abs(line.y1 - prev.y1) < prev.size


def header_fields(structure: PaperStructure | None) -> tuple[str | None, list[str]]:
    """Title and authors of a structure, or (None, [])."""
    if structure is None:
        return None, []
    return structure.title, list(structure.authors)


def meta_authors(value: str | None) -> list[str]:
    """Names in a PDF's /Author entry ('A, B and C', 'A; B')."""
    if not value:
        return []
    return hd.split_names(re.sub(r"\s+and\s+", ", ", value))
