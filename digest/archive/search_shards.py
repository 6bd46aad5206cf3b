"""The site's offline search index, split so a search page loads only what a query needs.

`search-index.js` is small (counts and issue titles). Papers get stable numbers in the order they first
appeared, so files of older papers never change when a new issue arrives. Under `search/`:

- `t<bucket>-<group>.js`: an inverted index of the terms whose first character falls in `bucket`, for the
  papers of one group (GROUP_SIZE papers): term -> [paper number, fields mask, ...]. Words of spaced
  scripts are indexed whole (a query word matches any word it starts); CJK runs as single characters
  and bigrams (a query matches when all its bigrams occur), so Japanese is found without segmentation.
- `m<chunk>.js`: what a result shows of META_CHUNK papers (slug, title, authors, TL;DR, issues, language).
- `x<chunk>.js`: the summary and Q&A text of TEXT_CHUNK papers, loaded for the first results' snippets.

Each file is a script calling `DIGEST_SEARCH_LOAD(name, data)`: pages opened from file:// cannot fetch().
Folding and tokenizing here must match templates/site/static/search.js.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from digest.text import CJK_RANGES

SEARCH_DIR = "search"
BUCKETS = 32
GROUP_SIZE = 500
META_CHUNK = 100
TEXT_CHUNK = 20
FIELDS = ("title", "authors", "tldr", "summary", "qa")  # bit i of a fields mask is FIELDS[i]
_COMBINING = re.compile("[\u0300-\u036f]")
_TOKEN = re.compile(r"[^\W_]+")
_CJK_RUN = re.compile(f"[{CJK_RANGES}]+|[^{CJK_RANGES}]+")
_CJK = re.compile(f"[{CJK_RANGES}]")


@dataclass(slots=True)
class SearchDoc:
    """One paper as the search page knows it; what a result shows (title, authors, TL;DR, language) and the
    summary and Q&A texts are asked of a `SearchSource` only when a file that holds them is rendered: a
    rebuild loads the papers of those files alone (SiteBuilder)."""

    key: str  # the paper's
    slug: str
    issues: list[str]
    # What the texts are made from, and a fingerprint of what a result shows: made of the store's stamps,
    # as hashing the texts of 5,000 papers twice over was most of what a one-issue rebuild spent here.
    source: str
    fp: str


class SearchSource(Protocol):
    """Where search files read what they show of a paper, once it is loaded."""

    def shown(self, key: str) -> tuple[str, str, str, str]:
        """Title, authors, TL;DR and language."""

    def text(self, key: str) -> tuple[str, str]:
        """The summary text and the Q&A text."""


def fold(text: str) -> str:
    """Lower case without accents, compatibility forms unified: as search.js folds (NFKD, marks, NFC)."""
    return unicodedata.normalize("NFC", _COMBINING.sub("", unicodedata.normalize("NFKD", text))).lower()


def terms(text: str) -> list[str]:
    """The index terms of a text: its words, and the characters and bigrams of its CJK runs."""
    folded = fold(text)
    if not _CJK.search(folded):  # most text: words only
        return _TOKEN.findall(folded)
    out: list[str] = []
    for token in _TOKEN.findall(folded):
        for run in _CJK_RUN.findall(token):
            if _CJK.match(run):
                out.extend(run)
                out.extend(run[i:i + 2] for i in range(len(run) - 1))
            else:
                out.append(run)
    return out


def bucket(term: str) -> int:
    """The term file a term lives in: by its first character, so every word with a prefix is in one file."""
    return ord(term[0]) % BUCKETS


def _js_json(data: object) -> str:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    # Escaped so the data can never close a script element or start markup, whatever it contains.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def script(name: str, data: object) -> str:
    """A search data file: a script handing `data` to the search page."""
    return f"DIGEST_SEARCH_LOAD({json.dumps(name)},{_js_json(data)});\n"


def _postings(docs: list[SearchDoc], first: int, source: SearchSource) -> list[dict[str, list[int]]]:
    buckets: list[dict[str, list[int]]] = [{} for _ in range(BUCKETS)]
    for n, d in enumerate(docs, first):
        masks: dict[str, int] = {}
        for bit, text in enumerate((*source.shown(d.key)[:3], *source.text(d.key))):
            for t in set(terms(text)):
                masks[t] = masks.get(t, 0) | (1 << bit)
        for t in sorted(masks):
            buckets[bucket(t)].setdefault(t, []).extend((n, masks[t]))
    return buckets


def search_files(docs: list[SearchDoc], issue_titles: dict[str, str], fingerprint: Callable[..., str],
                 source: SearchSource) -> Iterator[tuple[str, str, Callable[[], str], list[str], list[str]]]:
    """(path, fingerprint, render, keys of the papers whose texts it holds, keys of the papers it shows) of
    every search file for `docs`, numbered in the order given."""
    manifest = {"format": 2, "docs": len(docs), "buckets": BUCKETS, "group": GROUP_SIZE, "meta": META_CHUNK,
                "text": TEXT_CHUNK, "fields": list(FIELDS), "issues": issue_titles}
    # A script assigning a global, because fetch() of a JSON file is refused from file://.
    yield "search-index.js", fingerprint(manifest), lambda: f"window.DIGEST_SEARCH = {_js_json(manifest)};\n", [], []
    for start in range(0, len(docs), GROUP_SIZE):
        group = docs[start:start + GROUP_SIZE]
        fp = fingerprint("terms", start, [(d.fp, d.source) for d in group])
        keys = [d.key for d in group]
        built: list[list[dict[str, list[int]]]] = []  # the group is tokenized once, if any file is rendered

        def render(b: int, group: list[SearchDoc] = group, start: int = start,
                   built: list = built) -> str:
            if not built:
                built.append(_postings(group, start, source))
            return script(f"t{b}-{start // GROUP_SIZE}", built[0][b])
        for b in range(BUCKETS):
            yield f"{SEARCH_DIR}/t{b}-{start // GROUP_SIZE}.js", fp, lambda b=b, render=render: render(b), keys, keys
    for start in range(0, len(docs), META_CHUNK):
        chunk = docs[start:start + META_CHUNK]
        name = f"m{start // META_CHUNK}"
        yield f"{SEARCH_DIR}/{name}.js", fingerprint(name, [d.fp for d in chunk]), lambda name=name, chunk=chunk: \
            script(name, [_result(d, source) for d in chunk]), [], [d.key for d in chunk]
    for start in range(0, len(docs), TEXT_CHUNK):
        chunk = docs[start:start + TEXT_CHUNK]
        name = f"x{start // TEXT_CHUNK}"
        yield f"{SEARCH_DIR}/{name}.js", fingerprint(name, [d.source for d in chunk]), \
            lambda name=name, chunk=chunk: script(name, [list(source.text(d.key)) for d in chunk]), [d.key for d in chunk], \
            [d.key for d in chunk]


def _result(d: SearchDoc, source: SearchSource) -> list:
    title, authors, tldr, language = source.shown(d.key)
    return [d.slug, title, authors, tldr, d.issues, language]


def shards_for_word(site_dir: Path, word: str) -> list[str]:
    """The term files the search page loads for one word (to report what a search costs)."""
    b = bucket(terms(word)[0])
    return sorted(p.relative_to(site_dir).as_posix() for p in (site_dir / SEARCH_DIR).glob(f"t{b}-*.js"))
