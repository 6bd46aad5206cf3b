"""list:<file>: a reading list; every arXiv ID, arXiv URL or PDF URL in a text or Markdown file is a paper."""

from __future__ import annotations

import re
from datetime import datetime

import httpx

from digest.config import Config
from digest.records import ANY_ARXIV_ID, NEW_ARXIV_ID, Paper, url_key
from digest.sources.base import SourceResult, placeholder_paper, read_local, url_paper
from digest.sources.enrich import enrich
from digest.store import Store

# Archive names of pre-2007 IDs; a bare "word/1234567" is taken as an ID only for these.
_OLD_ARCHIVES = (
    "acc-phys|adap-org|alg-geom|ao-sci|astro-ph|atom-ph|bayes-an|chao-dyn|chem-ph|cmp-lg|comp-gas|"
    "cond-mat|cs|dg-ga|funct-an|gr-qc|hep-ex|hep-lat|hep-ph|hep-th|math|math-ph|mtrl-th|nlin|"
    "nucl-ex|nucl-th|patt-sol|physics|plasm-ph|q-alg|q-bio|quant-ph|solv-int|supr-con"
)
_OLD_ID = rf"(?:{_OLD_ARCHIVES})(?:\.[A-Z]{{2}})?/\d{{7}}"

# One scan, left to right; at one position the earlier alternative wins, so an arxiv.org/pdf/
# URL is an arXiv paper, not a generic PDF URL.
_TEXT_RE = re.compile(
    rf"(?:https?://)?(?:(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html|format)|huggingface\.co/papers"
    rf"|(?:www\.)?alphaxiv\.org/abs)/(?P<url_id>{ANY_ARXIV_ID})(?:v(?P<url_v>\d+))?"
    rf"|\barxiv:\s?(?P<tag_id>{ANY_ARXIV_ID})(?:v(?P<tag_v>\d+))?"
    r"|(?P<pdf>https?://[^\s<>()\[\]{}\"'`|]+?\.pdf(?:\?[^\s<>()\[\]{}\"'`|]*[^\s<>()\[\]{}\"'`|.,;:!?])?)(?![\w/])"
    rf"|(?<![\w./-])(?P<bare_id>{NEW_ARXIV_ID}|{_OLD_ID})(?:v(?P<bare_v>\d+))?(?![\w/]|\.\d)",
    re.IGNORECASE,
)


def plausible_new_id(aid: str) -> bool:
    """True for a new-style ID whose YYMM is a real month since April 2007 with the right digit count."""
    m = re.fullmatch(r"(\d{2})(\d{2})\.(\d{4,5})", aid)
    if not m:
        return True  # old-style: the archive list already vouched for it
    yy, mm, num = int(m.group(1)), int(m.group(2)), m.group(3)
    if not 1 <= mm <= 12 or (yy, mm) < (7, 4):
        return False
    return len(num) == (5 if yy >= 15 else 4)


def _mentions(text: str) -> dict[str, tuple[str, int | None]]:
    """Key -> (arXiv ID or PDF URL, version) of every paper a text mentions, in order of first mention."""
    found: dict[str, tuple[str, int | None]] = {}
    for m in _TEXT_RE.finditer(text):
        if m.group("pdf"):
            url = m.group("pdf")
            found.setdefault(url_key(url), (url, None))
            continue
        aid = m.group("url_id") or m.group("tag_id") or m.group("bare_id")
        v = m.group("url_v") or m.group("tag_v") or m.group("bare_v")
        if m.group("bare_id") and not plausible_new_id(aid):
            continue
        if re.fullmatch(r"[a-z][a-z\-]+(?:\.[a-z]{2})?/\d{7}", aid, re.IGNORECASE):
            arch, _, num = aid.partition("/")
            head, dot, sub = arch.partition(".")
            aid = f"{head.lower()}{dot}{sub.upper()}/{num}"  # math.gt/0309136 -> math.GT/0309136
        version = int(v) if v else None
        old = found.get(aid)
        if old is None or (version and (old[1] or 0) < version):
            # A later mention of a newer version wins, at the first mention's place.
            found[aid] = (aid, version)
    return found


def _paper(key: str, what: str, version: int | None, source: str, config: Config) -> Paper:
    # An arXiv paper's key is its ID; a PDF's is url_key(url), never the URL itself.
    return placeholder_paper(what, version, source, config) if key == what else url_paper(what, source)


def papers_from_text(text: str, source: str, config: Config) -> list[Paper]:
    """Every arXiv ID / arXiv URL / PDF URL in a text, in order of first mention, deduplicated."""
    return [_paper(key, what, v, source, config) for key, (what, v) in _mentions(text).items()]


def fetch(spec: str, rest: str, config: Config, store: Store, client: httpx.Client | None, *,
          since: datetime | None, conditional: bool) -> SourceResult:
    """The file's papers in order of first mention (the first arxiv.api_max_ids), arXiv ones given the API's metadata.

    A list's papers are IDs until the API fills them in: past what can be looked up they would be
    titles like '2611.00042' to store, clean and rank by the hundred thousand, so they are left out.
    """
    text = read_local(rest, spec, config).decode("utf-8", errors="replace")
    mentions, cap = list(_mentions(text).items()), config.arxiv.api_max_ids
    result = SourceResult(source=spec, papers=[_paper(k, what, v, spec, config) for k, (what, v) in mentions[:cap]])
    if len(mentions) > cap:
        result.warnings.append(f"{len(mentions):,} papers listed; the first {cap:,} in the file taken, the other "
                               f"{len(mentions) - cap:,} left out (arxiv.api_max_ids, the most looked up on the API)")
    enrich(result.papers, result, config)
    result.empty_listing = not result.papers
    return result
