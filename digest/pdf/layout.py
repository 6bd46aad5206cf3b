"""Lines of a PDF page with their type: font size, weight and position, read from pypdfium2's characters.

pdfium orders characters as the content stream draws them (column by column in LaTeX output) and marks
line ends with generated CR/LF characters; a line here is the run between two of those.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as raw

# Font names of bold faces: 'Times-Bold', 'NimbusRomNo9L-Medi', 'CMBX10', 'LinBiolinumTB', 'Arial,Bold'.
_BOLD_NAME_RE = re.compile(r"bold|black|heavy|semibold|demi|medi|cmbx|cmssbx|[a-z]tb$|[-,]b$|bx\d", re.IGNORECASE)
_FORCE_BOLD = 1 << 18  # PDF font descriptor flag ForceBold
_SUPERSCRIPT_RATIO = 0.85  # a character this much smaller than its line's type is a mark, not text


@dataclass
class Line:
    """One printed line: its text, dominant type, and box in PDF points (y grows upwards)."""

    text: str
    size: float
    bold: bool
    x0: float
    y0: float
    x1: float
    y1: float
    page: int  # 1-based
    font: str = ""
    plain: str = ""  # the text without characters set smaller than the line (superscript marks); page 1 only
    marks: list[str] = field(default_factory=list)  # those smaller runs, in order ('1', '*', '†', '2,3')
    marked: str = ""  # the text with each mark run replaced by '|': marks separate names ('Kyle Lo† Lucy Wang†')


@dataclass
class PageLines:
    """The lines of one page and the page's size."""

    number: int
    width: float
    height: float
    lines: list[Line]


def _font(raw, tp, i: int, buf) -> tuple[str, bool]:
    flags = ctypes.c_int(0)
    n = raw.FPDFText_GetFontInfo(tp, i, buf, len(buf), ctypes.byref(flags))
    name = buf.value.decode("utf-8", "replace") if n else ""
    weight = raw.FPDFText_GetFontWeight(tp, i)
    return name, bool(weight >= 600 or flags.value & _FORCE_BOLD or _BOLD_NAME_RE.search(name.split("+")[-1]))


