"""Checks of the first call's reply that a schema cannot express: real, distinct questions; a TL;DR and a
summary in the issue's language; a TL;DR that is not the summary's opening copied.

Small models were seen to return questions "1".."10", eight identical questions, a TL;DR equal to the
summary, and an English TL;DR in a Japanese run, all schema-valid.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MIN_QUESTION_LETTERS = 12  # "What is it?" is not a question a reader can use
MIN_TEXT_LETTERS = 12
MIN_GOOD_QUESTIONS = 4  # fewer usable questions than this after the repair: no Q&A from this outline
_KANA_KANJI = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


@dataclass
class OutlineCheck:
    """What is wrong with an outline reply; empty when nothing is."""

    bad_questions: dict[int, str] = field(default_factory=dict)  # 1-based question number -> why
    text_problems: list[str] = field(default_factory=list)  # about the TL;DR and the summary

    def __bool__(self) -> bool:
        return bool(self.bad_questions or self.text_problems)

    @property
    def problems(self) -> list[str]:
        """One sentence per fault, for the repair request and the generation's note."""
        out = list(self.text_problems)
        by_reason: dict[str, list[int]] = {}
        for i, why in sorted(self.bad_questions.items()):
            by_reason.setdefault(why, []).append(i)
        for why, numbers in by_reason.items():
            s = "s" if len(numbers) > 1 else ""
            out.append(f"question{s} {', '.join(map(str, numbers))}: {why}")
        return out

    def summary(self) -> str:
        """The problems in one line."""
        return "; ".join(self.problems)


def normalised(text: str) -> str:
    """Letters and digits only, case-folded: what stays of a question once wording noise is gone."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if c.isalnum())


def letters(text: str) -> int:
    """How many letters (of any script) a text has."""
    return sum(1 for c in text if c.isalpha())


def language_problem(text: str, language: str, what: str) -> str | None:
    """Whether a text is visibly not in the issue's language (checked for en and ja only: no guessing)."""
    n = letters(text)
    if n == 0:
        return None
    if language == "ja" and len(_KANA_KANJI.findall(text)) < max(1, 0.2 * n):
        return f"the {what} is not in Japanese"
    if language == "en" and len(_LATIN.findall(text)) < 0.8 * n:
        return f"the {what} is not in English"
    return None


def check_outline(data: dict, language: str) -> OutlineCheck:
    """Find what is wrong with a schema-valid outline reply."""
    check = OutlineCheck()
    seen: dict[str, int] = {}
    for i, q in enumerate(data.get("questions", []), 1):
        text = q.get("question", "").strip()
        key = normalised(text)
        if letters(text) < MIN_QUESTION_LETTERS:
            check.bad_questions[i] = "not a real question (too short, or only numbers and punctuation)"
        elif key in seen:
            check.bad_questions[i] = "repeats an earlier question"
        else:
            seen[key] = i
    tldr, summary = data.get("tldr", "").strip(), data.get("summary", "").strip()
    for text, what in ((tldr, "TL;DR"), (summary, "summary")):
        if letters(text) < MIN_TEXT_LETTERS:
            check.text_problems.append(f"the {what} is empty or too short")
        else:
            problem = language_problem(text, language, what)
            if problem:
                check.text_problems.append(problem)
    t, s = normalised(tldr), normalised(summary)
    if t and s and s.startswith(t):
        check.text_problems.append("the TL;DR copies the summary's opening instead of saying it in one line")
    return check
