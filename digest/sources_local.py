"""Reading lists (list:) and folders of local PDFs (dir:): finding arXiv IDs, PDF URLs and PDF identities."""

from __future__ import annotations

import hashlib
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from .config import Config
from .records import Paper, url_key

_NEW_ID = r"\d{4}\.\d{4,5}"
# Archive names of pre-2007 IDs; a bare "word/1234567" is taken as an ID only for these.
_OLD_ARCHIVES = (
    "acc-phys|adap-org|alg-geom|ao-sci|astro-ph|atom-ph|bayes-an|chao-dyn|chem-ph|cmp-lg|comp-gas|"
    "cond-mat|cs|dg-ga|funct-an|gr-qc|hep-ex|hep-lat|hep-ph|hep-th|math|math-ph|mtrl-th|nlin|"
    "nucl-ex|nucl-th|patt-sol|physics|plasm-ph|q-alg|q-bio|quant-ph|solv-int|supr-con"
)
_OLD_ID = rf"(?:{_OLD_ARCHIVES})(?:\.[A-Z]{{2}})?/\d{{7}}"
ANY_ID = rf"(?:{_NEW_ID}|[a-z][a-z\-]+(?:\.[A-Z]{{2}})?/\d{{7}})"

# One scan, left to right; at one position the earlier alternative wins, so an arxiv.org/pdf/
# URL is an arXiv paper, not a generic PDF URL.
_TEXT_RE = re.compile(
    rf"(?:https?://)?(?:(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html|format)|huggingface\.co/papers"
    rf"|(?:www\.)?alphaxiv\.org/abs)/(?P<url_id>{ANY_ID})(?:v(?P<url_v>\d+))?"
    rf"|\barxiv:\s?(?P<tag_id>{ANY_ID})(?:v(?P<tag_v>\d+))?"
    r"|(?P<pdf>https?://[^\s<>()\[\]{}\"'`|]+?\.pdf(?:\?[^\s<>()\[\]{}\"'`|]*[^\s<>()\[\]{}\"'`|.,;:!?])?)(?![\w/])"
    rf"|(?<![\w./-])(?P<bare_id>{_NEW_ID}|{_OLD_ID})(?:v(?P<bare_v>\d+))?(?![\w/]|\.\d)",
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

_STAMP_RE = re.compile(rf"arXiv:\s*(?P<id>{ANY_ID})(?:v(?P<v>\d+))?\s*\[(?P<cat>[^\]\s]+)\]")
_JUNK_TITLE = re.compile(r"^(microsoft word|untitled|title|document\d*|\S+\.(?:dvi|tex|docx?|pdf))\b",
                         re.IGNORECASE)


@dataclass
class PdfIdentity:
    """What the metadata and first page of a local PDF say about it."""

    title: str | None = None
    authors: list[str] = field(default_factory=list)
    arxiv_id: str | None = None
    version: int | None = None
    primary_category: str | None = None
    error: str | None = None


@contextmanager
def _quiet_pypdf():
    # pypdf logs a warning for every repaired defect; for identification they are noise.
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def split_authors(text: str) -> list[str]:
    """Author names from 'A, B and C', 'A; B', or BibTeX 'Last, First and Last, First'."""
    text = re.sub(r"<[^>]+>", "", text or "").strip()
    if not text:
        return []
    if ";" in text:
        parts = text.split(";")
    elif re.search(r"\s+and\s+", text) and "," in text and all(
            p.count(",") == 1 for p in re.split(r"\s+and\s+", text)):
        # BibTeX style: every name is "Last, First".
        parts = [" ".join(reversed([s.strip() for s in p.split(",", 1)]))
                 for p in re.split(r"\s+and\s+", text)]
    else:
        parts = re.split(r",|\s+and\s+|&", text)
    names: list[str] = []
    for part in (re.sub(r"\s+", " ", p).strip(" ,") for p in parts):
        if names and re.fullmatch(r"(?:[A-Z]\.\s?-?)+", part):
            # bioRxiv style 'LAPALU, N., SIMON, A.': the initials belong to the name before them.
            names[-1] = f"{part} {names[-1]}"
        elif part:
            names.append(part)
    return names


def _plausible_title(t: str | None) -> str | None:
    t = re.sub(r"\s+", " ", t or "").strip()
    if len(t) < 8 or _JUNK_TITLE.match(t):
        return None
    words = t.split()
    # Small caps and letter-spaced headings come out as 'A R L L M'; reject those.
    if len(words) < 2 or sum(len(w) for w in words) / len(words) < 3:
        return None
    return t


def _largest_font_text(page) -> str | None:
    runs: list[tuple[float, str]] = []

    def visit(text, cm, tm, font, size):
        a = tm[0] * cm[0] + tm[1] * cm[2]
        b = tm[0] * cm[1] + tm[1] * cm[3]
        c = tm[2] * cm[0] + tm[3] * cm[2]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        if abs(b) > 1e-3 or abs(c) > 1e-3 or not text.strip():
            return  # rotated text: the arXiv margin stamp, not the title
        runs.append((round(size * (c * c + d * d) ** 0.5, 1), text.strip()))

    page.extract_text(visitor_text=visit)
    if not runs:
        return None
    top = max(s for s, _ in runs)
    return " ".join(t for s, t in runs if abs(s - top) < 0.5)


def identify_pdf(path: Path) -> PdfIdentity:
    """Title, authors and arXiv ID of a local PDF from its metadata and first page; never raises."""
    ident = PdfIdentity()
    try:
        from pypdf import PdfReader
        with _quiet_pypdf():
            reader = PdfReader(str(path), strict=False)
            meta = reader.metadata
            if meta:
                ident.title = _plausible_title(meta.title)
                ident.authors = split_authors(str(meta.author or ""))
            page = reader.pages[0]
            text = page.extract_text() or ""
            m = _STAMP_RE.search(text)
            if m:
                ident.arxiv_id = m.group("id")
                ident.version = int(m.group("v")) if m.group("v") else None
                ident.primary_category = m.group("cat")
            if ident.title is None:
                ident.title = _plausible_title(_largest_font_text(page))
            if ident.title is None:
                lines = [ln for ln in text.splitlines() if ln.strip() and not _STAMP_RE.search(ln)]
                ident.title = _plausible_title(lines[0]) if lines else None
    except Exception as e:  # noqa: BLE001 - broken PDFs raise anything; the paper is kept regardless
        ident.error = f"{type(e).__name__}: {e}"[:200]
    return ident


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


def paper_from_pdf(path: Path, source: str, config: Config) -> tuple[Paper, str | None]:
    """A Paper for a local PDF (kept even when the PDF is broken) and a warning, if any."""
    path = path.resolve()
    ident = identify_pdf(path)
    warning = f"{path.name}: unreadable PDF ({ident.error}); kept under its file name" if ident.error else None
    if ident.arxiv_id:
        p = placeholder_paper(ident.arxiv_id, ident.version, source, config)
        p.primary_category = ident.primary_category
        p.categories = [ident.primary_category] if ident.primary_category else []
    else:
        p = Paper(key="file:" + file_sha256(path)[:16], title="", source=source)
    p.title = ident.title or path.stem
    p.authors = ident.authors
    p.local_pdf = str(path)
    return p, warning