def read_page(page, number: int, *, detail: bool) -> PageLines:
    """The lines of one pypdfium2 page; `detail` reads every character's size (for page 1's marks),
    otherwise a line's type is sampled from a few of its characters, which keeps whole papers fast."""

    width, height = page.get_size()
    tp = page.get_textpage()
    try:
        handle = tp.raw
        text = _page_text(raw, tp)
        buf = ctypes.create_string_buffer(128)
        lines: list[Line] = []
        start = 0
        for m in re.finditer(r"\r\n|\n|\r|$", text):
            a, b = start, m.start()
            start = m.end()
            seg = text[a:b]
            if not seg.strip():
                continue
            idx = [a + k for k, c in enumerate(seg) if not c.isspace()]
            if detail:
                sample = idx
            else:
                sample = sorted({idx[0], idx[len(idx) // 2], idx[-1]})
            sizes = [printed_size(handle, i) for i in sample]
            size = _dominant(sizes)
            boxes = [tp.get_charbox(i) for i in (idx[0], idx[-1])]
            if detail:
                boxes += [tp.get_charbox(i) for i in idx[1:-1:max(1, len(idx) // 8)]]
            x0 = min(bx[0] for bx in boxes)
            x1 = max(bx[2] for bx in boxes)
            y0 = min(bx[1] for bx in boxes)
            y1 = max(bx[3] for bx in boxes)
            font, bold_first = _font(raw, handle, idx[0], buf)
            bold = bold_first and _font(raw, handle, idx[-1], buf)[1]
            line = Line(restore_tex_glyphs(seg).strip(), round(size, 1), bold, x0, y0, x1, y1, number, font.split("+")[-1])
            if detail:
                bottoms = [tp.get_charbox(i)[1] for i in idx]
                _split_marks(line, seg, [i - a for i in idx], sizes, bottoms)
            lines.append(line)
        return PageLines(number, width, height, lines)
    finally:
        tp.close()


# A TeX font without a ToUnicode map gives its glyphs' codes: in the T1 (Cork) encoding 0x1B-0x1F are the
# ff, fi, fl, ffi, ffl ligatures and 0x10/0x11 the double quotes, in OT1 0x0B-0x0F the ligatures. Read
# as control characters they would be dropped ('modied', 'uctuation'); touching a letter, they are these.
_TEX_GLYPHS = {"\x1b": "ff", "\x1c": "fi", "\x1d": "fl", "\x1e": "ffi", "\x1f": "ffl", "\x0b": "ff", "\x0c": "fi",
               "\x0d": "fl", "\x0e": "ffi", "\x0f": "ffl", "\x10": "\u201c", "\x11": "\u201d"}
_TEX_GLYPH_RE = re.compile("(?<=[^\\W\\d_])[\x0b-\x11\x1b-\x1f]|[\x0b-\x11\x1b-\x1f](?=[^\\W\\d_])")


def restore_tex_glyphs(text: str) -> str:
    """Ligatures and quotes of a TeX font that has no Unicode map, where they touch a letter."""
    return _TEX_GLYPH_RE.sub(lambda m: _TEX_GLYPHS[m.group(0)], text)


def _page_text(raw, tp) -> str:
    """The page's characters, one per pdfium character index (so positions line up with the boxes)."""
    n = tp.count_chars()
    text = tp.get_text_range(errors="replace")
    if len(text) == n:
        return text
    # Characters outside the BMP or broken code units shift the decoded string: go character by character.
    return "".join(chr(c) if 0 < c < 0x110000 and not 0xD800 <= c < 0xE000 else "\ufffd"
                   for c in (raw.FPDFText_GetUnicode(tp.raw, i) for i in range(n)))


def printed_size(tp, i: int) -> float:
    """The printed size of a character: its font size times the text matrix's vertical scale (a file that
    sets 1 pt type scaled by 9 prints 9 pt type)."""
    size = raw.FPDFText_GetFontSize(tp, i)
    m = raw.FS_MATRIX()
    if raw.FPDFText_GetMatrix(tp, i, ctypes.byref(m)):
        scale = (m.c * m.c + m.d * m.d) ** 0.5
        if scale > 0:
            size *= scale
    return size


def _dominant(sizes: list[float]) -> float:
    """The most common size (rounded to 0.1 pt), the larger one on a tie: a line's text, not its marks."""
    counts: dict[float, int] = {}
    for s in sizes:
        counts[round(s, 1)] = counts.get(round(s, 1), 0) + 1
    return max(counts, key=lambda s: (counts[s], s)) if counts else 0.0


def _split_marks(line: Line, seg: str, positions: list[int], sizes: list[float], bottoms: list[float]) -> None:
    """Fill line.plain, line.marks and line.marked: a character set smaller than its line and raised above
    the line's baseline (or a smaller symbol such as † or ∗) is a superscript mark. Small capitals share the
    baseline, so they stay text."""
    if not positions:
        return
    base = sorted(bottoms)[len(bottoms) // 2]
    small = set()
    for p, s, b in zip(positions, sizes, bottoms):
        if line.size and s < line.size * _SUPERSCRIPT_RATIO:
            c = seg[p]
            if b > base + line.size * 0.15 or not (c.isalnum() or c in ",."):
                small.add(p)
    plain: list[str] = []
    marked: list[str] = []
    marks: list[str] = []
    run = ""
    for k, c in enumerate(seg):
        if k in small or (run and c == "," and k + 1 in small):
            run += c
            continue
        if run:
            marks.append(run)
            marked.append("|")
            plain.append(" ")
            run = ""
        plain.append(c)
        marked.append(c)
    if run:
        marks.append(run)
        marked.append("|")
    line.plain = re.sub(r"\s+", " ", restore_tex_glyphs("".join(plain))).strip()
    line.plain = re.sub(r"\s+([,.;:])", r"\1", line.plain)
    line.marked = re.sub(r"\s+", " ", restore_tex_glyphs("".join(marked))).strip()
    line.marks = marks


def read_document(path, *, max_pages: int | None = None) -> list[PageLines]:
    """Lines of every page (or the first `max_pages`) of a PDF; pages 1-2 (the header) read character by character."""

    doc = pdfium.PdfDocument(str(path))
    try:
        n = len(doc) if max_pages is None else min(len(doc), max_pages)
        out = []
        for i in range(n):
            page = doc[i]
            try:
                out.append(read_page(page, i + 1, detail=i < 2))
            finally:
                page.close()
        return out
    finally:
        doc.close()


def metadata(path) -> dict[str, str]:
    """The PDF's Info dictionary as pdfium reads it (Title, Author, CreationDate, ...), empty values dropped."""

    doc = pdfium.PdfDocument(str(path))
    try:
        return {k: v for k, v in doc.get_metadata_dict(skip_empty=True).items() if v}
    finally:
        doc.close()
