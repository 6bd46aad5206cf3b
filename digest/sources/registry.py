"""The sources stage: turn source specs (arxiv:, arxiv-query:, rss:, list:, dir:, a feed file) into Papers."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import feedparser
import httpx

from digest.categories import is_category
from digest.config import Config
from digest.errors import FetchError, SourceError
from digest.http import get_feed, make_client
from digest.pdf.clean import split_authors
from digest.records import ANY_ARXIV_ID, Paper, split_arxiv_id
from digest.sources.arxiv_api import ApiUnreachable, query_api, utc_iso
from digest.sources.ingest import clean_papers
from digest.sources.local import list_pdfs, papers_from_pdfs, papers_from_text, url_paper
from digest.store import Store

__all__ = [
    "KINDS", "SourceResult", "fetch_source", "fetch_sources", "parse_feed_bytes", "papers_from_text",
    "merge_papers",
]

KINDS = {
    "arxiv": "arxiv:cs.CL or arxiv:cs.CL+cs.LG (the arXiv RSS listing)",
    "arxiv-query": "arxiv-query:ti:summarization or arxiv-query:id:2104.12255,quant-ph/0201082",
    "rss": "rss:https://example.org/feed.xml (any RSS/Atom feed linking to arXiv or PDFs)",
    "list": "list:reading-list.md (arXiv IDs and URLs in a text file)",
    "dir": "dir:papers/ or dir:papers/** (local PDFs)",
}
_KINDS_HINT = ("write kind:rest with kind one of " + ", ".join(f"{k}:" for k in KINDS)
               + " (e.g. arxiv:cs.CL), or a path to a feed file; see `digest sources check --help`")


@dataclass
class SourceResult:
    """What one source gave: papers, warnings, and whether there was nothing new to read."""

    source: str  # the spec
    papers: list[Paper] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. "ill-formed feed: <reason>; 3 entries read"
    not_modified: bool = False  # 304 to our conditional GET
    empty_listing: bool = False  # e.g. the arXiv listing on a weekend: nothing new, not an error
    # (url, etag, last_modified, status) to remember once the papers are stored: remembering it
    # earlier would make a run killed in between get a 304 next time and lose those papers.
    feed_state: tuple[str, str | None, str | None, int] | None = None


def remember_feed_state(store: Store, result: SourceResult) -> None:
    """Store a feed's validators for the next conditional GET; call after its papers are stored."""
    if result.feed_state:
        store.save_feed_state(*result.feed_state)


# ---- feeds ----------------------------------------------------------------------------------

_LISTING_RE = re.compile(rf"^\s*arXiv:(?P<id>{ANY_ARXIV_ID})v(?P<v>\d+)\s+Announce Type:\s*(?P<type>[\w-]+)",
                         re.IGNORECASE)
_ARXIV_LINK_RE = re.compile(
    rf"arxiv\.org/(?:abs|pdf|html)/(?P<id>{ANY_ARXIV_ID})(?:v(?P<v>\d+))?|oai:arXiv\.org:(?P<oai>{ANY_ARXIV_ID})(?:v(?P<ov>\d+))?",
    re.IGNORECASE,
)
_ARXIV_TAG_RE = re.compile(rf"\barXiv:\s?(?P<id>{ANY_ARXIV_ID})(?:v(?P<v>\d+))?", re.IGNORECASE)
# Pre-2024 arXiv RSS titles: "Title. (arXiv:2401.01234v1 [cs.CL])"; other aggregators still copy them.
_OLD_TITLE_RE = re.compile(r"\.?\s*\(arXiv:\S+?(?:\s+\[(?P<cat>[^\]]*)\])?(?:\s+\w+)?\)\s*$")
_HARMLESS_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


def _clean(text: str | None) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def _strip_html(text: str | None) -> str:
    return _clean(html.unescape(re.sub(r"<[^>]+>", " ", text or "")))


def _entry_time(entry, *names: str) -> str | None:
    for name in names:
        key = f"{name}_parsed"
        # `in` first: a plain get of updated_parsed falls back to published with a DeprecationWarning.
        t = entry[key] if key in entry else None  # noqa: SIM401
        if t:
            return datetime(*t[:6], tzinfo=UTC).isoformat()
    return None


def _arxiv_urls(p: Paper, config: Config) -> None:
    vid = p.versioned_id
    p.abs_url = config.arxiv.abs_url.format(id=vid)
    p.pdf_url = config.arxiv.pdf_url.format(id=vid)


