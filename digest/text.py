"""Text rules every stage shares: folding, CJK ranges, author names, words and sentences.

One home each, so that a word (and a name) means the same thing to selection, retrieval, the
search index and the archive.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS

# ---- words ------------------------------------------------------------------------------

STOPWORDS = frozenset(STOPWORDS_EN_PLUS) | {
    "also", "however", "thus", "therefore", "hence", "may", "might", "could", "would", "can",
    "use", "used", "uses", "using", "via", "et", "al", "eg", "ie", "etc", "within", "without",
    "among", "upon", "whether", "yet", "shall", "must", "us", "one", "let", "like", "well",
}

_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
# A word broken at a line end ("informa-\ntion", or "informa- tion" once lines are joined).
_BROKEN_WORD_RE = re.compile(r"(?<=[a-z])-\s+(?=[a-z])")


# ---- folding ----------------------------------------------------------------------------

# CJK ideographs, kana, hangul and full-width forms: scripts written without spaces between words.
CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
CJK_RE = re.compile(f"[{CJK_RANGES}]")


def strip_accents(text: str) -> str:
    """Ligatures expanded (NFKD) and accents dropped, case kept: 'Müller ﬁt' -> 'Muller fit'."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def slugify(text: str) -> str:
    """A file-name-safe, stable slug; names that lose characters get a short hash so they cannot collide."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    if plain == text and plain:
        return plain
    folded = strip_accents(text)
    ascii_part = re.sub(r"[^A-Za-z0-9._-]+", "-", folded).strip("-.")[:60]
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{ascii_part}-{digest}" if ascii_part else digest


def fold(text: str) -> str:
    """Case-folded and accent-stripped, so 'Eﬀective' == 'effective' and 'Müller' == 'muller'."""
    return strip_accents(text.casefold())


# ---- author names -----------------------------------------------------------------------

def fix_mojibake(text: str) -> str:
    """'JosÃ© RaÃºl' (UTF-8 read as Latin-1, as some feeds have it) back to 'José Raúl'."""
    if "Ã" not in text and "Â" not in text:
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _name_parts(name: str) -> tuple[list[str], str]:
    """(given names and initials, family name), folded: 'Doe, Jane M.' -> (['jane', 'm'], 'doe')."""
    name = fix_mojibake(name)
    if "," in name:
        family, _, given = name.partition(",")
        name = f"{given} {family}"
    words = re.findall(r"[^\W\d_]+", fold(name))
    if not words:
        return [], ""
    return words[:-1], words[-1]


def same_author(watched: str, author: str) -> bool:
    """Whether two spellings name the same person: case, accents and middle names/initials ignored.

    'Jane Doe' is 'J. Doe', 'Doe, Jane M.' and 'Doe'; it is not 'John Doe'.
    """
    g1, f1 = _name_parts(watched)
    g2, f2 = _name_parts(author)
    if not f1 or f1 != f2:
        return False
    if not g1 or not g2:
        return True
    a, b = g1[0], g2[0]
    return a == b or (len(a) == 1 and b.startswith(a)) or (len(b) == 1 and a.startswith(b))


# ---- words, continued -------------------------------------------------------------------


_VOWELS = set("aeiouy")


def stem(word: str) -> str:
    """A tiny suffix stripper: models/modeling/modelled -> model, summarization/summarize -> summariz.

    Far cruder than Porter, but enough to let plurals and -ing/-ed/-ation forms meet, and it
    needs no dependency. Words of four letters or fewer are left alone.
    """
    w = word
    if len(w) <= 4 or not w.isalpha():
        return w
    if w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("ies"):
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix, repl in (("izations", "ize"), ("ization", "ize"), ("isation", "ize"),
                         ("ations", "ate"), ("ation", "ate")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + repl
            break
    else:
        for suffix in ("ing", "ed"):
            base = w[: -len(suffix)]
            if w.endswith(suffix) and len(base) >= 3 and _VOWELS & set(base):
                w = base
                # running -> run, modelling -> model
                if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "aeiousz":
                    w = w[:-1]
                break
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    if w.endswith("y") and len(w) > 4:
        w = w[:-1] + "i"
    return w


def terms(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[tuple[str, str]]:
    """(stem, surface word) pairs of a text, stopwords and bare numbers left out."""
    text = _BROKEN_WORD_RE.sub("", fold(text))
    out = []
    for w in _WORD_RE.findall(text):
        if len(w) < 2 or w.isdigit() or w in stopwords:
            continue
        out.append((stem(w), w))
    return out


def tokenize(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """The stems BM25 indexes and queries with."""
    return [s for s, _ in terms(text, stopwords)]


class TermScorer:
    """A bm25s index over token lists, scoring documents one query term at a time."""

    def __init__(self, docs: list[list[str]]):
        self.n_docs = len(docs)
        self.bm25 = bm25s.BM25()
        self.vocab: set[str] = set()
        if docs and any(docs):
            self.bm25.index(docs, show_progress=False)
            self.vocab = {t for t in self.bm25.vocab_dict if t}

    def term_scores(self, term: str) -> np.ndarray:
        """BM25 contribution of one term to every document (zeros for an unknown term)."""
        if term not in self.vocab:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.bm25.get_scores([term]), dtype=np.float32)


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
