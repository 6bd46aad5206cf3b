"""The quality gate: an issue in which the model failed for most papers is held as a draft, never sent.

The model failed for a paper when it wrote nothing usable (the abstract fallback), and also when its entry
has no Q&A at all or not one answer whose quote was found in the paper: "0 of 8 answers verified" is no
better for a reader than no answers.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from digest.records import Issue

# What a failure note looks like once the per-paper detail is gone, for naming the cause once.
_NOISE = re.compile(r"\b(line|column|char|pos)\s+\d+|\(char \d+\)|\d+(\.\d+)?\s*s\b")


@dataclass
class Verdict:
    """How an issue's generations went, and whether it may be published."""

    papers: int
    failed: list[str] = field(default_factory=list)  # paper ids whose generation the model did not write
    causes: Counter = field(default_factory=Counter)
    max_failed_share: float = 0.5
    drops: Counter = field(default_factory=Counter)  # why answers or page numbers were dropped, summed
    answers: int = 0
    excerpts: int = 0  # the paper's own sentences (extractive): nothing to verify or support
    unverified: int = 0  # answers whose quote is not in the paper
    unsupported: int = 0  # answers whose quote is in the paper but does not back them
    partly: int = 0  # answers their quote backs only in part (shown so: the line must say so too)

    @property
    def failed_share(self) -> float:
        """The share of papers the model failed on (0 for an empty issue)."""
        return len(self.failed) / self.papers if self.papers else 0.0

    @property
    def passed(self) -> bool:
        """True when the issue may be published and sent."""
        return self.failed_share <= self.max_failed_share

    def cause(self) -> str:
        """The most frequent failure, said once (not the raw parser message per paper)."""
        if not self.causes:
            return "no reason recorded"
        text, n = self.causes.most_common(1)[0]
        return text if n == len(self.failed) else f"{text} ({n} of {len(self.failed)})"

    def answers_line(self) -> str:
        """'72 answers: 3 unverified, 2 not supported by their quote' for the run's report."""
        checked = self.answers - self.excerpts
        partly = f", {self.partly} supported only in part" if self.partly else ""
        parts = [f"{checked} {'answer' if checked == 1 else 'answers'}: {self.unverified} unverified, "
                 f"{self.unsupported} not supported by their quote{partly}"] if checked else []
        if self.excerpts:
            parts.append(f"{self.excerpts} {'excerpt' if self.excerpts == 1 else 'excerpts'} from the papers "
                         "with their pages")
        return "; ".join(parts) or "no answers"

    def message(self) -> str:
        """One line for the run's report."""
        return (f"the model failed for {len(self.failed)} of {self.papers} papers "
                f"(more than {self.max_failed_share:.0%}): {self.cause()}")

    def drop_report(self) -> str:
        """What was dropped from the issue's answers and why, in one line ('' when nothing was)."""
        return "; ".join(f"{n} {why}" for why, n in sorted(self.drops.items(), key=lambda d: (-d[1], d[0])))


def failure_cause(note: str | None) -> str:
    """A failure note without the numbers that differ per paper, so equal causes count as one."""
    text = (note or "").strip()
    text = re.sub(r"^the model failed \((.*)\)$", r"\1", text)
    text = re.sub(r"^(the model's outline failed its checks) \(.*\)$", r"\1", text)  # details differ per paper
    return " ".join(_NOISE.sub("", text).split()).strip(" :;,") or "unknown error"


def judge_issue(issue: Issue, *, max_failed_share: float) -> Verdict:
    """Count the papers the model failed on; extractive and abstract-only (unreadable PDF) entries pass."""
    v = Verdict(papers=len(issue.entries), max_failed_share=max_failed_share)
    for e in issue.entries:
        g = e.generation
        cause = None
        if g is not None:
            v.answers += len(g.qa)
            v.excerpts += sum(q.excerpt for q in g.qa)
            v.unverified += sum(not q.verified and not q.excerpt for q in g.qa)
            v.unsupported += g.n_unsupported
            v.partly += sum(q.support == "partly" for q in g.qa)
        if g is None or g.status == "fallback":
            cause = failure_cause(g.note if g else "no generation was written")
        elif g.status == "ok" and g.model != "extractive":
            # The extractive writer answers with the paper's own sentences: it has nothing to verify.
            if not g.qa:
                cause = "no Q&A kept"
            elif g.n_verified == 0:
                cause = "no answer has a verified quote"
        if cause:
            v.failed.append(e.paper.versioned_id)
            v.causes[cause] += 1
        if g is not None:
            v.drops.update(g.drops)
    return v