def _entry_links(entry) -> list[str]:
    hrefs = [entry.get("link", "")]
    hrefs += [ln.get("href", "") for ln in entry.get("links", [])]
    hrefs += [enc.get("href", "") for enc in entry.get("enclosures", [])]
    return [h.strip() for h in hrefs if h and h.strip()]


def _entry_html(entry) -> str:
    parts = [entry.get("summary", "")] + [c.get("value", "") for c in entry.get("content", [])]
    return " ".join(parts)


def _find_arxiv(entry) -> tuple[str, int | None] | None:
    """The arXiv ID an item points at: links first, then its id, then links and mentions in its text."""
    text = _entry_html(entry)
    mentions = entry.get("title", "") + " " + _strip_html(text)
    found: tuple[str, int | None] | None = None
    for hay in [*_entry_links(entry), entry.get("id", ""), text]:
        m = _ARXIV_LINK_RE.search(hay)
        if m:
            aid, v = (m.group("id"), m.group("v")) if m.group("id") else (m.group("oai"), m.group("ov"))
            found = aid, int(v) if v else None
            break
    if found is None or found[1] is None:
        # An unversioned link ('arxiv.org/abs/2104.12255') may come with 'arXiv:2104.12255v1' in the title.
        for m in _ARXIV_TAG_RE.finditer(mentions):
            if found is None or (m.group("id") == found[0] and m.group("v")):
                return m.group("id"), int(m.group("v")) if m.group("v") else None
    return found


def _find_pdf(entry) -> str | None:
    for ln in [*entry.get("links", []), *entry.get("enclosures", [])]:
        if ln.get("type", "").lower() == "application/pdf" and ln.get("href", "").startswith("http"):
            return ln["href"].strip()
    for href in _entry_links(entry):
        if href.startswith("http") and urlparse(href).path.lower().endswith(".pdf"):
            return href
    m = re.search(r"""href=["'](https?://[^"']+?\.pdf)["']""", _entry_html(entry), re.IGNORECASE)
    return html.unescape(m.group(1)) if m else None


def _authors(entry) -> list[str]:
    names: list[str] = []
    for a in entry.get("authors", []) or ([{"name": entry["author"]}] if entry.get("author") else []):
        names += split_authors(a.get("name", ""))
    return list(dict.fromkeys(names))


def _listing_paper(entry, m: re.Match, source: str, config: Config) -> Paper:
    """An item of the 2024+ arXiv RSS listing ('arXiv:2609.26811v1 Announce Type: new Abstract: ...')."""
    aid, version, kind = m.group("id"), int(m.group("v")), m.group("type").lower()
    kind = entry.get("arxiv_announce_type", kind).strip().lower() or kind
    summary = entry.get("summary", "")
    abstract = summary.split("Abstract:", 1)[1] if "Abstract:" in summary else summary[m.end():]
    cats = [t["term"].strip() for t in entry.get("tags", []) if t.get("term", "").strip()]
    day = _entry_time(entry, "published", "updated")
    p = Paper(
        key=aid, arxiv_id=aid, version=version, title=_clean(entry.get("title", "")),
        authors=_authors(entry), abstract=_strip_html(abstract), categories=cats,
        primary_category=cats[0] if cats else None,
        # The listing gives the announcement day only; it is the publication day for a new v1.
        published=day if (kind == "new" or version == 1) else None, updated=day,
        announce_type=kind, license=_clean(entry.get("rights")) or None,
        doi=_clean(entry.get("arxiv_doi")) or None, source=source,
    )
    _arxiv_urls(p, config)
    return p


def _item_paper(entry, source: str, config: Config) -> Paper | None:
    """A paper from any feed item linking to arXiv or to a PDF; None when it links to neither."""
    m = _LISTING_RE.match(_strip_html(entry.get("summary", "")))
    if m:
        return _listing_paper(entry, m, source, config)
    raw_title = _clean(entry.get("title", ""))
    old_format = _OLD_TITLE_RE.search(raw_title)
    title = raw_title[:old_format.start()] if old_format else raw_title
    common = dict(title=title, authors=_authors(entry), abstract=_strip_html(_entry_html(entry)),
                  published=_entry_time(entry, "published", "updated"),
                  updated=_entry_time(entry, "updated", "published"), source=source)
    found = _find_arxiv(entry)
    if found:
        aid, version = found
        cats = [t["term"] for t in entry.get("tags", []) if is_category((t.get("term") or "").strip())]
        if not cats and old_format and old_format.group("cat"):
            cats = [c for c in old_format.group("cat").split() if is_category(c)]
        p = Paper(key=aid, arxiv_id=aid, version=version, categories=cats,
                  primary_category=cats[0] if cats else None, **common)
        _arxiv_urls(p, config)
        return p
    pdf = _find_pdf(entry)
    if pdf:
        p = url_paper(pdf, source, title=title or None)
        for k, v in common.items():
            if k != "title":
                setattr(p, k, v)
        link = entry.get("link", "").strip()
        p.abs_url = link if link.startswith("http") else pdf
        return p
    return None


