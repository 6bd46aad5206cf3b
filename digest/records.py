"""The records that flow between stages: plain dataclasses, no behaviour beyond small helpers."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, fields

# The one definition of an arXiv ID; sources and the PDF stamp build their patterns from these.
# New-style IDs (0704.0001 .. 2609.26811) and old-style ones (quant-ph/0201082, math.GT/0309136).
NEW_ARXIV_ID = r"\d{4}\.\d{4,5}"
OLD_ARXIV_ID = r"[a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7}"
ANY_ARXIV_ID = rf"(?:{NEW_ARXIV_ID}|{OLD_ARXIV_ID})"
ARXIV_ID_RE = re.compile(rf"(?P<id>{ANY_ARXIV_ID})(?:v(?P<version>\d+))?")


def split_arxiv_id(text: str) -> tuple[str, int | None]:
    """Split '2104.12255v1' into ('2104.12255', 1); a bare ID gives version None."""
    m = ARXIV_ID_RE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not an arXiv ID: {text!r}")
    v = m.group("version")
    return m.group("id"), int(v) if v else None


def url_key(url: str) -> str:
    """Stable paper key for a non-arXiv paper known by its URL."""
    return "url:" + hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass
class Paper:
    """One paper as found by a source; `key` is the arXiv ID without version, or url:/file: + hash."""

    key: str
    title: str
    arxiv_id: str | None = None
    version: int | None = None
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    categories: list[str] = field(default_factory=list)
    primary_category: str | None = None
    published: str | None = None  # ISO 8601 date-time, UTC
    updated: str | None = None
    abs_url: str | None = None
    pdf_url: str | None = None
    announce_type: str | None = None  # new, cross, replace, replace-cross (arXiv RSS)
    license: str | None = None
    doi: str | None = None
    comment: str | None = None
    journal_ref: str | None = None
    source: str | None = None  # the source spec that found it
    local_pdf: str | None = None  # dir: papers point at their file instead of a URL
    # Filled by the store / later stages:
    text_status: str = "pending"  # pending, ok, failed, abstract-only
    text_error: str | None = None
    page_count: int | None = None
    token_count: int | None = None

    @property
    def versioned_id(self) -> str:
        """'2104.12255v1' when the version is known, else the bare key."""
        if self.arxiv_id and self.version:
            return f"{self.arxiv_id}v{self.version}"
        return self.arxiv_id or self.key

    @property
    def is_update(self) -> bool:
        """True when the source announced this as a replacement of an earlier version."""
        return (self.announce_type or "").startswith("replace")


@dataclass
class Page:
    """Cleaned text of one PDF page; `refs` holds what follows the References heading."""

    number: int  # 1-based, as printed in citations
    body: str
    refs: str = ""


@dataclass
class Section:
    """One heading of a paper's section tree, with the page it starts on (GROBID's <div><head>)."""

    heading: str  # as printed, without its number: "Related Work"
    level: int  # 1 for a top-level section, 2 for a subsection, ...
    page: int  # 1-based page the heading is on
    number: str | None = None  # "3", "3.2", "A", "A.1"; None for an unnumbered heading
    kind: str = "body"  # body, appendix, references


@dataclass
class PaperStructure:
    """What a scholarly parser reads off a PDF besides page texts: its header and its section tree."""

    title: str | None = None
    authors: list[str] = field(default_factory=list)  # names only: no affiliation marks, no e-mail
    affiliations: list[str] = field(default_factory=list)
    abstract: str = ""  # exactly the abstract: no author line, no introduction
    sections: list[Section] = field(default_factory=list)
    published: str | None = None  # a date printed on page 1 or in the PDF's metadata, ISO 8601, when known


@dataclass
class PageText:
    """The result of extracting one PDF: pages, or a failure reason."""

    ok: bool
    pages: list[Page] = field(default_factory=list)
    error: str | None = None  # short reason: encrypted, not-a-pdf, truncated, timeout, memory, ...
    title: str | None = None  # from PDF metadata or the first page, for dir: sources
    authors: list[str] = field(default_factory=list)
    arxiv_id: str | None = None  # from the margin stamp, e.g. '2206.10883v3'
    category: str | None = None  # from the margin stamp, e.g. 'cs.CL'
    structure: PaperStructure | None = None  # header and sections, when the parser could read them


@dataclass
class QA:
    """One question and its grounded answer."""

    question: str
    answer: str
    pages: list[int] = field(default_factory=list)
    quote: str = ""
    verified: bool = False
    excerpt: bool = False  # the paper's own words (extractive): no "verified" badge, its check cannot fail
    # Whether the quote backs the answer (digest.writers.backing): supported, partly, not, unchecked,
    # excerpt (the answer is the paper's own text); "" until checked. `judged`: a model call gave its word too.
    support: str = ""
    support_reason: str = ""
    judged: bool = False


@dataclass(kw_only=True)
class Usage:
    """Tokens, money and time behind model calls: the one record every tally of them holds or extends."""

    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0  # USD, as billed (the Batch API bills half the live price)
    latency_ms: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(Usage)})


@dataclass
class Generation:
    """What one model wrote about one paper version under one prompt version."""

    key: str
    paper_key: str
    version: int | None
    model: str
    prompt_version: str
    language: str
    tldr: str
    summary: str
    qa: list[QA] = field(default_factory=list)
    status: str = "ok"  # ok, abstract-only (PDF failed), fallback (model failed)
    note: str | None = None
    n_dropped: int = 0
    drops: dict[str, int] = field(default_factory=dict)  # reason -> how many answers or page numbers
    usage: Usage = field(default_factory=Usage)  # latency_ms is the wall time of the whole generation
    created: str | None = None

    @property
    def n_verified(self) -> int:
        """How many answers carry a quote that was found in the paper."""
        return sum(1 for q in self.qa if q.verified)

    @property
    def excerpts(self) -> bool:
        """True when the answers are excerpts of the paper (extractive), not answers whose quotes were checked."""
        return bool(self.qa) and all(q.excerpt for q in self.qa)

    @property
    def n_unsupported(self) -> int:
        """How many answers their quote does not back (marked like unverified ones)."""
        return sum(1 for q in self.qa if q.support == "not")


@dataclass
class ChangePoint:
    """One difference between two versions of a paper, with the page of the new version it is on.

    `kind` is "described" (a model's sentence, grounded by `quote` from the new version), or "added" /
    "removed" (a changed passage itself, quoted from the version it is in: nothing to verify).
    """

    kind: str
    text: str
    page: int | None = None
    quote: str = ""
    verified: bool = False


@dataclass
class VersionChanges:
    """What changed in a paper between the version an issue published and the newer one."""

    paper_key: str
    old_version: int
    new_version: int
    model: str
    language: str
    points: list[ChangePoint] = field(default_factory=list)
    status: str = "ok"  # ok, same (no change in the text), no-text (a version could not be read), failed
    note: str | None = None
    usage: Usage = field(default_factory=Usage)
    created: str | None = None


@dataclass
class IssueEntry:
    """One paper in an issue with the generation chosen for it (and, for an update, what changed)."""

    paper: Paper
    generation: Generation | None
    position: int
    is_update: bool = False
    changes: VersionChanges | None = None


@dataclass
class Theme:
    """One theme of the week's overview: a short title, a paragraph, and the papers it draws on (numbers in the issue)."""

    title: str
    text: str
    papers: list[int] = field(default_factory=list)


@dataclass
class Overview:
    """The week's overview as one variant of an issue wrote it, in one language."""

    issue_id: str
    model: str  # the variant, as in issue_generations
    language: str
    themes: list[Theme] = field(default_factory=list)
    method: str = "llm"  # llm, or terms: the extractive model's grouping by shared key terms
    usage: Usage = field(default_factory=Usage)
    created: str | None = None


@dataclass
class Issue:
    """One week's issue: id like '2026-W47', its papers in order and the model chosen to show."""

    id: str
    week_start: str
    week_end: str
    language: str
    model: str
    created: str
    entries: list[IssueEntry] = field(default_factory=list)
    intro: str = ""
    status: str = "published"  # or "draft": held by the quality gate, never sent
    overview: Overview | None = None  # the week's themes, shown first; None when none was written
