"""The references part of a paper told apart from the body before it and the appendices after it.

A paper with a 16-page appendix after its references must not be read as 18 pages of references: the
references end at an appendix heading, or at any heading after which the text stops looking like a list
of references (few years, venues, DOIs or numbered entries in the lines that follow).
"""

from __future__ import annotations

import re

from digest.pdf.blocks import is_heading

REFS_HEADING_RE = re.compile(
    r"^(?:(?:\d{1,2}|[IVX]{1,5})\.?\s+)?(?:references(?:\s+cited)?|bibliography|literature\s+cited|"
    r"works\s+cited|参考文献)\s*:?$",
    re.IGNORECASE,
)
# After the references, an appendix heading sends the text back to the body.
_APPENDIX_WORD_RE = re.compile(r"^(?:appendix|appendices|supplementary\s+(?:material|information))\b.{0,60}$",
                               re.IGNORECASE)
_LETTER_HEADING_RE = re.compile(r"^(?P<letter>[A-H])\.?\s+[A-Z][^.]{2,70}$")


def _is_appendix_start(lines: list[str], i: int) -> bool:
    """True when line i opens an appendix: 'Appendix ...', or 'A Title' followed later by 'B Title'."""
    s = lines[i].strip()
    if _APPENDIX_WORD_RE.match(s) and not s.endswith("."):
        return True
    m = _LETTER_HEADING_RE.match(s)
    if not m or m.group("letter") != "A" or "," in s:
        return False
    return any((n := _LETTER_HEADING_RE.match(ln.strip())) and n.group("letter") == "B" and "," not in ln
               for ln in lines[i + 1:])


_NUMBERED_ITEM_RE = re.compile(r"^\[?(\d{1,3})[\].]?\s+\S")
_YEAR_RE = re.compile(r"\b(?:19|20)\d\d\b")


def _numbered_refs_start(lines: list[str]) -> int | None:
    """Where a heading-less reference list starts (REVTeX): '1 A. Author, ... (2010).' then 2, 3 soon after.

    Only the second half of the document is searched, so a table of contents cannot match.
    """
    for k in range(len(lines) // 2, len(lines)):
        m = _NUMBERED_ITEM_RE.match(lines[k])
        if not m or m.group(1) != "1" or not _YEAR_RE.search(" ".join(lines[k:k + 3])):
            continue
        want, found = 2, 0
        for ln in lines[k + 1:k + 13]:
            n = _NUMBERED_ITEM_RE.match(ln)
            if n and int(n.group(1)) == want:
                want, found = want + 1, found + 1
        if found >= 2:
            return k
    return None


# What lines of a reference list have and prose seldom does: a numbered entry, a year closing the line or an
# entry ('..., 2020.'), a venue, an identifier.
_REF_LINE_RE = re.compile(
    r"^\[\d{1,3}\]|^\d{1,3}\.\s+[A-Z]|\b(?:19|20)\d\d[a-z]?[.),;]{0,2}\s*$|\b(?:19|20)\d\d[a-z]?\)?\.\s|"
    r"\b(?:phys|rev|lett|proc|natl|acad|sci|eng|comput|ann|math|chem|biol|med|res|int|conf|symp)\.\s|"
    r"\bin\s+proceedings\b|\bproc\.|\barxiv(?:\s+preprint|:\d)|\bdoi\b|https?://|\bjournal\b|\bconference\b|"
    r"\bvol\.|\bpp\.\s*\d|\bet al\.,?\s*\(?(?:19|20)\d\d|\btransactions\b|\bpress\b|\bworkshop\b",
    re.IGNORECASE,
)
# An unnumbered heading in title case ('Annotation Study Details'): only taken as one when prose follows.
_TITLE_LINE_RE = re.compile(r"^(?:[A-Z][\w'’-]*)(?:\s+(?:[A-Z][\w'’-]*|of|and|for|the|on|in|to|with|a|an)){1,7}$")
_WINDOW = 20  # lines after a heading read to decide whether the references go on
_MAX_REF_LINES = 2  # at most this many reference-like lines among them: prose, not references


def _reads_as_prose(lines: list[str], k: int) -> bool:
    """Whether the lines after line k read as prose rather than as reference entries."""
    window = [ln for ln in lines[k + 1:k + 1 + _WINDOW] if ln.strip()]
    return len(window) >= 8 and sum(1 for ln in window if _REF_LINE_RE.search(ln)) <= _MAX_REF_LINES


def _refs_end(lines: list[str], start: int) -> int:
    """Index of the first line after the references (an appendix or other back matter), or len(lines)."""
    for k in range(start + 1, len(lines)):
        if _is_appendix_start(lines, k):
            return k
        s = lines[k].strip()
        if s and (is_heading(s) or _TITLE_LINE_RE.match(s)) and not REFS_HEADING_RE.match(s) \
                and not _REF_LINE_RE.search(s) and _reads_as_prose(lines, k):
            return k
    return len(lines)


def _split_references(pages: list[list[str]]) -> list[tuple[str, str]]:
    """Per page (body, refs): lines from the References heading on are refs until an appendix heading."""
    flat = [(p, ln) for p, lines in enumerate(pages) for ln in lines]
    start = next((k for k, (_, ln) in enumerate(flat) if REFS_HEADING_RE.match(ln.strip())), None)
    if start is None:
        start = _numbered_refs_start([ln.strip() for _, ln in flat])
    end = len(flat)
    if start is not None:
        end = _refs_end([ln for _, ln in flat], start)
    body: list[list[str]] = [[] for _ in pages]
    refs: list[list[str]] = [[] for _ in pages]
    for k, (p, ln) in enumerate(flat):
        (refs if start is not None and start <= k < end else body)[p].append(ln)
    return [("\n".join(b), "\n".join(r)) for b, r in zip(body, refs)]
