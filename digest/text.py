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

from digest.prose import CJK_RANGES, CJK_RE, is_formula_fragment, sentences  # noqa: F401  (their home for callers)

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

# CJK ranges, sentences and formula fragments live in digest.prose (no numpy, so the PDF worker can use them).


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
