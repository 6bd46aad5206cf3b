"""An issue as a reference-manager file: BibTeX, RIS or CSL JSON (pure functions from Issue to text).

Each paper becomes one entry with its arXiv ID and version, DOI, authors, title, abstract, URL, date of
first publication, primary category and the issue's TL;DR as a note. Citation keys are shared by the
three formats so a paper has one name in all of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from digest.errors import DigestError
from digest.records import Issue, IssueEntry, Paper
from digest.text import strip_accents

ARXIV_ABS = "https://arxiv.org/abs/"

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DATE_RE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
# Han, kana, Hangul: names in these scripts have no given/family split a reference manager could guess.
_CJK_RE = re.compile(r"[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")
_PARTICLES = frozenset({"van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "du", "le",
                        "la", "ter", "ten", "zu", "bin", "ibn", "al", "el"})
_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
_GROUP_WORDS = re.compile(r"\b(?:collaboration|consortium|team|group|project|committee)\b", re.IGNORECASE)
_KEY_STOPWORDS = frozenset({"a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "from", "at", "by",
                            "is", "are", "do", "does", "via", "how", "what", "when", "why", "towards", "toward"})

# BibTeX counts every brace, escaped or not, so literal braces become brace-free commands; the other
# specials are the ones LaTeX would read as markup (%, the comment, would swallow the rest of a line).
_BIBTEX_ESCAPES = {
    "\\": r"\textbackslash{}", "{": r"\textbraceleft{}", "}": r"\textbraceright{}", "%": r"\%", "&": r"\&",
    "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_BIBTEX_SPECIAL = re.compile("[" + re.escape("".join(_BIBTEX_ESCAPES)) + "]")


@dataclass
class Name:
    """An author name as reference managers want it: family and given parts, or one literal string."""

    family: str = ""
    given: str = ""
    suffix: str = ""
    literal: str = ""


@dataclass
class Reference:
    """One paper of an issue, with the fields every export format draws on."""

    key: str
    paper: Paper
    names: list[Name] = field(default_factory=list)
    date: tuple[int, ...] = ()  # (year,), (year, month) or (year, month, day)
    url: str = ""
    note: str = ""


def one_line(text: str | None) -> str:
    """Text with every run of whitespace (newlines from arXiv's wrapped titles too) made one space."""
    return " ".join((text or "").split())


def split_name(name: str) -> Name:
    """Split an author's name into family and given parts; one-word, CJK and group names stay literal."""
    name = one_line(name)
    if not name:
        return Name(literal="")
    if re.fullmatch(r"\{[^{}]*\}", name):  # braced whole, as BibTeX writes a name not to be split
        name = name[1:-1].strip()
    # A name holding ' and ' ('Barnes and Noble Research') is an organisation's: parts would misplace the 'and'.
    if _CJK_RE.search(name) or _GROUP_WORDS.search(name) or re.search(r"\sand\s", name, re.IGNORECASE):
        return Name(literal=name)
    if "," in name:
        family, _, given = (p.strip() for p in name.partition(","))
        if family and given:
            return Name(family=family, given=given)
    words = name.split(" ")
    suffix = ""
    if len(words) > 2 and words[-1].lower() in _SUFFIXES:
        suffix = words.pop()
        words[-1] = words[-1].rstrip(",")
    if len(words) < 2:
        return Name(literal=name)
    start = len(words) - 1
    # "Ludwig van Beethoven": the lowercase particle belongs with the family name, as it sorts there.
    while start > 1 and words[start - 1] in _PARTICLES:
        start -= 1
    return Name(family=" ".join(words[start:]), given=" ".join(words[:start]), suffix=suffix)


def publication_date(paper: Paper) -> tuple[int, ...]:
    """(year, month, day) of the paper's first version, as far as it is known; () when it is not."""
    for value in (paper.published, paper.updated):
        m = _DATE_RE.match(value or "")
        if m:
            return tuple(int(g) for g in m.groups() if g)
    return ()


def paper_url(paper: Paper) -> str:
    """The abstract page of the exact version summarised (arxiv.org, not a mirror), else the paper's own URL."""
    if paper.arxiv_id:
        return ARXIV_ABS + paper.versioned_id
    return paper.abs_url or paper.pdf_url or ""


def _key_word(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", strip_accents(text).lower())


def citation_key(paper: Paper, date: tuple[int, ...]) -> str:
    """'lovelace2026grounded': first author's family name, year, first significant title word (ASCII)."""
    first = split_name(paper.authors[0]) if paper.authors else Name()
    family = _key_word(first.family.split(" ")[-1] if first.family else first.literal) or "anon"
    year = str(date[0]) if date else ""
    # Hyphens split words too: 'Retrieval-Augmented' gives 'retrieval', as in Google Scholar's keys.
    word = next((w for w in (_key_word(t) for t in re.split(r"[\s\-\u2010-\u2015/:]+", paper.title))
                 if w and w not in _KEY_STOPWORDS), "")
    return f"{family}{year}{word[:20]}"


def references(issue: Issue) -> list[Reference]:
    """The issue's papers in order, each with a citation key unique within the issue."""
    refs: list[Reference] = []
    used: set[str] = set()
    for entry in issue.entries:
        paper = entry.paper
        date = publication_date(paper)
        base = key = citation_key(paper, date)
        n = 0
        while key in used:  # a clash gets a, b, ... as BibTeX tools do ('lovelace2026groundeda')
            key = base + _suffix(n)
            n += 1
        used.add(key)
        refs.append(Reference(key=key, paper=paper, names=[split_name(a) for a in paper.authors if a.strip()],
                              date=date, url=paper_url(paper), note=_tldr(entry)))
    return refs


def _references(issue: Issue, refs: list[Reference] | None) -> list[Reference]:
    # A caller writing several formats of one issue makes its references once and passes them in.
    return references(issue) if refs is None else refs


def _suffix(n: int) -> str:
    letters = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(ord("a") + r) + letters
    return letters


def _tldr(entry: IssueEntry) -> str:
    return one_line(entry.generation.tldr) if entry.generation else ""


# ---- BibTeX ------------------------------------------------------------------------------------

def bibtex_escape(text: str) -> str:
    """Text for a braced BibTeX field: LaTeX specials escaped, braces made brace-free, non-ASCII kept."""
    return _BIBTEX_SPECIAL.sub(lambda m: _BIBTEX_ESCAPES[m.group()], one_line(text))


def _bibtex_verbatim(text: str) -> str:
    # URLs, DOIs and IDs are read verbatim by biblatex; only what would unbalance the entry is encoded.
    return one_line(text).replace("{", "%7B").replace("}", "%7D").replace(" ", "%20")


def _bibtex_name(name: Name) -> str:
    if name.literal:
        return "{" + bibtex_escape(name.literal) + "}"
    parts = [name.family, name.suffix, name.given] if name.suffix else [name.family, name.given]
    # A part holding ' and ' or a comma would split the author list or the name; braces keep it whole.
    return ", ".join("{" + bibtex_escape(p) + "}" if re.search(r"\band\b|,", p, re.IGNORECASE) else bibtex_escape(p)
                     for p in parts)


def bibtex_entry(ref: Reference) -> str:
    """One @misc (or, with a journal reference, @article) entry in the form arXiv itself exports."""
    p = ref.paper
    fields: list[tuple[str, str]] = [("title", "{" + bibtex_escape(p.title) + "}")]
    if ref.names:
        fields.append(("author", "{" + " and ".join(_bibtex_name(n) for n in ref.names) + "}"))
    if ref.date:
        fields.append(("year", f"{{{ref.date[0]:04d}}}"))
        if len(ref.date) > 1:
            fields.append(("month", _MONTHS[ref.date[1] - 1]))  # the month macro, right in every style
        fields.append(("date", "{" + "-".join(f"{v:02d}" for v in ref.date) + "}"))
    if p.journal_ref:
        fields.append(("journal", "{" + bibtex_escape(p.journal_ref) + "}"))
    if p.arxiv_id:
        fields += [("eprint", "{" + _bibtex_verbatim(p.arxiv_id) + "}"), ("archivePrefix", "{arXiv}")]
        if p.primary_category:
            fields.append(("primaryClass", "{" + _bibtex_verbatim(p.primary_category) + "}"))
        if p.version:
            fields.append(("version", f"{{{p.version}}}"))
    if p.doi:
        fields.append(("doi", "{" + _bibtex_verbatim(p.doi) + "}"))
    if ref.url:
        fields.append(("url", "{" + _bibtex_verbatim(ref.url) + "}"))
    if p.abstract:
        fields.append(("abstract", "{" + bibtex_escape(p.abstract) + "}"))
    if ref.note:
        # annote, not note: styles print `note` in a reference list, and a TL;DR does not belong there.
        fields.append(("annote", "{" + bibtex_escape(ref.note) + "}"))
    kind = "article" if p.journal_ref else "misc"
    body = "".join(f"  {name} = {value},\n" for name, value in fields)
    return f"@{kind}{{{ref.key},\n{body}}}\n"


def to_bibtex(issue: Issue, refs: list[Reference] | None = None) -> str:
    """The issue's papers as a UTF-8 BibTeX file."""
    header = f"% {issue.id} ({issue.week_start} to {issue.week_end}): {len(issue.entries)} papers. UTF-8.\n\n"
    return header + "\n".join(bibtex_entry(r) for r in _references(issue, refs))


# ---- RIS ---------------------------------------------------------------------------------------

def _ris_name(name: Name) -> str:
    if name.literal:
        return name.literal
    return ", ".join(x for x in (name.family, name.given, name.suffix) if x)


def ris_record(ref: Reference) -> str:
    """One RIS record: TY first, one AU per author, ER last; every value on one line."""
    p = ref.paper
    lines: list[tuple[str, str]] = [("TY", "JOUR" if p.journal_ref else "GEN"), ("ID", ref.key),
                                    ("TI", p.title)]
    lines += [("AU", _ris_name(n)) for n in ref.names]
    if ref.date:
        lines.append(("PY", f"{ref.date[0]:04d}"))
        parts = [f"{v:02d}" for v in ref.date] + [""] * (3 - len(ref.date))
        lines.append(("DA", "/".join(parts) + "/"))  # RIS dates are YYYY/MM/DD/other-info
    if p.journal_ref:
        lines.append(("JO", p.journal_ref))
    if p.arxiv_id:
        lines += [("PB", "arXiv"), ("AN", f"arXiv:{p.versioned_id}")]
        if p.version:
            lines.append(("ET", f"v{p.version}"))
    if p.primary_category:
        lines.append(("KW", p.primary_category))
    if p.doi:
        lines.append(("DO", p.doi))
    if ref.url:
        lines.append(("UR", ref.url))
    if p.abstract:
        lines.append(("AB", p.abstract))
    if ref.note:
        lines.append(("N1", ref.note))
    text = "".join(f"{tag}  - {one_line(value)}\n" for tag, value in lines if one_line(value))
    return text + "ER  - \n"


def to_ris(issue: Issue, refs: list[Reference] | None = None) -> str:
    """The issue's papers as a RIS file (UTF-8), records separated by a blank line."""
    return "\n".join(ris_record(r) for r in _references(issue, refs))


# ---- CSL JSON ----------------------------------------------------------------------------------

def _csl_name(name: Name) -> dict[str, str]:
    if name.literal:
        return {"literal": name.literal}
    out = {"family": name.family, "given": name.given}
    if name.suffix:
        out["suffix"] = name.suffix
    return out


def csl_item(ref: Reference) -> dict:
    """One CSL JSON item: an 'article' (a preprint) or, with a journal reference, an 'article-journal'."""
    p = ref.paper
    item: dict = {"id": ref.key, "type": "article-journal" if p.journal_ref else "article",
                  "title": one_line(p.title), "author": [_csl_name(n) for n in ref.names]}
    if ref.date:
        item["issued"] = {"date-parts": [list(ref.date)]}
    if p.journal_ref:
        item["container-title"] = one_line(p.journal_ref)
    if p.arxiv_id:
        item["number"] = p.arxiv_id
        item["publisher"] = "arXiv"
        if p.version:
            item["version"] = str(p.version)
    if p.primary_category:
        item["keyword"] = p.primary_category
    if p.doi:
        item["DOI"] = one_line(p.doi)
    if ref.url:
        item["URL"] = ref.url
    if p.abstract:
        item["abstract"] = one_line(p.abstract)
    if ref.note:
        item["note"] = ref.note
    return item


def to_csl_json(issue: Issue, refs: list[Reference] | None = None) -> str:
    """The issue's papers as a CSL JSON list (what Zotero, Mendeley and pandoc read), one item per line."""
    # Not indent=2: that takes json's pure-Python encoder, several times slower over a whole archive.
    items = [json.dumps(csl_item(r), ensure_ascii=False) for r in _references(issue, refs)]
    return "[\n" + ",\n".join(items) + "\n]\n" if items else "[]\n"


# ---- formats -----------------------------------------------------------------------------------

FORMATS: dict[str, tuple[str, Callable[[Issue, list[Reference] | None], str]]] = {
    "bibtex": ("bib", to_bibtex),
    "ris": ("ris", to_ris),
    "csljson": ("json", to_csl_json),
}


def export_issue(issue: Issue, fmt: str, refs: list[Reference] | None = None) -> str:
    """The issue in one of FORMATS ('bibtex', 'ris', 'csljson'), from `references(issue)` if given."""
    try:
        _, render = FORMATS[fmt]
    except KeyError:
        raise DigestError(f"unknown export format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
    return render(issue, refs)
