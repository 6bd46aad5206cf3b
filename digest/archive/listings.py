"""The archive's listing pages: the index of issues (paginated, and a page per year) and the lists of papers
by category and by watched author.

Every list is paginated from its oldest page (index_pages), so a new issue re-renders the front pages and
leaves the older ones as they are; each page's fingerprint is made of what it lists (the heads' stamps).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, Protocol

from digest.archive.incremental import PageWriter, fingerprint
from digest.archive.views import PaperHead, PaperView
from digest.categories import category_name
from digest.records import Issue
from digest.text import fix_mojibake, fold, same_author, slugify

ISSUES_PER_PAGE = 20  # issues per page of the index (index.html, page/2.html, ...)
PAPERS_PER_PAGE = 100  # papers per page of a category's or an author's list


class ListRenderer(Protocol):
    """What the listing pages need of the site builder: its title, its templates and the loaded papers."""

    title: str
    views: dict[str, PaperView]

    def render(self, template: str, **context: Any) -> str: ...


def write_index_pages(site: ListRenderer, writer: PageWriter, issues: list[Issue], meta: dict[str, dict],
                      card: dict[str, str], lang: str, L: dict[str, str], common: dict) -> None:
    """The index, paginated (index.html, page/2.html, ...), and a page per year (2026/index.html)."""
    all_years = sorted({i.id[:4] for i in issues}, reverse=True)
    pages = index_pages(len(issues))
    hrefs = ["index.html"] + [f"page/{number}.html" for number, _, _ in pages[1:]]

    def by_year(shown: list[Issue]) -> dict[str, list[Issue]]:
        years: dict[str, list[Issue]] = {}
        for issue in shown:
            years.setdefault(issue.id[:4], []).append(issue)
        return years

    for n, (_, start, end) in enumerate(pages):
        root = "" if n == 0 else "../"
        shown = issues[start:end]
        pager = page_links(n, hrefs, shown[-1].id if shown else "", shown[0].id if shown else "", root)
        title = site.title if n == 0 else f"{site.title} · {pager['first']} – {pager['last']}"
        # Counts and page numbers from the newest would change every page each week: older pages
        # show only what they hold, so a new issue re-renders the front page (and, every
        # ISSUES_PER_PAGE issues, the page the front page hands on).
        fp = fingerprint([card[i.id] for i in shown], pager, all_years, len(issues) if n == 0 else None)
        writer.page(hrefs[n], fp, lambda root=root, shown=shown, pager=pager, title=title, n=n: site.render(
            "index.html", root=root, lang=lang, L=L, years=by_year(shown), meta=meta, page_title=title,
            issues=shown, all_years=all_years, pager=pager, year=None,
            issue_count=len(issues) if n == 0 else None, **common))
    for y in all_years:
        shown = [i for i in issues if i.id[:4] == y]
        writer.page(f"{y}/index.html", fingerprint([card[i.id] for i in shown], all_years),
                    lambda y=y, shown=shown: site.render(
                        "index.html", root="../", lang=lang, L=L, years={y: shown}, meta=meta,
                        page_title=L["site_year_title"].format(year=y), issues=shown, all_years=all_years,
                        pager=None, year=y, issue_count=None, **common))


def write_paper_lists(site: ListRenderer, writer: PageWriter, by_paper_newest: list[PaperHead],
                      item: dict[str, str], watch: list[str], authors_before: dict[str, list[str]],
                      unchanged: set[str], listing: dict, lang: str, L: dict[str, str]) -> dict[str, list[str]]:
    """The lists of papers by category and by watched author, each with its index page; returns who is
    listed under each watched author (paper keys), for the next build's manifest."""
    categories: dict[str, list[PaperHead]] = {}
    for h in by_paper_newest:
        for c in h.paper.categories:  # each once, sorted (views.load_heads)
            categories.setdefault(c, []).append(h)
    groups = [(c, slugify(c), len(hs)) for c, hs in sorted(categories.items())]
    writer.page("categories/index.html", fingerprint(groups), lambda: site.render(
        "groups.html", root="../", lang=lang, L=L, page_title=L["categories"], kind="categories",
        groups=groups, **listing))
    for c, hs in categories.items():
        write_listing(site, writer, "categories", c, category_name(c), hs, item, lang=lang, L=L,
                      up=("categories/index.html", L["categories"]), **listing)
    if not watch:
        return {}
    matches = functools.lru_cache(maxsize=None)(same_author)  # the same names recur in many papers
    could = {name: _could_be(name) for name in watch}

    def wrote(name: str, h: PaperHead) -> bool:
        # The quick test on the stored list as a whole (a name it refuses is in none of its parts),
        # unless escapes there could hide a name's letters: most papers are never decoded.
        if "\\" not in h.authors and not could[name](h.authors):
            return False
        return any(could[name](a) and matches(name, a) for a in json.loads(h.authors))
    # A paper unchanged since the last build is listed under whom it was then.
    before = {name: set(authors_before[name]) for name in watch if name in authors_before}
    authors = {name: [h for h in by_paper_newest if (h.paper.key in before[name] if name in before
                                                     and h.paper.key in unchanged else wrote(name, h))]
               for name in watch}
    author_groups = [(a, slugify(a), len(authors[a])) for a in watch]
    writer.page("authors/index.html", fingerprint(author_groups), lambda: site.render(
        "groups.html", root="../", lang=lang, L=L, page_title=L["site_watched_authors"],
        kind="authors", groups=author_groups, **listing))
    for name in watch:
        write_listing(site, writer, "authors", name, name, authors[name], item, lang=lang, L=L,
                      up=("authors/index.html", L["site_watched_authors"]), **listing)
    return {name: sorted(h.paper.key for h in hs) for name, hs in authors.items()}


