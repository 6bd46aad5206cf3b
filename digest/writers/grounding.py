"""Checking generations against the paper: is the quote really there, does the answer say anything, is
the summary about this paper?"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from digest.pdf.blocks import is_aside
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
_SECTION_MARK = re.compile(r"\[section: [^\]]*\]")  # how digest.writers.chat marks a section in the prompt
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


_START, _END = 1, 2  # flags of _Folded.bounds


@dataclass
class _Folded:
    """A page's normalised text and where its words start and end in it (for elided pieces)."""

    text: str
    # One byte per position 0..len(text): _START when a word starts there, _END when one ends there. Sets of
    # positions took ~60 bytes a word: 28 MB for a 79-page paper, the run's peak (issue 23); this takes 1 a char.
    bounds: bytes

    @classmethod
    def of(cls, text: str) -> _Folded:
        words = [w for w in _NON_WORD.split(_fold(text)) if w]
        joined = "".join(words)
        bounds, pos = bytearray(len(joined) + 1), 0
        for w in words:
            bounds[pos] |= _START
            pos += len(w)
            bounds[pos] |= _END
        return cls(joined, bytes(bounds))

    def __add__(self, other: _Folded) -> _Folded:
        # Position len(self.text) is both where self's last word ends and where other's first word starts.
        seam = bytes([self.bounds[-1] | other.bounds[0]])
        return _Folded(self.text + other.text, self.bounds[:-1] + seam + other.bounds[1:])

    def whole_words(self, pos: int, length: int, piece: str) -> bool:
        """True when text[pos:pos+length] starts and ends at word boundaries (CJK has none to check)."""
        return bool(CJK_RE.search(piece)) or bool(self.bounds[pos] & _START and self.bounds[pos + length] & _END)

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
    """Where a quote was found: on the cited pages, elsewhere, or not at all.

    `trimmed`: the quote's opening words that are on the page when the whole quote is not (a model that ran
    on past the passage, or to the length bound); `verified` then holds for that opening only.
    """

    verified: bool
    pages: list[int]
    reason: str = ""
    trimmed: str = ""


MIN_TRIMMED_WORDS = 8  # the prompt's shortest quote: a shorter opening backs too little to show
MIN_TRIMMED_SHARE = 0.5  # of the quote's characters: a quote mostly not on the page is not found


def _prose(body: str) -> str:
    """A page's body without the paragraphs set apart from its prose (captions, footnotes, tables)."""
    return "\n\n".join(p for p in re.split(r"\n\s*\n", body or "") if not is_aside(p))


class PageIndex:
    """Normalised page texts, built once per paper and used for every quote."""

    def __init__(self, pages: list[Page]):
        self.pages = {p.number: _Folded.of(p.body + " " + p.refs) for p in pages}
        # A quote may run across a page break; keep page pairs joined as well.
        numbers = sorted(self.pages)
        self.joined = {
            (a, b): self.pages[a] + self.pages[b] for a, b in zip(numbers, numbers[1:]) if b == a + 1
        }
        # A sentence that runs on to the next page skips the footnotes, captions and tables between its halves.
        bodies = {p.number: _prose(p.body) for p in pages}
        self.joined_prose = {(a, b): _Folded.of(bodies[a]) + _Folded.of(bodies[b]) for a, b in self.joined}

    def find(self, quote: str, cited: list[int]) -> QuoteCheck:
        """Look a quote up on the cited pages first, then anywhere in the paper."""
        quote = _SECTION_MARK.sub(" ", quote)  # the prompt's marker, copied by a model, is not the paper's text
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
        for (a, b), text in [*self.joined.items(), *self.joined_prose.items()]:
            if on(text):
                return QuoteCheck(True, [a, b], "found across a page break")
        if len(segments) == 1:
            return self.verified_opening(quote, cited)
        return QuoteCheck(False, cited, "quote not found in the paper")

    def verified_opening(self, quote: str, cited: list[int]) -> QuoteCheck:
        """The longest opening of a quote (whole words) that is on one page, when it is substantial: at least
        MIN_TRIMMED_WORDS words and MIN_TRIMMED_SHARE of the quote."""
        words = quote.split()
        lengths, total = [], 0
        for w in words:
            total += len(normalise(w))
            lengths.append(total)
        if len(words) < MIN_TRIMMED_WORDS or not total:
            return QuoteCheck(False, cited, "quote not found in the paper")
        order = [n for n in cited if n in self.pages] + [n for n in sorted(self.pages) if n not in cited]

        def found(n_words: int) -> int | None:
            piece = normalise(" ".join(words[:n_words]))
            for n in order:
                page = self.pages[n]
                at = page.text.find(piece)
                while at >= 0:
                    if page.whole_words(at, len(piece), piece):
                        return n
                    at = page.text.find(piece, at + 1)
            return None

        # Found openings are nested (a longer one found means every shorter one is): bisect the word count.
        lo, hi, page = MIN_TRIMMED_WORDS - 1, len(words) - 1, None
        while lo < hi:
            mid = (lo + hi + 1) // 2
            hit = found(mid)
            if hit is None:
                hi = mid - 1
            else:
                lo, page = mid, hit
        if page is None or lo < MIN_TRIMMED_WORDS or lengths[lo - 1] < MIN_TRIMMED_SHARE * total:
            return QuoteCheck(False, cited, "quote not found in the paper")
        opening = " ".join(words[:lo]).rstrip(",;:-–—(")
        return QuoteCheck(True, [page], "only the quote's opening is in the paper", trimmed=opening)


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


