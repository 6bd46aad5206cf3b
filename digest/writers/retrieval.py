"""Passages of a paper and BM25 retrieval over them, for context fitting and the extractive model."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from digest.records import Page
from digest.text import TermScorer, sentences, stem, tokenize

# ---- headings ---------------------------------------------------------------------------

_NUMBERED_HEADING_RE = re.compile(
    r"(?P<num>\d{1,2}(?:\.\d{1,2}){0,3}\.?|[IVX]{1,5}\.|[A-H](?:\.\d{1,2}){0,2}\.?)"
    r"\s+(?P<title>[A-Z][^\n]{1,90})"
)
_INLINE_ABSTRACT_RE = re.compile(r"(?P<head>Abstract|ABSTRACT)\s*[.:—–-]\s*(?P<rest>\S.*)")
# Words that may make up an unnumbered heading; at least one must be from _ANCHOR_WORDS.
_ANCHOR_WORDS = {
    "abstract", "introduction", "background", "related", "conclusion", "conclusions", "concluding",
    "discussion", "discussions", "summary", "limitations", "limitation", "acknowledgments",
    "acknowledgements", "acknowledgment", "acknowledgement", "references", "bibliography",
    "appendix", "appendices", "methods", "methodology", "results", "experiments", "evaluation",
    "preliminaries", "motivation", "outlook",
}
_HEADING_WORDS = _ANCHOR_WORDS | {
    "and", "&", "work", "works", "future", "remarks", "materials", "experimental", "setup",
    "broader", "impact", "ethics", "ethical", "statement", "considerations", "of", "the", "data",
    "availability", "findings", "main", "general", "supplementary", "material",
}

# Kinds of sections, by the first word of the heading that names one.
_KINDS = (
    ("abstract", ("abstract",)),
    ("introduction", ("introduction",)),
    ("conclusion", ("conclusion", "conclusions", "concluding")),
    ("discussion", ("discussion", "discussions")),
    ("summary", ("summary",)),
    ("limitations", ("limitation", "limitations")),
    ("references", ("references", "bibliography")),
)


@dataclass
class Heading:
    """A section heading found in the body text."""

    text: str    # as printed, e.g. "8 DISCUSSION & FUTURE WORK"
    title: str   # without its number, lower case: "discussion & future work"
    level: int   # 1 for "8", 2 for "8.1"; unnumbered headings count as 1
    kind: str    # abstract, introduction, conclusion, discussion, summary, limitations, references, other
    number: str = ""  # "8.1", "IV.", "A"; empty when unnumbered

    @property
    def is_appendix_style(self) -> bool:
        """Lettered without a dot ("A Details"): only plausible once the body's numbered sections began."""
        return bool(self.number) and self.number[0].isalpha() and not self.number.endswith(".")


def _kind(title: str) -> str:
    words = set(re.findall(r"[a-z]+", title))
    for kind, names in _KINDS:
        if words & set(names):
            return kind
    return "other"


def parse_heading(line: str) -> Heading | None:
    """The heading on a line of body text, or None when the line is ordinary text."""
    line = line.strip()
    if not line or len(line) > 90:
        return None
    m = _NUMBERED_HEADING_RE.fullmatch(line)
    if m:
        num, title = m.group("num"), m.group("title").strip()
        words = title.split()
        letters = sum(c.isalpha() for c in title)
        if (len(words) > 10 or title.endswith((".", ",", ";")) or re.search(r"\s\d+$", title)
                or ", " in title or letters < 0.7 * len(title.replace(" ", ""))):
            return None  # a table-of-contents line, a wrapped sentence, an affiliation
        # "A Details of ..." in an appendix, but not "A model of this kind is used"
        if (num[0].isalpha() and not num.endswith(".") and "." not in num[:-1]
                and (len(words) > 6 or any(w[0].islower() for w in words if len(w) > 3))):
            return None
        level = num.rstrip(".").count(".") + 1
        return Heading(line, title.lower(), level, _kind(title.lower()), num)
    if not line[0].isupper():
        return None
    words = [w.strip(".:").lower() for w in line.split()]
    if 1 <= len(words) <= 6 and all(w in _HEADING_WORDS for w in words) and set(words) & _ANCHOR_WORDS:
        title = " ".join(words)
        return Heading(line.rstrip(".:"), title, 1, _kind(title))
    return None


