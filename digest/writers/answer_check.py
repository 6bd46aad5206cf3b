"""The second call's answers, checked: paired with their questions, about their question, in the issue's
language, not one answer given for several questions, quotes verified on the paper's real pages; and every
answer or page number that is not kept counted with its reason (nothing vanishes silently)."""

from __future__ import annotations

from collections import Counter

from digest.records import QA, Page
from digest.writers.grounding import PageIndex, is_vacuous, normalise
from digest.writers.outline_check import language_problem, meaning_words
from digest.writers.schemas import MAX_PAGES

# Why an answer or a cited page number was not kept: counted per generation, summed by the run report.
PAST_LAST_QUESTION = "answers to a question number past the last question"
REPEATED_ANSWER = "second answers to the same question"
REJECTED_QUESTION = "answers to questions the outline check rejected"
UNANSWERED = "questions left unanswered"
NON_ANSWER = "answers that only restate the question"
UNVERIFIED_DROPPED = "answers dropped because their quote is not in the paper"
UNVERIFIED_STAND_IN = "answers to the digest's stand-in questions whose quote is not in the paper"
PAGE_OUT_OF_RANGE = "cited page numbers that are not pages of the paper"
SAME_ANSWER = "answers repeating another question's answer or quote"
OFF_QUESTION = "answers not about their question"
WRONG_LANGUAGE = "answers not in the issue's language"
TRIMMED_QUOTE = "quotes cut to their opening, the only part found in the paper"

SAME_ANSWER_SHARE = 0.8  # meaning-bearing words two answers share (Jaccard) that make them one answer
# Words that say which aspect a question asks about, not what in this paper: "What is the main result?"
# and an answer naming the result share none of them, and that is fine.
_ASPECT_WORDS = frozenset({"method", "result", "data", "limitation", "problem", "contribution", "open",
                           "compar", "differ", "evaluat", "measur", "achiev", "improv", "effect", "role",
                           "purpos", "import", "signific", "benefit", "advantag", "impact", "relat"})


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _same_text(a: set[str], b: set[str]) -> bool:
    """Whether two answers say the same: most meaning-bearing words shared, and, when both name things in
    Latin letters or digits, mostly the same names (a Japanese sentence frame repeated around other names
    and numbers is not the same answer)."""
    if not a or not b or _jaccard(a, b) < SAME_ANSWER_SHARE:
        return False
    latin_a, latin_b = {w for w in a if w.isascii()}, {w for w in b if w.isascii()}
    return not (latin_a and latin_b) or _jaccard(latin_a, latin_b) >= 0.5


def _same_quote(a: str, b: str) -> bool:
    """One quote inside the other, once folded (a model cutting the same passage a little differently)."""
    return bool(a) and bool(b) and (a in b or b in a)


def _keys(question: str) -> set[str]:
    """A question's key terms: its meaning-bearing words less those naming only an aspect."""
    return {k for k in meaning_words(question) - _ASPECT_WORDS if len(k) > 2 or not k.isascii()}


def _off_question(own: str, others: list[str], answer: str, quote: str) -> bool:
    """Whether an answer (with its quote) is about another question rather than its own: it shares no key
    term with its own question and two or more with another. A lexical check, so it stays cautious: an
    answer in other words than every question's passes."""
    words = meaning_words(answer) | meaning_words(quote)
    if _keys(own) & words or len(_keys(own)) < 2:
        return False
    return any(len(_keys(q) & words) >= 2 for q in others)


def repeated_answers(items: list[tuple[int, str, str, str]]) -> set[int]:
    """Question numbers whose answer repeats another's (near-same text, or the same quote), of
    (number, question, answer, quote) items: of each group the answer most about its question is kept."""
    keyed = [(item, meaning_words(item[2]), normalise(item[3])) for item in items]
    owner: dict[int, int] = {}
    for n, (_, words, quote) in enumerate(keyed):
        for m in range(n):
            _, other_words, other_quote = keyed[m]
            if _same_text(words, other_words) or (len(quote) >= 20 and _same_quote(quote, other_quote)):
                owner[n] = owner.get(m, m)
                break
        else:
            owner[n] = n
    by_group: dict[int, list[tuple[int, str, str, str]]] = {}
    for n, g in owner.items():
        by_group.setdefault(g, []).append(keyed[n][0])
    groups = [g for g in by_group.values() if len(g) > 1]
    dropped: set[int] = set()
    for group in groups:
        def fit(item: tuple[int, str, str, str]) -> int:
            _, question, answer, quote = item
            return len(_keys(question) & (meaning_words(answer) | meaning_words(quote)))
        best = max(group, key=lambda item: (fit(item), -item[0]))
        dropped |= {item[0] for item in group if item is not best}
    return dropped


def check_answers(questions: list[dict], answers: list[dict], pages: list[Page], *, drop_unverified: bool,
                  skip: set[int] | None = None, language: str = "") -> tuple[list[QA], int, dict[str, int]]:
    """Pair answers with their questions, drop non-answers, repeats and answers off their question or out
    of the issue's language, and verify every quote on its pages.

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
    kept: list[tuple[int, str, str, str]] = []
    for i in sorted(by_index):
        a = by_index[i]
        question = questions[i - 1]["question"].strip()
        answer, quote = a["answer"].strip(), a.get("quote", "").strip()
        if is_vacuous(question, answer):
            drops[NON_ANSWER] += 1
        elif language_problem(answer, language, "answer"):
            drops[WRONG_LANGUAGE] += 1
        else:
            kept.append((i, question, answer, quote))
    # Repeats first: of one answer given for several questions the one it fits best is kept, then checked.
    repeats = repeated_answers(kept)
    drops[SAME_ANSWER] += len(repeats)
    qa: list[QA] = []
    for i, question, answer, quote in kept:
        if i in repeats:
            continue
        if _off_question(question, [q["question"] for j, q in enumerate(questions, 1) if j != i], answer, quote):
            drops[OFF_QUESTION] += 1
            continue
        a = by_index[i]
        numbers = [p for p in a.get("pages", []) if isinstance(p, int)][:MAX_PAGES]
        cited = [p for p in numbers if p in real_pages]
        # A page the paper does not have is never shown: the quote is looked for on every real page instead.
        drops[PAGE_OUT_OF_RANGE] += len(numbers) - len(cited)
        check = index.find(quote, cited or [p.number for p in pages])
        if not check.verified and drop_unverified:
            drops[UNVERIFIED_DROPPED] += 1
            continue
        if not check.verified and questions[i - 1].get("stand_in"):
            # The digest asked this one in the place of a model's repeat: it adds an answer only when the
            # paper backs it, whatever llm.unverified says of the model's own questions.
            drops[UNVERIFIED_STAND_IN] += 1
            continue
        if check.trimmed:  # shown as far as it is the paper's text, never as verified in full
            quote = check.trimmed + " …"
            drops[TRIMMED_QUOTE] += 1
        # An unverified answer shows only the real pages it cited, never every page the quote was looked for on.
        shown_pages = [p for p in (check.pages if check.verified else cited) if p > 0]
        qa.append(QA(question=question, answer=answer, pages=shown_pages, quote=quote, verified=check.verified))
    return qa, len(questions) - len(qa), {k: n for k, n in drops.items() if n}
