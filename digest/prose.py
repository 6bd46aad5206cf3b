"""Prose rules with no heavy dependency: CJK ranges, sentence splitting and formula fragments.

Here rather than in digest.text (which needs numpy and bm25s) so that the PDF worker can split and judge
sentences without loading them; digest.text re-exports all of it.
"""

from __future__ import annotations

import re

# CJK ideographs, kana, hangul and full-width forms: scripts written without spaces between words.
CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
CJK_RE = re.compile(f"[{CJK_RANGES}]")


# ---- sentences --------------------------------------------------------------------------

# Tokens that end with a period without ending a sentence ("et al.", "Fig. 3", "e.g.").
_ABBREVIATIONS = {
    "al", "e.g", "i.e", "cf", "vs", "viz", "fig", "figs", "eq", "eqs", "eqn", "sec", "secs", "tab",
    "ref", "refs", "no", "nos", "vol", "pp", "p", "ch", "chap", "app", "appx", "thm", "def", "lem",
    "prop", "cor", "alg", "approx", "resp", "ca", "est", "dr", "mr", "mrs", "ms", "prof", "st", "jr",
    "sr", "inc", "ltd", "co", "corp", "dept", "univ", "w.r.t", "a.k.a", "u.s", "u.k", "ph.d", "jan",
    "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "ed", "eds",
    "ex", "min", "max", "avg", "std", "incl", "esp", "ibid", "op", "sq", "hr", "yr",
}
# After these words a single capital letter is a label ("Appendix A."), not an initial ("J. Doe").
_LABEL_WORDS = {"appendix", "section", "table", "figure", "part", "case", "model", "type", "group",
                "class", "step", "phase", "setting", "condition", "option", "variant", "set"}
_BOUNDARY_RE = re.compile(r"([.!?]+)([\"'”’)\]]*)(\s+)")
_STARTS_SENTENCE_RE = re.compile(r"[\"'“‘(\[]?[A-Z0-9\u00C0-\u024F\u0370-\u03FF]")


def _ends_sentence(text: str, m: re.Match) -> bool:
    punct = m.group(1)
    rest = text[m.end():]
    if not rest:
        return True
    if not _STARTS_SENTENCE_RE.match(rest):
        return False  # next word in lower case: "e.g. the", "approx. twice"
    if punct != ".":
        return True
    before = text[: m.start()]
    token = re.split(r"[\s(\[]", before)[-1] if before else ""
    word = token.lower().lstrip("\"'“‘")
    if word in _ABBREVIATIONS:
        return False
    if re.fullmatch(r"[A-Za-z]", word) or re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):
        # "J. Doe", "U.S.", but "in Appendix A. We" does end a sentence.
        prev = re.findall(r"[A-Za-z]+", before[: -len(token)] if token else before)
        return bool(prev) and prev[-1].lower() in _LABEL_WORDS
    return True


def sentences(text: str) -> list[str]:
    """Split scientific English into sentences (knows et al., Fig. 3, e.g., i.e., 1.5%, initials).

    Sentences come back with runs of whitespace collapsed to one space.
    """
    text = " ".join(text.split())
    out, start = [], 0
    for m in _BOUNDARY_RE.finditer(text):
        if _ends_sentence(text, m):
            piece = text[start: m.start(3)].strip()
            if piece:
                out.append(piece)
            start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


# Characters of mathematics: operators, relations, arrows, set and logic signs, Greek letters.
_MATH_CHARS = set("=<>≤≥≈≠±×÷·∑∏∫∂∇√∞∈∉∋⊂⊃⊆⊇∪∩∧∨¬→←↔⇒⇐⇔↦∀∃∗^_|{}~′″") | {chr(c) for c in range(0x391, 0x3ca)}
_PROSE_WORD_RE = re.compile(r"[(\[\"'“‘]?(?:[^\W\d_]{2,}(?:[-'’][^\W\d_]+)*|[aAI])[)\]\"'”’.,;:!?]*")


def is_formula_fragment(sentence: str) -> bool:
    """True for a 'sentence' that is a piece of mathematics or a label, not prose: 'G∗ i', 'ε∗ g',
    'x = Wh + b', '(3)', 'Table 2.'; 'We use p < 0.05 throughout.' and 'It works.' are prose."""
    tokens = sentence.split()
    if not tokens:
        return True
    if CJK_RE.search(sentence):
        return False  # CJK prose has no spaces to count words by
    words = sum(1 for t in tokens if _PROSE_WORD_RE.fullmatch(t))
    if words == len(tokens):
        return False
    if words < 0.5 * len(tokens) or words < 3 and len(tokens) - words >= words:
        return True
    chars = [c for c in sentence if not c.isspace()]
    math = sum(1 for c in chars if c in _MATH_CHARS)
    singles = sum(1 for t in tokens if len(t) == 1 and t.isalpha() and t not in "aAI")
    return math >= 4 and math > 0.08 * len(chars) or singles > 0.3 * len(tokens)
