"""Blocks of a page that are not running prose: headings, figure/table captions and footnotes.

pypdf gives a page as lines. A heading's second line, a caption or a footnote sitting among body lines
would be read as part of the paragraph around it ('CITATIONS One of CiteSee's...'); each such block is
made a paragraph of its own (blank lines around it), kept where it is on its page, so that page texts stay
page-accurate and sentence splitters never fuse it with the prose.
"""

from __future__ import annotations

import re

# "Figure 3: ...", "Fig. 2.", "Table 1 |", "FIGURE 4.", "Algorithm 1:", "Supplementary Table S2:".
CAPTION_RE = re.compile(
    r"^(?:supplementary\s+)?(?P<kind>figure|fig\.|table|tab\.|algorithm|listing|scheme|chart|exhibit)"
    r"\s*(?P<label>[A-Z]?\d{1,3}[a-z]?(?:\.\d{1,2})?)\s*(?P<sep>[:.|—–])\s*",
    re.IGNORECASE,
)
# "3 Method", "3.2. Data", "A.1 Prompts", "IV. RESULTS", "Appendix B: Prompts".
_NUMBERED_HEADING_RE = re.compile(
    r"^(?:(?:\d{1,2}(?:\.\d{1,2}){0,3}|[A-H](?:\.\d{1,2}){0,2}|[IVX]{1,5})\.?|appendix\s+[A-H]\.?:?)"
    r"\s+(?P<title>[A-Z][^\n]{1,90})$"
)
_NAMED_HEADINGS = re.compile(
    r"^(?:abstract|introduction|related\s+work|background|methods?|methodology|materials\s+and\s+methods|"
    r"results|discussion|conclusions?|limitations|future\s+work|acknowledge?ments?|references|bibliography|"
    r"appendix|appendices|ethics\s+statement|broader\s+impacts?|author\s+contributions|data\s+availability|"
    r"keywords|ccs\s+concepts)\s*:?$",
    re.IGNORECASE,
)
# A footnote at a page's foot: its mark glued to its text ('1https://...', '2The corpus is...', '∗Equal').
# A mark set apart by a space is a footnote only before a link ('2 https://...'): '2 Method' is a heading.
_FOOTNOTE_RE = re.compile(r"^(?:\d{1,2}(?=https?://|www\.|[A-Z][a-z])|\d{1,2}\s(?=https?://|www\.)|[*∗†‡§¶]\s?(?=\S))")
# The publisher's notice at a first page's foot (ACM): from its opening words to the DOI line that ends it.
_NOTICE_RE = re.compile(r"^(?:permission to make digital or hard copies|acm reference format:?)", re.IGNORECASE)
_NOTICE_END_RE = re.compile(r"^https?://doi\.org/\S+$")
_MAX_NOTICE_LINES = 20
_FOOTNOTE_LINES = 8  # only so many last lines of a page are looked at for footnotes
_MAX_CAPTION_LINES = 8
_ENDS_SENTENCE_RE = re.compile(r"[.!?][\"'”’)\]]*$")


_NUMERIC_TOKEN_RE = re.compile(r"^[(\[]?[-+±−]?\d[\d.,]*[%)\]*†‡]*$|^[-–—±×/]$")
_MIN_TABLE_LINES = 2  # one line of numbers can be prose ('in 2019, 2020 and 2021'); two in a row are a table


def is_table_row(line: str) -> bool:
    """A line of a table's body: mostly numbers ('XSUM 226,677 1 454.5 31.7 24.0 1.0')."""
    tokens = line.split()
    numeric = sum(1 for t in tokens if _NUMERIC_TOKEN_RE.match(t))
    return numeric >= 3 and numeric >= 0.4 * len(tokens)


def _is_header_row(line: str) -> bool:
    """A table's header row: labels in capitals, no sentence ('Dataset Samples Docs Words Sents')."""
    tokens = line.split()
    return (len(tokens) >= 3 and not _ENDS_SENTENCE_RE.search(line)
            and all(not t[:1].islower() for t in tokens) and len(line) <= 120)


