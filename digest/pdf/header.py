"""A paper's header from the lines of its first pages: title, authors, affiliations, abstract and date.

The signals are the ones a scholarly parser uses: the largest type near the top is the title; the lines
between it and the abstract are names, affiliations and e-mail addresses; "Abstract" (or, in layouts
without that word such as ACM's, the block after the author lines) opens the abstract, and the first
section heading, keywords or CCS concepts close it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from datetime import date

from digest.pdf.clean import ADVERB_HEAD_RE, normalize_text
from digest.pdf.layout import Line, PageLines

ABSTRACT_HEADING_RE = re.compile(r"^(?:a\s?b\s?s\s?t\s?r\s?a\s?c\s?t|summary)\s*[.:—–-]?$", re.IGNORECASE)
# "Abstract—We ..." (IEEE), "Abstract. We ..." (Springer), "ABSTRACT: We ...": the abstract's first line.
_ABSTRACT_INLINE_RE = re.compile(r"^abstract\s*[.:—–-]\s*(?=\S)", re.IGNORECASE)
# What ends an abstract besides a section heading.
_ABSTRACT_END_RE = re.compile(
    r"^(?:key\s?words|index terms|ccs concepts|acm reference format|graphical abstract|general terms|"
    r"additional key words|contents$|table of contents|significance statement|introduction$)", re.IGNORECASE)
_INTRO_RE = re.compile(r"^(?:(?:\d+|[IVX]+)\.?\s+)?introduction\s*$", re.IGNORECASE)
# Lines on a first page that are not the title: venue banners, copyright, dates, links.
NOT_TITLE_RE = re.compile(
    r"proceedings|journal|conference|©|\(c\)|copyright|https?:|doi|preprint|vol\.|pages?\s+\d|"
    r"advance access|accepted|received|published|arxiv|under review|workshop|^\d+$|^[\W\d_]+$",
    re.IGNORECASE,
)
_AFFILIATION_RE = re.compile(
    r"universit|institut|college|school|department|dept\.|laborator|\blab\b|research|centre|center|"
    r"academy|corporation|\binc\b|\bltd\b|gmbh|company|hospital|foundation|faculty|\bai2\b|google|microsoft|"
    r"facebook|\bmeta\b|bytedance|amazon|nvidia|deepmind|openai|\bibm\b|polytechn|ecole|école|"
    r"\busa\b|\buk\b|china|germany|france|japan|canada|\bca\s+\d{5}|\b\d{5}\b", re.IGNORECASE)
_EMAIL_RE = re.compile(r"@|\{[^}]*,[^}]*\}|e-?mail", re.IGNORECASE)
_NOT_NAME_RE = re.compile(r"https?:|www\.|\bdemo\b|preprint|abstract|equal contribution|correspond|"
                          r"submitted|dated|draft|version|\d", re.IGNORECASE)
_NAME_TOKEN_RE = re.compile(r"^(?:[^\W\d_][^\W\d_'’.\-]*(?:[-'’][^\W\d_]+)*\.?|[^\W\d_]\.(?:-?[^\W\d_]\.)*)$")
_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "bin", "al", "y", "dos"}
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_DATE_RES = [
    re.compile(r"\b(?P<month>[A-Z][a-z]{2,8})\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>(?:19|20)\d\d)\b"),
    re.compile(r"\b(?P<day>\d{1,2})\s+(?P<month>[A-Z][a-z]{2,8})\.?,?\s+(?P<year>(?:19|20)\d\d)\b"),
]
_JUNK_TITLE_RE = re.compile(r"^(?:microsoft word|untitled|title|document\d*)\b|^\S+\.(?:dvi|tex|docx?|pdf)\b"
                            r"|\.(?:pdf|docx?|tex|dvi)$", re.IGNORECASE)
_NUMBER_RE = re.compile(r"\d+[.,]\d+")
_SECTION_NUMBER_RE = re.compile(r"^\d{1,2}(?:\.\d{1,2})*\.?\s+[A-Z]")  # '5 Discussion' is a heading, not a title
MAX_TITLE_CHARS = 300  # longer 'titles' are a whole page set in one font, or a metadata abstract


_ONE_WORD_LABELS = {"abstract", "article", "articles", "research", "preprint", "contents", "editorial", "original",
                    "supplementary", "supplement", "correspondence", "perspective", "perspectives", "commentary",
                    "proceedings", "submitted", "technical", "tutorial", "overview", "vignette", "appendix"}


def plausible_title(text: str | None) -> str | None:
    """The text as a title, or None when it is too short, too long, junk, letter-spaced or a table row."""
    t = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip()
    if (not 8 <= len(t) <= MAX_TITLE_CHARS or _JUNK_TITLE_RE.search(t) or _SECTION_NUMBER_RE.match(t)
            or t.endswith(".") and len(t.split()) > 4):  # a sentence, not a title
        return None
    words = t.split()
    # Letter-spaced headings come out as 'A R L L M'; reject those. One word is a title when it is a long one
    # ('Concordance'), not a label a first page prints large ('Article', 'Preprint').
    if len(words) < 2 and not (t.isalpha() and len(t) >= 8 and t.lower() not in _ONE_WORD_LABELS):
        return None
    if sum(len(w) for w in words) / len(words) < 3:
        return None
    if looks_like_table_row(words):
        return None
    return t


def looks_like_table_row(words: list[str]) -> bool:
    """'NCBI-disease 89.36 88.575Discussion': a results row (set large, or first on a page) is not a title."""
    numeric = sum(1 for w in words if _NUMBER_RE.search(w))
    digits = sum(c.isdigit() for w in words for c in w)
    letters = sum(c.isalpha() for w in words for c in w)
    # Words with a lowercase letter and no digit: a title has some, a row of labels and scores few.
    plain = sum(1 for w in words if any(c.islower() for c in w) and not any(c.isdigit() for c in w))
    # A header row repeats its column labels ('Frozen Finetune Frozen Finetune'); a title seldom does.
    counts = Counter(w.casefold() for w in words if len(w) > 3)
    repeated = sum(1 for n in counts.values() if n > 1)
    return ((numeric >= 2 and numeric * 3 >= len(words)) or digits > letters * 0.6 or (plain == 0 and digits > 0)
            or repeated >= 2)


def join_lines(texts: list[str]) -> str:
    """Lines as one paragraph: a soft line-end hyphen (pdfium's U+FFFE or U+00AD) is removed, a printed
    hyphen is kept and joined without a space."""
    out = ""
    for t in texts:
        t = t.strip()
        if not t:
            continue
        if out.endswith(("\ufffe", "\u00ad", "\u2010")):
            left = out[:-1].rsplit(" ", 1)[-1]
            # As in the page texts: a capital after the break ('PaSa-GPT-4o') or an -ly head keeps the hyphen.
            keep = t[:1].isupper() or (ADVERB_HEAD_RE.fullmatch(left) and t[:1].islower())
            out = out[:-1] + ("-" if keep else "") + t
        elif out.endswith("-") and len(out) > 1 and out[-2].isalpha():
            out += t
        else:
            out = f"{out} {t}" if out else t
    return re.sub(r"\s+", " ", out.replace("\ufffe", "").replace("\u00ad", "")).strip()


def text_of(line: Line) -> str:
    """A line's words without its superscript marks when those are known."""
    return line.plain or line.text


def find_title(page: PageLines, stop_y: float) -> tuple[str | None, list[Line]]:
    """The largest type above `stop_y` in the upper part of page 1, with the lines set in it."""
    candidates = [ln for ln in page.lines if ln.y1 > stop_y and ln.y0 > page.height * 0.35
                  and not NOT_TITLE_RE.search(ln.text) and upright(ln, page)]
    best: tuple[str, list[Line]] | None = None
    for size in sorted({ln.size for ln in candidates}, reverse=True)[:3]:
        group = [ln for ln in candidates if abs(ln.size - size) < 0.3]
        # The lines of one title are neighbours: stop at a gap of more than two line heights.
        group.sort(key=lambda ln: -ln.y1)
        block = [group[0]]
        for ln in group[1:]:
            if block[-1].y0 - ln.y1 > 2.2 * size:
                break
            block.append(ln)
        title = plausible_title(join_lines([text_of(ln) for ln in block]))
        if title:
            best = (title, block)
            break
    return best if best else (None, [])


def upright(line: Line, page: PageLines) -> bool:
    """False for a line set sideways in the margin (the arXiv stamp)."""
    # The arXiv margin stamp is set sideways along the left edge: a tall, narrow box.
    return not (line.y1 - line.y0 > 3 * max(line.x1 - line.x0, 1) and line.x0 < page.width * 0.1)


def split_names(text: str) -> list[str]:
    """Names in an author line: 'A, B and C', 'A · B', 'A; B'; each checked to look like a name."""
    parts = re.split(r"\s*(?:,|;|·|•|\u2022|\b(?:and|AND)\b|&|\s{3,}|\t|\|)\s*", normalize_text(text))
    return [n for n in (_clean_name(p) for p in parts) if n]


def _clean_name(part: str) -> str | None:
    name = re.sub(r"[\s*∗†‡§¶#♠♢♡♣♦□⋄✉⋆★]+$|^[\s*∗†‡§¶#♠♢♡♣♦□⋄✉⋆★]+", "", part).strip()
    name = re.sub(r"\s+", " ", name)
    if not name or _NOT_NAME_RE.search(name) or _AFFILIATION_RE.search(name):
        return None
    tokens = name.split()
    if not 1 <= len(tokens) <= 6 or len(tokens) == 1 and len(name) < 2:
        return None
    if not all(_NAME_TOKEN_RE.match(t) and (t[0].isupper() or t.lower() in _PARTICLES) for t in tokens):
        return None
    if len(tokens) == 1 and not name[0].isupper():
        return None
    if not name.isupper() and any(len(t) >= 3 and t.isalpha() and t.isupper() for t in tokens):
        return None  # an acronym in a mixed-case line is an institution ('ETH Zurich'), not a person
    if name.isupper() and len(name) > 3:
        # ACM's ALL-CAPS author lines: 'LUCY LU WANG' -> 'Lucy Lu Wang' (initials stay 'A.').
        name = " ".join(t if len(t.rstrip(".")) == 1 else t.capitalize() for t in tokens)
    return name


_ACM_AUTHORS_RE = re.compile(r"^(?P<names>[A-Z][A-Z.'’\- ]+(?:(?:,\s*|\s+and\s+)[A-Z][A-Z.'’\- ]+)*)"
                             r"(?:[*∗†‡§]|\s*\d)*,\s+(?P<aff>.+)$")


def author_line(line: Line) -> tuple[list[str], str | None]:
    """Names on a header line and, for ACM's 'NAME and NAME, Place, Country', the affiliation after them."""
    text = text_of(line)
    m = _ACM_AUTHORS_RE.match(text)
    if m and any(c.islower() for c in m.group("aff")) and len(m.group("names")) > 4:
        return split_names(re.sub(r"\s+and\s+", ", ", m.group("names"))), m.group("aff").strip()
    if _EMAIL_RE.search(text) or _AFFILIATION_RE.search(text) or _NOT_NAME_RE.search(text) and not line.marks:
        return [], None
    # Authors separated only by their marks ('Kyle Lo† Lucy Lu Wang†'): the marks are the commas.
    if line.marked and line.marks:
        text = line.marked
    names = split_names(text)
    # A line is an author line when all of its parts are names; one bad part means it is something else.
    parts = [p for p in re.split(r"\s*(?:,|;|·|\band\b|&|\|)\s*", text) if p.strip(" *∗†‡")]
    return (names, None) if names and len(names) >= len(parts) else ([], None)


def names_in_a_row(text: str, elsewhere: str) -> list[str]:
    """Authors set in one row with nothing between them ('Achim Zeileis Friedrich Leisch Kurt Hornik'): read
    as first-name/surname pairs, when most of the surnames are printed elsewhere on the first pages too (the
    running head, a citation of the paper's earlier version), which a title or a place would not be."""
    tokens = text.split()
    if not 4 <= len(tokens) <= 12 or len(tokens) % 2 or not all(
            _NAME_TOKEN_RE.match(t) and t[0].isupper() and len(t.rstrip(".")) > 1 and not t.isupper() for t in tokens):
        return []
    surnames = tokens[1::2]
    seen = sum(1 for s in surnames if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", elsewhere))
    if seen < max(2, (len(surnames) + 1) // 2):
        return []
    names = [_clean_name(f"{a} {b}") for a, b in zip(tokens[::2], surnames)]
    return [n for n in names if n] if all(names) else []


def affiliation_parts(line: Line) -> list[str]:
    """Affiliations on one line: a line of several marked places ('†AI2 ♦Univ. of Michigan') gives several."""
    text = line.text
    if line.marks and line.marked:
        parts = [p.strip(" ,;") for p in line.marked.split("|") if p.strip(" ,;")]
    else:
        parts = [re.sub(r"^[\d*∗†‡§¶♠♢♡♣♦□⋄]+\s*", "", text).strip()]
    parts = [_clean_place(p) for p in parts]
    return [p for p in parts if len(p) > 2 and not _EMAIL_RE.search(p)]


# An accent left standing apart from any letter, as a spacing character or (after normalising) a combining one.
_LOOSE_ACCENT_RE = re.compile(r"(?:^|\s+)[´ˇ¨˜ˆ¸˚˘˝\u0300-\u036f]+(?=\s|$)")


def _clean_place(text: str) -> str:
    """A place as printed: TeX's spacing accents put back on their letters ('Universit¨at'), the ones set
    apart from any letter dropped, and pdfium's U+FFFE (a hyphen it took for a soft one) read as join_lines
    reads it at a line's end: a hyphen before a capital ('Ludwig-Maximilians-Universität'), else nothing."""
    text = normalize_text(re.sub(r"\ufffe(?=[A-ZÀ-Þ])", "-", text).replace("\ufffe", ""))
    return re.sub(r"\s+", " ", _LOOSE_ACCENT_RE.sub("", text)).strip()


def find_date(lines: list[Line], meta_date: str | None) -> str | None:
    """A date printed in the header ('Dated: April 3, 2012', 'November 18, 2024', the arXiv stamp's
    '23 Jan 2022'), else the PDF's creation date, as YYYY-MM-DD."""
    for ln in lines:
        for rx in _DATE_RES:
            m = rx.search(ln.text)
            if m:
                month = _MONTHS.get(m.group("month")[:3].lower())
                try:
                    if month:
                        return date(int(m.group("year")), month, int(m.group("day"))).isoformat()
                except ValueError:
                    continue
    return meta_date


def pdf_date(value: str | None) -> str | None:
    """A PDF date string ('D:20220123120000Z') as YYYY-MM-DD, or None."""
    m = re.match(r"^(?:D:)?((?:19|20)\d\d)(\d\d)(\d\d)", value or "")
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        return None


# Keywords set as a row of terms between bars ('Rcpp | attributes | R | C++'), without the word.
_BARRED_TERMS_RE = re.compile(r"^[^|]{1,40}(?:\s\|\s[^|]{1,40}){2,}$")
# A line that dates the document rather than saying anything ('This version was compiled on April 3, 2022').
STAMP_LINE_RE = re.compile(r"^(?:this (?:version|document|vignette) was (?:compiled|generated|built|rendered|last "
                           r"(?:updated|modified))|(?:version|compiled|last (?:updated|modified|compiled)):)\b",
                           re.IGNORECASE)


def is_abstract_end(line: Line) -> bool:
    """Keywords (with the word, or as a row of terms between bars), CCS concepts, 'Contents' or an
    introduction heading: the abstract is over."""
    return bool(_ABSTRACT_END_RE.match(line.text) or _INTRO_RE.match(line.text)
                or _BARRED_TERMS_RE.match(line.text.strip()))


def abstract_start(line: Line) -> str | None:
    """For the line that opens an abstract: the text after the word 'Abstract' ('' for a heading alone)."""
    if ABSTRACT_HEADING_RE.match(line.text):
        return ""
    m = _ABSTRACT_INLINE_RE.match(text_of(line))
    return text_of(line)[m.end():] if m else None


def is_email_or_link(line: Line) -> bool:
    """A line of e-mail addresses or links, which never belongs to an abstract."""
    return bool(_EMAIL_RE.search(line.text) or re.search(r"https?://|www\.", line.text) and len(line.text) < 60)


def is_affiliation(line: Line) -> bool:
    """A line that names a place of work (or is a footnote mark's line in the header)."""
    return bool(_AFFILIATION_RE.search(line.text))
