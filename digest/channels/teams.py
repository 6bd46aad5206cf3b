"""Microsoft Teams: an Adaptive Card in a message attachment, each message under 28 KB."""

from __future__ import annotations

import re
from typing import Any

from digest.channels.base import Built, IssuePost, PaperPost, fit, json_body, json_size, pack

MAX_BYTES = 27_000  # the whole JSON body; Teams refuses messages over 28 KB, and the request adds headers
MAX_TEXT_BYTES = 20_000  # one paper's text block, so a paper always fits a card of its own
CARD = "application/vnd.microsoft.card.adaptive"


def escape(text: str) -> str:
    """The Markdown characters Adaptive Cards act on, backslash-escaped."""
    return re.sub(r"([\\*_\[\]])", r"\\\1", text)


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _paper_blocks(p: PaperPost, body: str, truncated: list[str]) -> list[dict[str, Any]]:
    title, cut_title = fit(f"{p.n}. {p.title}", 500, escape=escape)
    head = f"[{title}]({p.url})" if p.url else title
    blocks = [_text(head, weight="Bolder", size="Medium", separator=True, spacing="Medium")]
    if body:
        more = f"[full text]({p.full_url})" if p.full_url else ""
        text, cut = fit(body, MAX_TEXT_BYTES, escape=escape, more=more, measure=json_size)
        blocks.append(_text(text))
        cut_title = cut_title or cut
    if cut_title:
        truncated.append(p.title)
    return blocks


def _card(body: list[dict[str, Any]], url: str, label: str) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4", "body": body, "msteams": {"width": "Full"},
    }
    if url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": label, "url": url}]
    return {"type": "message", "attachments": [{"contentType": CARD, "contentUrl": None, "content": card}]}


def _header(post: IssuePost) -> list[dict[str, Any]]:
    return [_text(escape(post.title), weight="Bolder", size="Large"), _text(escape(post.intro), isSubtle=True)]


def _fits(payload: dict[str, Any]) -> bool:
    return len(json_body(payload)) <= MAX_BYTES


def build(post: IssuePost, mode: str) -> Built:
    """Teams payloads: digest mode packs papers into as few cards as fit; per-paper mode posts a card per paper."""
    truncated: list[str] = []
    if mode == "digest":
        units = [_paper_blocks(p, p.tldr, truncated) for p in post.papers]

        def make(group: list[list[dict[str, Any]]], i: int) -> dict[str, Any]:
            body = (_header(post) if i == 0 else []) + [b for unit in group for b in unit]
            return _card(body, post.url if i == 0 else "", post.read_online)

        return Built(pack(units, make, _fits), truncated)
    payloads = [_card(_header(post), post.url, post.read_online)]
    for p in post.papers:
        body = "\n\n".join(t for t in (p.tldr, p.summary) if t)
        payloads.append(_card(_paper_blocks(p, body, truncated), "", post.read_online))
    return Built(payloads, truncated)