def parse_feed_bytes(body: bytes, source: str, config: Config, *, since: datetime | None = None,
                     listing: bool = False) -> SourceResult:
    """Papers of an RSS/Atom/RDF feed body; raises SourceError when nothing could be read from it.

    `since` drops items published before it, except in an arXiv daily listing (`listing`),
    which is kept whole: its dates are announcement days.
    """
    d = feedparser.parse(io.BytesIO(body))
    result = SourceResult(source=source)
    exc = d.get("bozo_exception")
    reason = _clean(f"{type(exc).__name__}: {getattr(exc, 'getMessage', lambda: str(exc))()}") if exc else ""
    if d.get("bozo") and not d.entries and not (isinstance(exc, _HARMLESS_BOZO) and d.get("version")):
        raise SourceError(source, f"ill-formed feed, nothing could be read ({reason})",
                          hint="check that the address serves an RSS or Atom feed")
    if not d.get("bozo") and not d.get("version") and not d.entries:
        raise SourceError(source, "not an RSS or Atom feed", hint="check the feed address")
    if d.get("bozo"):
        result.warnings.append(f"ill-formed feed: {reason}; {len(d.entries)} entries read")
    since_iso = utc_iso(since)
    skipped = old = 0
    seen: dict[str, Paper] = {}
    for entry in d.entries:
        p = _item_paper(entry, source, config)
        if p is None:
            skipped += 1
            continue
        if since_iso and not listing and not p.announce_type and p.published and p.published < since_iso:
            old += 1
            continue
        seen[p.key] = merge_papers(seen[p.key], p) if p.key in seen else p
    result.papers = list(seen.values())
    result.warnings += clean_papers(result.papers)
    if skipped:
        result.warnings.append(f"{skipped} of {len(d.entries)} items skipped: no arXiv or PDF link")
    if old:  # said, so that "found 0" in a feed of old items is not a mystery
        result.warnings.append(f"{old} of {len(d.entries)} items published before {since_iso[:10]} left out "
                               "(see --since)")
    result.empty_listing = not d.entries
    return result


def _read_local(path_text: str, source: str, config: Config) -> bytes:
    path = Path(unquote(urlparse(path_text).path)) if path_text.startswith("file://") else config.resolve(path_text)
    try:
        return path.read_bytes()
    except OSError as e:
        raise SourceError(source, f"cannot read {path}: {e.strerror or e}",
                          hint="check the path (relative paths are relative to the config file)") from None


def _fetch_feed(url: str, source: str, config: Config, store: Store, client: httpx.Client | None,
                *, since: datetime | None, listing: bool, conditional: bool) -> SourceResult:
    state = store.feed_state(url) if conditional else {}
    own = client is None
    client = client or make_client(config.limits.http_timeout)
    try:
        resp = get_feed(client, url, etag=state.get("etag"), last_modified=state.get("last_modified"),
                        deadline=config.limits.http_deadline, max_bytes=int(config.limits.feed_max_mb * 2**20))
    except FetchError as e:
        raise SourceError(source, e.message, hint=e.hint or "check the network and the feed address") from None
    finally:
        if own:
            client.close()
    if resp.not_modified:
        return SourceResult(source=source, not_modified=True,
                            feed_state=(url, None, None, 304) if conditional else None)
    if resp.status != 200:
        raise SourceError(source, f"HTTP {resp.status} from {url}",
                          hint="check the feed address" if resp.status in (403, 404, 410) else "try again later")
    result = parse_feed_bytes(resp.body, source, config, since=since, listing=listing)
    # Validators only for a body that was read, so a broken answer is fetched again.
    if conditional:
        result.feed_state = (url, resp.etag, resp.last_modified, resp.status)
    return result


