"""The second call's answers, checked: paired with their questions, quotes verified on the paper's real pages,
and every answer or page number that is not kept counted with its reason (nothing vanishes silently)."""

from __future__ import annotations

from collections import Counter

from digest.records import QA, Page
from digest.writers.grounding import PageIndex, is_vacuous
from digest.writers.schemas import MAX_PAGES

# Why an answer or a cited page number was not kept: counted per generation, summed by the run report.
PAST_LAST_QUESTION = "answers to a question number past the last question"
REPEATED_ANSWER = "second answers to the same question"
REJECTED_QUESTION = "answers to questions the outline check rejected"
UNANSWERED = "questions left unanswered"
NON_ANSWER = "answers that only restate the question"
UNVERIFIED_DROPPED = "answers dropped because their quote is not in the paper"
PAGE_OUT_OF_RANGE = "cited page numbers that are not pages of the paper"


def check_answers(questions: list[dict], answers: list[dict], pages: list[Page], *, drop_unverified: bool,
                  skip: set[int] | None = None) -> tuple[list[QA], int, dict[str, int]]:
    """Pair answers with their questions, drop non-answers, and verify every quote on its pages.

    Returns the Q&A, how many questions got no shown answer, and why answers or page numbers were dropped.
    """
    index = PageIndex(pages)
    real_pages = {p.number for p in pages}
    drops: Counter[str] = Counter()
    skip = skip or set()
    by_index: dict[int, dict] = {}
    for a in answers:
        i = a.get("question_index")
        if not isinstance(i, int) or not 1 <= i <= len(questions):
            drops[PAST_LAST_QUESTION] += 1
        elif i in skip:
            drops[REJECTED_QUESTION] += 1
        elif i in by_index:
            drops[REPEATED_ANSWER] += 1
        else:
            by_index[i] = a
    drops[UNANSWERED] += sum(1 for i in range(1, len(questions) + 1) if i not in by_index and i not in skip)
    qa: list[QA] = []
    for i in sorted(by_index):
        a = by_index[i]
        question = questions[i - 1]["question"].strip()
        answer = a["answer"].strip()
        if is_vacuous(question, answer):
            drops[NON_ANSWER] += 1
            continue
        numbers = [p for p in a.get("pages", []) if isinstance(p, int)][:MAX_PAGES]
        cited = [p for p in numbers if p in real_pages]
        # A page the paper does not have is never shown: the quote is looked for on every real page instead.
        drops[PAGE_OUT_OF_RANGE] += len(numbers) - len(cited)
        check = index.find(a.get("quote", ""), cited or [p.number for p in pages])
        if not check.verified and drop_unverified:
            drops[UNVERIFIED_DROPPED] += 1
            continue
        # An unverified answer shows only the real pages it cited, never every page the quote was looked for on.
        shown_pages = [p for p in (check.pages if check.verified else cited) if p > 0]
        qa.append(QA(question=question, answer=answer, pages=shown_pages, quote=a.get("quote", "").strip(),
                     verified=check.verified))
    return qa, len(questions) - len(qa), {k: n for k, n in drops.items() if n}
