"""A paper's section tree from its lines: numbered, unnumbered, ALL-CAPS and appendix headings, each with
the page it starts on.

A heading is told from body text by its type (bold, or larger than the body font), where it stands (a
line of its own) and its numbering; table rows, figure labels, reference entries, contents pages and
running headers never count. Numbered top-level headings must count upwards, so a bold '2 Results' in a
list or a table cannot break the sequence.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from digest.pdf.header import join_lines, looks_like_table_row
from digest.pdf.layout import Line, PageLines
from digest.records import Section

_NUMBERED_RE = re.compile(r"^(?P<num>\d{1,2}(?:\.\d{1,2}){0,3}|[IVX]{1,5}(?=\.)|[A-H](?:\.\d{1,2}){0,3})"
                          r"\.?\s+(?P<title>\S.*)$")
_APPENDIX_RE = re.compile(r"^(?:appendix|appendices|supplementary\s+(?:material|information|data))\b"
                          r"(?:\s+(?P<letter>[A-Z]|\d{1,2})\b)?[\s:.—–-]*(?P<title>.*)$", re.IGNORECASE)
_REFERENCES_RE = re.compile(r"^(?:references|bibliography|literature cited|works cited|references and notes)$",
                            re.IGNORECASE)
_LABEL_RE = re.compile(r"^(?:fig\.?|figure|table|tab\.|algorithm|listing|eq\.?|equation|box|scheme|panel|"
                       r"step|example|prompt|definition|theorem|lemma|proof|remark)\s*[\dA-Z]?", re.IGNORECASE)
_TOC_LINE_RE = re.compile(r"(?:\.\s?){3,}\s*\d{1,4}$|\s\d{1,4}$")
# Unnumbered headings a reader recognises by name.
KNOWN_HEADINGS = {
    "abstract", "introduction", "background", "related work", "related works", "prior work", "method", "methods",
    "methodology", "approach", "model", "models", "data", "dataset", "datasets", "experiments", "experiment",
    "experimental setup", "evaluation", "results", "results and discussion", "discussion", "analysis",
    "conclusion", "conclusions", "conclusion and future work", "conclusions and future work", "future work",
    "limitations", "limitation", "ethics statement", "ethical considerations", "broader impact",
    "broader impacts", "impact statement", "acknowledgments", "acknowledgements", "acknowledgment",
    "acknowledgement", "references", "bibliography", "appendix", "appendices", "materials and methods",
    "data availability", "code availability", "funding", "conflict of interest", "author contributions",
    "supplementary data", "supplementary material", "summary", "outlook", "preliminaries", "problem formulation",
    "case study", "user study", "study design", "findings", "design", "implementation", "system overview",
    "overview", "motivation", "literature cited", "declaration of interests", "competing interests",
}
# Back matter whose wording varies: 'Author contribution(s)', 'Conflicts of interest', 'Ethics statement'.
_BACK_MATTER_RE = re.compile(r"^(?:acknowledge?ments?|author contributions?|conflicts? of interests?|"
                             r"competing interests?|declaration|funding|data (?:and code )?availability|"
                             r"code availability|ethic|limitations?|broader impacts?)", re.IGNORECASE)
_NOT_HEADINGS = {"contents", "table of contents", "abstract", "keywords", "graphical abstract"}


@dataclass
class _Candidate:
    line: Line
    number: str | None
    heading: str
    style: tuple[float, bool, bool]
    index: int  # position in reading order over the whole paper


@dataclass(frozen=True)
class BodyType:
    """The type most of a paper's characters are set in: its size, and whether it reads as bold."""

    size: float = 10.0
    bold: bool = False


def body_type(pages: list[PageLines]) -> BodyType:
    """The size most of the paper's characters are set in, and whether most of them report bold (some
    PDFs' fonts, TeX's Type 3 bitmap fonts among them, say bold for every character: then bold tells no
    heading from the text)."""
    counts: Counter[float] = Counter()
    bold = total = 0
    for page in pages:
        for ln in page.lines:
            counts[ln.size] += len(ln.text)
            total += len(ln.text)
            bold += len(ln.text) if ln.bold else 0
    size = counts.most_common(1)[0][0] if counts else 10.0
    return BodyType(size, bool(total) and bold > 0.5 * total)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z ]+", "", text.casefold()).strip()