# ---- passages ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Passage:
    """A chunk of body text within one page; `index` is its position in reading order."""

    page: int     # 1-based page number
    text: str     # whitespace collapsed, otherwise as on the page
    index: int
    section: str = ""  # the heading it falls under, as printed ("" before the first heading)


@dataclass
class _Paragraph:
    page: int
    heading: Heading | None
    heading_no: int  # which heading (in order) it falls under; -1 before the first
    lines: list[str]
    front: bool


def _short_line_limit(lines: list[str]) -> float:
    lengths = [len(s) for s in lines if len(s) >= 25]
    return 0.7 * statistics.median(lengths) if lengths else 0.0


def _paragraphs(pages: list[Page]) -> tuple[list[_Paragraph], list[Heading]]:
    """Body text cut at headings, blank lines and short paragraph-final lines; and the headings."""
    out: list[_Paragraph] = []
    headings: list[Heading] = []
    heading: Heading | None = None
    heading_no = -1
    for page_no, page in enumerate(pages):
        raw = [s.strip() for s in (page.body or "").splitlines()]
        short = _short_line_limit(raw)
        # Before the first heading of the first two pages: title, authors, and maybe the abstract.
        front = heading is None and page_no < 2
        current: _Paragraph | None = None

        def close() -> None:
            nonlocal current
            if current and current.lines:
                out.append(current)
            current = None

        for line in raw:
            if not line:
                close()
                continue
            inline = _INLINE_ABSTRACT_RE.fullmatch(line)
            h = parse_heading(inline.group("head") if inline else line)
            if h and h.is_appendix_style and not any(x.number[:1].isdigit() for x in headings):
                h = None  # "A Survey of ..." as a title line, not an appendix
            if h:
                close()
                heading, heading_no, front = h, heading_no + 1, False
                headings.append(h)
                if not inline:
                    continue
                line = inline.group("rest")
            if current is None:
                current = _Paragraph(page.number, heading, heading_no, [], front)
            current.lines.append(line)
            if short and len(line) < short and (line.endswith((".", "!", "?", ":")) or len(line) < short / 1.4):
                close()
        close()
    return out, headings


def _chunks(sents: list[str], target: int, hard_end: bool) -> tuple[list[list[str]], list[str]]:
    """Group sentences into ~target-word chunks; returns (finished chunks, unfinished tail)."""
    done, cur, n = [], [], 0
    for s in sents:
        w = len(s.split())
        if w > 1.5 * target:
            # A table or a formula run together: no sentence ends to cut at, so cut by words.
            if cur:
                done.append(cur)
                cur, n = [], 0
            words = s.split()
            for i in range(0, len(words), target):
                done.append([" ".join(words[i:i + target])])
            continue
        if cur and n + w > 1.3 * target and n >= 0.5 * target:
            done.append(cur)
            cur, n = [], 0
        cur.append(s)
        n += w
    if cur and (hard_end or n >= 0.6 * target):
        done.append(cur)
        cur = []
    return done, cur


@dataclass(frozen=True)
class _Segment:
    passage: Passage
    heading: Heading | None
    heading_no: int
    paragraph_no: int
    front: bool


# Segmenting is the slow part of retrieval, and a run asks for one paper's passages and sections
# several times (PDF abstract, context fitting, extractive answers), from fresh Page objects each
# time: so the result is kept by the text itself, which cannot go stale the way a key could.
_SEGMENTED_PAPERS = 64


def _segments(pages: list[Page], target_words: int) -> tuple[list[_Segment], list[Heading]]:
    """The passages (with their place under the headings) and headings of a paper, computed once."""
    return _segments_of(tuple((p.number, p.body) for p in pages), target_words)


