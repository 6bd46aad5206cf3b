"""Counts and cut text in messages: light enough for the CLI to import before any command runs."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 issue', '2 issues', '0 issues'; `many` for irregular plurals ('1 batch', '2 batches')."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def shorten(text: str, width: int) -> str:
    """`text` on one line and at most `width` characters, cut at a word with an ellipsis when longer."""
    one_line = " ".join(text.split())
    if len(one_line) <= width:
        return one_line
    cut = one_line[:width - 1]
    if " " in cut[width // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"