def _is_allcaps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters)


def _contents_pages(pages: list[PageLines]) -> set[int]:
    """Pages of a table of contents: many lines that end in a page number after a numbered title."""
    out = set()
    for page in pages:
        hits = sum(1 for ln in page.lines if _TOC_LINE_RE.search(ln.text) and _NUMBERED_RE.match(ln.text)
                   or re.search(r"(?:\.\s?){5,}\s*\d{1,4}$", ln.text))
        if hits >= 5:
            out.add(page.number)
    return out


def _running_texts(pages: list[PageLines]) -> set[str]:
    """Lines printed on three pages or more: running headers and footers."""
    counts: Counter[str] = Counter()
    for page in pages:
        for key in {_norm(ln.text) for ln in page.lines}:
            counts[key] += 1
    return {k for k, n in counts.items() if n >= 3 and k}


def centered(line: Line, page: PageLines) -> bool:
    """A short line set in the middle of the page: how some styles set a heading in the body's own type
    ('1. Introduction' in small capitals, neither bold nor larger)."""
    width = line.x1 - line.x0
    return width < page.width * 0.45 and abs((line.x0 + line.x1) / 2 - page.width / 2) < page.width * 0.03


def heading_candidate(line: Line, body: BodyType, *, set_apart: bool = False) -> tuple[str | None, str] | None:
    """(number, heading) when a line looks like a heading by its own text and type (or, numbered, by being
    `set_apart` in the middle of the page), else None."""
    text = re.sub(r"\s+", " ", line.text.replace("\ufffe", "")).strip()
    if not 2 <= len(text) <= 100 or len(text.split()) > 14 or text[-1] in ",;:" or _LABEL_RE.match(text):
        return None
    if text.startswith(("[", "(", "•", "–", "-", "∗", "*", "†")) or "@" in text or "http" in text:
        return None
    strong = line.bold and not body.bold or line.size >= body.size + 1.0
    caps = _is_allcaps(text) and line.size >= body.size - 0.3
    if not (strong or caps or set_apart and line.size >= body.size - 0.3 and _NUMBERED_RE.match(text)):
        return None
    appendix = _APPENDIX_RE.match(text)
    if appendix:
        if appendix.group("letter"):  # 'Appendix A: Prompts' is section A, 'Prompts'
            return appendix.group("letter"), (appendix.group("title") or text).strip(" .:")
        return "", text
    m = _NUMBERED_RE.match(text)
    if m:
        title = m.group("title").strip()
        if not title[0].isupper() or sum(c.isalpha() for c in title) < 3 or title.endswith("."):
            return None
        if re.search(r"[a-z]{2}\. [A-Z]", title):
            return None  # a run-in heading followed by its paragraph ('1 Pre-training. As we ...')
        if re.search(r"\d[\d.,%]*\s+\d|\s\d{1,4}$", title):
            return None  # scores in a table row, or a contents entry with its page number
        if not _is_allcaps(title) and looks_like_table_row(title.split()):
            return None
        return m.group("num"), title
    if text.endswith((".", "?")) or not text[0].isupper() or len(text.split()) > 10:
        return None
    if not _is_allcaps(text) and looks_like_table_row(text.split()):
        return None
    if sum(c.isalpha() for c in text) < 3:
        return None
    return None if _norm(text) in _NOT_HEADINGS else ("", text)


def _merge_second_line(lines: list[Line], i: int, heading: str) -> tuple[str, int]:
    """A heading set on two lines ('RELATED WORK AND' / 'CITATIONS'): the next line in the same type joins it."""
    line = lines[i]
    if i + 1 >= len(lines):
        return heading, i
    nxt = lines[i + 1]
    gap = line.y0 - nxt.y1
    if (nxt.bold == line.bold and abs(nxt.size - line.size) < 0.3 and 0 <= gap < line.size * 0.9
            and nxt.x0 < line.x1 and nxt.x1 > line.x0 and len(nxt.text) < 60 and not nxt.text.endswith(".")
            and not _NUMBERED_RE.match(nxt.text) and _norm(nxt.text) not in KNOWN_HEADINGS):
        return join_lines([heading, nxt.text]), i + 1
    return heading, i