@lru_cache(maxsize=_SEGMENTED_PAPERS)
def _segments_of(texts: tuple[tuple[int, str], ...], target_words: int) -> tuple[list[_Segment], list[Heading]]:
    segs: list[_Segment] = []
    paras, headings = _paragraphs([Page(number, body) for number, body in texts])
    pending: list[str] = []
    pending_para = 0

    def emit(chunk: list[str], p: _Paragraph, para_no: int) -> None:
        text = " ".join(chunk)
        segs.append(_Segment(Passage(p.page, text, len(segs), p.heading.text if p.heading else ""),
                             p.heading, p.heading_no, para_no, p.front))

    for i, p in enumerate(paras):
        if p.heading and p.heading.kind == "references":
            continue  # a bibliography the PDF stage did not set aside
        nxt = paras[i + 1] if i + 1 < len(paras) else None
        # Passages never cross a page or a heading; front matter keeps its paragraphs apart.
        hard_end = (nxt is None or nxt.page != p.page or nxt.heading_no != p.heading_no or p.front)
        if not pending:
            pending_para = i
        done, pending = _chunks(pending + sentences(" ".join(p.lines)), target_words, hard_end)
        for chunk in done:
            emit(chunk, p, pending_para)
            pending_para = i
    return segs, headings


def split_passages(pages: list[Page], target_words: int = 180) -> list[Passage]:
    """Body text only (never Page.refs), split at paragraph/sentence boundaries into ~target_words chunks, each within one page."""
    return [s.passage for s in _segments(pages, target_words)[0]]


def _section_after(segs: list[_Segment], headings: list[Heading], heading_no: int) -> list[Passage]:
    """Passages under a heading and its subsections, up to the next heading of the same level."""
    level = headings[heading_no].level
    end = next((n for n in range(heading_no + 1, len(headings)) if headings[n].level <= level),
               len(headings))
    return [s.passage for s in segs if heading_no <= s.heading_no < end]


def find_sections(pages: list[Page], target_words: int = 180) -> dict[str, list[Passage]]:
    """Passages of the abstract, introduction and conclusion (by headings like 'Abstract', '1 Introduction', 'Conclusion(s)', 'Discussion', 'Summary', case-insensitive, numbered or not); empty lists when a section is not found.

    The passages are the same (same `index`) as split_passages gives with the same target_words.
    """
    segs, headings = _segments(pages, target_words)
    by_kind: dict[str, list[int]] = {}
    for n, h in enumerate(headings):
        by_kind.setdefault(h.kind, []).append(n)

    result: dict[str, list[Passage]] = {"abstract": [], "introduction": [], "conclusion": []}
    abstract = [p for n in by_kind.get("abstract", [])[:1] for p in _section_after(segs, headings, n)]
    if abstract:
        # An abstract is short; when the heading after it went unseen, stop early.
        words = 0
        for p in abstract:
            if words > 400 or (p.page > abstract[0].page and words >= 100):
                break
            result["abstract"].append(p)
            words += len(p.text.split())
    else:
        # No heading (e.g. REVTeX): the longest prose paragraph of the front matter; an author
        # list is long too, but it is one "sentence".
        paras: dict[int, list[Passage]] = {}
        for s in segs:
            if s.front:
                paras.setdefault(s.paragraph_no, []).append(s.passage)

        def prose_words(ps: list[Passage]) -> int:
            text = " ".join(p.text for p in ps)
            return len(text.split()) if len(sentences(text)) >= 2 else 0

        best = max(paras.values(), key=prose_words, default=[])
        if prose_words(best) >= 40:
            result["abstract"] = best
    for n in by_kind.get("introduction", []):
        result["introduction"] = _section_after(segs, headings, n)
        if result["introduction"]:
            break
    for kind in ("conclusion", "discussion", "summary"):
        # Prefer a top-level heading; the last one when a paper has several.
        nos = by_kind.get(kind, [])
        nos = [n for n in nos if headings[n].level == 1] or nos
        for n in reversed(nos):
            result["conclusion"] = _section_after(segs, headings, n)
            if result["conclusion"]:
                break
        if result["conclusion"]:
            break
    return result


