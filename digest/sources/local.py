"""Reading lists (list:) and folders of local PDFs (dir:): arXiv IDs and PDF URLs in text, Papers for local PDFs."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from digest.config import Config
from digest.pdf.pool import identify_many
from digest.records import ANY_ARXIV_ID, NEW_ARXIV_ID, PageText, Paper, split_arxiv_id, url_key

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


def papers_from_text(text: str, source: str, config: Config) -> list[Paper]:
    """Every arXiv ID / arXiv URL / PDF URL in a text, in order of first mention, deduplicated."""
    papers: dict[str, Paper] = {}
    for m in _TEXT_RE.finditer(text):
        if m.group("pdf"):
            url = m.group("pdf")
            papers.setdefault(url_key(url), url_paper(url, source))
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
        old = papers.get(aid)
        if old is None:
            papers[aid] = placeholder_paper(aid, version, source, config)
        elif version and (old.version or 0) < version:
            # A later mention of a newer version wins, at the first mention's place.
            papers[aid] = placeholder_paper(aid, version, source, config)
    return list(papers.values())


# ---- dir: ---------------------------------------------------------------------------------

def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_pdfs(folder: Path, recursive: bool) -> list[Path]:
    """The *.pdf files of a folder (any case of the suffix), sorted by path."""
    it = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in it if p.is_file() and p.suffix.lower() == ".pdf")


def paper_from_pdf(path: Path, ident: PageText, source: str, config: Config) -> tuple[Paper | None, str | None]:
    """A Paper for a local PDF from its identity, or None and the reason when the PDF cannot be read at all.

    An unreadable file would be an entry with no text, no abstract and its file name for a title: it is
    reported as that file's failure instead.
    """
    path = path.resolve()
    if not ident.ok:
        return None, f"{path.name}: left out, the PDF cannot be read ({ident.error})"
    if ident.arxiv_id:
        aid, version = split_arxiv_id(ident.arxiv_id)
        p = placeholder_paper(aid, version, source, config)
        p.primary_category = ident.category
        p.categories = [ident.category] if ident.category else []
    else:
        p = Paper(key="file:" + file_sha256(path)[:16], title="", source=source)
    p.title = ident.title or path.stem
    p.authors = list(ident.authors)
    header = ident.structure
    if header is not None:
        # What the first page prints, for a paper no feed describes (issue 20): its abstract and date.
        if not ident.arxiv_id:  # an arXiv paper gets its abstract and dates from the API
            p.abstract = p.abstract or header.abstract
        if header.published and not p.published and not ident.arxiv_id:
            p.published = f"{header.published}T00:00:00+00:00"  # a printed day: midnight UTC, like the API's times
    p.local_pdf = str(path)
    return p, None


def papers_from_pdfs(paths: list[Path], source: str, config: Config) -> tuple[list[Paper], list[str]]:
    """Papers for local PDFs, in the order given, and warnings; all are identified in one batch of
    time- and memory-limited worker processes, since a PDF in a folder may be hostile."""
    paths = [p.resolve() for p in paths]
    found = dict(identify_many(paths, config))
    papers: list[Paper] = []
    warnings: list[str] = []
    for path in paths:
        p, warning = paper_from_pdf(path, found[path], source, config)
        if p is not None:
            papers.append(p)
        if warning:
            warnings.append(warning)
    return papers, warnings