def _level(number: str | None) -> int:
    if not number:
        return 1
    return number.count(".") + 1


def _top_number(number: str) -> int | None:
    head = number.split(".")[0]
    if head.isdigit():
        return int(head)
    roman = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10}
    return roman.get(head)


def find_sections(pages: list[PageLines], start: tuple[int, int] = (1, 0)) -> list[Section]:
    """The section tree of a paper from its lines, from `start` (page, line index) on: the header before
    it is not body text."""
    body = body_type(pages)
    skip_pages = _contents_pages(pages)
    running = _running_texts(pages)
    found: list[_Candidate] = []
    order = 0
    for page in pages:
        if page.number < start[0] or page.number in skip_pages:
            continue
        i = start[1] if page.number == start[0] else 0
        while i < len(page.lines):
            line = page.lines[i]
            order += 1
            # A running header is never set larger than the body; a heading may repeat its words
            # ('2. The strucplot framework' under the running title 'The Strucplot Framework').
            repeated = _norm(line.text) in running and line.size < body.size + 1.0
            got = None if repeated else heading_candidate(line, body, set_apart=centered(line, page))
            if got is None:
                i += 1
                continue
            number, heading = got
            heading, i = _merge_second_line(page.lines, i, heading)
            style = (line.size, line.bold, _is_allcaps(heading))
            found.append(_Candidate(line, number or None, heading, style, order))
            i += 1
    return _tree(found, body)


def _tree(found: list[_Candidate], body: BodyType) -> list[Section]:
    """Keep the candidates that behave like a paper's headings, level them and mark appendices and references."""
    numbered_styles = Counter(c.style for c in found if c.number and _top_number(c.number) and "." not in c.number)
    known_styles = {c.style for c in found if _norm(c.heading) in KNOWN_HEADINGS}
    top_styles = set(numbered_styles) | known_styles
    sub_styles = {c.style for c in found if c.number and "." in c.number and _top_number(c.number)}
    # A paper that numbers its sections names the unnumbered ones it has (References, Acknowledgments);
    # any other unnumbered bold line there is a table header or a run-in label.
    numbered_paper = sum(numbered_styles.values()) >= 3
    sections: list[Section] = []
    last_top = 0
    in_back = False  # after the references: what follows is appendix
    for c in found:
        name = _norm(c.heading)
        number = c.number
        known = name in KNOWN_HEADINGS or bool(_BACK_MATTER_RE.match(name))
        if number and _top_number(number) is not None:
            top = _top_number(number)
            if "." not in number:
                # Top-level numbers count upwards; a jump back or far ahead is a list item or a table cell.
                # (The first one may be any: an excerpt starts mid-paper.)
                if not (last_top < top <= last_top + 3 or last_top == 0 and top <= 12) and not in_back:
                    continue
                last_top = top
            elif not in_back and not (last_top <= top <= last_top + 1):
                continue
            level = _level(number)
        elif number:  # a letter: an appendix section, or a list item ('A The Model') in body type
            if not (in_back or c.style in top_styles or c.style in sub_styles) or c.line.size < body.size - 0.3:
                continue
            level = _level(number)
        else:
            if not known and (numbered_paper or not (
                    c.style in top_styles or c.style in sub_styles
                    or (c.line.bold and not body.bold and c.line.size >= body.size + 0.5))):
                continue
            level = 2 if c.style in sub_styles and c.style not in top_styles and not known else 1
        kind = "body"
        if _REFERENCES_RE.match(c.heading.strip()):
            kind, in_back, level = "references", True, 1
        elif in_back or (number and number[0].isalpha() and number[0] not in "IVX") or name.startswith(
                ("appendix", "appendices", "supplementary")):
            kind = "appendix"
        sections.append(Section(heading=c.heading, level=level, page=c.line.page, number=number, kind=kind))
    return sections