def _letters(s: str) -> str:
    return "".join(c for c in s if c.isalpha())


def is_caps_heading(line: str) -> bool:
    """'5 STUDY 1: DISCOVER RELEVANT', 'CITATIONS': short, in capitals, not a sentence."""
    letters = _letters(line)
    words = line.split()
    return (len(letters) >= 4 and letters.isupper() and len(words) <= 12 and len(line) <= 90
            and not _ENDS_SENTENCE_RE.search(line) and not line.rstrip().endswith(","))


def is_heading(line: str) -> bool:
    """A line that reads as a section heading: numbered and short, a known section name, or in capitals."""
    s = line.strip()
    if not s or len(s) > 100 or s.endswith((",", ";")) or CAPTION_RE.match(s):
        return False
    if _NAMED_HEADINGS.match(s):
        return True
    m = _NUMBERED_HEADING_RE.match(s)
    if m and len(s.split()) <= 14 and not _ENDS_SENTENCE_RE.search(s) and not re.search(r"\d[.,]\d", m["title"]):
        return True
    return is_caps_heading(s)


def is_caption_start(line: str) -> bool:
    """'Figure 3: ...' / 'Table 2. ...': a caption's first line (not 'Table 4 shows...', a sentence)."""
    m = CAPTION_RE.match(line.strip())
    if not m:
        return False
    rest = line.strip()[m.end():]
    # After 'Table 4.' a caption goes on with its title; prose would say 'Table 4 shows'.
    return m["sep"] != "." or not rest or rest[:1].isupper()


def _ends_block(prev: str) -> bool:
    """Whether a block may start after this line: it ends a sentence, or the page starts here."""
    p = prev.strip()
    return not p or bool(_ENDS_SENTENCE_RE.search(p)) or p.endswith(":")


