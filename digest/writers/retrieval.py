"""Passages of a paper and BM25 retrieval over them, for context fitting and the extractive model."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from digest.records import Page, PaperStructure
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
    path: tuple[str, ...] = ()  # the headings above it, outermost first, ending with `section`
    appendix: bool = False  # after the references or under an appendix heading: never an answer


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


_APPENDIX_WORDS = {"appendix", "appendices", "supplementary", "supplemental"}


def _outline(headings: list[Heading]) -> list[tuple[tuple[str, ...], bool]]:
    """Per heading: the headings above it (outermost first, itself last) and whether it is in an appendix.

    Everything after the references, an "Appendix" heading, or a lettered heading ("A Prompts") that
    follows numbered sections is appendix: prompts, examples and tables printed there answer nothing."""
    stack: list[Heading] = []
    appendix, numbered = False, False
    out = []
    for h in headings:
        words = set(re.findall(r"[a-z]+", h.title))
        if h.kind == "references" or words & _APPENDIX_WORDS or (h.is_appendix_style and numbered):
            appendix = True
        numbered = numbered or h.number[:1].isdigit()
        stack = [x for x in stack if x.level < h.level] + [h]
        out.append((tuple(x.text for x in stack), appendix))
    return out


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
    outline = _outline(headings)
    pending: list[str] = []
    pending_para = 0

    def emit(chunk: list[str], p: _Paragraph, para_no: int) -> None:
        text = " ".join(chunk)
        path, appendix = outline[p.heading_no] if p.heading_no >= 0 else ((), False)
        segs.append(_Segment(Passage(p.page, text, len(segs), p.heading.text if p.heading else "", path, appendix),
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

# What a question is about, by its words (English and Japanese), in order: the first match decides.
_QUESTION_TOPICS: list[tuple[str, re.Pattern]] = [(t, re.compile(p, re.I)) for t, p in (
    ("future", r"future|next steps?|open (?:question|problem)s?|今後|将来"),
    ("limitations", r"limitation|weakness|shortcoming|drawback|caveat|threats? to validity|限界|制約|弱点"),
    ("related", r"related work|prior work|previous work|literature|builds? on|関連研究|先行研究"),
    ("data", r"\bdata\b|datasets?|benchmarks?|corpus|corpora|データ|ベンチマーク|コーパス"),
    ("compared", r"compar|baselines?|against|比較|ベースライン"),
    ("method", r"how does|how do|\bmethods?\b|technique|architecture|algorithm|手法|仕組み"),
    ("findings", r"results?|findings?|perform|outcome|結果|成果|性能"),
    ("proposal", r"propos|approach|introduce|提案|アプローチ"),
    ("problem", r"problem|challenge|motivat|address|\bgap\b|問題|課題|動機"),
    ("contributions", r"contribution|貢献"),
)]
# Per topic: words of the headings of the sections that hold the answer.
TOPIC_SECTIONS: dict[str, set[str]] = {
    "future": {"future", "conclusion", "conclusions", "concluding", "outlook", "directions", "remarks"},
    "limitations": {"limitation", "limitations", "threats", "validity", "weaknesses", "shortcomings",
                    "caveats", "discussion", "discussions"},
    "related": {"related", "background", "prior", "previous", "literature"},
    "data": {"data", "dataset", "datasets", "corpus", "corpora", "benchmark", "benchmarks", "materials",
             "collection", "annotation", "setup", "experimental", "experiments", "experiment", "settings",
             "evaluation", "tasks", "task"},
    "compared": {"baseline", "baselines", "comparison", "comparisons", "results", "experiments", "experiment",
                 "experimental", "evaluation", "setup", "analysis", "performance"},
    "method": {"method", "methods", "methodology", "approach", "approaches", "model", "models", "framework",
               "architecture", "system", "design", "algorithm", "proposed", "overview", "pipeline",
               "implementation", "technique", "formulation"},
    "findings": {"abstract", "results", "result", "experiments", "experiment", "experimental", "evaluation",
                 "findings", "analysis", "performance", "conclusion", "conclusions", "concluding", "discussion"},
    "proposal": {"abstract", "introduction", "conclusion", "conclusions", "concluding", "overview"},
    "problem": {"abstract", "introduction", "motivation", "background", "problem"},
    "contributions": {"abstract", "introduction", "contributions", "conclusion", "conclusions"},
}
_TOPIC_STEMS = {t: {stem(w) for w in words} for t, words in TOPIC_SECTIONS.items()}
_RELATED_STEMS = _TOPIC_STEMS["related"]


def question_topic(question: str) -> str | None:
    """The topic a question asks about (limitations, future, data, method, findings...), or None."""
    return next((t for t, r in _QUESTION_TOPICS if r.search(question)), None)


def _heading_stems(heading: str) -> set[str]:
    return {stem(w) for w in re.findall(r"[a-z]+", heading.lower())}


def _is_related_work(passage: Passage) -> bool:
    return any(_heading_stems(h) & _RELATED_STEMS for h in passage.path)


def in_topic(passage: Passage, topic: str) -> bool:
    """True when the passage lies in a section that holds answers about `topic` (by its headings).

    The abstract counts as its own section (front matter before the first heading counts as abstract);
    an appendix never does, and for any topic but related work, neither does related work."""
    if passage.appendix:
        return False
    path = passage.path or (("abstract",) if not passage.section else (passage.section,))
    stems = set().union(*(_heading_stems(h) for h in path))
    if topic != "related" and stems & _RELATED_STEMS:
        return False
    return bool(stems & _TOPIC_STEMS[topic])


_NAMED_SECTION = re.compile(r"[“「\"](?P<name>[^”」\"]{2,90})[”」\"]")


def on_topic(question: str, quote: str, pages: list[int], passages: list[Passage]) -> bool | None:
    """Whether an answer's quote lies in the section its question is about (a section the question names
    by its heading, or the sections of its topic); None when the question has no topic or the quote is in
    no passage (not a quote of the body text)."""
    named = _NAMED_SECTION.search(question)
    topic = question_topic(question)
    if not named and not topic:
        return None
    probe = " ".join(quote.split())[:80]
    where = [p for p in passages if probe and probe in p.text and (not pages or p.page in pages)] or \
            [p for p in passages if probe and probe in p.text]
    if not where:
        return None
    if named:
        name = " ".join(named.group("name").lower().split())
        return any(" ".join(h.lower().split()).endswith(name) for p in where for h in p.path)
    return any(in_topic(p, topic) for p in where)


def section_passages(passages: list[Passage], topic: str) -> list[Passage]:
    """The passages of the sections a question about `topic` is answered from, in reading order."""
    return [p for p in passages if in_topic(p, topic)]


def mark_appendix(passages: list[Passage], structure: PaperStructure | None) -> list[Passage]:
    """Passages with `appendix` set also where the PDF's own section tree (when read) says so."""
    if structure is None:
        return passages
    back = [s for s in structure.sections if s.kind in ("appendix", "references")]
    if not back:
        return passages
    first = min(s.page for s in back)
    names = [" ".join(s.heading.lower().split()) for s in back if s.page == first]
    out, inside = [], False
    for p in sorted(passages, key=lambda p: p.index):
        # From the page the back matter starts on: the passage under (or holding) its first heading on.
        inside = inside or p.page > first or (p.page == first and any(
            n and (n in " ".join(p.text.lower().split()) or any(h.lower().endswith(n) for h in p.path))
            for n in names))
        out.append(replace(p, appendix=True) if inside and not p.appendix else p)
    return out


