"""Discord webhooks: messages of embeds within Discord's limits; nobody is ever pinged."""

from __future__ import annotations

import re
from typing import Any

from digest.channels.base import Built, IssuePost, PaperPost, fit, pack

MAX_EMBEDS = 10
MAX_DESCRIPTION = 4096
MAX_TITLE = 256
MAX_EMBED_TOTAL = 6000  # characters of all embeds' titles and descriptions in one message
MAX_CONTENT = 2000
# Paper text must not turn into @everyone, a role ping or a user ping.
NO_MENTIONS = {"parse": []}


def escape(text: str) -> str:
    """Discord markdown characters, backslash-escaped so paper text shows as written."""
    return re.sub(r"([\\*_`~|\[\]<>#])", r"\\\1", text)


def _embed(p: PaperPost, body: str, truncated: list[str]) -> dict[str, Any]:
    title, cut_title = fit(f"{p.n}. {p.title}", MAX_TITLE)
    more = f"[full text]({p.full_url})" if p.full_url else ""
    description, cut = fit(body, MAX_DESCRIPTION, escape=escape, more=more)
    if cut or cut_title:
        truncated.append(p.title)
    embed: dict[str, Any] = {"title": title, "description": description}
    if p.url:
        embed["url"] = p.url
    return embed


def embeds_size(payload: dict[str, Any]) -> int:
    """Characters Discord counts against the 6000 of a message's embeds."""
    return sum(len(e.get("title", "")) + len(e.get("description", "")) for e in payload.get("embeds", []))


def _header(post: IssuePost) -> str:
    text = f"**{escape(post.title)}**\n{escape(post.intro)}"
    if post.url:
        text += f"\n{post.read_online}: <{post.url}>"
    return fit(text, MAX_CONTENT)[0]


def _fits(payload: dict[str, Any]) -> bool:
    return len(payload.get("embeds", [])) <= MAX_EMBEDS and embeds_size(payload) <= MAX_EMBED_TOTAL


def build(post: IssuePost, mode: str) -> Built:
    """Discord payloads: digest mode packs an embed per paper; per-paper mode posts a message per paper."""
    truncated: list[str] = []
    if mode == "digest":
        embeds = [_embed(p, p.tldr, truncated) for p in post.papers]

        def make(group: list[dict[str, Any]], i: int) -> dict[str, Any]:
            payload: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
            if i == 0:
                payload["content"] = _header(post)
            if group:
                payload["embeds"] = group
            return payload

        return Built(pack(embeds, make, _fits), truncated)
    payloads: list[dict[str, Any]] = [{"content": _header(post), "allowed_mentions": NO_MENTIONS}]
    for p in post.papers:
        body = "\n\n".join(t for t in (p.tldr, p.summary) if t)
        payloads.append({"embeds": [_embed(p, body, truncated)], "allowed_mentions": NO_MENTIONS})
    return Built(payloads, truncated)
