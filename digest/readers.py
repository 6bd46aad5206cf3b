"""Each reader's own issue: their interests, and their top papers of the week's pool, each with why.

The LLM writes every paper of the pool once; choosing and ordering for a reader only ranks those
write-ups against what the reader asked for (keywords, authors, categories, their library) and
what they voted on, so the cost of a week grows with papers, never with readers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from digest.errors import DigestError, NotFoundError
from digest.store import Store, utcnow

_MAX_ITEMS = 200           # keywords, authors or categories a reader may keep
_MAX_LIBRARY = 2000        # papers of a reader's library kept for ranking
_MAX_TEXT = 2000           # characters of one library abstract kept
_MAX_PAPERS_LIMIT = 100    # papers one reader's issue may hold


@dataclass
class ReaderInterests:
    """What one reader wants: keywords, followed authors, arXiv categories, their library, issue length."""

    keywords: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    library: list[dict] = field(default_factory=list)  # {"title", "authors", "abstract"} per library paper
    max_papers: int | None = None                      # None: the editor's max_papers

    def is_empty(self) -> bool:
        """True when the reader asked for nothing: they get the editor's issue."""
        return not (self.keywords or self.authors or self.categories or self.library)


def _clean_list(values, what: str) -> list[str]:
    out: list[str] = []
    for v in values or []:
        if not isinstance(v, str):
            raise DigestError(f"{what}: {v!r} is not text", hint=f"give {what} as words or names")
        text = " ".join(v.split())[:200]
        if text and text.casefold() not in {o.casefold() for o in out}:
            out.append(text)
    if len(out) > _MAX_ITEMS:
        raise DigestError(f"too many {what}: {len(out)}", hint=f"keep at most {_MAX_ITEMS}")
    return out


def _clean_library(items) -> list[dict]:
    out = []
    for it in items or []:
        if not isinstance(it, dict):
            continue
        title = " ".join(str(it.get("title") or "").split())[:500]
        authors = [" ".join(str(a).split())[:200] for a in (it.get("authors") or []) if str(a).strip()][:50]
        abstract = " ".join(str(it.get("abstract") or "").split())[:_MAX_TEXT]
        arxiv_id = str(it.get("arxiv_id") or "").strip()[:40] or None
        if title or abstract:
            out.append({"title": title, "authors": authors, "abstract": abstract, "arxiv_id": arxiv_id})
    return out[:_MAX_LIBRARY]


def clean_interests(i: ReaderInterests) -> ReaderInterests:
    """The interests in normal form (trimmed, deduplicated, bounded); raises DigestError on a bad value."""
    if i.max_papers is not None and (isinstance(i.max_papers, bool) or not isinstance(i.max_papers, int)
                                     or not 1 <= i.max_papers <= _MAX_PAPERS_LIMIT):
        raise DigestError(f"max papers {i.max_papers!r} is out of range",
                          hint=f"give a whole number from 1 to {_MAX_PAPERS_LIMIT}, or none for the editor's")
    return ReaderInterests(keywords=_clean_list(i.keywords, "keywords"), authors=_clean_list(i.authors, "authors"),
                           categories=_clean_list(i.categories, "categories"), library=_clean_library(i.library),
                           max_papers=i.max_papers)


def _from_row(r) -> ReaderInterests:
    return ReaderInterests(keywords=json.loads(r["keywords"]), authors=json.loads(r["authors"]),
                           categories=json.loads(r["categories"]), library=json.loads(r["library"]),
                           max_papers=r["max_papers"])


def get_interests(store: Store, subscriber_id: int) -> ReaderInterests:
    """A subscriber's interests; empty ones when none were set."""
    rows = store.query("SELECT * FROM subscriber_interests WHERE subscriber_id=?", (subscriber_id,))
    return _from_row(rows[0]) if rows else ReaderInterests()


