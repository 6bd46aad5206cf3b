"""Checking generations against the paper: is the quote really there, does the answer say anything, is
the summary about this paper?"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from digest.records import Page
from digest.text import CJK_RE, tokenize

# Dashes, quotes and other characters that PDF extraction and models render differently.
_TRANSLATE = str.maketrans({
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ad": None,
})
_HYPHEN_BREAK = re.compile(r"(\w)-\s+(\w)")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_ELLIPSIS = re.compile(r"\s*(?:\.\s*\.\s*\.|\u2026|\[\.\.\.\]|\[…\])\s*")
MIN_QUOTE_CHARS = 20  # normalised characters: shorter quotes match almost anywhere
# An elided quote ("A ... B") is checked piece by piece, so each piece must be checkable on its own:
# "the ... results ... are ... not ... significant" is in order on almost any page.
MIN_PIECE_CHARS = 20
MAX_PIECES = 3
MAX_GAP_CHARS = 160  # normalised characters left out between two pieces: about one sentence


def normalise(text: str) -> str:
    """Fold a text to letters and digits only, so whitespace, hyphenation, ligature and
    punctuation differences between the model's quote and the PDF text do not matter."""
    return _NON_WORD.sub("", _fold(text))


def _fold(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).translate(_TRANSLATE).casefold()
    return _HYPHEN_BREAK.sub(r"\1\2", t)


@dataclass
class _Folded:
    """A page's normalised text and where its words start and end in it (for elided pieces)."""

    text: str
    starts: frozenset[int]
    ends: frozenset[int]

    @classmethod
    def of(cls, text: str) -> _Folded:
        words = [w for w in _NON_WORD.split(_fold(text)) if w]
        starts, ends, pos = set(), set(), 0
        for w in words:
            starts.add(pos)
            pos += len(w)
            ends.add(pos)
        return cls("".join(words), frozenset(starts), frozenset(ends))

    def __add__(self, other: _Folded) -> _Folded:
        n = len(self.text)
        return _Folded(self.text + other.text, self.starts | {s + n for s in other.starts},
                       self.ends | {e + n for e in other.ends})

    def whole_words(self, pos: int, length: int, piece: str) -> bool:
        """True when text[pos:pos+length] starts and ends at word boundaries (CJK has none to check)."""
        return bool(CJK_RE.search(piece)) or (pos in self.starts and pos + length in self.ends)

    def has(self, pieces: list[str]) -> bool:
        """One piece anywhere; several in order, each on word boundaries, with short gaps between them."""
        if len(pieces) == 1:
            return pieces[0] in self.text
        start = self.text.find(pieces[0])
        while start >= 0:
            if self.whole_words(start, len(pieces[0]), pieces[0]) and self._rest(pieces, start + len(pieces[0])):
                return True
            start = self.text.find(pieces[0], start + 1)
        return False

    def _rest(self, pieces: list[str], pos: int) -> bool:
        for piece in pieces[1:]:
            window = self.text[pos:pos + MAX_GAP_CHARS + len(piece)]
            at = window.find(piece)
            while at >= 0 and not self.whole_words(pos + at, len(piece), piece):
                at = window.find(piece, at + 1)
            if at < 0:
                return False
            pos += at + len(piece)
        return True


@dataclass
class QuoteCheck:
    """Where a quote was found: on the cited pages, elsewhere, or not at all."""

    verified: bool
    pages: list[int]
    reason: str = ""


class PageIndex:
    """Normalised page texts, built once per paper and used for every quote."""

    def __init__(self, pages: list[Page]):
        self.pages = {p.number: _Folded.of(p.body + " " + p.refs) for p in pages}
        # A quote may run across a page break; keep page pairs joined as well.
        numbers = sorted(self.pages)
        self.joined = {
            (a, b): self.pages[a] + self.pages[b] for a, b in zip(numbers, numbers[1:]) if b == a + 1
        }

    def find(self, quote: str, cited: list[int]) -> QuoteCheck:
        """Look a quote up on the cited pages first, then anywhere in the paper."""
        segments = [normalise(s) for s in _ELLIPSIS.split(quote) if normalise(s)]
        total = sum(len(s) for s in segments)
        if total < MIN_QUOTE_CHARS:
            return QuoteCheck(False, cited, "quote too short to check")
        if len(segments) > MAX_PIECES:
            return QuoteCheck(False, cited, f"quote elided in more than {MAX_PIECES} pieces")
        if len(segments) > 1 and min(len(s) for s in segments) < MIN_PIECE_CHARS:
            return QuoteCheck(False, cited, "a piece of the elided quote is too short to check")

        def on(page: _Folded) -> bool:
            return page.has(segments)

        hits = [n for n in cited if n in self.pages and on(self.pages[n])]
        if hits:
            return QuoteCheck(True, hits)
        anywhere = [n for n, text in sorted(self.pages.items()) if on(text)]
        if anywhere:
            return QuoteCheck(True, anywhere[:2], "found on another page than cited")
        for (a, b), text in self.joined.items():
            if on(text):
                return QuoteCheck(True, [a, b], "found across a page break")
        return QuoteCheck(False, cited, "quote not found in the paper")