def write_listing(site: ListRenderer, writer: PageWriter, folder: str, heading: str, title: str,
                  papers: list[PaperHead], item: dict[str, str], **ctx) -> None:
    """A category's or an author's papers, newest first, in pages counted from the oldest as the index's
    are: <slug>.html holds the newest, <slug>~<n>.html the older ones, which a new issue leaves as they are."""
    slug = slugify(heading)  # "~" is never in a slug: a page name cannot be another listing's
    pages = index_pages(len(papers), PAPERS_PER_PAGE)
    names = [f"{slug}.html"] + [f"{slug}~{number}.html" for number, _, _ in pages[1:]]
    for n, (_, start, end) in enumerate(pages):
        shown = papers[start:end]
        pager = page_links(n, names, shown[-1].issue_ids[0] if shown and shown[-1].issue_ids else "",
                           shown[0].issue_ids[0] if shown and shown[0].issue_ids else "")
        total = len(papers) if n == 0 else None  # only the front page changes with every new paper
        keys = [h.paper.key for h in shown]
        writer.page(f"{folder}/{names[n]}", fingerprint(heading, [item[k] for k in keys], pager, total),
                    lambda keys=keys, pager=pager, total=total: site.render(
                        "listing.html", root="../", page_title=title, heading=heading,
                        papers=[site.views[k] for k in keys], pager=pager, total=total, **ctx), shows=keys)


def _could_be(watched: str) -> Callable[[str], bool]:
    """A quick test that is False only for names same_author(watched, name) would refuse: an ASCII name
    folds to its lower case, and it can be the same person only if it holds a word of the watched name (its
    family name is one). Folding every author of 5,000 papers was most of what the author lists cost."""
    words = re.findall(r"[^\W\d_]+", fold(fix_mojibake(watched)))
    return lambda name: not name.isascii() or any(w in name.lower() for w in words)


def index_pages(n_items: int, per_page: int | None = None) -> list[tuple[int, int, int]]:
    """The pages of a list as (number, start, end) slices of its items, newest first (per_page defaults to
    ISSUES_PER_PAGE).

    Pages are counted from the oldest, so an older page keeps its number and its items as new ones
    arrive: the front page (index.html) holds the newest items, between per_page and twice that many
    once there are enough; page/<number>.html hold per_page each.
    """
    per_page = per_page or ISSUES_PER_PAGE
    full = n_items // per_page
    if full <= 1:
        return [(full or 1, 0, n_items)]
    front = n_items - (full - 1) * per_page
    pages = [(full, 0, front)]
    for number in range(full - 1, 0, -1):
        start = front + (full - 1 - number) * per_page
        pages.append((number, start, start + per_page))
    return pages


def page_links(n: int, hrefs: list[str], first: str, last: str, prefix: str = "") -> dict[str, str | None]:
    """What page n of a list paginated by index_pages links to (`hrefs` are the pages' files, front first,
    reached from page n through `prefix`) and the first and last items it shows."""
    return {"first": first, "last": last, "newer": prefix + hrefs[n - 1] if n > 0 else None,
            "older": prefix + hrefs[n + 1] if n + 1 < len(hrefs) else None}
