"""Questions of our own where a model's outline still repeats itself after its repair.

A small model asks "What is the method used in the paper?" three times however it is told (Qwen2.5-Coder-1.5B
on real papers: 8 questions, 3 distinct, after a repair). Dropping the repeats leaves a thin Q&A; the
extractive model's questions (problem, proposal, results, data, baselines, contributions, limitations,
future work) are known to be distinct, and each is asked only when the paper has a section about it, so
they take the repeats' places and the model answers them in the same call.
"""

from __future__ import annotations

from digest.writers.extractive import QUESTIONS
from digest.writers.outline_check import OutlineCheck, meaning_words, near_duplicate
from digest.writers.retrieval import Passage, question_topic, section_passages

# Answered from the abstract and introduction, which every paper has even when its headings were not read.
_HEADLINE_TOPICS = {"problem", "proposal", "findings"}


def stand_in_questions(questions: list[dict], check: OutlineCheck, passages: list[Passage],
                       language: str) -> list[int]:
    """Put one of our questions in the place of each question `check` found repeating an earlier one, where
    one is left that asks about something new and that the paper has a section for; returns the 1-based
    numbers replaced (and takes them out of `check`). `questions` is changed in place."""
    if not check.repeated or not all(language in q.text for q in QUESTIONS):
        return []
    headed = any(p.section for p in passages)
    kept = [meaning_words(q.get("question", "")) for i, q in enumerate(questions, 1) if i not in check.bad_questions]
    topics = {question_topic(q.get("question", "")) for i, q in enumerate(questions, 1) if i not in check.bad_questions}
    spare = []
    for q in QUESTIONS:
        text = q.text[language]
        topic = question_topic(q.text["en"])
        if topic in topics or any(near_duplicate(meaning_words(text), words) for words in kept):
            continue
        if section_passages(passages, topic) if headed else topic in _HEADLINE_TOPICS:
            spare.append((text, q.query.split()))
    replaced = []
    for i in sorted(check.repeated):
        if not spare:
            break
        text, terms = spare.pop(0)
        questions[i - 1] = {"question": text, "search_terms": terms, "stand_in": True}
        check.bad_questions.pop(i, None)
        check.repeated.pop(i)
        replaced.append(i)
    return replaced
