"""The Atom feed (RFC 4287) of the archive: one entry per issue with its full content."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from digest.config import Config
from digest.i18n import labels
from digest.records import Issue
from digest.render import count_papers, issue_intro, model_note


class SiteRenderer(Protocol):
    """What the feed needs of the site builder: its config, title, public URL and templates."""

    config: Config
    title: str
    base_url: str

    def render(self, template: str, **context: Any) -> str: ...


def rfc3339(stamp: str | None) -> str:
    """A stored ISO 8601 time as an RFC 3339 UTC date-time ('2026-11-16T08:00:00Z'); naive means UTC."""
    if not stamp:
        return "1970-01-01T00:00:00Z"
    try:
        t = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        # A bare date or something odd: midnight of its first ten characters.
        t = datetime.fromisoformat(stamp[:10])
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_id(list_id: str, issue_id: str) -> str:
    """A permanent Atom id for an issue: independent of where the archive is hosted."""
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"paper-digest:{list_id}:issue:{issue_id}"))


def feed_entry(builder: SiteRenderer, issue: Issue, views: dict[str, Any]) -> dict[str, Any]:
    """What the feed shows of one issue but its id and times (JSON data): made once for as long as the issue,
    its papers and the site's settings stay as they are (see SiteBuilder, which keeps them between builds)."""
    L = labels(issue.language)
    base = builder.base_url
    # Links inside the content must work from a feed reader: absolute when the site URL is known, otherwise
    # relative to feed.xml (which sits at the site root).
    content = builder.render(
        "feed_entry.html", root=(base + "/") if base else "", lang=issue.language, L=L,
        issue=issue, intro=issue_intro(issue, L), model_note=model_note(issue, L), views=views,
    )
    return {
        "issue": {"id": issue.id, "language": issue.language},
        "title": f"{builder.title} {issue.id}: " + count_papers(L, len(issue.entries)),
        "summary": " / ".join(e.generation.tldr for e in issue.entries if e.generation and e.generation.tldr),
        "content": content, "categories": sorted({c for e in issue.entries for c in e.paper.categories}),
    }


def render_feed(builder: SiteRenderer, entries: list[dict[str, Any]], meta: dict[str, dict]) -> str:
    """The feed document for these issues' entries (newest first, made by feed_entry); <updated> comes from
    the stored issue times."""
    list_id = builder.config.mail.list_id or builder.title
    dated = []
    for e in entries:
        issue_id = e["issue"]["id"]
        dated.append(dict(e, id=entry_id(list_id, issue_id), updated=rfc3339(meta[issue_id]["updated"]),
                          published=rfc3339(meta[issue_id]["created"])))
    updated = max((e["updated"] for e in dated), default="1970-01-01T00:00:00Z")
    return builder.render(
        "feed.xml", lang=builder.config.output.language, entries=dated, updated=updated,
        feed_id="urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"paper-digest:{list_id}:feed")),
    )
