"""Does an answer's quote back what the answer says? A cheap lexical and numeric check that always runs.

A verified quote proves only that the quote is in the paper. An answer can still claim a number, a name or
a finding its quote does not state; this check compares what can be compared without a model: numbers
and named terms of the answer must be in the quote or on its page(s), and an answer in the quote's
language must share content words with it. A Japanese answer to an English paper is compared by its
numbers and Latin-script terms only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from digest.records import QA, Generation, Page
from digest.text import CJK_RE, STOPWORDS, fold, tokenize
from digest.writers.grounding import PaperNumbers

SUPPORTED, PARTLY, NOT, UNCHECKED, EXCERPT = "supported", "partly", "not", "unchecked", "excerpt"
# The labels a check gives; EXCERPT is the extractive model's: its answer is the paper's own text.
CHECKED = (SUPPORTED, PARTLY, NOT)
_ORDER = {NOT: 0, PARTLY: 1, SUPPORTED: 2}

# 12.5, 1,000, .5, 0.5; a digit glued to a letter (GPT4, T5, 3D) is part of a name, not a number.
_NUMBER = re.compile(r"(?<![\w.,-])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?!\w|\.\d)(\s*%)?", re.ASCII)
_ANY_DIGITS = re.compile(r"\.?\d+(?:[.,]\d+)*")
_SPELLED = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])}
_SPELLED.update(twenty=20, thirty=30, forty=40, fifty=50, hundred=100, thousand=1000, half=50, double=2,
                twice=2, once=1, single=1, pair=2, dozen=12)
_FREE_UP_TO = 1  # "one method", "1 dataset": too common to look up
# A named term: an acronym or a mixed-case/alphanumeric name (BERT, GPT-4, LLaMA, XSum, ROUGE-L, T5).
_TERM = re.compile(r"(?<![\w-])(?=[\w-]*[A-Z][\w-]*[A-Z0-9]|[A-Z][a-z]+[A-Z])[A-Za-z][\w-]*[A-Za-z0-9](?![\w-])",
                   re.ASCII)
# A capitalised word inside a sentence: a name (Transformer, Wikipedia) unless it is a common word.
_CAPITALISED = re.compile(r"(?<=[a-z0-9,;)] )[A-Z][a-z]{2,}(?:-[A-Za-z]+)?\b")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]")
_COMMON_CAPS = {"figure", "table", "section", "appendix", "equation", "page", "however", "first", "second",
                "finally", "moreover", "english", "japanese", "chinese", "our", "their", "this", "these"}
MIN_SHARED_WORDS = 2  # an answer sharing fewer content words with its quote rests on it only in part
MIN_SHARED_SHARE = 0.2


@dataclass
class Support:
    """A label and, unless the answer is supported, why."""

    label: str
    reason: str = ""


def _values(text: str) -> set[Decimal]:
    """The numbers a source gives, read generously: thousands separators dropped, spelled-out ones added,
    and digits inside names too ('7B', 'GPT-4'), so an answer saying '7 billion' or 'GPT 4' is not flagged."""
    t = unicodedata.normalize("NFKC", text)
    out: set[Decimal] = set()
    for m in _ANY_DIGITS.finditer(t):
        # '12,000' is twelve thousand, '96,97' two citations: keep every reading.
        for form in (m.group(0).replace(",", ""), *m.group(0).split(",")):
            try:
                out.add(Decimal(form))
            except InvalidOperation:
                continue
    for w in re.findall(r"[a-z]+", t.lower()):
        if w in _SPELLED:
            out.add(Decimal(_SPELLED[w]))
    return out


def _answer_numbers(text: str) -> list[tuple[str, Decimal]]:
    t = unicodedata.normalize("NFKC", text)
    out = []
    for m in _NUMBER.finditer(t):
        try:
            out.append((m.group(0).strip(), Decimal(m.group(0).rstrip("% ").replace(",", ""))))
        except InvalidOperation:
            continue
    return out


def _given(value: Decimal, percent: bool, source: set[Decimal]) -> bool:
    """Whether the source gives this number, or one derived from its numbers without inventing anything:
    rounded ('89.4' for '89.36'), as a fraction for a percentage ('12.5%' for '0.125'), in another unit of
    thousands, or as a difference of two of them ('by 2.31 points' for 89.36 and 87.05)."""
    return PaperNumbers(source, free_up_to=_FREE_UP_TO).gives(value)


def _terms(answer: str, cjk: bool) -> list[str]:
    """Named terms of an answer; for an answer in a CJK script every Latin-script word is one."""
    if cjk:
        found = _LATIN_WORD.findall(answer)
    else:
        found = _TERM.findall(answer) + [w for w in _CAPITALISED.findall(answer) if w.lower() not in _COMMON_CAPS]
    seen: dict[str, str] = {}
    for w in found:
        if fold(w) not in STOPWORDS and len(w) > 1:
            seen.setdefault(fold(w), w)
    return list(seen.values())


def _has_term(term: str, folded_source: str) -> bool:
    """The term as a word of the source, in the singular or plural ('LLM' and 'LLMs'), or every part of a
    hyphenated one ('Transformer-based')."""
    def has(word: str) -> bool:
        w = fold(word)
        w = w[:-1] if len(w) > 3 and w.endswith("s") and word[-2:-1].isupper() else w
        return re.search(rf"(?<![a-z0-9]){re.escape(w)}(?:e?s)?(?![a-z0-9])", folded_source) is not None
    return has(term) or ("-" in term and all(has(part) for part in term.split("-") if part))


def lexical_support(answer: str, quote: str, pages: Iterable[str], *, quote_verified: bool = True) -> Support:
    """Label an answer by what of it can be found in its quote and on its pages, without a model."""
    source = " ".join([quote if quote_verified else "", *pages])
    folded = fold(unicodedata.normalize("NFKC", source))
    source_numbers = _values(source)
    cjk_answer = bool(CJK_RE.search(answer))
    compared = False
    numbers = _answer_numbers(answer)
    if numbers:
        compared = True
        missing = [text for text, v in numbers if not _given(v, text.endswith("%"), source_numbers)]
        if missing:
            return Support(NOT, f"the answer gives {', '.join(dict.fromkeys(missing))}, not in its quote or on its page")
    terms = _terms(answer, cjk_answer)
    missing_terms = [t for t in terms if not _has_term(t, folded)]
    compared = compared or bool(terms)
    # Words can be compared when answer and quote are in one script family (an English answer to an
    # English quote, a Japanese one to a Japanese quote), not across a translation.
    same_script = quote_verified and bool(quote) and cjk_answer == bool(CJK_RE.search(quote))
    low_overlap = ""
    if same_script:
        a_words, q_words = set(tokenize(answer)), set(tokenize(quote))
        if a_words:
            compared = True
            shared = a_words & q_words
            if not shared:
                return Support(NOT, "the answer shares no content word with its quote")
            if len(shared) < MIN_SHARED_WORDS and len(shared) / len(a_words) < MIN_SHARED_SHARE:
                low_overlap = "the answer shares few content words with its quote"
    if missing_terms and (len(missing_terms) >= 2 or quote_verified):
        label = NOT if len(missing_terms) >= 2 else PARTLY  # one name may be a paraphrase; two are a claim
        return Support(label, f"the answer names {', '.join(missing_terms)}, not in its quote or on its page")
    if not quote_verified:  # the page may not contradict it, but no quote of the paper backs it either
        return Support(UNCHECKED, "its quote is not in the paper, so nothing backs the answer")
    if low_overlap:
        return Support(PARTLY, low_overlap)
    if not compared:
        return Support(UNCHECKED, "nothing in the answer could be compared with its quote")
    return Support(SUPPORTED)


def worse(a: str, b: str) -> str:
    """The weaker of two labels (a checked label wins over an unchecked one)."""
    if a not in _ORDER:
        return b
    if b not in _ORDER:
        return a
    return a if _ORDER[a] <= _ORDER[b] else b


def label_answers(g: Generation, pages: list[Page]) -> bool:
    """Give every answer of a generation that has none its lexical label; True when any label was added.

    The extractive model's answers are the paper's own sentences: labelled EXCERPT, not made to look checked.
    """
    text = {p.number: p.body for p in pages}
    changed = False
    for q in g.qa:
        if q.support:
            continue
        if q.excerpt:
            q.support, q.support_reason = EXCERPT, "the answer is taken from the paper"
        else:
            # The pages the quote was found on; an answer without any is read against the whole text.
            on = [text[n] for n in q.pages if n in text] or list(text.values())
            s = lexical_support(q.answer, q.quote, on, quote_verified=q.verified)
            q.support, q.support_reason = s.label, s.reason
        changed = True
    return changed


def is_unsupported(q: QA) -> bool:
    """An answer its quote does not back (marked like an unverified one)."""
    return q.support == NOT


@dataclass
class SupportRate:
    """How many answers were checked for support and how many of them their quote backs."""

    answers: int = 0
    checked: int = 0  # supported, partly or not (unchecked and excerpts are not counted)
    supported: int = 0
    partly: int = 0
    unsupported: int = 0

    @property
    def rate(self) -> float | None:
        """The share of checked answers that are supported; None when none could be checked."""
        return self.supported / self.checked if self.checked else None

    def cell(self) -> str:
        """The rate as a table cell: '83% (10/12)', or '—' when nothing was checked (e.g. extractive)."""
        return "—" if self.rate is None else f"{self.rate:.0%} ({self.supported}/{self.checked})"


def support_rate(generations: Iterable[Generation | None]) -> SupportRate:
    """Count the support labels over generations (for the quality benchmark and the run report)."""
    r = SupportRate()
    for g in generations:
        for q in (g.qa if g else []):
            r.answers += 1
            if q.support in CHECKED:
                r.checked += 1
                r.supported += q.support == SUPPORTED
                r.partly += q.support == PARTLY
                r.unsupported += q.support == NOT
    return r


def rate_answers(generations: Iterable[tuple[Generation | None, list[Page]]]) -> SupportRate:
    """Label (lexically, where not yet labelled) and count the answers of generations written from these pages.

    For the quality benchmark, whose generations do not pass through the pipeline:
    `rate_answers((gens[b.paper.key], b.pages) for b in items).cell()` is its support column.
    """
    pairs = list(generations)
    for g, pages in pairs:
        if g is not None:
            label_answers(g, pages)
    return support_rate(g for g, _ in pairs)
