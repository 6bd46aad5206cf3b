"""Rendering an issue to Markdown from templates/; paper-derived text can never become markup."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import jinja2

from digest.categories import category_name
from digest.i18n import labels
from digest.records import Generation, Issue, Paper, VersionChanges
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


# HTML's three, then a backslash before each character Markdown could read as syntax: one pass (str.translate),
# as the Markdown index of the archive runs every title and TL;DR through it.
_MD_INERT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", **{c: "\\" + c for c in "\\`*_{}[]()#+!|~"}})


def md_text(text: object) -> str:
    """Paper-derived text made inert in Markdown: one line, no links, emphasis, headings or raw HTML."""
    return " ".join(str(text or "").split()).translate(_MD_INERT)


def md_url(url: str | None) -> str:
    """A paper-derived link for Markdown text: http(s) only, and percent-encoded wherever Markdown or HTML
    could read syntax into it (brackets, quotes, emphasis, entities), so it stays one inert link."""
    return quote(safe_url(url), safe=":/?#@!$&+,=%-.")


def day(iso: str | None) -> str:
    """'2026-11-20T17:59:00+00:00' -> '2026-11-20'."""
    return (iso or "")[:10] or "—"


def standard_intro(issue: Issue, lab: dict[str, str]) -> str:
    """'9 papers this week (dates). Each answer cites...' in the issue's language; an extractive issue says
    its answers are excerpts, never that they were checked."""
    key = "intro_extractive" if issue.model == "extractive" else "intro"
    key += "_one" if len(issue.entries) == 1 else ""
    return lab[key].format(count=len(issue.entries), start=issue.week_start, end=issue.week_end)


# The notes writers leave on a generation (digest.writers), each "; "-joined part by how it opens.
_NOTE_KINDS = [(re.compile(p), key) for p, key in (
    (r"TL;DR and summary taken from the abstract: (?P<detail>.*)", "note_from_abstract"),
    (r"questions left out: (?P<detail>.*)", "note_questions_left_out"),
    (r"questions asked by the digest: (?P<detail>.*)", "note_stand_in_questions"),
    (r"the model failed \((?P<detail>.*)\)", "note_model_failed"),
    (r"PDF unreadable: (?P<detail>.*)", "note_pdf_unreadable"),
    (r"no PDF text available", "note_no_text"),
)]


def note_parts(note: str | None) -> list[tuple[str, str]]:
    """A writer's note as (label key, detail) parts; a part no kind opens continues the one before it."""
    parts: list[list[str]] = []
    for piece in (note or "").split("; "):
        kind = next(((key, m.group("detail") if "detail" in m.groupdict() else "")
                     for r, key in _NOTE_KINDS if (m := r.fullmatch(piece.strip()))), None)
        if kind:
            parts.append(list(kind))
        elif parts and parts[-1][0] != "note_no_text":
            parts[-1][1] += "; " + piece
        elif piece.strip():
            parts.append(["note_other", piece.strip()])
    return [(k, d) for k, d in parts]


def generation_note(g: Generation | None, lab: dict[str, str]) -> str:
    """The note a reader sees on a paper (why its summary is the abstract's, what was left out), in the
    labels' language: every output shows it this way; '' when there is none."""
    if g is None or (not g.note and g.status == "ok"):
        return ""
    parts = note_parts(g.note) or [("note_pdf_unreadable", "-")]
    text = lab["note_sep"].join(dict.fromkeys(lab[k].format(detail=d) for k, d in parts))
    # Not "ok": the model failed or the PDF was unreadable, and the TL;DR and summary are the abstract's.
    return lab["abstract_only"].format(reason=text) if g.status != "ok" else text


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def text_language(text: str, language: str) -> str:
    """The language a generation's text is in, for lang attributes: a Japanese issue's extractive or
    abstract text is the paper's English, not Japanese."""
    # Called for every title and TL;DR on every page of the site: letters are counted only when the text has
    # CJK characters at all, which most English texts do not.
    cjk = False
    if _CJK.search(text):
        cjk = len(_CJK.findall(text)) >= 0.1 * sum(map(str.isalpha, text))
    if language.split("-")[0].lower() in ("ja", "zh", "ko"):
        return language if cjk or not any(map(str.isalpha, text)) else "en"
    return "ja" if cjk else language


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
        note=lambda g: generation_note(g, lab),
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