# ---- the kinds -------------------------------------------------------------------------------

def split_spec(spec: str) -> tuple[str, str]:
    """('arxiv', 'cs.CL') for 'arxiv:cs.CL'; ('file', path) for a bare feed path; ('rss', url) for a bare URL."""
    spec = spec.strip()
    m = re.match(r"^([A-Za-z][\w-]*):(.*)$", spec, re.DOTALL)
    if m and m.group(1).lower() in KINDS:
        return m.group(1).lower(), m.group(2).strip()
    if re.match(r"^https?://", spec, re.IGNORECASE):
        return "rss", spec
    if spec.startswith("file://") or not m:
        return "file", spec
    raise SourceError(spec, f"unknown source kind '{m.group(1)}'", hint=_KINDS_HINT)


def _has_arxiv_metadata(p: Paper) -> bool:
    """An entry written by arXiv itself (it names a primary category), with abstract and authors."""
    return bool(p.primary_category and p.abstract and p.authors)


def _enrich(papers: list[Paper], result: SourceResult, config: Config) -> None:
    """Fill arXiv papers' metadata from one batched API id_list call; on failure keep them, with a warning."""
    wanted = [p for p in papers if p.arxiv_id]
    if not wanted:
        return
    try:
        answer = query_api(config, result.source, id_list=[p.versioned_id for p in wanted])
    except SourceError as e:
        why = e.short if isinstance(e, ApiUnreachable) else e.detail  # offline advice is no help to dir:
        result.warnings.append(f"arXiv metadata look-up failed for {len(wanted)} paper{'s' if len(wanted) != 1 else ''} "
                               f"({why}); {'they keep' if len(wanted) != 1 else 'it keeps'} what the source gave")
        return
    result.warnings += answer.warnings
    if answer.not_looked_up:
        n = len(answer.not_looked_up)
        result.warnings.append(f"arXiv metadata looked up for the first {len(wanted) - n:,} of {len(wanted):,} papers "
                               f"(arxiv.api_max_ids = {config.arxiv.api_max_ids}); the other {n:,} keep what the "
                               "source gave")
    found = {p.arxiv_id: p for p in answer.papers}
    for p in wanted:
        meta = found.get(p.arxiv_id)
        if meta is None:
            continue
        local_pdf, announce = p.local_pdf, p.announce_type
        for f in fields(Paper):
            v = getattr(meta, f.name)
            if f.name not in ("source", "text_status") and v not in (None, "", []):
                setattr(p, f.name, v)
        p.local_pdf, p.announce_type = local_pdf, announce


def fetch_source(spec: str, config: Config, store: Store, client: httpx.Client | None = None, *,
                 since: datetime | None = None, conditional: bool = True) -> SourceResult:
    """One source; raises SourceError (naming the spec) when it cannot be read at all.

    `conditional=False` neither sends nor stores feed validators (for a look that must not make
    the next real fetch answer 304). Every kind's papers, API metadata included, leave cleaned.
    """
    result = _fetch_kind(spec, config, store, client, since=since, conditional=conditional)
    result.warnings += clean_papers(result.papers)
    return result


