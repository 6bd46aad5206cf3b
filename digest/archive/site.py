"""The browsable archive: a static HTML site, an offline search index, an Atom feed and a Markdown index.

Everything is rendered from the store alone. Output is byte-stable: nothing depends on the build
time, everything is sorted, and a file is written only when its bytes change, so a rebuild with
nothing new touches no file and permalinks (papers/<key>.html, issues/<id>.html) never move.
This module renders the pages of issues and papers and the site-wide files; the lists of issues and of
papers are digest.archive.listings', the build's file mechanics digest.archive.incremental's.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemBytecodeCache

from digest.archive import listings, queries
from digest.archive.compare import list_reports, reports_by_issue
from digest.archive.feed import feed_entry, render_feed
from digest.archive.incremental import (
    BuildManifest,
    PageWriter,
    file_names,
    fingerprint,
    no_collections,
    read_json,
    remove_stale,
    tree_fingerprint,
    write_json,
    xml_safe_bytes,
)
from digest.archive.listings import write_index_pages, write_paper_lists
from digest.archive.search_shards import SearchDoc, search_files
from digest.archive.views import (
    PaperHead,
    PaperView,
    SearchViews,
    SiteHeads,
    fill_views,
    load_heads,
    load_site_data,
    quick_fingerprint,
)
from digest.categories import NAMES as CATEGORY_NAMES
from digest.config import Config
from digest.errors import DigestError
from digest.export import FORMATS, export_issue, references
from digest.feedback import SITE, feedback_secret, vote_urls
from digest.i18n import labels
from digest.pdf.thumbnail import publish_thumbnails
from digest.records import Generation, Issue, IssueEntry
from digest.render import (
    changes_view,
    count_papers,
    generation_note,
    issue_intro,
    md_text,
    model_note,
    pages_label,
    paper_anchor,
    safe_url,
    text_language,
)
from digest.resources import bundled_dir, jinja_environment
from digest.store import Store
from digest.text import slugify

# Labels of the site's own chrome; merged over digest.i18n.labels(language).

FEED_ENTRIES = 10  # newest issues in the Atom feed; each carries its full content (10 issues of 10 papers: ~0.7 MB)
# The feed's entries as the last build made them, by a fingerprint of all they show (in the cache folder).
FEED_CACHE = "site-feed-entries.json"
SITE_DIR_NAME = "site"

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
    rendered: int = 0  # files rendered from templates or data: none when nothing changed
    loaded: int = 0  # generations whose summaries and answers were loaded: those the rendered pages show
    seconds: dict[str, float] = field(default_factory=dict)  # load, fingerprint, render, write (bench/archive.py)
    processes: int = 1  # processes that rendered them (digest.archive.workers)
    written_paths: list[str] = field(default_factory=list)
    rendered_paths: list[str] = field(default_factory=list)  # relative to the site folder


def _environment(cache_dir: Path) -> Environment:
    env = jinja_environment(bundled_dir("templates") / "site", autoescape=("html", "xml"), trim_blocks=True)
    env.auto_reload = False  # templates do not change during a build: no stat of three files per page
    try:
        # Compiled templates kept between runs: compiling them all is a quarter of a weekly rebuild.
        (cache_dir / "templates").mkdir(parents=True, exist_ok=True)
        env.bytecode_cache = FileSystemBytecodeCache(str(cache_dir / "templates"))
    except OSError:  # a cache folder we may not write: compile every time
        pass
    env.filters["safe_url"] = functools.lru_cache(maxsize=4096)(safe_url)  # the same URLs recur on many pages
    env.filters["day"] = lambda s: (s or "")[:10]
    env.filters["slug"] = functools.lru_cache(maxsize=None)(slugify)  # paper keys and categories recur
    env.filters["md"] = md_text
    env.filters["category_name"] = lambda code: CATEGORY_NAMES.get(code, "")
    env.globals["language_name"] = lambda code: labels(code)["language_name"]
    env.globals["paper_anchor"] = paper_anchor
    env.globals["same_words"] = lambda a, b: a.split() == b.split()  # equal but for spacing
    env.globals["changes_of"] = lambda e, L: changes_view(e.changes, L)
    env.globals["generation_note"] = generation_note
    env.globals["text_language"] = text_language
    return env


class SiteBuilder:
    """Renders the archive for one config and store, only the pages whose data changed."""

    def __init__(self, config: Config, store: Store, site_dir: Path | None = None, workers: int = 0):
        self.config = config
        self.workers = workers  # processes rendering a large build; 0 = one per CPU (digest.archive.workers)
        self.store = store
        self.site_dir = Path(site_dir) if site_dir else config.archive_dir / SITE_DIR_NAME
        self.env = _environment(config.cache_dir)
        self.title = config.output.title
        self.base_url = safe_url(config.output.archive_url).rstrip("/")
        self.feedback: dict[str, dict[str, str]] = {}  # paper key -> vote links, with a server only
        # The subscribe form posts to `digest serve` at web.public_url; without one, subscribe.html offers the
        # feed (and `digest serve` answers subscribe.html with its own live form).
        public = safe_url(config.web.public_url).rstrip("/")
        self.subscribe_action = f"{public}/subscribe" if public else ""
        self.ask_url = f"{public}/ask" if public else ""  # the Ask page of `digest serve` (digest.ask.web)
        self.thumbs: dict[str, Path] = {}  # paper key -> its first-page picture in <site>/thumbs/
        self.renders = 0  # templates rendered: what an incremental build saves
        self._qa_html: dict[tuple[str, str], str] = {}  # (generation key, language) -> its answers as HTML
        self._qa_macros: dict[str, object] = {}  # language -> the site macros with that language's labels
        # What the pages to render show, loaded once they are known (SiteBuilder.build): paper key -> its view,
        # issue id -> the issue, whole.
        self.views: dict[str, PaperView] = {}
        self.issues: dict[str, Issue] = {}
        self.pools: dict[str, list[IssueEntry]] = {}  # issue id -> its pool past its own papers (issue 21)
        # Watched author -> keys of the papers listed under them, in the last build's manifest and in this one's.
        self._authors_before: dict[str, list[str]] = {}
        self._authors: dict[str, list[str]] = {}
        self._environment = ""  # this build's environment_fingerprint()
        self.watch = sorted({a.strip() for a in config.selection.authors if a.strip()}, key=str.casefold)

    def environment_fingerprint(self) -> str:
        """Everything besides the store that shapes the output: templates, version, settings, .md files."""
        secret = hashlib.sha1(feedback_secret(self.store)).hexdigest() if self.base_url else ""
        # Fingerprints are made of this store's change stamps (see views.load_heads): another's start afresh.
        store_token = queries.archive_token(self.store)
        # The Markdown index links the issues' .md files that exist (it is itself a .md file beside them).
        md_files = sorted(p.name for p in self.config.archive_dir.glob("*.md") if p.name != "README.md") \
            if self.config.archive_dir.is_dir() else []
        return fingerprint(
            tree_fingerprint(bundled_dir("templates") / "site"), self.title, self.base_url,
            self.config.output.language, self.watch, self.config.mail.list_id, secret, md_files,
            self._relative_site_dir(), listings.ISSUES_PER_PAGE, listings.PAPERS_PER_PAGE, FEED_ENTRIES,
            self.subscribe_action,
            [(r.stem, r.models) for r in list_reports(self.config.archive_dir / "compare")], store_token,
        )

    # ---- rendering --------------------------------------------------------------------

    def site_values(self) -> dict:
        """What every site template sees besides its own context."""
        return dict(
            site_title=self.title, pages_label=lambda L, pages: pages_label(pages, L), count_papers=count_papers,
            base_url=self.base_url, feedback=self.feedback, subscribe_action=self.subscribe_action, thumbs=self.thumbs,
            form_origins=_origin(self.subscribe_action), qa_html=self.qa_html, ask_url=self.ask_url,
        )

    def render(self, template: str, **ctx) -> str:
        """Render one site template with the site-wide values."""
        self.renders += 1
        return self.env.get_template(template).render(**self.site_values(), **ctx)

    def macros(self, L: dict[str, str], views: dict[str, PaperView]):
        """The site's macros as a module, for pieces rendered once and reused on many pages."""
        return self.env.get_template("_macros.html").make_module(
            vars=dict(self.site_values(), root="../", L=L, views=views))

    def qa_html(self, g: Generation, L: dict[str, str]) -> str:
        """A generation's answers as HTML, rendered once per language: its issue page, its paper page and the
        feed show the same list."""
        key = (g.key, L["language_name"])
        if key not in self._qa_html:
            if L["language_name"] not in self._qa_macros:
                self._qa_macros[L["language_name"]] = self.macros(L, {})
            self._qa_html[key] = self._qa_macros[L["language_name"]].qa_items(g)
        return self._qa_html[key]

    def build(self) -> BuildResult:
        """Render what changed since the last build (everything the first time); remove stale pages."""
        result = BuildResult(site_dir=self.site_dir)
        previous = BuildManifest.read(self.site_dir)
        signature = queries.archive_signature(self.store)
        environment = self._environment = self.environment_fingerprint()
        if previous.is_current(signature, environment, self.site_dir):
            result.issues, result.papers = previous.counts.get("issues", 0), previous.counts.get("papers", 0)
            result.indexed = previous.counts.get("indexed", 0)
            result.unchanged = len(previous.pages)
            result.removed = remove_stale(self.site_dir, set(previous.pages))
            return result
        with no_collections() as collecting:
            return self._build(result, previous, signature, environment, collecting)

    def _build(self, result: BuildResult, previous: BuildManifest, signature: str, environment: str,
               collecting: bool) -> BuildResult:
        started = time.perf_counter()
        heads = load_heads(self.store)
        loaded = time.perf_counter()
        result.issues, result.papers, result.indexed = len(heads.issues), len(heads.papers), len(heads.papers)
        # First-page pictures into <site>/thumbs/ (digest.pdf.thumbnail), each made once. With nothing new
        # (above) there is no new paper to picture: the last build made them all, or noted why not.
        self.thumbs = publish_thumbnails(self.config, [h.paper for h in heads.papers.values()], self.site_dir)
        if self.base_url:
            # Votes need `digest serve` behind the site's URL; all of the site's visitors vote as one.
            secret = feedback_secret(self.store)
            self.feedback = {key: vote_urls(self.base_url, secret, key, SITE) for key in sorted(heads.papers)}
        # Page fingerprints are made of the store's change stamps; templates and settings (and which store
        # it is) shape every page.
        writer = PageWriter(self.site_dir, previous.pages if previous.environment == environment else {},
                            xml_safe_bytes)
        self._authors_before = previous.authors
        self._write_pages(writer, heads)
        fingerprinted = time.perf_counter()
        # Only now, knowing which pages change, the papers they show are loaded (all of them the first time),
        # and the write-ups of those whose write-ups they show.
        shown = writer.shown
        if shown:
            issues, _, views, _, pools = load_site_data(self.store, shown if len(shown) < len(heads.papers) else None)
            self.views.update(views)
            # Whole only where every paper of the issue was loaded: those are the ones the pages show.
            self.issues.update({i.id: i for i in issues if set(heads.members[i.id]) <= shown})
            self.pools.update({i: es for i, es in pools.items() if set(heads.pool[i]) <= shown})
        result.loaded = fill_views(self.store, self.views, writer.needed)
        filled = time.perf_counter()
        # Rendering makes short-lived cycles (template contexts): collected, but never by a look at all the
        # loaded data, which is set aside (and then shared with forked workers, not copied page by page).
        gc.freeze()
        if collecting:
            gc.enable()
        try:
            result.processes = writer.render_pending(self.workers)
        finally:
            gc.disable()
            gc.unfreeze()
        result.seconds = {"load": loaded - started + filled - fingerprinted, "fingerprint": fingerprinted - loaded,
                          "render": writer.render_s, "write": writer.write_s}
        result.rendered, result.written, result.unchanged = writer.rendered, writer.written, writer.unchanged
        result.written_paths, result.rendered_paths = writer.written_paths, writer.rendered_paths
        result.removed = remove_stale(self.site_dir, set(writer.pages), writer.listed)
        BuildManifest(signature=signature, environment=environment, pages=writer.pages,
                      counts={"issues": result.issues, "papers": result.papers, "indexed": result.indexed},
                      authors=self._authors).write(self.site_dir)
        return result

    def _write_pages(self, writer: PageWriter, heads: SiteHeads) -> None:
        """Note every page with its fingerprint, made of heads alone; what renders one reads the papers and
        issues it shows from self.views and self.issues, loaded once the pages to render are known."""
        lang = self.config.output.language
        L = labels(lang)
        issues, meta, papers, views, full = heads.issues, heads.meta, heads.papers, self.views, self.issues
        by_paper_newest = sorted(
            papers.values(), key=lambda h: (h.issue_ids[0] if h.issue_ids else "", h.paper.key), reverse=True,
        )
        nav = {"has_authors": bool(self.watch)}
        issue_titles = {i.id: f"{i.id} ({i.week_start} – {i.week_end})" for i in issues}
        reports = list_reports(self.config.archive_dir / "compare")
        common = dict(nav=nav, views=views, issue_titles=issue_titles, compare=reports_by_issue(reports))
        # What the site shows of a paper in any list and on its page, and of an issue on its page, in its
        # card and in the feed: fingerprints of the store's stamps of them (see views.load_heads).
        item = {k: h.fp for k, h in papers.items()}
        content = heads.issue_fp

        unchanged: set[str] = set()  # papers whose stamps (and their issues') are as the last build saw them

        def paper_page(h: PaperHead) -> None:
            key, rel, thumb = h.paper.key, f"papers/{h.slug}.html", self.thumbs.get(h.paper.key)
            fp = quick_fingerprint(h.fp, thumb) if thumb else h.fp  # a page shows its paper, and its picture
            if writer.previous.get(rel) == fp:
                unchanged.add(key)
            writer.page(rel, fp,
                        lambda key=key: self.render("paper.html", root="../", lang=views[key].language,
                                                    L=labels(views[key].language), v=views[key],
                                                    page_title=views[key].paper.title, **common), needs=[key])

        def issue_page(issue_id: str) -> str:
            issue = full[issue_id]
            n = index[issue_id]
            newer = issues[n - 1].id if n > 0 else None
            older = issues[n + 1].id if n + 1 < len(issues) else None
            return self.render(
                "issue.html", root="../", lang=issue.language, L=labels(issue.language), issue=issue, newer=newer,
                older=older, intro=issue_intro(issue, labels(issue.language)),
                model_note=model_note(issue, labels(issue.language)), other_models=other_models[issue_id],
                pool=self.pools.get(issue_id, []), page_title=f"{self.title} {issue.id}", **common)

        # Each paper's page right after its newest issue's: rendered in the same share of the work, it
        # reuses the answers' HTML that issue page made (see SiteBuilder.qa_html, digest.archive.workers).
        homed: dict[str, list[PaperHead]] = {}
        for h in papers.values():
            homed.setdefault(h.issue_ids[0] if h.issue_ids else "", []).append(h)
        write_index_pages(self, writer, issues, meta, content, lang, L, common)
        index = {issue.id: n for n, issue in enumerate(issues)}
        other_models = {i.id: [m for m in meta[i.id]["models"] if m != i.model] for i in issues}
        for n, issue in enumerate(issues):
            newer = issues[n - 1].id if n > 0 else None
            older = issues[n + 1].id if n + 1 < len(issues) else None
            shown = heads.members[issue.id]
            shown_elsewhere = [item[k] for k in shown if k in item]
            pictures = [self.thumbs.get(k) for k in shown]
            pool = heads.pool.get(issue.id, [])  # listed after its own papers: titles and TL;DRs alone (issue 21)
            writer.page(f"issues/{issue.id}.html",
                        fingerprint(content[issue.id], newer, older, other_models[issue.id], shown_elsewhere,
                                    pictures, *([[item[k] for k in pool]] if pool else [])),
                        lambda issue_id=issue.id: issue_page(issue_id), needs=shown, shows=pool)
            # Beside the page, for reference managers: the issue page links each of these files. Their
            # references (citation keys, names, dates) are made once for the three.
            refs = functools.cache(lambda issue_id=issue.id: references(full[issue_id]))
            for fmt, (suffix, _) in FORMATS.items():
                writer.page(f"issues/{issue.id}.{suffix}", quick_fingerprint(fmt, content[issue.id]),
                            lambda issue_id=issue.id, fmt=fmt, refs=refs: export_issue(full[issue_id], fmt, refs()),
                            needs=shown)
            for h in homed.pop(issue.id, []):
                paper_page(h)
        for hs in homed.values():  # papers of no issue this site shows
            for h in hs:
                paper_page(h)
        # A paper is listed in each of its categories and under each watched author: render its item once.
        items_html: dict[str, str] = {}
        macros = self.macros(L, views)

        def paper_item_html(v: PaperView) -> str:
            if v.paper.key not in items_html:
                items_html[v.paper.key] = macros.paper_item(v)
            return items_html[v.paper.key]
        listing = dict(common, paper_item_html=paper_item_html)
        self._authors = write_paper_lists(self, writer, by_paper_newest, item, self.watch, self._authors_before,
                                          unchanged, listing, lang, L)
        writer.page("search.html", fingerprint("search"), lambda: self.render(
            "search.html", root="", lang=lang, L=L, page_title=L["search"], **listing))
        writer.page("subscribe.html", fingerprint("subscribe"), lambda: self.render(
            "subscribe.html", root="", lang=lang, L=L, page_title=L["site_subscribe"], **listing))
        for r in reports:  # kept reports, copied as they are: each is a self-contained page
            source = self.config.archive_dir / "compare" / f"{r.stem}.html"
            writer.page(f"compare/{r.stem}.html", fingerprint(r.stem, source.stat().st_size, source.stat().st_mtime_ns),
                        lambda source=source: source.read_text(encoding="utf-8"))
        if reports:
            writer.page("compare/index.html", fingerprint([(r.stem, r.models) for r in reports]), lambda: self.render(
                "compare_index.html", root="../", lang=lang, L=L, page_title=L["site_compare"], reports=reports,
                **listing))
        # Numbered in the order papers first appeared, so the files of older papers stay as they are.
        docs = [SearchDoc(h.paper.key, h.slug, h.issue_ids, h.fp, h.fp)
                for h in sorted(papers.values(), key=lambda h: (h.issue_ids[-1] if h.issue_ids else "", h.paper.key))]
        for rel, fp, render, needs, shows in search_files(docs, issue_titles, fingerprint, SearchViews(views)):
            writer.page(rel, fp, render, needs, shows)
        static = bundled_dir("templates") / "site" / "static"
        for f in sorted(static.iterdir()):
            if f.is_file():
                writer.page(f"static/{f.name}", fingerprint("static"), lambda f=f: f.read_text(encoding="utf-8"))
        # The feed's entries are kept between builds (FEED_CACHE): a new issue makes one, not ten.
        newest = [i.id for i in issues[:FEED_ENTRIES]]
        entry_keys = {i: quick_fingerprint(self._environment, content[i], *(
            self.thumbs.get(k) or "" for k in heads.members[i])) for i in newest}
        made = read_json(self.config.cache_dir / FEED_CACHE)
        writer.page("feed.xml", fingerprint([(content[i], meta[i], [self.thumbs.get(k) for k in heads.members[i]])
                                             for i in newest]),
                    lambda: self._feed(newest, entry_keys, made, meta),
                    needs=[k for i in newest if entry_keys[i] not in made for k in heads.members[i]])
        md_files = file_names(self.config.archive_dir)  # one listing, not a look per issue
        md_exists = {i.id: f"{i.id}.md" in md_files for i in issues}
        readme = os.path.relpath(self.config.archive_dir / "README.md", self.site_dir)
        writer.page(readme, fingerprint([content[i.id] for i in issues], md_exists), lambda: self.render(
            "archive_readme.md", L=L, issues=issues, site_dir=self._relative_site_dir(), md_exists=md_exists,
            lang=lang))

    def _feed(self, newest: list[str], keys: dict[str, str], made: dict[str, dict], meta: dict[str, dict]) -> str:
        entries = {keys[i]: made.get(keys[i]) or feed_entry(self, self.issues[i], self.views) for i in newest}
        write_json(self.config.cache_dir / FEED_CACHE, entries)
        return render_feed(self, [entries[keys[i]] for i in newest], meta)

    def _relative_site_dir(self) -> str:
        try:
            return self.site_dir.resolve().relative_to(self.config.archive_dir.resolve()).as_posix()
        except ValueError:
            return ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def build_archive(config: Config, store: Store, site_dir: Path | None = None, workers: int = 0) -> BuildResult:
    """Build the static archive site (default archive/site/) and archive/README.md from the store
    (a large build in `workers` processes; 0 = one per CPU)."""
    if not store.issue_ids():
        raise DigestError("there is no issue to archive yet", hint="run `digest run` first")
    return SiteBuilder(config, store, site_dir, workers).build()
