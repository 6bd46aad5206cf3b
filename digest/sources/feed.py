"""RSS, Atom and RDF feeds (rss: and a bare feed path or URL): items that link to arXiv or to PDFs become papers.

The arXiv listing (arxiv:) is such a feed too; its 2024+ items ('arXiv:2609.26811v1 Announce Type: new')
are read here, as other aggregators copy them.
"""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime
from urllib.parse import urlparse

import feedparser
import httpx

from digest.categories import is_category
from digest.config import Config
from digest.errors import FetchError, SourceError
from digest.http import get_feed, make_client
from digest.pdf.clean import split_authors
from digest.records import ANY_ARXIV_ID, Paper
from digest.sources.arxiv_api import utc_iso
from digest.sources.base import SourceResult, merge_papers, read_local, url_paper
from digest.sources.enrich import enrich, has_arxiv_metadata
from digest.sources.ingest import clean_papers
from digest.store import Store

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



def fetch_feed(url: str, source: str, config: Config, store: Store, client: httpx.Client | None,
               *, since: datetime | None, listing: bool, conditional: bool) -> SourceResult:
    """A feed over HTTP: a conditional GET (validators kept in the result), then its papers; SourceError if unread."""
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


def fetch(spec: str, rest: str, config: Config, store: Store, client: httpx.Client | None, *,
          since: datetime | None, conditional: bool) -> SourceResult:
    """rss:URL, rss:file://PATH or a bare feed path: its papers, arXiv ones given the API's metadata."""
    if re.match(r"^https?://", rest, re.IGNORECASE):
        result = fetch_feed(rest, spec, config, store, client, since=since, listing=False, conditional=conditional)
    else:
        result = parse_feed_bytes(read_local(rest, spec, config), spec, config, since=since)
    # Items of an arXiv listing or API answer already carry full metadata; links from other feeds do not.
    enrich([p for p in result.papers if not p.announce_type and not has_arxiv_metadata(p)], result, config)
    return result
