"""Checks of the first call's reply that a schema cannot express: real, distinct questions; a TL;DR and a
summary in the issue's language; a TL;DR of its own (not the title, not the summary's opening copied).

Small models were seen to return questions "1".."10", eight identical questions, "main method" beside
"main approach", a TL;DR equal to the title or to the summary, and an English TL;DR in a Japanese run, all
schema-valid.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from digest.text import CJK_RE, sentences, stem

MIN_QUESTION_LETTERS = 12  # "What is it?" is not a question a reader can use
MIN_TEXT_LETTERS = 12
MIN_GOOD_QUESTIONS = 4  # fewer usable questions than this after the repair: no Q&A from this outline
# Japanese: a tenth of a text's letters in kana or kanji, Latin-script names not counted (language_problem).
# Model, dataset and metric names stay in Latin letters as the system prompt asks, so a short Japanese TL;DR
# may be mostly Latin letters; docs/quality.md gives the same rule.
JA_MIN_SHARE = 0.1
NEAR_DUPLICATE = 0.7  # share of meaning-bearing words two questions share (Jaccard) that makes them one
KINDS = ("empirical", "theoretical", "position", "survey", "system", "resource", "other")
# Kinds of paper that report no experiments of their own: a question about results against baselines
# presumes what they lack.
NO_EXPERIMENTS = frozenset({"theoretical", "position", "survey"})
_KANA_KANJI = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# A name in Latin letters: a capitalised word or one with a digit or an inner capital (BERT, GPT-4, LongEval).
_NAME = re.compile(r"(?<![A-Za-z])(?:[A-Z][\w.-]*|[a-z]+[A-Z0-9][\w.-]*)")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE_END_JA = re.compile(r"(?<=[。！？])")
# Words any question or TL;DR may use: they carry no meaning that tells two of them apart.
_FILLER = frozenset(re.findall(r"\S+", """
a an the of in on for to and or is are was were be been by with as at from this that these those it its what
which how why who whom whose does do did paper papers author authors study work they their there about into
than then also can could would should main key primary central overall specific specifically used use using
describe described explain give given provide provided discuss discussed mention mentioned report reported
propose proposed present presented introduce introduced s we our you your any some such kind kinds type
"""))
# Words that ask the same thing: a model writes "main method" and then "main approach".
_SAME = {
    "approach": "method", "technique": "method", "framework": "method", "methodology": "method",
    "algorithm": "method", "strategy": "method", "idea": "method",
    "finding": "result", "outcome": "result", "performance": "result", "quantitative": "result",
    "experimental": "result", "empirical": "result", "evaluation": "result",
    "dataset": "data", "datasets": "data", "benchmark": "data", "corpus": "data", "corpora": "data",
    "weakness": "limitation", "drawback": "limitation", "shortcoming": "limitation", "constraint": "limitation",
    "challenge": "problem", "issue": "problem", "motivation": "problem", "goal": "problem", "aim": "problem",
    "objective": "problem", "novelty": "contribution", "new": "contribution", "novel": "contribution",
    "future": "open", "remain": "open", "remaining": "open",
}
# Phrases asking for experiments: for a paper that reports none, such a question has no answer.
_EXPERIMENT_QUESTION = re.compile(
    r"\b(?:baselines?|quantitative|ablations?|experiments?|experimental|outperform\w*|"
    r"state[- ]of[- ]the[- ]art)\b|実験|ベースライン", re.IGNORECASE)


COPIED_OPENING = "the TL;DR copies the summary's opening instead of saying it in one line"


def split_copied_opening(summary: str) -> tuple[str, str] | None:
    """(TL;DR, summary) from a summary whose opening the TL;DR copied: its first sentence, and the rest when
    at least two sentences remain; None when the summary is too short to part with its opening."""
    parts = split_sentences(summary)
    if len(parts) < 3 or letters(parts[0]) < 2 * MIN_TEXT_LETTERS:
        return None
    sep = "" if CJK_RE.search(parts[0][-1:]) else " "
    return parts[0], sep.join(parts[1:])


@dataclass
class OutlineCheck:
    """What is wrong with an outline reply; empty when nothing is."""

    bad_questions: dict[int, str] = field(default_factory=dict)  # 1-based question number -> why
    text_problems: list[str] = field(default_factory=list)  # about the TL;DR and the summary
    repeated: dict[int, int] = field(default_factory=dict)  # question number -> the earlier one it repeats

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


def meaning_words(text: str) -> set[str]:
    """What a short text asks or says, as a set: stems of its words less filler, with synonyms merged; in a
    CJK script, pairs of adjacent characters (its words have no spaces between them)."""
    t = unicodedata.normalize("NFKC", text).casefold()
    out: set[str] = set()
    for w in _WORD.findall(t):
        if CJK_RE.search(w):
            chars = [c for c in w if CJK_RE.match(c)]
            out.update(a + b for a, b in zip(chars, chars[1:]))
            latin = CJK_RE.sub(" ", w).split()
            out.update(stem(x) for x in latin if x not in _FILLER)
            continue
        if w in _FILLER:
            continue
        s = stem(w)
        out.add(_SAME.get(w, _SAME.get(s, s)))
    return out


def near_duplicate(a: set[str], b: set[str]) -> bool:
    """Whether two questions ask the same thing: most of their meaning-bearing words shared, or one's words
    all in the other's but one. Questions naming different numbers (table 2, table 3) ask different things."""
    if not a or not b:
        return a == b
    if {w for w in a if w.isdigit()} != {w for w in b if w.isdigit()}:
        return False
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if small <= large and len(large - small) <= 1:
        return True
    return len(a & b) / len(a | b) >= NEAR_DUPLICATE


