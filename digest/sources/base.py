"""What every source kind shares: the result record, papers known by an ID or a URL, one paper's records merged,
and reading a local file."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import unquote, urlparse

from digest.config import Config
from digest.errors import SourceError
from digest.records import Paper, url_key
from digest.store import Store


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


def placeholder_paper(aid: str, version: int | None, source: str, config: Config) -> Paper:
    """An arXiv paper known only by its ID (title = the ID until the API fills it in)."""
    vid = f"{aid}v{version}" if version else aid
    return Paper(key=aid, arxiv_id=aid, version=version, title=vid, source=source,
                 abs_url=config.arxiv.abs_url.format(id=vid), pdf_url=config.arxiv.pdf_url.format(id=vid))


def url_paper(url: str, source: str, title: str | None = None) -> Paper:
    """A non-arXiv paper known by its PDF URL; the title defaults to the file name."""
    name = unquote(Path(urlparse(url).path).name) or url
    return Paper(key=url_key(url), title=title if title is not None else name, pdf_url=url,
                 abs_url=url, source=source)


def read_local(path_text: str, source: str, config: Config) -> bytes:
    """A local file's bytes (a path relative to the config, or a file:// URL); SourceError naming it if unreadable."""
    path = Path(unquote(urlparse(path_text).path)) if path_text.startswith("file://") else config.resolve(path_text)
    try:
        return path.read_bytes()
    except OSError as e:
        raise SourceError(source, f"cannot read {path}: {e.strerror or e}",
                          hint="check the path (relative paths are relative to the config file)") from None


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

