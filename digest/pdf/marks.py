"""Superscript marks (citation numbers, affiliation digits, footnote signs) read off pypdfium2's characters.

A scholarly parser tells '...generalisation¹¹' from 'GPT4' by the glyph: smaller than the text before it and
raised above its baseline. pypdf's text loses both, so the marks are found here, as (context, mark) pairs,
and taken out of pypdf's text wherever exactly that context is followed by exactly that mark.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Iterable

import pypdfium2 as pdfium
import pypdfium2.raw as raw

from digest.pdf.layout import printed_size

# Characters a mark is made of: digits, the separators of '1,2' and '40–44', and the footnote signs.
_MARK_CHARS = set("0123456789,–-*∗†‡§¶♦♣♠♥♮#")
_SIGNS = set("*∗†‡§¶♦♣♠♥♮#")
_SMALLER = 0.85  # a mark's type is at most this share of the text's
_RAISED = 0.15  # and its baseline at least this share of the text's size above the text's baseline
_CONTEXT_CHARS = 24  # characters before a mark that must match in pypdf's text
_TRAILING_PUNCT = ".,;:)]’”'\""
# Tokens that a number follows with a period and no space without being a footnote: 'Fig.2', 'Eq.3'.
NUMBERED_WORDS = {"fig", "figs", "eq", "eqs", "eqn", "sec", "tab", "no", "vol", "ref", "refs", "pp", "p",
                   "ch", "chap", "thm", "alg", "app", "def", "lem", "prop", "cor", "v", "ver", "arxiv"}


def _baseline(raw, handle, i: int) -> float:
    x, y = ctypes.c_double(), ctypes.c_double()
    raw.FPDFText_GetCharOrigin(handle, i, ctypes.byref(x), ctypes.byref(y))
    return y.value


def _may_carry_mark(token: str, mark: str) -> bool:
    """Whether the word before a mark is prose a mark can follow: 'Goldt1', 'mission.2', '(CRLC),1' yes;
    a variable ('x2', 'cm2') no, since its superscript is an exponent, not a citation."""
    bare = token.rstrip(_TRAILING_PUNCT)
    if bare != token:
        return bool(re.search(r"[^\W\d_]", bare))
    letters = len(re.search(r"[^\W\d_]*$", bare).group())
    return letters >= (2 if set(mark) <= _SIGNS | {","} else 3)


def page_marks(textpage) -> list[tuple[str, str]]:
    """(context, mark) pairs of one pypdfium2 text page: each run of small raised mark characters with the
    non-blank characters before it on its line."""
    text = textpage.get_text_range()
    handle = textpage.raw
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] not in _MARK_CHARS or i == 0:
            i += 1
            continue
        prev = i - 1
        if text[prev] == " " and prev > 0:
            prev -= 1  # pdfium may put a generated space between a word and its mark
        if text[prev].isdigit() or text[prev] in _SIGNS or text[prev].isspace():
            i += 1
            continue
        ref = printed_size(handle, prev)
        if ref <= 0 or printed_size(handle, i) > ref * _SMALLER \
                or _baseline(raw, handle, i) - _baseline(raw, handle, prev) < ref * _RAISED:
            i += 1
            continue
        j = i + 1
        while j < n and text[j] in _MARK_CHARS and printed_size(handle, j) <= ref * _SMALLER:
            j += 1
        mark = text[i:j].rstrip(",–-")
        start = text.rfind("\n", 0, prev + 1) + 1
        context = text[max(start, prev + 1 - _CONTEXT_CHARS):prev + 1].split(" ")[-1]
        if mark and context and _may_carry_mark(context, mark):
            out.append((context, mark))
        i = j
    return out


def read_marks(path, max_pages: int | None = None) -> list[list[tuple[str, str]]] | None:
    """The marks of every page of a PDF, or None when pypdfium2 cannot read it (pypdf's text is then used as
    it is, with only the text-only rule of strip_marks)."""
    try:
        doc = pdfium.PdfDocument(str(path))
    except Exception:  # a file pdfium cannot open still has pypdf's text
        return None
    try:
        out = []
        for k in range(len(doc) if max_pages is None else min(len(doc), max_pages)):
            page = doc[k]
            try:
                tp = page.get_textpage()
                try:
                    out.append(page_marks(tp))
                finally:
                    tp.close()
            finally:
                page.close()
        return out
    except Exception:  # a page pdfium chokes on: no marks at all rather than marks for some pages
        return None
    finally:
        doc.close()


def strip_marks(text: str, marks: Iterable[tuple[str, str]], normalize=lambda s: s) -> str:
    """`text` without the given marks: each context followed (maybe after one space) by its mark, and then
    not by another digit, loses the mark. A mark whose context is not in the text is left alone."""
    for context, mark in sorted(set(marks), key=lambda cm: -len(cm[0])):
        context, mark = normalize(context), normalize(mark)
        pattern = re.escape(context) + r"[ ]?" + re.escape(mark) + r"(?![\d])(?P<next>\w?)"
        # 'Goldt¹shows' (no space drawn after the mark) comes back as 'Goldt shows'.
        text = re.sub(pattern, lambda m, c=context: c + (" " + m["next"] if m["next"] else ""), text)
    return _strip_period_marks(text)


# 'the CRLC's mission.2' at the end of a sentence: a footnote number after a lowercase word's period.
_PERIOD_MARK_RE = re.compile(r"(?<![\w.])(?P<word>[a-z]{3,})(?P<p>[.,;:])(?P<n>\d{1,2})(?=\s*(?:\n|$|\s[A-Z]))")


def _strip_period_marks(text: str) -> str:
    """The one mark recognisable without the glyphs: digits glued after a lowercase word's period or comma,
    before a line end or a capital ('mission.2 We'). 'fig.2', 'v.2', '3.2' and 'p<0.05' are not touched."""

    def fix(m: re.Match) -> str:
        if m.group("word") in NUMBERED_WORDS:
            return m.group(0)
        return m.group("word") + m.group("p")

    return _PERIOD_MARK_RE.sub(fix, text)