def _caption_end(lines: list[str], i: int, limit: int) -> int:
    """Index after the last line of the caption starting at line i."""
    longest = len(lines[i].strip())
    typical = sorted(len(ln.strip()) for ln in lines if ln.strip())
    median = typical[len(typical) // 2] if typical else 0
    for k in range(i, min(len(lines), i + _MAX_CAPTION_LINES)):
        s = lines[k].strip()
        if not s:
            return k
        longest = max(longest, len(s))
        nxt = lines[k + 1].strip() if k + 1 < len(lines) else ""
        if k > i and (is_caption_start(s) or is_heading(s)):
            return k
        # After a full stop, a line in lower case cannot go on the caption's sentence: the prose resumes.
        if _ENDS_SENTENCE_RE.search(s) and (len(s) < 0.85 * max(longest, median) or not nxt or is_heading(nxt)
                                            or is_caption_start(nxt) or nxt[:1].islower()):
            return k + 1
        if k + 1 >= limit:
            return k + 1
    # No end found: the caption is its first line only, rather than swallowing the prose after it.
    return i + 1


def set_apart(lines: list[str]) -> list[str]:
    """The page's lines with headings, captions and footnotes each made a paragraph of their own.

    A heading's second line in capitals is joined to the first ('5 STUDY 1: DISCOVER RELEVANT' +
    'CITATIONS'); nothing is dropped or reordered.
    """
    out: list[str] = []
    n = len(lines)
    foot_from = _footnotes_start(lines)
    i = 0

    def blank() -> None:
        if out and out[-1].strip():
            out.append("")

    while i < n:
        s = lines[i].strip()
        prev = next((ln for ln in reversed(out) if ln.strip()), "")
        end = _table_end(lines, i, foot_from)
        if end > i:
            blank()
            out.extend(lines[i:end])
            out.append("")
            i = end
            continue
        if i >= foot_from:
            if _FOOTNOTE_RE.match(s):
                blank()
            out.append(lines[i])
            i += 1
            continue
        if s and _NOTICE_RE.match(s):
            end = next((k + 1 for k in range(i, min(n, i + _MAX_NOTICE_LINES)) if _NOTICE_END_RE.match(lines[k].strip())
                        or k > i and is_heading(lines[k].strip()) and not lines[k].strip().isupper()), i + 1)
            blank()
            out.extend(lines[i:end])
            out.append("")
            i = end
            continue
        if s and is_caption_start(s) and (_ends_block(prev) or CAPTION_RE.match(s)["sep"] != "."):
            end = _caption_end(lines, i, foot_from)
            blank()
            out.extend(lines[i:end])
            out.append("")
            i = end
            continue
        if s and is_heading(s) and (_ends_block(prev) or is_heading(prev) or not out or _NAMED_HEADINGS.match(s)):
            blank()
            head = s
            # A heading in capitals that wraps: its next line is capitals too, and no sentence.
            while i + 1 < n and len(head) < 70 and _heading_goes_on(head, lines[i + 1].strip()):
                i += 1
                head = f"{head} {lines[i].strip()}"
            out.extend([head, ""])
            i += 1
            continue
        out.append(lines[i])
        i += 1
    while out and not out[-1].strip():
        out.pop()
    return out


def _is_label_line(line: str) -> bool:
    """A short cell or group label between table rows ('Tiny', 'Long', 'L → S')."""
    return 0 < len(line) <= 25 and len(line.split()) <= 3 and not _ENDS_SENTENCE_RE.search(line)


def _table_end(lines: list[str], i: int, limit: int) -> int:
    """Index after the table that starts at line i (header rows, label lines and at least two rows of
    numbers), or i when no table starts there."""
    k, rows, last_row = i, 0, i
    while k < limit:
        s = lines[k].strip()
        if is_table_row(s):
            rows, last_row = rows + 1, k + 1
        elif not s or is_heading(s) and not is_caps_heading(s) or is_caption_start(s) \
                or not (_is_header_row(s) or _is_label_line(s)):
            break
        k += 1
    return last_row if rows >= _MIN_TABLE_LINES else i


# A heading that stops on one of these words goes on to the next line ('F Partial summary annotation with').
_OPEN_END_RE = re.compile(r"\b(?:of|in|on|for|with|and|or|to|the|a|an|from|by|via|at|as|under|between|versus|vs\.?)$",
                          re.IGNORECASE)


def _heading_goes_on(head: str, nxt: str) -> bool:
    """Whether line `nxt` is the second line of heading `head`: capitals after capitals ('5 STUDY 1: DISCOVER
    RELEVANT' + 'CITATIONS'), or a short line after a heading that stops on 'with', 'of', 'and'..."""
    if not nxt or _NUMBERED_HEADING_RE.match(nxt) or CAPTION_RE.match(nxt):
        return False
    if is_caps_heading(head) and is_caps_heading(nxt):
        return True
    return bool(_OPEN_END_RE.search(head)) and len(nxt.split()) <= 6 and not _ENDS_SENTENCE_RE.search(nxt)


def _footnotes_start(lines: list[str]) -> int:
    """Index of the first footnote line among a page's last lines, or len(lines) when there is none.

    The line before a footnote need not end a sentence: the page's prose often breaks off mid-sentence
    there and goes on on the next page.
    """
    idx = [k for k, ln in enumerate(lines) if ln.strip()]
    for k in idx[-_FOOTNOTE_LINES:]:
        if k != idx[0] and _FOOTNOTE_RE.match(lines[k].strip()):
            return k
    return len(lines)


def is_aside(paragraph: str) -> bool:
    """A paragraph that is a caption, a footnote or a table: never part of the prose around it."""
    s = paragraph.strip()
    if not s:
        return False
    if is_caption_start(s) or _FOOTNOTE_RE.match(s) or _NOTICE_RE.match(s):
        return True
    lines = [ln for ln in s.split("\n") if ln.strip()]
    return len(lines) >= _MIN_TABLE_LINES and sum(map(is_table_row, lines)) * 2 >= len(lines)
