"""Slack incoming webhooks: Block Kit messages within Slack's limits."""

from __future__ import annotations

from typing import Any

from digest.channels.base import Built, IssuePost, PaperPost, fit, json_body, pack

MAX_BLOCKS = 50
MAX_SECTION = 3000  # characters of a section's text
MAX_HEADER = 150  # characters of a header block's plain text
MAX_TOTAL = 40_000  # characters of a whole message
MAX_TITLE = 300  # a paper title longer than this is cut (with an ellipsis) to leave room for its text


def escape(text: str) -> str:
    """Slack mrkdwn control characters; anything else in paper text shows as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, text: str) -> str:
    return f"<{url}|{escape(text)}>" if url else escape(text)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _paper_section(p: PaperPost, body: str, truncated: list[str]) -> dict[str, Any]:
    title, cut_title = fit(f"{p.n}. {p.title}", MAX_TITLE)
    head = f"*{_link(p.url, title)}*"
    if not body:
        return _section(head)
    text, cut = fit(body, MAX_SECTION - len(head) - 1, escape=escape, more=_link(p.full_url, "full text"))
    if cut or cut_title:
        truncated.append(p.title)
    return _section(head + "\n" + text)


def _header(post: IssuePost) -> list[dict[str, Any]]:
    intro = escape(post.intro) + (f"\n{_link(post.url, post.read_online)}" if post.url else "")
    return [{"type": "header", "text": {"type": "plain_text", "text": fit(post.title, MAX_HEADER)[0]}},
            _section(fit(intro, MAX_SECTION)[0])]


def _fits(payload: dict[str, Any]) -> bool:
    # The whole JSON body is measured, which is stricter than Slack's count of text characters.
    return len(payload["blocks"]) <= MAX_BLOCKS and len(json_body(payload).decode("utf-8")) <= MAX_TOTAL


def build(post: IssuePost, mode: str) -> Built:
    """Slack payloads: digest mode packs one section per paper; per-paper mode posts a message per paper."""
    truncated: list[str] = []
    fallback = fit(post.title, 200)[0]
    if mode == "digest":
        sections = [_paper_section(p, p.tldr, truncated) for p in post.papers]

        def make(blocks: list[dict[str, Any]], i: int) -> dict[str, Any]:
            return {"text": fallback, "blocks": (_header(post) if i == 0 else []) + blocks}

        return Built(pack(sections, make, _fits), truncated)
    payloads = [{"text": fallback, "blocks": _header(post)}]
    for p in post.papers:
        blocks = [_paper_section(p, p.tldr, truncated)]
        if p.summary:
            text, cut = fit(p.summary, MAX_SECTION, escape=escape, more=_link(p.full_url, "full text"))
            if cut and p.title not in truncated:
                truncated.append(p.title)
            blocks.append(_section(text))
        payloads.append({"text": fit(f"{p.n}. {p.title}", 200)[0], "blocks": blocks})
    return Built(payloads, truncated)
