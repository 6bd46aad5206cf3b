"""Reference-manager exports (BibTeX, RIS, CSL JSON) read as papers: title, authors, abstract, arXiv ID.

A reader's library tells what they read; only what ranking needs is kept, and nothing is looked up.
"""

from __future__ import annotations

import json
import re

from digest.errors import DigestError

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
