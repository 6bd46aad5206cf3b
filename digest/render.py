"""Rendering an issue to Markdown from templates/; paper-derived text can never become markup."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import jinja2

from digest.categories import category_name
from digest.i18n import labels
from digest.records import Issue, Paper, VersionChanges
from digest.resources import bundled_dir, jinja_environment


def safe_url(url: str | None) -> str:
    """The URL if it is an absolute http(s) URL, else '' (paper-derived links never become javascript:)."""
    if not url:
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    if any(c in url for c in "\x00\r\n\t "):
        return ""
    return url


def md_text(text: object) -> str:
    """Paper-derived text made inert in Markdown: one line, no links, emphasis, headings or raw HTML."""
    text = " ".join(str(text or "").split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_{}\[\]()#+!|~])", r"\\\1", text)


def md_url(url: str | None) -> str:
    """A paper-derived link for Markdown text: http(s) only, and percent-encoded wherever Markdown or HTML
    could read syntax into it (brackets, quotes, emphasis, entities), so it stays one inert link."""
    return quote(safe_url(url), safe=":/?#@!$&+,=%-.")


def day(iso: str | None) -> str:
    """'2026-11-20T17:59:00+00:00' -> '2026-11-20'."""
    return (iso or "")[:10] or "—"


def standard_intro(issue: Issue, lab: dict[str, str]) -> str:
    """'9 papers this week (dates). Each answer cites...' in the issue's language."""
    key = "intro_one" if len(issue.entries) == 1 else "intro"
    return lab[key].format(count=len(issue.entries), start=issue.week_start, end=issue.week_end)


def issue_intro(issue: Issue, lab: dict[str, str]) -> str:
    """The issue's stored intro, or the standard one for its language."""
    return issue.intro or standard_intro(issue, lab)


def pages_label(pages: list[int], lab: dict[str, str]) -> str:
    """'p. 3' or 'pp. 3, 5'."""
    if not pages:
        return ""
    return f"{lab['page'] if len(pages) == 1 else lab['pages']} {', '.join(str(p) for p in pages)}"


def paper_anchor(paper: Paper) -> str:
    """A stable anchor id for a paper inside an issue page."""
    return "paper-" + re.sub(r"[^A-Za-z0-9]+", "-", paper.key).strip("-")


def paper_url(paper: Paper) -> str:
    """The link shown for a paper: its versioned abs page, else its PDF."""
    return safe_url(paper.abs_url) or safe_url(paper.pdf_url)


def model_note(issue: Issue, lab: dict[str, str]) -> str:
    """'Written by gpt-4o-mini.' or the extractive notice."""
    if issue.model == "extractive":
        return lab["extractive_note"]
    return lab["model_note"].format(model=issue.model)


def make_env(template_dir: Path | None = None, *, autoescape: bool = False) -> jinja2.Environment:
    """A Jinja2 environment over templates/ with the filters every output template uses."""
    env = jinja_environment(template_dir or bundled_dir("templates"), autoescape=autoescape)
    env.filters.update(md=md_text, md_url=md_url, day=day, category_name=category_name, safe_url=safe_url)
    env.globals.update(anchor=paper_anchor, paper_url=paper_url)
    return env


def render_markdown(issue: Issue, *, title: str) -> str:
    """The issue as Markdown, in the issue's language."""
    lab = labels(issue.language)
    text = make_env().get_template("issue.md.j2").render(
        issue=issue, L=lab, title=title, model_note=model_note(issue, lab), intro=issue_intro(issue, lab),
        pages=lambda ps: pages_label(ps, lab), changes=lambda e: changes_view(e.changes, lab),
    )
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def changes_view(c: VersionChanges | None, lab: dict[str, str]) -> dict | None:
    """What every output shows of a new version's changes: heading, a sentence or a note, and the points."""
    if c is None:
        return None
    v = dict(new=c.new_version, old=c.old_version)
    message = ""
    if c.status == "same":
        message = lab["changes_same"].format(**v)
    elif c.status == "no-text":
        message = lab["changes_no_text"].format(reason=c.note or "")
    points = [] if message else c.points
    passages = bool(points) and points[0].kind != "described"
    return {
        "heading": lab["changes_heading"].format(**v),
        "message": message,
        "note": c.note if c.status == "failed" else "",
        "passages_note": lab["changes_passages_note"] if passages else "",
        "points": [{"label": "" if pt.kind == "described" else
                    lab["changes_added" if pt.kind == "added" else "changes_removed"].format(**v),
                    "text": pt.text, "page": pt.page, "quote": pt.quote if pt.kind == "described" else "",
                    "verified": pt.verified} for pt in points],
    }


def write_markdown(issue: Issue, archive_dir: Path, *, title: str) -> Path:
    """Write archive/<issue>.md (only when its content changed) and return the path."""
    path = archive_dir / f"{issue.id}.md"
    text = render_markdown(issue, title=title)
    archive_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path


def count_papers(L: dict[str, str], count: int) -> str:
    """'1 paper' / '3 papers' in the labels' language."""
    return L["site_papers_count_one" if count == 1 else "site_papers_count"].format(count=count)
