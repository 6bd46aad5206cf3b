"""What every channel posts, and the helpers that keep a message within a platform's limits.

A platform module turns an `IssuePost` into a list of JSON payloads (one per message). Text is
never cut silently: a paper whose own text exceeds a limit is cut with an ellipsis and a link to
the full text, and the paper is named in the report (`Built.truncated`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from digest.config import Config
from digest.i18n import labels
from digest.records import Issue
from digest.render import paper_anchor, paper_url, safe_url, standard_intro

ELLIPSIS = "…"


@dataclass
class PaperPost:
    """One paper as the channels show it."""

    n: int
    title: str
    url: str  # the paper's arXiv abs page (else its PDF)
    tldr: str
    summary: str
    full_url: str  # where its full text is: its place on the issue page, else `url`


@dataclass
class IssuePost:
    """An issue as the channels show it: a title line, an intro, a link and the papers."""

    id: str
    title: str  # e.g. "Paper digest 2026-W47: 10 papers"
    url: str  # the issue's page on the archive site, or "" when output.archive_url is unset
    intro: str
    read_online: str  # the "Read this issue online" label
    papers: list[PaperPost] = field(default_factory=list)


@dataclass
class Built:
    """The payloads of one channel for one issue, and the papers whose text had to be cut."""

    payloads: list[dict[str, Any]]
    truncated: list[str] = field(default_factory=list)


def issue_page_url(config: Config, issue_id: str) -> str:
    """`{output.archive_url}/issues/{issue}.html`, or '' when no archive URL is set."""
    base = safe_url(config.output.archive_url)
    return f"{base.rstrip('/')}/issues/{quote(issue_id)}.html" if base else ""


def issue_post(config: Config, issue: Issue) -> IssuePost:
    """The channel view of an issue, in the issue's language."""
    L = labels(issue.language)
    n = len(issue.entries)
    title = L["subject_one" if n == 1 else "subject"].format(title=config.output.title, issue=issue.id, count=n)
    page = issue_page_url(config, issue.id)
    papers = []
    for i, e in enumerate(issue.entries, 1):
        p, g = e.paper, e.generation
        url = paper_url(p) or safe_url(config.arxiv.abs_url.format(id=p.versioned_id) if p.arxiv_id else "")
        papers.append(PaperPost(
            n=i, title=" ".join((p.title or p.key).split()), url=url,
            tldr=(g.tldr if g else "").strip(), summary=(g.summary if g else p.abstract).strip(),
            full_url=f"{page}#{paper_anchor(p)}" if page else url,
        ))
    return IssuePost(id=issue.id, title=title, url=page, intro=standard_intro(issue, L),
                     read_online=L["read_online"], papers=papers)


def json_body(payload: dict[str, Any]) -> bytes:
    """The bytes POSTed for a payload (UTF-8 JSON); sizes are measured on exactly these."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_size(text: str) -> int:
    """UTF-8 bytes a string takes inside a JSON body (escapes included)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def fit(text: str, limit: int, *, more: str = "", escape: Callable[[str], str] = lambda s: s,
        measure: Callable[[str], int] = len) -> tuple[str, bool]:
    """`escape(text)` if it is within `limit`, else as much as fits followed by '…' and `more`; and whether it was cut.

    `more` is already in the platform's markup (a link to the full text); `measure` counts what the
    platform limits (characters, or bytes for Teams).
    """
    whole = escape(text)
    if measure(whole) <= limit:
        return whole, False
    tail = ELLIPSIS + (" " + more if more else "")
    n = len(text)
    while n > 0:
        # Escaping can lengthen the text, so shrink until the escaped head fits.
        head = escape(text[:n].rstrip())
        over = measure(head) + measure(tail) - limit
        if over <= 0:
            return head + tail, True
        n -= max(1, over // 3)  # a character is 1 to 3 units of any measure used here
    return tail if measure(tail) <= limit else ELLIPSIS, True


def pack(units: list[Any], make: Callable[[list[Any], int], dict[str, Any]],
         fits: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Group units (blocks, embeds, papers) in order into as few messages as `fits` allows.

    `make(units, index)` builds the payload of message `index` (0 carries the issue's header).
    Each unit must fit a message on its own, which the platform modules ensure with `fit`.
    """
    groups: list[list[Any]] = []
    current: list[Any] = []
    for u in units:
        if current and not fits(make(current + [u], len(groups))):
            groups.append(current)
            current = []
        current.append(u)
    if current or not groups:
        groups.append(current)
    return [make(g, i) for i, g in enumerate(groups)]
