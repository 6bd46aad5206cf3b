"""The extractive model's TL;DR and summary: sentences of the paper, chosen for the terms it keeps returning to."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from digest.records import Page, Paper
from digest.text import is_formula_fragment, sentences, tokenize
from digest.writers.retrieval import Passage, find_sections, split_passages

_CUE = re.compile(r"\b(we (?:propose|present|introduce|show|develop|describe)|this (?:paper|work)|our (?:method|approach|model))\b", re.I)
_RESULT = re.compile(r"\d|outperform|improv|state-of-the-art|achiev", re.I)
# Text that is not prose about the paper's content, whatever words it shares with a question.
_NOT_CONTENT = re.compile(
    r"author contributions?|contributed equally|acknowledg|we thank|funded by|funding|grant (?:no|number)"
    r"|conceptuali[sz]ation|wrote the (?:paper|manuscript)|corresponding author|e-?mail|https?://|www\.|@\w"
    r"|(?:\.\s?){4,}|copyright|licensed under|preprint|under review", re.I)

def summarise_abstract(paper: Paper) -> tuple[str, str]:
    """A TL;DR (the abstract's key sentence) and a summary (up to five sentences of it, in order)."""
    sents = [s for s in sentences(paper.abstract or "") if not _FRONT_MATTER.search(s)] or [paper.title]
    key = next((s for s in sents if _CUE.search(s)), sents[0])
    tldr = _one_line(key)
    chosen = []
    for s in sents:
        if s is sents[0] or s is key or _RESULT.search(s) or _CUE.search(s):
            chosen.append(s)
    if len(chosen) < 3:
        chosen = sents[:4]
    return third_person(tldr), third_person(" ".join(chosen[:5]))


def _one_line(sentence: str, max_words: int = 35) -> str:
    """A TL;DR is one line: a long sentence is cut at a colon or semicolon, else after max_words."""
    words = sentence.split()
    if len(words) <= max_words:
        return sentence
    head = " ".join(words[:max_words])
    for mark in (":", ";", " - ", " — "):
        cut = head.find(mark, len(" ".join(words[:10])))
        if cut > 0:
            return head[:cut].rstrip(" ,") + "."
    return head.rstrip(" ,;:") + "…"


_CAPTION = re.compile(r"^(?:fig(?:ure)?|table|tab|algorithm|listing)\.?\s*\d", re.I)
_BRACKET_CITE = re.compile(r"\[\d+(?:\s*[,–-]\s*\d+)*\]")
_NUMBER_RUN = re.compile(r"(?:\b[\d.,%±]+\s+){4,}")  # a table row or a line of scores
# Symbols of a formula: prose about a paper never needs them, a formula run into a sentence always has one.
_MATH = re.compile(r"[=∈∉∑∏∫≤≥≈∝∗↦⊂⊆⊕⊗∀∃∇∂∥‖√∞±]|\b[a-zA-Z]\s?[_^]\s?[a-zA-Z0-9{]|[+−×]\s*[+−×]|^\(\d+\)")
_ENDS = re.compile(r"[.!?][\"'”’)\]]*$")


def _readable(sentence: str) -> bool:
    """A sentence worth showing: a whole sentence of prose, not a caption, a fragment, a table row, a
    contents line, a "[3, 12] [14]" cluster or front and back matter (emails, funding, author roles)."""
    s = sentence.strip()
    if len(s) < 40 or len(s) > 600 or not (s[0].isupper() or s[0].isdigit() or s[0] in "“\"("):
        return False
    if _CAPTION.match(s) or _NOT_CONTENT.search(s) or _NUMBER_RUN.search(s) or _MATH.search(s) \
            or is_formula_fragment(s):
        return False
    if not _ENDS.search(s):
        return False  # cut at a page or column break, or a heading run into the text
    if len(_BRACKET_CITE.findall(s)) >= 3:
        return False
    words = s.split()
    letters = sum(w.isalpha() for w in words)
    return letters >= 0.6 * len(words)



# ---- the summary: the sentences that state the problem, the approach and the outcome --------------

# (pattern, weight) per aspect; a sentence's score for an aspect is the sum of the weights it matches.
_ASPECT_CUES = {
    "challenge": [(r"\bhowever\b|\bbut\b|although|despite|while\b", 1.0),
                  (r"challeng|problem|difficult|lack|limited|remain|suffer|bottleneck|costly|expensive|unclear"
                   r"|little (?:work|attention|research)|ha(?:s|ve) not been|fail|issue|\bgap\b|hinder|struggl", 2.0),
                  (r"\b(?:existing|traditional|conventional|current|previous|prior|most|standard) (?:\w+ )?"
                   r"(?:methods?|approaches|models?|systems?|work|techniques|studies)\b|\brel(?:y|ies) on\b", 1.0)],
    "approach": [(r"\bwe (?:propose|present|introduce|develop|describe|design|investigate|explore|study)"
                  r"|(?:this|the present) (?:paper|work|article|study)|in this (?:paper|work)", 3.0),
                 (r"our (?:method|approach|model|framework|system)|propos|novel|\bmethod|approach|framework", 1.0)],
    "outcome": [(r"(?:results?|experiments?|evaluations?|analys[ie]s) (?:\w+ )?(?:show|demonstrate|indicate|suggest|reveal)"
                 r"|we (?:show|find|demonstrate|observe) that", 3.0),
                (r"outperform|improv|achiev|state-of-the-art|significant|\bgains?\b|better|effective"
                 r"|\d+(?:\.\d+)?\s?%", 1.0)],
}
_ASPECT_RES = {a: [(re.compile(p, re.I), w) for p, w in cues] for a, cues in _ASPECT_CUES.items()}


@dataclass(frozen=True)
class _Weights:
    """How much each trait of a sentence counts towards stating one aspect (tuned on aclsum's train and
    val splits, never its test split): its cue words, the section it is in, how much of the title it
    repeats, how much of it the abstract shares, its length (from `length` words) and its place."""

    cue: float
    section: dict[str, float]
    title: float = 0.0
    shared: float = 0.0
    off_length: float = 0.0
    length: int = 25
    place: float = 0.0


_WEIGHTS = {
    "challenge": _Weights(0.5, {"abstract": 2.0, "introduction": 0.5, "conclusion": 0.5}),
    "approach": _Weights(0.5, {"abstract": 1.0, "introduction": 0.0, "conclusion": 0.5}, title=1.0),
    "outcome": _Weights(0.5, {"abstract": 2.0, "conclusion": 1.0}, shared=1.0, off_length=1.0, length=20,
                        place=1.0),
}


def _aspect_score(sentence: str, aspect: str) -> float:
    return sum(w for r, w in _ASPECT_RES[aspect] if r.search(sentence))


# A sentence about the document rather than the work, though it names "this paper": how it is organised,
# or how its results were computed ("The results in this paper were obtained using R 4.0.0 ...").
_ABOUT_THE_DOCUMENT = re.compile(
    r"\b(?:rest|remainder|outline|organi[sz]ation|structure) of (?:this|the) (?:paper|work|article|vignette)"
    r"|\bthis (?:paper|work|article|vignette) is (?:organi[sz]ed|structured)"
    r"|\bwere (?:obtained|computed|produced|generated|run) (?:using|with)\b|\bcomputational details\b", re.I)


@dataclass(frozen=True)
class _Candidate:
    text: str
    section: str  # abstract, introduction, conclusion
    place: float  # 0 for the section's first sentence, towards 1 for its last
    title: float  # the share of the title's words it repeats
    shared: float  # the share of its words the abstract has too (1 for the abstract's own)


def _candidates(title: str, abstract: str, sections: dict[str, list[Passage]]) -> list[_Candidate]:
    title_terms = set(tokenize(title))
    abstract_terms = set(tokenize(abstract))
    out = []
    for name in ("abstract", "introduction", "conclusion"):
        sents = sentences(abstract) if name == "abstract" else \
            [s for p in sections.get(name, []) if not p.appendix for s in sentences(p.text)]
        for i, s in enumerate(sents):
            if not _readable(s) or _FRONT_MATTER.search(s) or _ABOUT_THE_DOCUMENT.search(s):
                continue
            t = set(tokenize(s))
            out.append(_Candidate(s, name, i / max(1, len(sents)), len(t & title_terms) / max(1, len(title_terms)),
                                  1.0 if name == "abstract" else len(t & abstract_terms) / max(1, len(t))))
    return out


def _weighed(c: _Candidate, aspect: str) -> float:
    w = _WEIGHTS[aspect]
    if c.section not in w.section:
        return float("-inf")
    return (w.cue * _aspect_score(c.text, aspect) + w.section[c.section] + w.title * c.title + w.shared * c.shared
            - w.off_length * abs(len(c.text.split()) - w.length) / 25 + w.place * c.place)


def key_sentences(abstract: str, sections: dict[str, list[Passage]], title: str = "") -> dict[str, str]:
    """The sentence that best states each aspect (challenge, approach, outcome), each a different one,
    from the abstract, introduction and conclusion (an outcome never from the introduction)."""
    cands = _candidates(title, abstract, sections)
    chosen: dict[str, str] = {}
    for aspect in ("approach", "outcome", "challenge"):  # the most reliably cued first
        best = max((c for c in cands if c.text not in chosen.values() and _aspect_score(c.text, aspect) > 0),
                   key=lambda c: _weighed(c, aspect), default=None)
        if best and _weighed(best, aspect) > float("-inf"):
            chosen[aspect] = best.text
    return {a: chosen[a] for a in ("challenge", "approach", "outcome") if a in chosen}


def _tldr_sentence(cands: list[_Candidate], key: dict[str, str]) -> str | None:
    """What the paper does, in one sentence the summary will not repeat: the introduction's or conclusion's
    own statement of it ("In this paper we propose ...") when it has one, else the abstract's."""
    said = [c for c in cands if c.section != "abstract" and _aspect_score(c.text, "approach") >= 3
            and len(c.text.split()) <= 45]
    best = max(said, key=lambda c: (c.title + c.shared, -c.place), default=None)
    return best.text if best else key.get("approach")


# The length a summary comes closest to. aclsum's gold summaries run about 66 words; a sentence's worth
# more keeps their terms at little cost in precision (train and val splits: 80 beat 60, 70 and 90).
_SUMMARY_WORDS = 80
_ABSTRACT_STAND_IN_WORDS = 200  # what a paper without an abstract is summarised from: its opening
_TITLE_WEIGHT = 2.0  # the title names a term as much as two sentences that use it
_ASIDE = re.compile(r"\s*(?:\([^()]*\)|\[[^\[\]]*\])")  # "(Smith et al., 2020)", "[3]", "(see Fig. 2)"
# A discourse opener ties a sentence to its neighbours in the abstract, which a summary may not keep.
_OPENER = re.compile(
    r"^(?:(?:In|Throughout) this (?:paper|work|article|study)|Recently|However|Furthermore|Moreover|Additionally"
    r"|In addition|Specifically|Finally|To this end|As a result|In particular|Consequently|Therefore|Thus|Hence"
    r"|First|Second|Third|Firstly|Secondly|Lastly|Overall|Nevertheless|Meanwhile|In contrast)\s*,\s+")


# The paper's "we" is its authors: a digest tells of them in the third person, as aclsum's human
# summaries do ("They propose ..."), so a reader never takes "we" for the digest's own voice.
_FIRST_PERSON = {"We": "They", "we": "they", "Our": "Their", "our": "their", "Ours": "Theirs", "ours": "theirs",
                 "us": "them"}
_FIRST_PERSON_WORD = re.compile(r"\b(?:We|we|Our|our|Ours|ours|us)\b(?!-)")


def third_person(text: str) -> str:
    """The authors' first person ("we", "our", "us") told in the third person ("they", "their", "them")."""
    return _FIRST_PERSON_WORD.sub(lambda m: _FIRST_PERSON[m.group(0)], text)


def _trimmed(sentence: str) -> str:
    """A sentence as the summary prints it: without cited works, asides or a discourse opener, told of the
    authors in the third person."""
    text = _ASIDE.sub("", sentence)
    text = re.sub(r"(?<!\.)\.\.(?!\.)", ".", re.sub(r"\s+([.,;:])", r"\1", text))  # "et al. (2006)." -> "et al."
    rest = _OPENER.sub("", text)
    if rest != text and len(rest.split()) >= 6:
        text = rest[0].upper() + rest[1:]
    return third_person(text)


def term_weights(title: str, cands: list[_Candidate]) -> dict[str, float]:
    """How central each term is to the paper: the sentences of its abstract, introduction and conclusion
    that use it, and the title; a term used once says nothing about what the paper keeps returning to."""
    counts: Counter[str] = Counter()
    for c in cands:
        counts.update(set(tokenize(c.text)))
    for term in set(tokenize(title)):
        counts[term] += _TITLE_WEIGHT
    return {t: n for t, n in counts.items() if n >= 2}


def _covering(pool: list[_Candidate], weights: dict[str, float], target: int) -> list[_Candidate]:
    """Sentences that cover the most central terms for their length, each adding terms the chosen ones
    lack (so no two say the same), until one more would add none or take the summary further from
    `target` words."""
    terms = {id(c): set(tokenize(c.text)) for c in pool}
    length = {id(c): len(_trimmed(c.text).split()) for c in pool}
    left, chosen, covered, words = list(pool), [], set(), 0

    def gain(c: _Candidate) -> float:
        return sum(weights.get(t, 0.0) for t in terms[id(c)] - covered) / max(1, length[id(c)])
    while left:
        best = max(left, key=gain)
        if chosen and (gain(best) == 0 or abs(words + length[id(best)] - target) > abs(words - target)):
            break
        left.remove(best)
        chosen.append(best)
        covered |= terms[id(best)]
        words += length[id(best)]
    return chosen


def summarise(paper: Paper, pages: list[Page]) -> tuple[str, str]:
    """A TL;DR and a summary of about _SUMMARY_WORDS words that never repeats it.

    The summary is the abstract's sentences that cover the terms the paper keeps returning to (in its
    abstract, introduction, conclusion and title) best for their length, in reading order, with the
    conclusion's outcome when they state none; cited works, asides and discourse openers are left out, and
    the authors are told of in the third person. Measured on aclsum's train and val splits, this beats the
    abstract's opening, claims and results (ROUGE-1 0.472/0.473 against 0.441/0.455; 0.458/0.460 in the
    first person) and any pick from the introduction or conclusion, whose
    sentences the gold summaries paraphrase less. Captions, formulas, sentences cut at a page break and
    front matter are never picked."""
    abstract = paper.abstract or abstract_from_pages(pages)
    found = find_sections(pages) if pages else {}
    sections = {name: found.get(name, []) for name in ("introduction", "conclusion")}
    if not abstract.strip():
        # A paper without an abstract (a report, a vignette) says what it is about where its introduction
        # opens: that opening stands in for the abstract, not the title.
        abstract = " ".join(p.text for p in _opening(sections["introduction"] or split_passages(pages)))
    cands = _candidates(paper.title, abstract, sections)
    own = [c for c in cands if c.section == "abstract"]
    if not own:
        return summarise_abstract(paper)
    tldr = _tldr_sentence(cands, key_sentences(abstract, sections, paper.title)) or own[0].text
    chosen = _covering([c for c in own if c.text != tldr], term_weights(paper.title, cands), _SUMMARY_WORDS)
    chosen.sort(key=lambda c: c.place)
    if not any(_aspect_score(c.text, "outcome") >= 3 for c in chosen):
        outcome = max((c for c in cands if c.section == "conclusion" and c.text != tldr
                       and _aspect_score(c.text, "outcome") >= 3), key=lambda c: _weighed(c, "outcome"), default=None)
        chosen += [outcome] if outcome else []
    summary = " ".join(_trimmed(c.text) for c in chosen)
    return _one_line(third_person(tldr)), summary or abstract


def _opening(passages: list[Passage], words: int = _ABSTRACT_STAND_IN_WORDS) -> list[Passage]:
    """The first passages of the body text, about as long as an abstract."""
    out, n = [], 0
    for p in passages:
        if n >= words:
            break
        if not p.appendix:
            out.append(p)
            n += len(p.text.split())
    return out


def abstract_from_pages(pages: list[Page]) -> str:
    """The abstract as printed in the paper (for local PDFs, whose source gave none)."""
    found = find_sections(pages).get("abstract") or []
    text = " ".join(p.text for p in found).strip()
    # Front matter that layouts print right after the abstract is not part of it.
    cut = _FRONT_MATTER.search(text)
    return text[:cut.start()].strip() if cut else text


_FRONT_MATTER = re.compile(
    r"\b(?:ACM Reference Format|CCS Concepts|Permission to make digital|Index Terms|Keywords\s*[:—-]"
    r"|Additional Key Words|\d{4}\. In Proceedings of|(?-i:Keywords|KEYWORDS)\s)", re.I)