def language_problem(text: str, language: str, what: str) -> str | None:
    """Whether a text is visibly not in the issue's language (checked for en and ja only: no guessing).

    Japanese: a tenth (JA_MIN_SHARE) of its letters in kana or kanji, the letters of Latin-script names
    (capitalised, or with a digit or an inner capital: Transformer, GPT-4, mBERT) not counted, since model,
    dataset and metric names stay as the paper writes them. An English sentence has few such names.
    """
    n = letters(text)
    if n == 0:
        return None
    if language == "ja" and len(_KANA_KANJI.findall(text)) < max(1, JA_MIN_SHARE * letters(_NAME.sub("", text))):
        return f"the {what} is not in Japanese"
    if language == "en" and len(_LATIN.findall(text)) < 0.8 * n:
        return f"the {what} is not in English"
    return None


def split_sentences(text: str) -> list[str]:
    """Sentences of a TL;DR in English or Japanese."""
    out: list[str] = []
    for part in _SENTENCE_END_JA.split(" ".join(text.split())):
        out.extend(sentences(part))
    return [s for s in out if s.strip()]


def one_sentence(tldr: str, bound: int) -> str:
    """The TL;DR as one sentence: the first when a model wrote several or the bound cut it mid-sentence.

    The first sentence stands alone when it has enough letters to say something; otherwise the text is
    returned unchanged and the check asks for a repair.
    """
    text = " ".join(tldr.split())
    parts = split_sentences(text)
    cut = len(tldr) >= bound and not re.search(r"[.!?。！？]['\")\]]*$", text)
    if len(parts) <= 1 and not cut:
        return text
    # A Japanese sentence says as much in fewer letters.
    enough = MIN_TEXT_LETTERS if parts and CJK_RE.search(parts[0]) else 2 * MIN_TEXT_LETTERS
    if len(parts) > 1 and letters(parts[0]) >= enough:
        return parts[0]
    return text


def is_title(tldr: str, title: str) -> bool:
    """Whether a TL;DR only restates the paper's title (its meaning-bearing words are all the title's)."""
    t, ti = meaning_words(tldr), meaning_words(title)
    return bool(t) and bool(ti) and t <= ti


def copies_opening(tldr: str, summary: str) -> bool:
    """Whether a TL;DR is the summary's opening sentence (or its start) in other filler words: 'This paper
    proposes X' against 'The paper proposes X. ...'."""
    first = split_sentences(summary)[:1]
    t = meaning_words(tldr)
    if not t or not first:
        return False
    s = meaning_words(first[0])
    return t <= s or len(t & s) / len(t | s) >= 0.8


def experiment_questions(questions: list[dict], kind: str) -> list[int]:
    """1-based numbers of questions asking for experiments in a paper whose kind reports none."""
    if kind not in NO_EXPERIMENTS:
        return []
    return [i for i, q in enumerate(questions, 1) if _EXPERIMENT_QUESTION.search(q.get("question", ""))]


def check_outline(data: dict, language: str, title: str = "") -> OutlineCheck:
    """Find what is wrong with a schema-valid outline reply."""
    check = OutlineCheck()
    kept: list[tuple[int, set[str]]] = []
    questions = data.get("questions", [])
    for i, q in enumerate(questions, 1):
        text = q.get("question", "").strip()
        words = meaning_words(text)
        if letters(text) < MIN_QUESTION_LETTERS:
            check.bad_questions[i] = "not a real question (too short, or only numbers and punctuation)"
            continue
        problem = language_problem(text, language, "question")
        if problem:
            check.bad_questions[i] = f"not in {'Japanese' if language == 'ja' else 'English'}"
            continue
        earlier = next((j for j, w in kept if near_duplicate(words, w)), None)
        if earlier is not None:
            check.bad_questions[i] = "repeats an earlier question"
            check.repeated[i] = earlier
        else:
            kept.append((i, words))
    kind = str(data.get("kind", "")).strip().lower()
    for i in experiment_questions(questions, kind):
        check.bad_questions.setdefault(i, f"asks for experiments a {kind} paper does not report")
    tldr, summary = data.get("tldr", "").strip(), data.get("summary", "").strip()
    for text, what in ((tldr, "TL;DR"), (summary, "summary")):
        if letters(text) < MIN_TEXT_LETTERS:
            check.text_problems.append(f"the {what} is empty or too short")
        else:
            problem = language_problem(text, language, what)
            if problem:
                check.text_problems.append(problem)
    if tldr and title and is_title(tldr, title):
        check.text_problems.append("the TL;DR only repeats the paper's title")
    elif tldr and summary and (copies_opening(tldr, summary) or normalised(summary).startswith(normalised(tldr))):
        check.text_problems.append(COPIED_OPENING)
    if len(split_sentences(tldr)) > 1:
        check.text_problems.append("the TL;DR is more than one sentence")
    return check