def all_interests(store: Store, subscriber_ids: list[int] | None = None) -> dict[int, ReaderInterests]:
    """The interests of every subscriber who set some (or of the ones given), by subscriber id."""
    rows = store.query("SELECT * FROM subscriber_interests ORDER BY subscriber_id")
    wanted = set(subscriber_ids) if subscriber_ids is not None else None
    return {r["subscriber_id"]: _from_row(r) for r in rows if wanted is None or r["subscriber_id"] in wanted}


def set_interests(store: Store, subscriber_id: int, interests: ReaderInterests) -> ReaderInterests:
    """Replace a subscriber's interests (cleaned first); returns what was stored."""
    clean = clean_interests(interests)
    if not store.query("SELECT 1 FROM subscribers WHERE id=?", (subscriber_id,)):
        raise NotFoundError(f"no subscriber with id {subscriber_id}", hint="see `digest subscribers list`")
    store.execute(
        "INSERT INTO subscriber_interests (subscriber_id, keywords, authors, categories, library, max_papers, "
        "updated) VALUES (?,?,?,?,?,?,?) ON CONFLICT(subscriber_id) DO UPDATE SET keywords=excluded.keywords, "
        "authors=excluded.authors, categories=excluded.categories, library=excluded.library, "
        "max_papers=excluded.max_papers, updated=excluded.updated",
        (subscriber_id, json.dumps(clean.keywords, ensure_ascii=False), json.dumps(clean.authors, ensure_ascii=False),
         json.dumps(clean.categories, ensure_ascii=False), json.dumps(clean.library, ensure_ascii=False),
         clean.max_papers, utcnow()),
    )
    return clean


# ---- a reader's library: BibTeX, RIS or CSL JSON (what Zotero, Mendeley and the like export) ---------

_ARXIV_IN_TEXT_RE = re.compile(r"(?i)(?:arxiv[:\s/]*|abs/|pdf/)(\d{4}\.\d{4,5})(?:v\d+)?")


def parse_library(text: str, filename: str = "") -> list[dict]:
    """The papers of a library export as {title, authors, abstract, arxiv_id}; raises DigestError if unreadable.

    The format is told by the content (a JSON array, RIS tags, BibTeX entries), the file name only breaking ties.
    """
    body = text.lstrip("\ufeff").strip()
    if not body:
        return []
    name = filename.lower()
    if body[0] in "[{" or name.endswith(".json"):
        items = _from_csl_json(body)
    elif re.search(r"(?m)^TY  - ", body) or name.endswith(".ris"):
        items = _from_ris(body)
    elif "@" in body:
        items = _from_bibtex(body)
    else:
        raise DigestError(f"cannot read the library {filename or 'file'}: not BibTeX, RIS or CSL JSON",
                          hint="export the collection from your reference manager as BibTeX, RIS or CSL JSON")
    return [it for it in (_library_item(**i) for i in items) if it["title"] or it["abstract"]]


def _library_item(title: str = "", authors: list[str] | None = None, abstract: str = "", where: str = "") -> dict:
    m = _ARXIV_IN_TEXT_RE.search(where)
    return {"title": _plain(title), "authors": [_plain(a) for a in authors or [] if _plain(a)],
            "abstract": _plain(abstract), "arxiv_id": m.group(1) if m else None}


def _plain(text: str) -> str:
    # BibTeX protects case and accents with braces and backslashes: {RAG}, {\"u}, \emph{x}.
    text = re.sub(r"\\[a-zA-Z]+\s*(?=\{)", "", str(text or ""))
    text = re.sub(r"\\[`'^\"~=.uvHckbdr]\s*\{?([A-Za-z])\}?", r"\1", text)
    return " ".join(text.replace("{", "").replace("}", "").replace("\\&", "&").split())


