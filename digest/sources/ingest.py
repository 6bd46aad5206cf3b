"""What every source's papers go through before anyone sees them: repaired text, no controls, real categories.

Feeds, the arXiv API, reading lists and PDFs are written by others. Cleaning them here, once, keeps
terminal escapes, mojibake and markup-shaped categories out of the terminal, the prompt and the outputs.
"""

from __future__ import annotations

import re

from digest.categories import is_category
from digest.pdf.clean import clean_field
from digest.records import Paper

# Free-text fields shown to readers or put in the prompt.
_TEXT_FIELDS = ("title", "abstract", "comment", "journal_ref", "license", "doi")


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def clean_paper(p: Paper) -> list[str]:
    """Clean one paper in place; returns the category codes it dropped (not shaped like arXiv's)."""
    for name in _TEXT_FIELDS:
        value = getattr(p, name)
        if value:
            cleaned = clean_field(value)
            setattr(p, name, _one_line(cleaned) if name != "abstract" else cleaned.strip())
    p.authors = list(dict.fromkeys(a for a in (_one_line(clean_field(a)) for a in p.authors) if a))
    kept, dropped = [], []
    for code in p.categories:
        code = code.strip() if isinstance(code, str) else code
        (kept if is_category(code) else dropped).append(code)
    p.categories = list(dict.fromkeys(kept))
    if p.primary_category is not None and not is_category(p.primary_category):
        dropped.append(p.primary_category)
        p.primary_category = p.categories[0] if p.categories else None
    return dropped


def clean_papers(papers: list[Paper]) -> list[str]:
    """Clean a source's papers in place; returns warnings (one for all the categories dropped)."""
    dropped: list[str] = []
    for p in papers:
        for d in clean_paper(p):
            if d not in dropped:
                dropped.append(d)
    if not dropped:
        return []
    shown = ", ".join(repr(_one_line(clean_field(str(d))))[:60] for d in dropped[:3])
    more = f" and {len(dropped) - 3} more" if len(dropped) > 3 else ""
    return [f"{len(dropped)} categor{'y' if len(dropped) == 1 else 'ies'} dropped, not arXiv category codes: "
            f"{shown}{more}"]