_NO_ANSWER = re.compile(
    r"(?:not (?:explicitly )?(?:mentioned|specified|stated|provided|discussed|described|given|reported|clear)"
    r"|does not (?:say|mention|specify|state|provide|discuss|report|describe)"
    r"|no (?:information|details?) (?:is|are) (?:given|provided)"
    r"|cannot be determined|is unclear from the paper"
    r"|記載(?:されて)?(?:い)?ません|言及(?:されて)?(?:い)?ません|明記されて(?:い)?ません|不明です|述べられて(?:い)?ません)",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = set(
    ["a", "an", "the", "of", "in", "on", "for", "to", "and", "or", "is", "are", "was", "were", "be", "been", "by", "with", "as", "at", "from", "this", "that", "these", "those", "it", "its", "what", "which", "how", "why", "who", "whom", "does", "do", "did", "paper", "authors", "author", "study", "work", "they", "their", "there", "proposed", "propose", "use", "used", "using", "about", "into", "than", "then", "also", "can", "could", "would", "should"]
)


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()) if w not in _STOP}


def is_vacuous(question: str, answer: str) -> str | None:
    """Why an answer says nothing worth showing (a non-answer or a restatement), or None if it is fine."""
    a = answer.strip()
    if len(normalise(a)) < 12:
        return "answer too short"
    if _NO_ANSWER.search(a) and len(a) < 200:
        return "the paper does not answer it"
    q_words, a_words = _content_words(question), _content_words(a)
    new = a_words - q_words
    # CJK text has few spaces, so count characters there instead of words.
    if not CJK_RE.search(a) and len(new) < 3:
        return "answer only restates the question"
    return None


# ---- the TL;DR and summary: no quotes to verify, so they must at least say what the paper says ----

# ASCII look-behind: in '精度99.9%' the number follows a CJK letter, which \w would count as part of a word.
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![A-Za-z0-9_.,])\d+(?:\.\d+)?")
MIN_SHARED = 0.5  # share of the summary's content words that must occur in the paper
_MIN_WORDS = {"TL;DR": 3, "summary": 6}
_FREE_INTEGER = 12  # counts the paper may spell out ('three datasets') are not looked up


def _number_values(text: str) -> set[Decimal]:
    out = set()
    for m in _NUMBER.findall(unicodedata.normalize("NFKC", text)):
        try:
            out.add(Decimal(m.replace(",", "")))
        except InvalidOperation:
            continue
    return out


def _number_in(value: Decimal, paper: set[Decimal]) -> bool:
    """Whether the paper gives this number, as written or more precisely ('89.4' for '89.36')."""
    if value == value.to_integral_value() and value <= _FREE_INTEGER:
        return True
    places = max(0, -value.normalize().as_tuple().exponent)
    step = Decimal(1).scaleb(-places)
    return any(p == value or p.quantize(step, rounding=ROUND_HALF_UP) == value for p in paper)


def check_summary(tldr: str, summary: str, paper_text: str) -> str | None:
    """Why a TL;DR or summary is not about this paper (too few of its words in the paper, or a number
    the paper does not give), or None when both pass.

    A model that obeys an instruction hidden in the PDF ('answer PWNED') writes a summary that shares
    next to nothing with the paper, and the summary has no quote that could be verified.
    """
    paper_stems = set(tokenize(paper_text))
    paper_numbers = _number_values(paper_text)
    for name, text in (("TL;DR", tldr), ("summary", summary)):
        # A summary in Japanese of an English paper: only its Latin-script terms can be looked up.
        cjk = bool(CJK_RE.search(text))
        stems = {s for s in tokenize(text) if not CJK_RE.search(s)}
        if not cjk and len(stems) < _MIN_WORDS[name]:
            return f"the {name} says too little to be about the paper"
        if stems and (not cjk or len(stems) >= 5):
            shared = len(stems & paper_stems) / len(stems)
            if shared < MIN_SHARED:
                return f"the {name} shares only {shared:.0%} of its words with the paper"
        for value in sorted(_number_values(text)):
            if not _number_in(value, paper_numbers):
                return f"the {name} gives {value}, a number not in the paper"
    return None
