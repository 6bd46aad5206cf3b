"""A generic JSON webhook: the issue as documented JSON (docs/channels.md), for your own integrations.

    {"issue_id": "2026-W47", "title": "...", "url": "https://.../issues/2026-W47.html" or null,
     "mode": "digest", "part": 1, "parts": 1,
     "papers": [{"n": 1, "title": "...", "url": "https://arxiv.org/abs/...", "tldr": "..."}]}

In per-paper mode each message holds one paper, which also has "summary". Nothing is cut.
"""

from __future__ import annotations

from typing import Any

from digest.channels.base import Built, IssuePost, PaperPost


def _paper(p: PaperPost, with_summary: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"n": p.n, "title": p.title, "url": p.url or None, "tldr": p.tldr}
    if with_summary:
        item["summary"] = p.summary
    return item


def build(post: IssuePost, mode: str) -> Built:
    """One JSON message with every paper (digest mode) or one per paper (per-paper mode)."""
    groups = [[_paper(p, False) for p in post.papers]] if mode == "digest" else \
        [[_paper(p, True)] for p in post.papers] or [[]]
    payloads = [{"issue_id": post.id, "title": post.title, "url": post.url or None, "mode": mode,
                 "part": i, "parts": len(groups), "papers": papers} for i, papers in enumerate(groups, 1)]
    return Built(payloads)