def _fetch_kind(spec: str, config: Config, store: Store, client: httpx.Client | None, *,
                since: datetime | None, conditional: bool) -> SourceResult:
    kind, rest = split_spec(spec)
    if not rest:
        raise SourceError(spec, "nothing after the kind", hint=_KINDS_HINT)
    if kind == "arxiv":
        cats = rest.replace(",", "+").replace(" ", "")
        if not all(is_category(c) for c in cats.split("+")):
            raise SourceError(spec, f"not arXiv categories: {rest!r}", hint="write e.g. arxiv:cs.CL+cs.LG")
        url = config.arxiv.rss_url.format(categories=cats)
        return _fetch_feed(url, spec, config, store, client, since=since, listing=True,
                           conditional=conditional)
    if kind == "arxiv-query":
        result = SourceResult(source=spec)
        if rest.startswith("id:"):
            ids = [i.strip() for i in re.split(r"[,\s]+", rest[3:]) if i.strip()]
            for i in ids:
                try:
                    split_arxiv_id(i)
                except ValueError:
                    raise SourceError(spec, f"not an arXiv ID: {i!r}", hint="write e.g. id:2104.12255v1") from None
            answer = query_api(config, spec, id_list=ids)
            if answer.not_looked_up:
                answer.warnings.append(f"only the first {config.arxiv.api_max_ids:,} of {len(ids):,} IDs looked up "
                                       f"(arxiv.api_max_ids); {len(answer.not_looked_up):,} left out")
        else:
            answer = query_api(config, spec, query=rest, since=since)
        result.papers, result.warnings = merge_duplicates(answer.papers), answer.warnings
        result.empty_listing = not result.papers
        return result
    if kind in ("rss", "file"):
        if re.match(r"^https?://", rest, re.IGNORECASE):
            result = _fetch_feed(rest, spec, config, store, client, since=since, listing=False,
                                 conditional=conditional)
        else:
            result = parse_feed_bytes(_read_local(rest, spec, config), spec, config, since=since)
        # Items of an arXiv listing or API answer already carry full metadata; links from other feeds do not.
        _enrich([p for p in result.papers if not p.announce_type and not _has_arxiv_metadata(p)], result, config)
        return result
    if kind == "list":
        text = _read_local(rest, spec, config).decode("utf-8", errors="replace")
        result = SourceResult(source=spec, papers=papers_from_text(text, spec, config))
        _enrich(result.papers, result, config)
        result.empty_listing = not result.papers
        return result
    # dir:
    recursive = rest.endswith("/**") or rest == "**"
    folder = config.resolve(rest[:-3] if rest.endswith("/**") else rest.rstrip("*") or ".")
    if not folder.is_dir():
        raise SourceError(spec, f"{folder} is not a folder", hint="write dir:path/to/pdfs")
    result = SourceResult(source=spec)
    papers, result.warnings = papers_from_pdfs(list_pdfs(folder, recursive), spec, config)
    result.papers = merge_duplicates(papers)
    _enrich(result.papers, result, config)
    result.empty_listing = not result.papers
    return result


# ---- several sources ---------------------------------------------------------------------------

def _richness(p: Paper) -> int:
    return sum(1 for f in fields(Paper) if getattr(p, f.name) not in (None, "", []))


def merge_papers(a: Paper, b: Paper) -> Paper:
    """Two records of one paper: the higher version (then the richer record) wins; it gains what it lacks."""
    rank = lambda p: (p.version or 0, _richness(p))  # noqa: E731
    best, other = (a, b) if rank(a) >= rank(b) else (b, a)
    for name in ("authors", "abstract", "categories", "primary_category", "published", "license",
                 "doi", "comment", "journal_ref", "local_pdf"):
        if getattr(best, name) in (None, "", []) and getattr(other, name) not in (None, "", []):
            setattr(best, name, getattr(other, name))
    if best.arxiv_id and best.title == best.versioned_id and other.title != other.versioned_id:
        best.title = other.title  # a placeholder title (the ID) loses to a real one
    return best


def merge_duplicates(papers: list[Paper]) -> list[Paper]:
    """Papers with one record per key, in order of first appearance."""
    out: dict[str, Paper] = {}
    for p in papers:
        out[p.key] = merge_papers(out[p.key], p) if p.key in out else p
    return list(out.values())


def fetch_sources(specs: list[str], config: Config, store: Store, *, since: datetime | None = None,
                  on_source: Callable[[str, SourceResult | SourceError], None] | None = None,
                  conditional: bool = True) -> tuple[list[SourceResult], list[SourceError]]:
    """All sources; one failing source does not stop the others. De-duplicate papers across sources.

    A paper found by several sources appears once, in the result of the first source that found
    it, as the merged record (highest version, richest metadata). `on_source(spec, result or
    error)` is called as each source finishes (for progress display).
    """
    results: list[SourceResult] = []
    errors: list[SourceError] = []
    with make_client(config.limits.http_timeout) as client:
        for spec in specs:
            try:
                r = fetch_source(spec, config, store, client, since=since, conditional=conditional)
            except SourceError as e:
                errors.append(e)
                if on_source:
                    on_source(spec, e)
                continue
            results.append(r)
            if on_source:
                on_source(spec, r)
    owner: dict[str, tuple[list[Paper], int]] = {}
    for r in results:
        kept: list[Paper] = []
        for p in r.papers:
            if p.key in owner:
                papers, i = owner[p.key]
                papers[i] = merge_papers(papers[i], p)
            else:
                owner[p.key] = (kept, len(kept))
                kept.append(p)
        r.papers = kept
    return results, errors
