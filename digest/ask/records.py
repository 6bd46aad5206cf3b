"""What a question to the archive returns: the passages found, the answer and its checked citations."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hit:
    """One retrieved passage: where it is (paper, page, section) and how well it matches the question."""

    paper_key: str
    page: int
    section: str
    text: str
    score: float     # BM25, higher is better (FTS5's rank negated)
    coverage: float  # share of the question's term weight (IDF) the passage holds, 0..1
    passage_id: int


@dataclass
class Citation:
    """A quote an answer rests on, checked on the page of the paper it cites."""

    n: int           # the [n] the answer's text uses
    paper_key: str
    title: str
    page: int
    quote: str
    verified: bool
    note: str = ""   # why a quote did not check out, or where it was found instead


@dataclass
class AskPaper:
    """A paper an answer draws on, with what the links to it need."""

    key: str
    title: str
    arxiv_id: str | None
    version: int | None
    pages: list[int] = field(default_factory=list)  # the pages cited or shown


@dataclass
class AskEstimate:
    """What a question will take before it is asked: one call's tokens and its cost in USD."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    max_cost: float = 0.0  # the most the question can spend: a cut reply retried and one repair included


@dataclass
class AskAnswer:
    """The archive's answer to a question: text with [n] citations (chat model) or passages (extractive)."""

    question: str
    text: str
    citations: list[Citation]
    papers: list[AskPaper]
    passages: list[Hit]
    model: str
    language: str
    cost: float = 0.0
    nothing_found: bool = False
    dry_run: bool = False
    estimate: AskEstimate | None = None
    dropped: int = 0  # claims whose quote was not found, left out (llm.unverified = "drop")
