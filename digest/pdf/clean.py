"""Cleaning of raw PDF text and metadata: pure functions, no I/O (used by digest.pdf inside its workers)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from typing import NamedTuple

import ftfy

from digest.pdf.blocks import set_apart
from digest.pdf.layout import restore_tex_glyphs
from digest.pdf.marks import strip_marks
from digest.pdf.references import _is_appendix_start, _split_references  # noqa: F401  (known here too)
from digest.pdf.sentences import text_defects  # noqa: F401  (benchmarks count defects from here)
from digest.records import ANY_ARXIV_ID, Page

# ---- metadata: here, not in digest.text, so that the PDF worker starts without numpy and bm25s ----

# Terminal escape sequences (CSI such as colours, OSC such as window titles, two-byte ESC forms).
_TERMINAL_ESCAPE_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# C0/C1 controls other than tab and line breaks, and the bidi overrides that can reorder what a reader sees.
_META_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_field(text: str | None) -> str:
    """Metadata made safe to show and to prompt: mojibake ('WÃ¼bben') repaired, escapes and controls removed.

    Quotes, ligatures, full-width forms and HTML entities are left as they are: only broken text is fixed.
    """
    if not text:
        return ""
    # Escapes first: ftfy drops a lone ESC and would leave an OSC's text ('ESC]0;title BEL') behind.
    text = ftfy.fix_text(_TERMINAL_ESCAPE_RE.sub("", text), uncurl_quotes=False, fix_character_width=False,
                         unescape_html=False, fix_latin_ligatures=False, normalization="NFC")
    return _META_CONTROL_RE.sub("", text)


# "arXiv:2206.10883v3  [cs.CL]  22 Jul 2022" and old-style "arXiv:cond-mat/0601001v1 [cond-mat.str-el] 1 Jan 2006".
# The date is required: a citation "arXiv:2005.14165 [cs.CL]" in the references is not a stamp.
STAMP_RE = re.compile(
    rf"arXiv:\s?(?P<id>{ANY_ARXIV_ID})(?P<v>v\d+)?"
    r"\s*\[\s*(?P<cat>[^\]\n]{1,30}?)\s*\]\s*\d{1,2}\s*[A-Z][a-z]{2}\s*\d{4}"
)
_CATEGORY_RE = re.compile(r"[a-z][a-z\-]*(?:\.[A-Za-z\-]+)?")

# Spacing accents that TeX fonts emit before the letter they belong to ("Teˇsanovi´c").
_SPACING_ACCENTS = {"´": "\u0301", "ˇ": "\u030c", "¨": "\u0308", "˜": "\u0303", "ˆ": "\u0302",
                    "¸": "\u0327", "˚": "\u030a", "˘": "\u0306", "˝": "\u030b"}
_ACCENT_RE = re.compile("(?:(?<=[A-Za-z])|(?<!\\S))([" + "".join(_SPACING_ACCENTS) + "])([A-Za-z])")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u200b\ufeff]")
_HYPHEN_BREAK_RE = re.compile(r"(?P<left>[^\W\d_]+)-[ \t]*\n[ \t]*(?P<right>[^\W\d_][\w]*)")
_OTHER_HYPHEN_BREAK_RE = re.compile(r"(?<=\w)-[ \t]*\n[ \t]*(?=\w)")
# Words TeX does not split before a suffix, so a break right after them is a real hyphen ('self-\nattention').
_COMPOUND_HEADS = {"self", "well", "half", "quasi"}
# Words that run into the next one as a closed compound ('some-thing', 'with-out', 'further-more'): two
# words of the document on either side of a break are a hyphenated compound unless one of these starts it.
_CLOSED_HEADS = {"some", "any", "every", "with", "within", "into", "over", "under", "what", "where", "when",
                 "there", "here", "them", "your", "their", "other", "never", "more", "further", "through",
                 "else", "whom", "none", "nevertheless", "how", "can", "may", "out", "down", "back", "fore",
                 "after"}
_MIN_COMPOUND_PART = 4  # 'physics-guided', 'data-driven': both halves whole words of at least four letters
# A break right after an -ly adverb is the author's hyphen ('automatically-detected', 'publicly-available'):
# hyphenation patterns split inside such words ('automati-cally'), not after their suffix.
ADVERB_HEAD_RE = re.compile(r"[A-Za-z]{4,}ly")
_WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")

_PAGE_NUMBER_RE = re.compile(r"^(?:(?i:page\s+)?\d{1,4}(?:\s+(?:of|/)\s+\d{1,4})?"
                             r"|(?=[ivxlc]+$)c{0,3}(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3}))$")

_EDGE_LINES = 3  # lines looked at for running headers/footers at each end of a page


class Stamp(NamedTuple):
    """What an arXiv margin stamp says: the ID (with version when printed) and the primary category."""

    id: str
    category: str | None


def find_arxiv_stamp(text: str) -> Stamp | None:
    """The margin stamp ('arXiv:2206.10883v3 [cs.CL] 12 Oct 2022') in `text`, also when one character per line."""
    m = STAMP_RE.search(text)
    if not m:
        m = STAMP_RE.search(_collapse_vertical(text))
    if not m:
        return None
    cat = m.group("cat")
    return Stamp(m.group("id") + (m.group("v") or ""), cat if _CATEGORY_RE.fullmatch(cat) else None)


def _mask_braces(text: str) -> str:
    """The text with everything inside balanced {...} blanked, so separators are found at the top level only.

    BibTeX keeps a name whole with braces ('{Barnes and Noble Research}'); unbalanced braces mask nothing.
    """
    out, depth = [], 0
    for ch in text:
        if ch == "}" and depth:
            depth -= 1
            out.append("\x00")
            continue
        depth += ch == "{"
        out.append("\x00" if depth else ch)
    return text if depth else "".join(out)


def _split_top(text: str, masked: str, sep: str) -> list[str]:
    """`text` cut wherever `sep` matches in its brace-masked twin."""
    cuts = [(m.start(), m.end()) for m in re.finditer(sep, masked)]
    starts, ends = [0] + [e for _, e in cuts], [s for s, _ in cuts] + [len(text)]
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]


def split_authors(text: str) -> list[str]:
    """Author names from 'A, B and C', 'A; B', or BibTeX 'Last, First and Last, First'; braced parts stay whole."""
    text = re.sub(r"<[^>]+>", "", text or "").strip()
    if not text:
        return []
    masked = _mask_braces(text)
    by_and = _split_top(text, masked, r"\s+and\s+")
    if ";" in masked:
        parts = _split_top(text, masked, ";")
    elif len(by_and) > 1 and "," in masked and all(
            _mask_braces(p).count(",") == 1 or re.fullmatch(r"\{.*\}", p.strip()) for p in by_and):
        # BibTeX style: every name is "Last, First" or one braced whole.
        parts = [" ".join(reversed([s.strip() for s in _split_top(p, _mask_braces(p), ",")])) for p in by_and]
    else:
        parts = _split_top(text, masked, r",|\s+and\s+|&")
    names: list[str] = []
    for part in (re.sub(r"\s+", " ", p).strip(" ,") for p in parts):
        if masked != text:  # braces only grouped words: the name is what they held
            part = part.replace("{", "").replace("}", "").strip(" ,")
        if names and re.fullmatch(r"(?:[A-Z]\.\s?-?)+", part):
            # bioRxiv style 'LAPALU, N., SIMON, A.': the initials belong to the name before them.
            names[-1] = f"{part} {names[-1]}"
        elif part:
            names.append(part)
    return names


def _collapse_vertical(text: str) -> str:
    """Join runs of one-character lines (rotated margin text) into words, both reading directions."""
    out, run = [], []
    for line in text.split("\n") + [""]:
        s = line.strip()
        if len(s) <= 2 and s:
            run.append(s)
            continue
        if len(run) >= 8:
            joined = "".join(run)
            out.extend([joined, joined[::-1]])
        run = []
    return "\n".join(out)


def _drop_vertical_stamp(lines: list[str]) -> list[str]:
    """Remove a run of one-character lines that spells the arXiv stamp."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and 0 < len(lines[j].strip()) <= 2:
            j += 1
        if j - i >= 8:
            joined = "".join(s.strip() for s in lines[i:j])
            if STAMP_RE.search(joined) or STAMP_RE.search(joined[::-1]):
                i = j
                continue
        out.extend(lines[i:max(j, i + 1)])
        i = max(j, i + 1)
    return out