def with_headings(passages: list[Passage]) -> list[tuple[str, Passage]]:
    """Passages in reading order, each with the heading to print before it ('' when it continues the
    section of the passage before, or is front matter before any heading): what a prompt shows so the
    model sees which section a passage comes from."""
    out, last = [], None
    for p in sorted(passages, key=lambda p: p.index):
        out.append(("" if p.section == last else p.section, p))
        last = p.section
    return out


# "this paper" in a question names the document, not a topic ("paper" is a topic of some papers).
_SELF_REFERENCE_RE = re.compile(r"\b(?:this|the|our|present)\s+(?:paper|work|study|article|manuscript)\b"
                                r"|\bthe\s+authors?\b", re.I)
_SECTION_BONUS = 1.0  # of the best text score: a passage of the section asked about comes first
_OFF_SECTION = 0.3  # the weight of an appendix's or (unless asked) related work's passage


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
        """The k passages most relevant to a question, best first, with their scores (> 0): passages of
        the section the question is about (see question_topic) first, appendix and related work last."""
        if not self.passages or k <= 0:
            return []
        q = list(dict.fromkeys(tokenize(_SELF_REFERENCE_RE.sub(" ", query))))
        scores = np.zeros(len(self.passages), dtype=np.float32)
        for t in q:
            scores += self._scorer.term_scores(t)
        topic = question_topic(query)
        bonus = _SECTION_BONUS * (float(scores.max()) or 1.0)
        for i, p in enumerate(self.passages):
            if p.appendix or (topic != "related" and _is_related_work(p)):
                scores[i] *= _OFF_SECTION
            elif topic and in_topic(p, topic):
                # The section asked about, even in other words ("data" for a "Datasets" section's text).
                scores[i] += bonus if scores[i] > 0 else bonus / 2
        order = sorted(range(len(self.passages)), key=lambda i: (-float(scores[i]), i))
        return [(self.passages[i], round(float(scores[i]), 4)) for i in order[:k] if scores[i] > 0]
