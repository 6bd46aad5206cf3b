"""The browsable archive: a static HTML site, an offline search index, an Atom feed and a Markdown index.

Everything is rendered from the store alone. Output is byte-stable: nothing depends on the build
time, everything is sorted, and a file is written only when its bytes change, so a rebuild with
nothing new touches no file and permalinks (papers/<key>.html, issues/<id>.html) never move.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment

from digest.config import Config
from digest.errors import DigestError
from digest.export import FORMATS, export_issue
from digest.archive.compare import list_reports, reports_by_issue
from digest.archive.feed import render_feed
from digest.categories import NAMES as CATEGORY_NAMES
from digest.categories import category_name
from digest.feedback import SITE, feedback_secret, vote_urls
from digest.i18n import labels
from digest.pdf.thumbnail import publish_thumbnails
from digest.records import Generation, Issue, Paper
from digest.render import (
    changes_view,
    count_papers,
    issue_intro,
    md_text,
    model_note,
    pages_label,
    paper_anchor,
    safe_url,
)
from digest.resources import bundled_dir, jinja_environment
from digest.archive.search import document_text, published_documents, reindex
from digest.store import Store
from digest.text import same_author, slugify

# Labels of the site's own chrome; merged over digest.i18n.labels(language).

FEED_ENTRIES = 20  # newest issues in the Atom feed; each carries its full content
SITE_DIR_NAME = "site"
_MANAGED_DIRS = ("issues", "papers", "categories", "authors", "static", "compare")
_MANAGED_SUFFIXES = (".html", ".js", ".css", ".xml", ".bib", ".ris", ".json")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class PaperView:
    """What the site knows about one published paper."""

    paper: Paper
    slug: str
    issue_ids: list[str] = field(default_factory=list)  # newest first
    generations: list[Generation] = field(default_factory=list)  # newest first
    shown_in: dict[str, list[str]] = field(default_factory=dict)  # generation key -> issue ids
    language: str = "en"
    tldr: str = ""
    summary_text: str = ""
    qa_text: str = ""


@dataclass
class BuildResult:
    """What a build did."""

    site_dir: Path
    issues: int = 0
    papers: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    indexed: int = 0
    written_paths: list[str] = field(default_factory=list)


class _Writer:
    """Writes files only when their bytes differ, and remembers every path it produced."""

    def __init__(self, result: BuildResult):
        self.result = result
        self.produced: set[Path] = set()

    def write(self, path: Path, text: str) -> None:
        data = clean_xml(text).encode("utf-8")
        self.produced.add(path.resolve())
        try:
            if path.read_bytes() == data:
                self.result.unchanged += 1
                return
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        self.result.written += 1
        self.result.written_paths.append(str(path))


def _environment() -> Environment:
    env = jinja_environment(bundled_dir("templates") / "site", autoescape=("html", "xml"), trim_blocks=True)
    env.filters["safe_url"] = safe_url
    env.filters["day"] = lambda s: (s or "")[:10]
    env.filters["slug"] = slugify
    env.filters["md"] = md_text
    env.filters["category_name"] = lambda code: CATEGORY_NAMES.get(code, "")
    env.globals["language_name"] = lambda code: labels(code)["language_name"]
    env.globals["paper_anchor"] = paper_anchor
    env.globals["changes_of"] = lambda e, L: changes_view(e.changes, L)
    return env


def _search_index_js(views: list[PaperView], title_of_issue: dict[str, str]) -> str:
    docs = [
        [v.slug, v.paper.title, "; ".join(v.paper.authors), v.tldr, v.issue_ids, v.summary_text, v.qa_text,
         v.language]
        for v in views
    ]
    payload = {
        "fields": ["slug", "title", "authors", "tldr", "issues", "summary", "qa", "lang"],
        "issues": title_of_issue, "docs": docs,
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    # Escaped so the data can never close a script element or start markup, whatever it contains.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    # A script assigning a global, because fetch() of a JSON file is refused from file://.
    return f"window.DIGEST_SEARCH = {text};\n"


class SiteBuilder:
    """Renders the whole archive for one config and store."""

    def __init__(self, config: Config, store: Store, site_dir: Path | None = None):
        self.config = config
        self.store = store
        self.site_dir = Path(site_dir) if site_dir else config.archive_dir / SITE_DIR_NAME
        self.env = _environment()
        self.title = config.output.title
        self.base_url = safe_url(config.output.archive_url).rstrip("/")
        self.feedback: dict[str, dict[str, str]] = {}  # paper key -> vote links, with a server only
        # The subscribe form posts to `digest serve` at web.public_url; without one, subscribe.html offers the
        # feed (and `digest serve` answers subscribe.html with its own live form).
        public = safe_url(config.web.public_url).rstrip("/")
        self.subscribe_action = f"{public}/subscribe" if public else ""

    # ---- loading ----------------------------------------------------------------------

    def load(self) -> tuple[list[Issue], dict[str, dict], dict[str, PaperView]]:
        """Every issue (newest first), their stored times and models, and a view of every published paper."""
        issues = [self.store.load_issue(i) for i in self.store.issue_ids()]
        meta = {
            r["id"]: {"created": r["created"], "updated": r["updated"]}
            for r in self.store.query("SELECT id, created, updated FROM issues")
        }
        for issue in issues:
            meta[issue.id]["models"] = self.store.issue_models(issue.id)
        docs = {d.paper.key: d for d in published_documents(self.store)}
        views: dict[str, PaperView] = {}
        for key, d in docs.items():
            views[key] = PaperView(paper=d.paper, slug=slugify(key), summary_text=d.summary, qa_text=d.qa)
        for issue in issues:
            for e in issue.entries:
                v = views.get(e.paper.key)
                if v is None:
                    continue
                if not v.issue_ids:  # the newest issue gives the page its language and TL;DR
                    v.language = issue.language
                    v.tldr = e.generation.tldr if e.generation else ""
                v.issue_ids.append(issue.id)
                if e.generation:
                    v.shown_in.setdefault(e.generation.key, []).append(issue.id)
        for r in self.store.query(
            "SELECT * FROM generations WHERE paper_key IN (SELECT paper_key FROM issue_papers) "
            "ORDER BY paper_key, created DESC, key"
        ):
            v = views.get(r["paper_key"])
            if v is not None:
                v.generations.append(self.store.generation_from_row(r))
        for v in views.values():
            if not v.summary_text and not v.qa_text:
                v.summary_text, v.qa_text = document_text(v.generations)
        return issues, meta, views

    # ---- rendering --------------------------------------------------------------------

    def render(self, template: str, **ctx) -> str:
        """Render one site template with the site-wide values."""
        return self.env.get_template(template).render(
            site_title=self.title, pages_label=lambda L, pages: pages_label(pages, L), count_papers=count_papers,
            base_url=self.base_url, feedback=self.feedback, subscribe_action=self.subscribe_action,
            form_origins=_origin(self.subscribe_action), **ctx
        )

    def build(self) -> BuildResult:
        """Render every page, the search index, the feed and the Markdown index; remove stale pages."""
        result = BuildResult(site_dir=self.site_dir)
        writer = _Writer(result)
        result.indexed = reindex(self.store)
        issues, meta, views = self.load()
        result.issues, result.papers = len(issues), len(views)
        # First-page pictures into <site>/thumbs/, paper key -> path there (digest.pdf.thumbnail).
        self.thumbs = publish_thumbnails(self.config, [v.paper for v in views.values()], self.site_dir)
        if self.base_url:
            # Votes need `digest serve` behind the site's URL; all of the site's visitors vote as one.
            secret = feedback_secret(self.store)
            self.feedback = {key: vote_urls(self.base_url, secret, key, SITE) for key in sorted(views)}
        lang = self.config.output.language
        L = labels(lang)
        watch = sorted({a.strip() for a in self.config.selection.authors if a.strip()}, key=str.casefold)
        by_paper_newest = sorted(
            views.values(),
            key=lambda v: (v.issue_ids[0] if v.issue_ids else "", v.paper.key), reverse=True,
        )
        categories: dict[str, list[PaperView]] = {}
        for v in by_paper_newest:
            for c in sorted(set(v.paper.categories)):
                categories.setdefault(c, []).append(v)
        authors = {
            name: [v for v in by_paper_newest if any(same_author(name, a) for a in v.paper.authors)]
            for name in watch
        }
        nav = {"has_authors": bool(watch)}
        issue_titles = {i.id: f"{i.id} ({i.week_start} – {i.week_end})" for i in issues}
        reports = list_reports(self.config.archive_dir / "compare")
        common = dict(nav=nav, views=views, issue_titles=issue_titles, compare=reports_by_issue(reports))
        out = self.site_dir

        years: dict[str, list[Issue]] = {}
        for issue in issues:
            years.setdefault(issue.id[:4], []).append(issue)
        writer.write(out / "index.html", self.render(
            "index.html", root="", lang=lang, L=L, years=years, meta=meta, page_title=self.title,
            **common,
        ))
        for n, issue in enumerate(issues):
            IL = labels(issue.language)
            newer = issues[n - 1].id if n > 0 else None
            older = issues[n + 1].id if n + 1 < len(issues) else None
            other_models = [m for m in meta[issue.id]["models"] if m != issue.model]
            writer.write(out / "issues" / f"{issue.id}.html", self.render(
                "issue.html", root="../", lang=issue.language, L=IL, issue=issue, newer=newer,
                older=older, intro=issue_intro(issue, IL), model_note=model_note(issue, IL),
                other_models=other_models, page_title=f"{self.title} {issue.id}", **common,
            ))
            # Beside the page, for reference managers: the issue page links each of these files.
            for fmt, (suffix, _) in FORMATS.items():
                writer.write(out / "issues" / f"{issue.id}.{suffix}", export_issue(issue, fmt))
        for v in views.values():
            PL = labels(v.language)
            writer.write(out / "papers" / f"{v.slug}.html", self.render(
                "paper.html", root="../", lang=v.language, L=PL, v=v, page_title=v.paper.title,
                **common,
            ))
        writer.write(out / "categories" / "index.html", self.render(
            "groups.html", root="../", lang=lang, L=L, page_title=L["categories"], kind="categories",
            groups=[(c, slugify(c), len(vs)) for c, vs in sorted(categories.items())], **common,
        ))
        for c, vs in categories.items():
            writer.write(out / "categories" / f"{slugify(c)}.html", self.render(
                "listing.html", root="../", lang=lang, L=L, page_title=category_name(c), heading=c, papers=vs,
                up=("categories/index.html", L["categories"]), **common,
            ))
        if watch:
            writer.write(out / "authors" / "index.html", self.render(
                "groups.html", root="../", lang=lang, L=L, page_title=L["site_watched_authors"],
                kind="authors", groups=[(a, slugify(a), len(authors[a])) for a in watch], **common,
            ))
            for name in watch:
                writer.write(out / "authors" / f"{slugify(name)}.html", self.render(
                    "listing.html", root="../", lang=lang, L=L, page_title=name, heading=name,
                    papers=authors[name], up=("authors/index.html", L["site_watched_authors"]),
                    **common,
                ))
        writer.write(out / "search.html", self.render(
            "search.html", root="", lang=lang, L=L, page_title=L["search"], **common,
        ))
        writer.write(out / "subscribe.html", self.render(
            "subscribe.html", root="", lang=lang, L=L, page_title=L["site_subscribe"], **common,
        ))
        for r in reports:  # kept reports, copied as they are: each is a self-contained page
            writer.write(out / "compare" / f"{r.stem}.html",
                         (self.config.archive_dir / "compare" / f"{r.stem}.html").read_text(encoding="utf-8"))
        if reports:
            writer.write(out / "compare" / "index.html", self.render(
                "compare_index.html", root="../", lang=lang, L=L, page_title=L["site_compare"], reports=reports,
                **common,
            ))
        writer.write(out / "search-index.js", _search_index_js(by_paper_newest, issue_titles))
        static = bundled_dir("templates") / "site" / "static"
        for f in sorted(static.iterdir()):
            if f.is_file():
                writer.write(out / "static" / f.name, f.read_text(encoding="utf-8"))
        writer.write(out / "feed.xml", render_feed(self, issues[:FEED_ENTRIES], meta, views))
        writer.write(self.config.archive_dir / "README.md", self.render(
            "archive_readme.md", L=L, issues=issues, site_dir=self._relative_site_dir(),
            md_exists={i.id: (self.config.archive_dir / f"{i.id}.md").is_file() for i in issues},
            lang=lang,
        ))
        result.removed = _remove_stale(out, writer.produced)
        return result

    def _relative_site_dir(self) -> str:
        try:
            return self.site_dir.resolve().relative_to(self.config.archive_dir.resolve()).as_posix()
        except ValueError:
            return ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _remove_stale(site_dir: Path, produced: set[Path]) -> int:
    # Only our own kinds of files in our own folders: anything a user put beside them stays.
    removed = 0
    for sub in _MANAGED_DIRS:
        d = site_dir / sub
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if f.is_file() and f.suffix in _MANAGED_SUFFIXES and f.resolve() not in produced:
                f.unlink()
                removed += 1
    return removed


def build_archive(config: Config, store: Store, site_dir: Path | None = None) -> BuildResult:
    """Build the static archive site (default archive/site/) and archive/README.md from the store."""
    if not store.issue_ids():
        raise DigestError("there is no issue to archive yet", hint="run `digest run` first")
    return SiteBuilder(config, store, site_dir).build()


def clean_xml(text: str) -> str:
    """Text without the control characters XML forbids (PDF extraction leaves some behind)."""
    return _XML_ILLEGAL.sub("", text)
