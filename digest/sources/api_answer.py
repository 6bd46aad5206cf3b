"""What an arXiv API answer is: a whole Atom feed, one that ends early (its whole entries are kept), or not one.

The arxiv package reads any bytes leniently: an HTML page or noise became "no results", and a page cut
mid-entry fewer results, both without a word. A strict read first tells them apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.parsers import expat


class ApiNotAtom(Exception):
    """The API answered 200 with something that is not an Atom feed (an HTML page, random bytes)."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class ApiCutOff(Exception):
    """The API's answer is an Atom feed that ends early, before its first entry was complete."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_ATOM = "http://www.w3.org/2005/Atom"


@dataclass
class _Shape:
    """What a strict XML read of an API answer found: its root element, and where it broke, if it did."""

    root: str | None = None  # "{namespace}name" of the first element
    error: str | None = None  # expat's complaint and where, e.g. "no element found at line 80, column 3"
    entries: int = 0  # complete top-level <entry> elements before the error
    entries_end: int | None = None  # byte offset just past the last of them


class _EntityDeclared(Exception):
    """The answer declares XML entities: an API answer never does, a hostile one may, to expand them."""


def _shape(body: bytes) -> _Shape:
    """Read an API answer strictly (expat; entity declarations refused) to tell a whole Atom feed from the rest."""
    shape = _Shape()
    parser = expat.ParserCreate(namespace_separator="}")
    depth = 0

    def start(name: str, _attrs) -> None:
        nonlocal depth
        depth += 1
        if shape.root is None:
            shape.root = "{" + name if "}" in name else name

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        if depth == 1 and name == _ATOM + "}entry":
            shape.entries += 1
            shape.entries_end = body.index(b">", parser.CurrentByteIndex) + 1

    def refuse(*_) -> None:
        raise _EntityDeclared()

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except expat.ExpatError as e:
        shape.error = f"{expat.ErrorString(e.code)} at line {e.lineno}, column {e.offset}"
    except _EntityDeclared:
        shape.error = "it declares XML entities"
    return shape


def _what_it_is(body: bytes, shape: _Shape) -> str:
    """A few words on an answer that is not an Atom feed, for the one-line error."""
    head = body[:4096].decode("utf-8", errors="replace")
    if not body.strip():
        return "an empty body"
    if (shape.root or "").rsplit("}", 1)[-1].lower() == "html" or re.match(r"\s*(<!--.*?-->\s*)*<!doctype html",
                                                                          head, re.IGNORECASE | re.DOTALL):
        title = re.search(r"<title[^>]*>(.*?)</title", head, re.IGNORECASE | re.DOTALL)
        name = " ".join(re.sub(r"[^\w .,:;()'/-]", "", title.group(1)).split())[:60] if title else ""
        return f"an HTML page{f' ({name!r})' if name else ''}"
    if shape.root is None:
        return f"{len(body):,} bytes that are not XML ({shape.error})"
    return f"an XML document whose root is <{shape.root.rsplit('}', 1)[-1]}>"


def whole_entries(body: bytes) -> tuple[bytes, tuple[str, int] | None]:
    """A 200 answer's body if it is a whole Atom feed; else its whole entries closed as a feed, with why it
    broke and how many entries it kept. Raises ApiNotAtom, or ApiCutOff when not one entry is whole."""
    shape = _shape(body)
    if shape.root != "{" + _ATOM + "}feed":
        raise ApiNotAtom(_what_it_is(body, shape))
    if shape.error is None:
        return body, None
    if shape.entries_end is None:
        raise ApiCutOff(shape.error)
    return body[:shape.entries_end] + b"\n</feed>\n", (shape.error, shape.entries)