class PaperNumbers:
    """The numbers a text gives, and what a writer may derive from them without inventing anything: the
    same number rounded ('89.4', 'about 90' for 89.36), as a percentage or a fraction ('45%' for 0.45),
    in thousands, millions or billions ('7B' for 7,000,000,000), or the difference of two comparable numbers
    of the text ('by 2.31 points' for 89.36 and 87.05)."""

    SCALES = (Decimal(100), Decimal(1000), Decimal(10) ** 6, Decimal(10) ** 9)

    def __init__(self, values: set[Decimal], free_up_to: int = _FREE_INTEGER):
        self.values = values
        self.sorted = sorted(values)
        self.free_up_to = free_up_to  # small counts ('three datasets') are not looked up

    @classmethod
    def of(cls, text: str) -> PaperNumbers:
        """The numbers of a text."""
        return cls(_number_values(text))

    def gives(self, value: Decimal) -> bool:
        """Whether the value is a number of the text, or one derived from them as the class says."""
        value = abs(value)
        if value == value.to_integral_value() and value <= self.free_up_to:
            return True
        candidates = {value} | {value / k for k in self.SCALES} | {value * k for k in self.SCALES}
        if any(self._rounds_to(v, value) for v in candidates):
            return True
        return self._round_figure(value) or self._difference(value)

    def _rounds_to(self, target: Decimal, written: Decimal) -> bool:
        """A number of the text equal to target at the precision the writer used for `written`."""
        places = max(0, -written.normalize().as_tuple().exponent)
        scale = target / written if written else Decimal(1)
        step = Decimal(1).scaleb(-places) * scale
        lo, hi = target - step / 2, target + step / 2
        i = bisect.bisect_left(self.sorted, lo)
        return i < len(self.sorted) and self.sorted[i] <= hi

    def _round_figure(self, value: Decimal) -> bool:
        """'about 90' for 89.36, 'about 60%' for 0.62: a whole number ending in zeros, within 5% of a number of
        the text (or of one as a percentage)."""
        if value != value.to_integral_value() or value % 10:
            return False
        for v in (value, value / 100):
            i = bisect.bisect_left(self.sorted, v * Decimal("0.95"))
            if i < len(self.sorted) and self.sorted[i] <= v * Decimal("1.05"):
                return True
        return False

    def _difference(self, value: Decimal) -> bool:
        """value = a - b for numbers a, b of the text within a factor of ten of each other and both larger
        than value (two scores, two sizes), at the precision the writer used."""
        places = max(0, -value.normalize().as_tuple().exponent)
        half = Decimal(1).scaleb(-places) / 2
        for a in self.sorted:
            if a <= value:
                continue
            lo, hi = a - value - half, a - value + half
            i = bisect.bisect_left(self.sorted, lo)
            while i < len(self.sorted) and self.sorted[i] <= hi:
                b = self.sorted[i]
                # Two comparable numbers (within a factor of ten), each larger than their difference: 'by 5
                # points' from 78 and 73, never 8 from 12 and 4 (any small number is some difference).
                if b >= value and a <= 10 * b:
                    return True
                i += 1
        return False


def _number_in(value: Decimal, paper: set[Decimal]) -> bool:
    """Whether the paper gives this number or one a writer derives from its numbers (PaperNumbers)."""
    return PaperNumbers(paper).gives(value)


def summary_problems(tldr: str, summary: str, paper_text: str) -> tuple[str | None, list[str]]:
    """(why the TL;DR or summary is not about this paper, or None; the numbers they give that the paper
    neither gives nor allows to derive, each named with where it is).

    A model that obeys an instruction hidden in the PDF ('answer PWNED') writes a summary that shares
    next to nothing with the paper, and the summary has no quote that could be verified: that is the first.
    A number is only marked: a capable model derives numbers ('improves by 2.31 points') the check may not
    foresee.
    """
    paper_stems = set(tokenize(paper_text))
    paper_numbers = PaperNumbers.of(paper_text)
    off, numbers = None, []
    for name, text in (("TL;DR", tldr), ("summary", summary)):
        # A summary in Japanese of an English paper: only its Latin-script terms can be looked up.
        cjk = bool(CJK_RE.search(text))
        stems = {s for s in tokenize(text) if not CJK_RE.search(s)}
        if not cjk and len(stems) < _MIN_WORDS[name]:
            off = off or f"the {name} says too little to be about the paper"
        elif stems and (not cjk or len(stems) >= 5):
            shared = len(stems & paper_stems) / len(stems)
            if shared < MIN_SHARED:
                off = off or f"the {name} shares only {shared:.0%} of its words with the paper"
        for value in sorted(_number_values(text)):
            if not paper_numbers.gives(value):
                numbers.append(f"the {name} gives {value}, a number not found in the paper")
    return off, numbers


def check_summary(tldr: str, summary: str, paper_text: str) -> str | None:
    """Why a TL;DR or summary is not about this paper (too few of its words in the paper, or a number
    the paper neither gives nor allows to derive), or None when both pass."""
    off, numbers = summary_problems(tldr, summary, paper_text)
    return off or (numbers[0] if numbers else None)