def normalize_text(text: str) -> str:
    """NFKC (ligatures, full-width forms), TeX spacing accents merged, control characters removed."""
    text = restore_tex_glyphs(text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL_RE.sub("", text)
    text = _ACCENT_RE.sub(lambda m: m.group(2) + _SPACING_ACCENTS[m.group(1)], text)
    text = unicodedata.normalize("NFKC", text)
    return unicodedata.normalize("NFC", text)


def _vocabulary(pages: list[str]) -> tuple[set[str], set[str]]:
    """Words of the document, and its hyphenated compounds that are not broken at a line end.

    The two halves of a word broken at a line end ('summa-' 'rization') are not words of the document.
    """
    words: set[str] = set()
    compounds: set[str] = set()
    for text in pages:
        for w in _WORD_RE.findall(_HYPHEN_BREAK_RE.sub(" ", text)):
            w = w.lower()
            if "-" in w:
                compounds.add(w)
                words.update(w.split("-"))
            else:
                words.add(w)
    return words, compounds


def join_hyphenated(text: str, words: set[str], compounds: set[str]) -> str:
    """Rejoin words split at line ends: 'summa-\\nrization' -> 'summarization', 'large-\\nscale' kept hyphenated.

    The document itself is the dictionary: a joined form seen elsewhere wins, a hyphenated compound seen
    elsewhere keeps its hyphen, a fragment of a longer compound ('state-of-the-\\nart') or a head like
    'self-' keeps it too, and otherwise a lowercase continuation is a syllable break (what LaTeX does).
    """

    def fix(m: re.Match) -> str:
        left, right = m.group("left"), m.group("right")
        before = text[m.start() - 1] if m.start() > 0 else ""
        joined = (left + right).lower()
        if before == "-":
            return f"{left}-{right}"
        if joined in words:
            return left + right
        if f"{left}-{right}".lower() in compounds or left.lower() in _COMPOUND_HEADS:
            return f"{left}-{right}"
        if (min(len(left), len(right)) >= _MIN_COMPOUND_PART and left.lower() in words
                and right.lower() in words and left.lower() not in _CLOSED_HEADS):
            return f"{left}-{right}"
        if right[0].islower() and not ADVERB_HEAD_RE.fullmatch(left):
            return left + right
        return f"{left}-{right}"

    text = _HYPHEN_BREAK_RE.sub(fix, text)
    # Whatever else breaks after a hyphen ('GPT-\n4', 'COVID-\n19') keeps the hyphen, loses the break.
    return _OTHER_HYPHEN_BREAK_RE.sub("-", text)


def _edge_key(line: str) -> str:
    """A line as compared across pages: digits masked so 'Page 3' and 'Page 4' match."""
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", line.strip().lower()))


def _edge_size(n_lines: int) -> int:
    """How many lines at each end of a page may be header/footer: fewer on short pages."""
    return min(_EDGE_LINES, max(1, n_lines // 4))


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Keys of lines that appear at the top or bottom of many pages (running headers and footers)."""
    if len(pages) < 3:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        nonblank = [ln for ln in lines if ln.strip()]
        n = _edge_size(len(nonblank))
        edge = nonblank[:n] + nonblank[-n:]
        counts.update({_edge_key(ln) for ln in edge})
    need = max(3, math.ceil(0.3 * len(pages)))
    return {k for k, n in counts.items() if n >= need and k.strip("# ")}


def _strip_edges(lines: list[str], running: set[str]) -> list[str]:
    """Drop running headers/footers and bare page numbers among the first and last lines of a page."""
    idx = [i for i, ln in enumerate(lines) if ln.strip()]
    n = _edge_size(len(idx))
    edge = set(idx[:n] + idx[-n:])
    return [ln for i, ln in enumerate(lines)
            if i not in edge or not (_edge_key(ln) in running or _PAGE_NUMBER_RE.match(ln.strip()))]


_LEADER_RE = re.compile(r"(?:\.\s?){4,}\s*[\divxlc]{1,4}\s*$", re.I)  # "2.1 Method . . . . . 4"
_CONTENTS_RE = re.compile(r"^(?:table\s+of\s+)?contents$|^目次$", re.I)
_TOC_ENTRY_RE = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|[A-H]\.?|appendix\b.*?)\s+\S.*?\s\d{1,4}$", re.I)


def _drop_contents(pages: list[list[str]]) -> list[list[str]]:
    """Drop a table of contents (and lists of figures): dot-leader lines, and the numbered entries
    ("2 Method 4") that follow a Contents heading or a leader line. They carry no content and
    otherwise land in summaries and answers."""
    in_toc, out = False, []
    for lines in pages:
        kept = []
        for ln in lines:
            s = ln.strip()
            if _CONTENTS_RE.match(s) or _LEADER_RE.search(s):
                in_toc = True
                continue
            if in_toc and s and _TOC_ENTRY_RE.match(s):
                continue
            if s:
                in_toc = False
            kept.append(ln)
        out.append(kept)
    return out


def _tidy_whitespace(text: str) -> str:
    """One space between words, no trailing blanks, at most one blank line (a paragraph break)."""
    lines = [re.sub(r"[ \t\u00a0\u2000-\u200a\u3000]+", " ", ln).strip() for ln in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def clean_pages(raw_pages: list[str], marks: list[list[tuple[str, str]]] | None = None) -> list[Page]:
    """Turn pypdf's raw page texts into cleaned Pages (1-based numbers, references set aside).

    `marks` are each page's superscript (context, mark) pairs read off the glyphs (digest.pdf.marks); without
    them only the marks recognisable from the text alone are taken out.
    """
    texts = [normalize_text(t or "") for t in raw_pages]
    texts = [strip_marks(t, marks[k] if marks and k < len(marks) else (), normalize_text)
             for k, t in enumerate(texts)]
    words, compounds = _vocabulary(texts)
    page_lines: list[list[str]] = []
    for text in texts:
        lines = [STAMP_RE.sub("", ln) if "arXiv:" in ln else ln for ln in text.split("\n")]
        lines = [ln for ln, orig in zip(lines, text.split("\n")) if ln.strip() or not orig.strip()]
        page_lines.append(_drop_vertical_stamp(lines))
    running = _running_lines(page_lines)
    page_lines = [_strip_edges(lines, running) for lines in page_lines]
    page_lines = _drop_contents(page_lines)
    pages = []
    for number, (body, refs) in enumerate(_split_references(page_lines), start=1):
        body = "\n".join(set_apart(join_hyphenated(body, words, compounds).split("\n")))
        pages.append(Page(number=number, body=_tidy_whitespace(body),
                          refs=_tidy_whitespace(join_hyphenated(refs, words, compounds))))
    return pages