# ---- search -----------------------------------------------------------------------------

# Question words -> words of the section headings that usually hold the answer.
_INTENTS: list[tuple[set[str], set[str]]] = [
    ({"limitation", "limit", "weakness", "shortcoming", "drawback", "caveat", "threat"},
     {"limitation", "limitations", "threats", "weaknesses", "validity", "future"}),
    ({"dataset", "data", "corpus", "corpora", "benchmark", "benchmarks"},
     {"data", "dataset", "datasets", "experimental", "setup", "experiments", "benchmark",
      "benchmarks", "corpus", "materials", "evaluation"}),
    ({"result", "finding", "performance", "outperform", "improvement", "accuracy"},
     {"results", "experiments", "evaluation", "findings", "analysis"}),
    ({"method", "approach", "propose", "architecture", "technique", "algorithm", "framework"},
     {"method", "methods", "methodology", "approach", "model", "framework", "architecture",
      "system", "design", "overview"}),
    ({"problem", "motivation", "address", "goal", "aim", "challenge", "motivate"},
     {"introduction", "abstract", "motivation", "background"}),
    ({"conclusion", "conclude", "takeaway", "future"},
     {"conclusion", "conclusions", "concluding", "future", "summary"}),
]
_INTENT_STEMS = [({stem(w) for w in q}, {stem(w) for w in s}) for q, s in _INTENTS]
# "this paper" in a question names the document, not a topic ("paper" is a topic of some papers).
_SELF_REFERENCE_RE = re.compile(r"\b(?:this|the|our|present)\s+(?:paper|work|study|article|manuscript)\b"
                                r"|\bthe\s+authors?\b", re.I)
_SECTION_BONUS = 0.6  # of the best text score: enough to pull in the section, not to drown a hit


class PassageIndex:
    """BM25 over passages (text plus the heading they fall under)."""

    def __init__(self, passages: list[Passage]):
        self.passages = list(passages)
        self._heading_terms = self._section_terms(self.passages)
        docs = [tokenize(p.section) + tokenize(p.text) for p in self.passages]
        self._scorer = TermScorer(docs)

    @staticmethod
    def _section_terms(passages: list[Passage]) -> list[set[str]]:
        """Terms of each passage's heading and of the headings above it ("4 Method" > "4.2 Crawler")."""
        stack: list[tuple[int, set[str]]] = []
        out, last = [], None
        for p in sorted(passages, key=lambda p: p.index):
            if p.section != last:
                last = p.section
                h = parse_heading(p.section) if p.section else None
                level = h.level if h else 1
                stack = [e for e in stack if e[0] < level] + [(level, set(tokenize(p.section)))]
            out.append((p.index, set().union(*(t for _, t in stack)) if stack else set()))
        by_index = dict(out)
        return [by_index[p.index] for p in passages]

    def search(self, query: str, k: int = 5) -> list[tuple[Passage, float]]:
        """The k passages most relevant to a question, best first, with their scores (> 0)."""
        if not self.passages or k <= 0:
            return []
        q = list(dict.fromkeys(tokenize(_SELF_REFERENCE_RE.sub(" ", query))))
        scores = np.zeros(len(self.passages), dtype=np.float32)
        for t in q:
            scores += self._scorer.term_scores(t)
        wanted = set().union(*(sections for qs, sections in _INTENT_STEMS if qs & set(q)))
        if wanted:
            bonus = _SECTION_BONUS * (float(scores.max()) or 1.0)
            for i, h in enumerate(self._heading_terms):
                if h & wanted:
                    scores[i] += bonus
        order = sorted(range(len(self.passages)), key=lambda i: (-float(scores[i]), i))
        return [(self.passages[i], round(float(scores[i]), 4)) for i in order[:k] if scores[i] > 0]