def _from_csl_json(body: str) -> list[dict]:
    try:
        data = json.loads(body)
    except ValueError as e:
        raise DigestError(f"the library is not valid CSL JSON: {e}", hint="export it again as CSL JSON") from None
    if isinstance(data, dict):
        data = data.get("items") or [data]
    out = []
    for it in data if isinstance(data, list) else []:
        if not isinstance(it, dict):
            continue
        names = []
        for a in it.get("author") or []:
            if isinstance(a, dict):
                names.append(a.get("literal") or " ".join(filter(None, [a.get("given"), a.get("family")])))
        where = " ".join(str(it.get(k) or "") for k in ("URL", "DOI", "number", "archive_location", "note", "id"))
        out.append({"title": str(it.get("title") or ""), "authors": names, "abstract": str(it.get("abstract") or ""),
                    "where": where})
    return out


def _from_ris(body: str) -> list[dict]:
    out, cur = [], None
    for line in body.splitlines():
        m = re.match(r"^([A-Z][A-Z0-9])  -\s?(.*)$", line)
        if not m:
            if cur is not None and cur.get("_last") in ("AB", "N2") and line.strip():
                cur["abstract"] += " " + line.strip()  # abstracts wrapped over several lines
            continue
        tag, value = m.group(1), m.group(2).strip()
        if tag == "TY":
            cur = {"title": "", "authors": [], "abstract": "", "where": ""}
        elif cur is None:
            continue
        elif tag == "ER":
            out.append({k: v for k, v in cur.items() if k != "_last"})
            cur = None
            continue
        elif tag in ("TI", "T1") and not cur["title"]:
            cur["title"] = value
        elif tag in ("AU", "A1"):
            cur["authors"].append(_flip(value))
        elif tag in ("AB", "N2") and not cur["abstract"]:
            cur["abstract"] = value
        elif tag in ("UR", "DO", "L1", "L2", "N1", "M1"):
            cur["where"] += " " + value
        cur["_last"] = tag
    if cur is not None:  # a last record without its ER line
        out.append({k: v for k, v in cur.items() if k != "_last"})
    return out


def _bibtex_value(text: str, i: int) -> tuple[str, int]:
    """The value starting at text[i] ({...}, "..." or a bare word) and where it ends."""
    if i < len(text) and text[i] == "{":
        depth, j = 0, i
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i + 1:j], j + 1
            j += 1
        return text[i + 1:], len(text)
    if i < len(text) and text[i] == '"':
        j = i + 1
        while j < len(text) and (text[j] != '"' or text[j - 1] == "\\"):
            j += 1
        return text[i + 1:j], j + 1
    m = re.compile(r"[^,}\s]*").match(text, i)
    return m.group(0), m.end()


_BIB_FIELD_RE = re.compile(r"\s*,?\s*([A-Za-z][\w-]*)\s*=\s*")


def _from_bibtex(body: str) -> list[dict]:
    out = []
    for m in re.finditer(r"@(\w+)\s*\{", body):
        if m.group(1).lower() in ("comment", "string", "preamble"):
            continue
        _, end = _bibtex_value(body, m.end() - 1)
        entry = body[m.end():end - 1]
        fields: dict[str, str] = {}
        i = entry.find(",") + 1  # past the citation key
        while 0 < i < len(entry):
            f = _BIB_FIELD_RE.match(entry, i)
            if not f:
                break
            value, i = _bibtex_value(entry, f.end())
            fields[f.group(1).lower()] = value
        authors = [a.strip() for a in re.split(r"\s+and\s+", fields.get("author", "")) if a.strip()]
        where = " ".join(fields.get(k, "") for k in ("eprint", "url", "doi", "journal", "archiveprefix", "note"))
        if fields.get("archiveprefix", "").lower() == "arxiv" and fields.get("eprint"):
            where += f" arXiv:{fields['eprint']}"
        out.append({"title": fields.get("title", ""), "authors": [_flip(a) for a in authors],
                    "abstract": fields.get("abstract", ""), "where": where})
    return out


def _flip(name: str) -> str:
    """'Doe, Jane' -> 'Jane Doe' (BibTeX and RIS write family names first)."""
    family, comma, given = name.partition(",")
    return f"{given.strip()} {family.strip()}".strip() if comma else name
