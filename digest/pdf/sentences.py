"""A paper's prose as sentences, each with the page it starts on, joined across line, block and page breaks.

Stored page texts stay per page (the quote checker cites pages); writers that take sentences read them here,
so that a sentence a page break cuts ('...incorporating geospatial' / 'rules improves performance.') comes
back whole, and headings, captions and footnotes never run into the prose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.pdf.blocks import is_aside, is_heading
from digest.pdf.marks import NUMBERED_WORDS
from digest.prose import is_formula_fragment, sentences
from digest.records import Page

_TERMINAL_RE = re.compile(r"[.!?:][\"'”’)\]]*$")
_JOIN_MIN_WORDS = 6  # an unfinished paragraph this long is prose that goes on, not a title or a table row


@dataclass
class PaperSentence:
    """One sentence of a paper's body text and the 1-based page it starts on."""

    page: int
    text: str


def _paragraphs(page: Page) -> list[tuple[str, bool]]:
    """(text on one line, whether it is prose) for each paragraph of the page's body."""
    out = []
    for p in re.split(r"\n\s*\n", page.body or ""):
        if p.strip():
            flat = " ".join(p.split())
            out.append((flat, not is_aside(p) and not ("\n" not in p.strip() and is_heading(flat))))
    return out


def _continues(pending: str, nxt: str) -> bool:
    """Whether paragraph `nxt` carries on the sentence `pending` left unfinished."""
    if _TERMINAL_RE.search(pending):
        return False
    first = nxt[:1]
    if first.islower() or first in ",;)]":
        return True
    # 'proposed by' + 'Smith et al. (2020).': a capital may go on a sentence, but only prose that ends one.
    return (len(pending.split()) >= _JOIN_MIN_WORDS and bool(re.search(r"[a-z,]$", pending))
            and bool(re.search(r"[.!?]", nxt)) and not is_heading(nxt))


def _glue(left: str, right: str) -> str:
    """Two pieces of one sentence: a word broken at the page end ('geo-' 'spatial') is made whole."""
    if re.search(r"[a-z]-$", left) and right[:1].islower():
        return left[:-1] + right
    return f"{left} {right}"


def _flush(pieces: list[tuple[int, str]], out: list[PaperSentence]) -> None:
    """Split the joined pieces into sentences, each given the page where it starts (formula fragments too:
    paper_sentences leaves them out after the split, so that they never join a neighbour)."""
    if not pieces:
        return
    text, starts = "", []
    for page, piece in pieces:
        glued = _glue(text, piece) if text else piece
        starts.append((len(glued) - len(piece), page))
        text = glued
    cursor = 0
    for s in sentences(text):
        at = text.find(s, cursor)
        at = cursor if at < 0 else at
        page = max((p for off, p in starts if off <= at), default=pieces[0][0])
        out.append(PaperSentence(page, s))
        cursor = at + len(s)


def paper_sentences(pages: list[Page], *, asides: bool = False, fragments: bool = False) -> list[PaperSentence]:
    """The sentences of the pages' body text in reading order, each with the page it starts on.

    A sentence that runs across a page break, a caption or a footnote is joined whole; headings end a
    paragraph and are not sentences; captions and footnotes are left out unless `asides` is true (then they
    come as sentences of their own, never fused with prose); formula fragments ('G∗ i', digest.text.
    is_formula_fragment) are left out unless `fragments` is true. The references part is never read.
    """
    out: list[PaperSentence] = []
    pending: list[tuple[int, str]] = []
    for page in pages:
        for para, prose in _paragraphs(page):
            if not prose and is_heading(para):
                _flush(pending, out)
                pending = []
                continue
            if not prose:
                if asides:
                    _flush([(page.number, para)], out)
                continue
            if pending and _continues(pending[-1][1], para):
                pending.append((page.number, para))
                continue
            _flush(pending, out)
            pending = [(page.number, para)]
    _flush(pending, out)
    return out if fragments else [s for s in out if not is_formula_fragment(s.text)]


# ---- measuring what a reader must never see -------------------------------------------------------------

# 'generalisation11', 'Goldt1', 'papers40–44' (a citation number glued to a lowercase word end).
_GLUED_DIGITS_RE = re.compile(r"(?<![\w.\-/])(?:[A-Za-z]*[a-z]{2})(\d{1,3}(?:[,–-]\d{1,3})*)(?=[\s.,;:)]|$)")
# 'mission.2 We', 'results,3 and': a footnote number after a word's punctuation.
_PERIOD_DIGITS_RE = re.compile(r"(?<![\w.])([a-z]{3,})[.,;:]\d{1,3}(?=\s|$)")
# 'Shen† Kyle', 'Yu♦': an affiliation sign glued to a name.
_GLUED_SIGN_RE = re.compile(r"[^\W\d_]{2}[†‡♦♣♠§¶∗]")


def _glued_markers(text: str, common: set[str], vocabulary: set[str]) -> int:
    n = sum(1 for m in _GLUED_DIGITS_RE.finditer(text) if m.group(0) not in common
            and m.group(0)[:m.start(1) - m.start()].lower() in vocabulary)
    n += sum(1 for m in _PERIOD_DIGITS_RE.finditer(text) if m.group(1) not in NUMBERED_WORDS)
    return n + len(_GLUED_SIGN_RE.findall(text))


def text_defects(pages: list[Page]) -> dict[str, int]:
    """What a reader must never see, counted over a paper's body sentences (heuristics, for benchmarks):

    - `marker_glued`: words with a citation/affiliation mark glued on ('Goldt1', 'mission.2', 'Shen†'): digits
      count only after a word the paper also uses alone ('Goldt'), and not when the whole token recurs
      three times or more ('Llama2' is a name, 'zt2' mathematics);
    - `formula_fragments`: sentences that are pieces of mathematics (digest.text.is_formula_fragment), which
      paper_sentences() leaves out: what a reader of the plain text would be shown;
    - `page_break_runs`: page breaks a sentence runs across (a reader of single pages sees it cut);
    - `page_break_cuts`: sentences of paper_sentences() still ending unfinished at a page break (0 is the
      goal; what is left is mostly a table the page starts with, read as prose);
    - `sentences` (those paper_sentences() gives), `pages`: for rates.
    """
    sents = paper_sentences(pages, fragments=True)
    tokens = re.findall(r"\S+", " ".join(s.text for s in sents))
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t.strip(".,;:()")] = counts.get(t.strip(".,;:()"), 0) + 1
    common = {t for t, n in counts.items() if n >= 3}
    vocabulary = {w.lower() for w in re.findall(r"[^\W\d_]{4,}", " ".join(t for t in counts if t.isalpha()))}
    runs = 0
    for a, b in zip(pages, pages[1:]):
        tail = [p for p, prose in _paragraphs(a) if prose]
        head = [p for p, prose in _paragraphs(b) if prose]
        if tail and head and not _TERMINAL_RE.search(tail[-1]) and head[0][:1].islower():
            runs += 1
    prose = [s for s in sents if not is_formula_fragment(s.text)]
    cuts = sum(1 for s, nxt in zip(prose, prose[1:]) if nxt.page > s.page and not _TERMINAL_RE.search(s.text))
    return {
        "pages": len(pages),
        "sentences": len(prose),
        "marker_glued": sum(_glued_markers(s.text, common, vocabulary) for s in prose),
        "formula_fragments": len(sents) - len(prose),
        "page_break_runs": runs,
        "page_break_cuts": cuts,
    }
