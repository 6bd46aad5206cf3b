"""The archive site, Atom feed, Markdown index and full-text search, built from a real store."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from factories import HOSTILE_TITLE, make_generation, make_issue, make_paper
from jinja2 import Environment

from digest.archive import listings, queries, search_shards
from digest.archive import site as site_module
from digest.archive.incremental import JOURNAL_NAME, KILL_AFTER_ENV, MANIFEST_NAME, BuildManifest
from digest.archive.listings import index_pages
from digest.archive.search import ensure_index, query_terms, reindex, search
from digest.archive.search_shards import bucket, fold, terms
from digest.archive.site import SiteBuilder, build_archive, slugify
from digest.config import SelectionConfig
from digest.errors import DigestError
from digest.records import Generation, Issue, IssueEntry, Paper
from digest.resources import bundled_dir
from digest.select import select_papers
from digest.text import same_author

ATOM = "{http://www.w3.org/2005/Atom}"
OLD_NS = 1_500_000_000 * 10**9  # 2017: long before any file the tests write


def backdate(folder: Path) -> None:
    """Set every file's mtime back to 2017: a rewrite in the same clock tick as the first write keeps the
    mtime, so without this "not rewritten" could not fail."""
    for p in folder.rglob("*"):
        if p.is_file():
            os.utime(p, ns=(OLD_NS, OLD_NS))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under a folder with its bytes and modification time (not the build's own manifest, nor the
    cache of PDFs and compiled templates)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix != ".sqlite" and "sqlite" not in p.name and p.name != MANIFEST_NAME
        and p.relative_to(folder).parts[0] != "cache"
    }


def store_one_paper_issue(store, paper: Paper, g: Generation) -> None:
    """Store a paper, its generation and an issue 2026-W47 of that one paper."""
    store.upsert_paper(paper)
    store.save_generation(g, {})
    store.save_issue(Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en",
                           model=g.model, created="2026-11-16T08:00:00+00:00",
                           entries=[IssueEntry(paper=paper, generation=g, position=1)]), {paper.key: g})


@pytest.fixture
def two_weeks(config, store):
    """Two issues of different weeks, the newer one with a hostile title and a word in one answer."""
    make_issue(store, week=1, n_papers=2)
    make_issue(store, week=0, n_papers=3, titles=[HOSTILE_TITLE], unique_word="xylophonic")
    return config, store


def test_build_writes_every_page(two_weeks):
    config, store = two_weeks
    result = build_archive(config, store)
    site = config.archive_dir / "site"
    assert result.site_dir == site and result.issues == 2 and result.papers == 5 and result.indexed == 5
    for rel in ("index.html", "issues/2026-W47.html", "issues/2026-W46.html", "papers/2611.10000.html",
                "papers/2611.10101.html", "categories/index.html", "categories/cs.CL.html",
                "search.html", "search-index.js", "static/style.css", "static/search.js", "feed.xml"):
        assert (site / rel).is_file(), rel
    assert not (site / "authors").exists()  # no watch list, no author pages
    index = (site / "index.html").read_text()
    assert index.index("2026-W47") < index.index("2026-W46")
    assert "3 papers" in index and "2 papers" in index and "TL;DR of Paper 1:" in index
    # Only relative links: the site works from file:// and under any path of any host.
    for page in site.rglob("*.html"):
        for href in re.findall(r'(?:href|src|action)="([^"]*)"', page.read_text()):
            assert not href.startswith("/"), (page, href)


def test_issue_page_has_the_email_content_with_anchors(two_weeks):
    config, store = two_weeks
    build_archive(config, store)
    html = (config.archive_dir / "site" / "issues" / "2026-W47.html").read_text()
    assert '<html lang="en">' in html
    for key in ("2611.10000", "2611.10001", "2611.10002"):
        assert f'id="p-{key}"' in html and f'href="#p-{key}"' in html
        assert f'href="../papers/{key}.html"' in html
        assert f'href="https://arxiv.org/abs/{key}"' in html
    assert "Summary of Paper 1" in html and "Answer 7:" in html
    assert html.count("quote not found in the paper") == 3  # one unverified answer per paper
    assert "7 of 8 answers verified" in html
    assert html.count('<blockquote class="quote"') == 24 and "“reaches 30.5% accuracy”" in html
    assert 'rel="prev" href="2026-W46.html"' in html
    assert "Written by test-model." in html


def test_rebuild_with_nothing_new_changes_no_file(two_weeks):
    config, store = two_weeks
    build_archive(config, store)
    backdate(config.archive_dir)
    before = snapshot(config.archive_dir)
    again = build_archive(config, store)
    assert again.written == 0 and again.removed == 0 and again.unchanged == len(before)
    assert snapshot(config.archive_dir) == before  # same bytes and same mtimes


def test_new_issue_keeps_permalinks_and_touches_only_what_changed(two_weeks):
    config, store = two_weeks
    build_archive(config, store)
    site = config.archive_dir / "site"
    backdate(site)
    before = snapshot(site)
    make_issue(store, week=-1, n_papers=1)
    result = build_archive(config, store)
    after = snapshot(site)
    assert set(before) <= set(after)  # every old permalink still exists
    assert "issues/2026-W48.html" in after and "papers/2611.09900.html" in after
    assert "· 1 paper</p>" in (site / "issues" / "2026-W48.html").read_text()
    changed = {k for k in before if before[k][0] != after[k][0]}
    # The newest old issue gains a "newer" link; old paper pages stay byte for byte.
    assert "issues/2026-W47.html" in changed and "issues/2026-W46.html" not in changed
    assert not any(k.startswith("papers/") for k in changed)
    for k in before:
        if k not in changed:
            assert before[k][1] == after[k][1], f"{k} was rewritten without changing"
    assert result.written == len(changed) + (len(after) - len(before)) + 1  # + archive/README.md


def test_hostile_title_stays_inert_everywhere(two_weeks):
    config, store = two_weeks
    build_archive(config, store)
    site = config.archive_dir / "site"
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt;"
    for page in list(site.rglob("*.html")):
        text = page.read_text()
        assert "<script>alert" not in text and "<img src=x" not in text, page
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"inline script in {page}"
    assert escaped in (site / "issues" / "2026-W47.html").read_text()
    assert escaped in (site / "papers" / "2611.10000.html").read_text()
    assert escaped in (site / "categories" / "cs.CL.html").read_text()
    for js in [(site / "search-index.js").read_text()] + [f.read_text() for f in (site / "search").glob("*.js")]:
        assert "<" not in js and ">" not in js
    meta = (site / "search" / "m0.js").read_text()
    rows = json.loads(meta.removeprefix('DIGEST_SEARCH_LOAD("m0",').rstrip().removesuffix(");"))
    assert HOSTILE_TITLE in [d[1] for d in rows]
    feed = (site / "feed.xml").read_text()
    assert "<script>" not in feed and "<img src=x" not in feed
    readme = (config.archive_dir / "README.md").read_text()
    assert "<script>" not in readme and "&lt;script&gt;alert\\(1\\)" in readme


def test_only_http_links_from_paper_data(config, store):
    paper = make_paper(1, title="Links")
    paper = replace(paper, abs_url="javascript:alert(1)", pdf_url="data:text/html,<b>x</b>",
                    license="javascript:void(0)", doi='10.1/"><script>')
    store.upsert_paper(paper)
    g = make_generation(paper)
    store.save_generation(g, {})
    store.save_issue(Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en",
                           model="test-model", created="2026-11-16T08:00:00+00:00",
                           entries=[IssueEntry(paper=paper, generation=g, position=1)]), {paper.key: g})
    build_archive(config, store)
    for page in (config.archive_dir / "site").rglob("*.html"):
        hrefs = [h for h in re.findall(r'href="([^"]*)"', page.read_text()) if h != "data:,"]  # favicon
        assert not [h for h in hrefs if re.match(r"(?i)\s*(javascript|data|vbscript):", h)], page
        assert "<script>" not in page.read_text()


def test_paper_page_shows_every_generation_marked(config, store):
    issue = make_issue(store, week=0, n_papers=2)
    paper = issue.entries[0].paper
    other = make_generation(paper, model="gpt-4o-mini")
    other = replace(other, summary="The second model's view.", created="2026-11-23T00:00:00+00:00")
    store.save_generation(other, {})
    store.add_issue_generation(issue.id, other)
    extractive = replace(make_generation(paper, model="extractive"), key="ex", summary="Extracted.",
                         status="abstract-only", note="the PDF was encrypted",
                         created="2026-11-24T00:00:00+00:00")
    store.save_generation(extractive, {})
    build_archive(config, store)
    html = (config.archive_dir / "site" / "papers" / f"{paper.key}.html").read_text()
    # The variant the issue shows first, then the others newest first.
    assert html.index("test-model") < html.index("extractive") < html.index("gpt-4o-mini")
    assert "The second model&#39;s view." in html and "Extracted." in html
    assert "shown in 2026-W47" in html  # the chosen variant is marked
    assert "Written without an LLM" in html
    assert "Summarised from the abstract only: the PDF was encrypted." in html
    issue_html = (config.archive_dir / "site" / "issues" / "2026-W47.html").read_text()
    assert "Also written by: gpt-4o-mini." in issue_html
    assert "The second model" not in issue_html  # the issue shows its chosen model only


def test_a_quote_that_only_repeats_its_answer_is_not_shown_twice(config, store):
    p = make_paper(1)
    g = make_generation(p)
    g.qa[0].quote = "  " + g.qa[0].answer.replace(" ", "\n ", 2)  # the answer again, spaced differently
    store_one_paper_issue(store, p, g)
    build_archive(config, store)
    html = (config.archive_dir / "site" / "papers" / f"{p.key}.html").read_text()
    assert html.count('<blockquote class="quote"') == 7 and "“reaches 10.5% accuracy”" in html


def test_extractive_issue_and_missing_generation(config, store):
    paper = make_paper(5, title="No summary yet")
    store.upsert_paper(paper)
    g = replace(make_generation(make_paper(6), model="extractive"), paper_key="2611.10006")
    p6 = make_paper(6)
    store.upsert_paper(p6)
    store.save_generation(g, {})
    store.save_issue(Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en",
                           model="extractive", created="2026-11-16T08:00:00+00:00",
                           entries=[IssueEntry(paper=paper, generation=None, position=1),
                                    IssueEntry(paper=p6, generation=g, position=2, is_update=True)]),
                     {paper.key: None, p6.key: g})
    build_archive(config, store)
    html = (config.archive_dir / "site" / "issues" / "2026-W47.html").read_text()
    assert "Written without an LLM (the built-in extractive model)" in html
    assert "No summary was written for this paper." in html
    assert "Updated: new version v1" in html


def test_japanese_issue_is_labelled_and_searchable(config, store):
    make_issue(store, week=0, n_papers=2, language="ja", titles=["大規模言語モデルによる論文要約"])
    build_archive(config, store)
    html = (config.archive_dir / "site" / "issues" / "2026-W47.html").read_text()
    assert '<html lang="ja">' in html and "今週の論文" in html and "2本の論文" in html
    assert [h.paper_key for h in search(store, "要約")] == ["2611.10000"]  # two characters: LIKE
    assert [h.paper_key for h in search(store, "言語モデル")] == ["2611.10000"]  # trigram MATCH
    assert [h.paper_key for h in search(store, "論文要約 grounded")] == []
    assert {h.paper_key for h in search(store, "山田")} == {"2611.10000", "2611.10001"}


def test_watched_authors_and_categories_pages(config, store):
    config.selection.authors = ["lovelace", "Grace Hopper", "山田 太郎"]
    make_issue(store, week=0, n_papers=2)
    build_archive(config, store)
    site = config.archive_dir / "site"
    index = (site / "authors" / "index.html").read_text()
    assert "lovelace" in index and "Grace Hopper" in index and "山田 太郎" in index
    lovelace = (site / "authors" / f"{slugify('lovelace')}.html").read_text()
    assert "2611.10000.html" in lovelace and "2611.10001.html" in lovelace
    hopper = (site / "authors" / f"{slugify('Grace Hopper')}.html").read_text()
    assert "papers/" not in hopper and "0 papers" in hopper
    assert "2611.10000.html" in (site / "authors" / f"{slugify('山田 太郎')}.html").read_text()
    assert "2611.10001.html" in (site / "categories" / "cs.LG.html").read_text()
    assert same_author("Lovelace", "Ada Lovelace") and same_author("ada lovelace", "Ada LOVELACE")
    assert same_author("Müller", "Jan Muller") and not same_author("Love", "Ada Lovelace")
    assert slugify("cs.CL") == "cs.CL" and slugify("山田 太郎") != slugify("山田 次郎")


def test_author_page_lists_a_paper_selection_took_for_that_author(config, store):
    """'J. Doe' is the watched 'Jane Doe' to selection, so her archive page must list the paper too."""
    paper = replace(make_paper(7), authors=["J. Doe", "Someone Else"], categories=["math.AG"])
    config.selection.authors = ["Jane Doe"]
    taken = select_papers([paper], SelectionConfig(authors=["Jane Doe"], categories=["cs.CL"]))
    assert taken[0].selected and any("watch list: J. Doe" in r for r in taken[0].reasons)
    store_one_paper_issue(store, paper, make_generation(paper))
    build_archive(config, store)
    page = (config.archive_dir / "site" / "authors" / f"{slugify('Jane Doe')}.html").read_text()
    assert f"{paper.key}.html" in page and "1 paper" in page


def test_stale_pages_are_removed_and_user_files_kept(two_weeks):
    config, store = two_weeks
    config.selection.authors = ["Lovelace"]
    build_archive(config, store)
    site = config.archive_dir / "site"
    (site / "papers" / "notes.txt").write_text("mine")
    assert (site / "authors" / "Lovelace.html").exists()
    config.selection.authors = []
    result = build_archive(config, store)
    assert result.removed == 2 and not (site / "authors" / "Lovelace.html").exists()
    assert (site / "papers" / "notes.txt").read_text() == "mine"


def test_control_characters_from_pdf_text_never_reach_a_page(config, store):
    issue = make_issue(store, week=0, n_papers=1, titles=["Form\x0cfeed and \x00null \ufffe kept: café 日本"])
    build_archive(config, store)
    site = config.archive_dir / "site"
    forbidden = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
    assert not [p for p in site.rglob("*") if p.is_file() and forbidden.search(p.read_bytes())]
    assert "Formfeed and null  kept: café 日本" in (site / "papers" / f"{issue.entries[0].paper.key}.html").read_text()
    ET.parse(site / "feed.xml")


def test_atom_feed_is_valid_rfc4287(two_weeks):
    config, store = two_weeks
    config.output.archive_url = "https://digest.example.org/archive/"
    build_archive(config, store)
    raw = (config.archive_dir / "site" / "feed.xml").read_bytes()
    feed = feedparser.parse(raw)
    assert not feed.bozo, feed.get("bozo_exception")
    assert [e.link for e in feed.entries] == [
        "https://digest.example.org/archive/issues/2026-W47.html",
        "https://digest.example.org/archive/issues/2026-W46.html",
    ]
    root = ET.fromstring(raw)
    assert root.tag == f"{ATOM}feed"
    for child in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{child}") is not None, child
    stored = {r["id"]: r for r in store.query("SELECT id, created, updated FROM issues")}
    entries = root.findall(f"{ATOM}entry")
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert len(set(ids)) == 2 and all(i.startswith("urn:uuid:") for i in ids)
    for e, issue_id in zip(entries, ("2026-W47", "2026-W46")):
        assert e.find(f"{ATOM}updated").text == stored[issue_id]["updated"].replace("+00:00", "Z")
        assert e.find(f"{ATOM}published").text == stored[issue_id]["created"].replace("+00:00", "Z")
        content = e.find(f"{ATOM}content")
        assert content.get("type") == "html" and "Answer 7:" in content.text
        assert 'href="https://digest.example.org/archive/papers/' in content.text
    assert root.find(f"{ATOM}updated").text == max(e.find(f"{ATOM}updated").text for e in entries)
    assert feed.entries[0].content[0].value.count("quote not found in the paper") == 3
    # The ids do not depend on where the archive is hosted: moving it does not re-announce issues.
    config.output.archive_url = ""
    build_archive(config, store)
    moved = ET.fromstring((config.archive_dir / "site" / "feed.xml").read_bytes())
    assert [e.find(f"{ATOM}id").text for e in moved.findall(f"{ATOM}entry")] == ids


def test_markdown_index_reads_well_on_a_git_host(two_weeks):
    config, store = two_weeks
    (config.archive_dir / "2026-W47.md").write_text("# issue\n")  # as the render step writes it
    build_archive(config, store)
    readme = (config.archive_dir / "README.md").read_text()
    assert readme.index("## [2026-W47](2026-W47.md)") < readme.index("## 2026-W46")
    assert "3 papers" in readme and "2 papers" in readme
    assert "2. **Paper 1: grounded summarisation of long documents** — TL;DR of Paper 1" in readme
    assert "[site/index.html](site/index.html)" in readme
    assert "\n\n\n\n" not in readme


def test_search_finds_a_word_that_occurs_only_in_one_answer(two_weeks):
    config, store = two_weeks
    hits = search(store, "xylophonic")  # the index is built on first use
    assert [h.paper_key for h in hits] == ["2611.10000"]
    assert hits[0].title == HOSTILE_TITLE and hits[0].issue_ids == ["2026-W47"]
    assert "xylophonic" in hits[0].snippet
    assert [h.paper_key for h in search(store, "XYLOPHON")] == ["2611.10000"]  # prefix, any case
    assert len(search(store, "grounded summarisation")) == 4
    assert len(search(store, '"long documents" paper', limit=2)) == 2
    assert search(store, "lovelace attention")[0].paper_key == "2611.10000"
    for odd in ('"', "AND OR NOT (", "*", "title:x", "NEAR(a b)", "-", "'; DROP TABLE papers; --"):
        search(store, odd)  # user input never becomes FTS5 syntax
    assert query_terms('a "b c" --') == ["a", "b c"]


def test_search_index_follows_the_store(config, store):
    make_issue(store, week=1, n_papers=1)
    assert reindex(store) == 1
    assert ensure_index(store) is False
    assert search(store, "marimba") == []
    make_issue(store, week=0, n_papers=1, unique_word="marimba")
    assert [h.paper_key for h in search(store, "marimba")] == ["2611.10000"]  # rebuilt on its own
    assert ensure_index(store) is False


def test_empty_store_is_a_clear_error(config, store):
    with pytest.raises(DigestError, match="no issue"):
        build_archive(config, store)


def test_cli_archive_build_and_search(tmp_path, two_weeks):
    import click

    from digest.cli.archive import register

    config, store = two_weeks
    (tmp_path / "digest.toml").write_text(f'[store]\narchive_dir = "{config.archive_dir}"\n')

    class Obj:
        def __init__(self):
            from digest.config import load_config
            self.config = load_config(tmp_path / "digest.toml", env={})
            self.store = store

    @click.group()
    @click.pass_context
    def cli(ctx):
        ctx.obj = Obj()

    register(cli)
    runner = CliRunner()
    r = runner.invoke(cli, ["archive", "build"])
    assert r.exit_code == 0, r.output
    assert "2 issues, 5 papers" in r.output and (config.archive_dir / "site" / "index.html").is_file()
    r = runner.invoke(cli, ["archive", "build"])
    assert "0 files written" in r.output
    r = runner.invoke(cli, ["search", "xylophonic"])
    assert r.exit_code == 0 and HOSTILE_TITLE in r.output and "2026-W47" in r.output
    r = runner.invoke(cli, ["search", "nothing-like-this"])
    assert "No published paper matches" in r.output
    r = runner.invoke(cli, ["archive", "build", "--help"])
    assert "README.md" in r.output


def test_real_arxiv_metadata_renders_and_feed_stays_valid(config, store, corpus):
    """Titles, authors and abstracts from a real arXiv API response (LaTeX, accents, line breaks)."""
    parsed = feedparser.parse((corpus / "arxiv_api" / "api2026_search_testing_100entries.xml").read_bytes())
    issue = Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en",
                  model="test-model", created="2026-11-16T08:00:00+00:00")
    gens: dict[str, Generation | None] = {}
    for n, e in enumerate(parsed.entries[:30]):
        aid = e.id.rsplit("/abs/", 1)[-1].split("v")[0]
        paper = replace(make_paper(n), key=aid, arxiv_id=aid, title=e.title, abstract=e.summary,
                        authors=[a.name for a in e.authors], abs_url=e.link,
                        categories=[t.term for t in e.tags])
        store.upsert_paper(paper)
        g = replace(make_generation(paper), summary=e.summary)
        store.save_generation(g, {})
        gens[aid] = g
        issue.entries.append(IssueEntry(paper=paper, generation=g, position=n + 1))
    store.save_issue(issue, gens)
    build_archive(config, store)
    site = config.archive_dir / "site"
    assert not feedparser.parse((site / "feed.xml").read_bytes()).bozo
    assert len(list((site / "papers").glob("*.html"))) == 30
    first = parsed.entries[0]
    assert search(store, first.title.split()[0])  # a real title word is found
    assert len(list((site / "categories").glob("*.html"))) > 2


def test_old_style_and_url_keys_get_stable_file_names(config, store):
    papers = [replace(make_paper(1), key="quant-ph/0201082", arxiv_id="quant-ph/0201082", title="Old style"),
              replace(make_paper(2), key="url:0123456789abcdef", arxiv_id=None, title="From a feed")]
    gens = {}
    issue = Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en",
                  model="test-model", created="2026-11-16T08:00:00+00:00")
    for n, p in enumerate(papers, 1):
        store.upsert_paper(p)
        gens[p.key] = replace(make_generation(p), key=f"g{n}")
        store.save_generation(gens[p.key], {})
        issue.entries.append(IssueEntry(paper=p, generation=gens[p.key], position=n))
    store.save_issue(issue, gens)
    build_archive(config, store)
    site = config.archive_dir / "site"
    names = sorted(f.name for f in (site / "papers").iterdir())
    assert len(names) == 2 and all("/" not in n and ":" not in n for n in names)
    assert names == sorted(f"{slugify(p.key)}.html" for p in papers)
    html = (site / "issues" / "2026-W47.html").read_text()
    for p in papers:
        assert f'href="../papers/{slugify(p.key)}.html"' in html and f'id="p-{slugify(p.key)}"' in html
    assert slugify("quant-ph/0201082") == slugify("quant-ph/0201082") != slugify("quant-ph-0201082")


# ---- incremental builds, pagination, the split search index ------------------------------------

def site_files(site: Path) -> dict[str, bytes]:
    """Every file of a built site with its bytes, without the build's own manifest."""
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*"))
            if p.is_file() and p.name != MANIFEST_NAME}


def test_rebuild_with_nothing_new_renders_nothing(two_weeks):
    config, store = two_weeks
    config.selection.authors = ["Lovelace"]
    first = SiteBuilder(config, store).build()
    assert first.rendered == first.written > 20
    builder = SiteBuilder(config, store)
    again = builder.build()
    assert builder.renders == 0 and again.rendered == 0 and again.written == 0
    assert again.unchanged == first.written and (again.issues, again.papers) == (2, 5)


def test_one_new_issue_renders_only_the_pages_that_show_it(two_weeks):
    config, store = two_weeks
    config.selection.authors = ["Lovelace"]
    build_archive(config, store)
    site = config.archive_dir / "site"
    make_issue(store, week=-1, n_papers=1)
    result = build_archive(config, store)
    written = {os.path.relpath(p, site) for p in result.written_paths}
    new_pages = {"issues/2026-W48.html", "issues/2026-W48.bib", "issues/2026-W48.ris", "issues/2026-W48.json",
                 "papers/2611.09900.html"}
    listing = {"index.html", "2026/index.html", "issues/2026-W47.html", "categories/index.html",
               "categories/cs.CL.html", "categories/cs.LG.html", "authors/index.html", "authors/Lovelace.html",
               "feed.xml", "../README.md", "search-index.js", "search/m0.js", "search/x0.js"}
    term_files = {p for p in written if p.startswith("search/t")}
    assert written - term_files == new_pages | listing
    assert term_files and all(p.endswith("-0.js") for p in term_files)  # the one group of papers
    # Rendered but unchanged: only term files of that group whose words the new paper lacks.
    assert set(result.rendered_paths) - written <= {f"search/t{b}-0.js" for b in range(32)}
    assert not any(p.startswith(("papers/2611.100", "issues/2026-W46")) for p in result.rendered_paths)


def test_incremental_build_equals_a_clean_build(two_weeks, tmp_path):
    config, store = two_weeks
    config.selection.authors = ["Lovelace", "山田 太郎"]
    build_archive(config, store)
    make_issue(store, week=-1, n_papers=2, language="ja", unique_word="marimba")
    paper = store.get_paper("2611.10001")  # an old paper's summary is rewritten in place
    g = replace(store.generations_for_paper(paper.key)[0], summary="A rewritten summary.")
    store.save_generation(g, {})
    old = store.get_paper("2611.10100")  # a new version on arXiv, with a new title
    assert store.upsert_paper(replace(old, version=old.version + 1, title="A corrected title")) == "updated"
    result = build_archive(config, store)
    assert "papers/2611.10001.html" in result.rendered_paths
    assert "A rewritten summary." in (config.archive_dir / "site" / "papers" / "2611.10001.html").read_text()
    assert {"papers/2611.10100.html", "issues/2026-W46.html"} <= set(result.rendered_paths)
    assert "A corrected title" in (config.archive_dir / "site" / "issues" / "2026-W46.html").read_text()
    clean = build_archive(config, store, tmp_path / "clean")
    assert clean.rendered == clean.written
    assert site_files(config.archive_dir / "site") == site_files(tmp_path / "clean")


def test_deleted_manifest_or_changed_template_renders_again(two_weeks, tmp_path, monkeypatch):
    config, store = two_weeks
    first = build_archive(config, store)
    site = config.archive_dir / "site"
    before = site_files(site)
    (site / MANIFEST_NAME).unlink()
    again = build_archive(config, store)
    assert again.rendered == first.rendered and again.written == 0  # all rendered, same bytes
    assert (site / MANIFEST_NAME).is_file() and build_archive(config, store).rendered == 0
    templates = tmp_path / "templates"
    shutil.copytree(bundled_dir("templates"), templates)
    base = templates / "site" / "base.html"
    base.write_text(base.read_text().replace("<footer class=\"site\">", "<footer class=\"site\"><p>Changed</p>"))
    monkeypatch.setattr("digest.archive.site.bundled_dir", lambda name: templates)
    changed = build_archive(config, store)
    html = {k for k in before if k.endswith(".html")}
    assert html <= {os.path.relpath(p, site) for p in changed.written_paths}
    assert all("<p>Changed</p>" in (site / k).read_text() for k in html)
    (site / "papers" / "2611.10000.html").unlink()  # a missing page is rendered again
    assert build_archive(config, store).rendered_paths == ["papers/2611.10000.html"]


def test_index_paginates_from_the_oldest_page_with_a_page_per_year(config, store, tmp_path):
    for week in range(50):  # 2026-W47 back to 2025-W50
        make_issue(store, week=week, n_papers=1)
    build_archive(config, store)
    site = config.archive_dir / "site"
    assert index_pages(50) == [(2, 0, 30), (1, 30, 50)]
    front, older = (site / "index.html").read_text(), (site / "page" / "1.html").read_text()
    assert front.count('class="issue-card"') == 30 and older.count('class="issue-card"') == 20
    assert "All issues: 50" in front and "All issues:" not in older  # the count would change every week
    assert 'rel="next" href="page/1.html"' in front and 'rel="prev"' not in front
    assert 'rel="prev" href="../index.html"' in older and 'href="../issues/2025-W50.html"' in older
    assert "Older issues →" in front and "← Newer issues" in older and "2025-W50 – 2026-W17" in older
    assert not (site / "page" / "2.html").exists()
    y2025 = (site / "2025" / "index.html").read_text()
    assert y2025.count('class="issue-card"') == 3 and "<h1>Issues of 2025</h1>" in y2025
    assert 'href="../2026/index.html"' in y2025 and 'href="2025/index.html"' in front
    assert 'href="../issues/2025-W52.html"' in y2025 and 'href="../issues/2026-W01.html"' not in y2025
    assert (site / "2026" / "index.html").read_text().count('class="issue-card"') == 47
    # A new issue changes the front page, not the older page.
    make_issue(store, week=-1, n_papers=1)
    result = build_archive(config, store)
    assert "index.html" in result.rendered_paths and "page/1.html" not in result.rendered_paths
    assert "2025/index.html" not in result.rendered_paths
    build_archive(config, store, tmp_path / "clean")
    assert site_files(site) == site_files(tmp_path / "clean")  # what it did not render is still right
    config.output.language = "ja"
    build_archive(config, store)
    assert "以前の号 →" in (site / "index.html").read_text()
    assert "2025年の号" in (site / "2025" / "index.html").read_text()


def test_category_and_author_lists_paginate_and_a_new_issue_leaves_older_pages(config, store, monkeypatch):
    monkeypatch.setattr(listings, "PAPERS_PER_PAGE", 4)
    config.selection.authors = ["Lovelace"]
    for week in range(5):  # 10 papers, all in cs.CL and all by Lovelace
        make_issue(store, week=week, n_papers=2)
    build_archive(config, store)
    site = config.archive_dir / "site"
    for folder, slug in (("categories", "cs.CL"), ("authors", slugify("Lovelace"))):
        front = (site / folder / f"{slug}.html").read_text()
        older = (site / folder / f"{slug}~1.html").read_text()
        assert front.count('class="title"') == 6 and older.count('class="title"') == 4
        assert not (site / folder / f"{slug}~2.html").exists()
        assert "10 papers" in front and "papers</p>" not in older  # the total would change every week
        assert f'rel="next" href="{slug}~1.html"' in front and f'rel="prev" href="{slug}.html"' in older
        assert "Older papers →" in front and "← Newer papers" in older and "2026-W43 – 2026-W44" in older
        assert "papers/2611.10400.html" in older and "papers/2611.10400.html" not in front
    make_issue(store, week=-1, n_papers=1)
    result = build_archive(config, store)
    assert {"categories/cs.CL.html", f"authors/{slugify('Lovelace')}.html"} <= set(result.rendered_paths)
    assert not any("~" in p for p in result.rendered_paths)
    config.output.language = "ja"
    build_archive(config, store)
    assert "以前の論文 →" in (site / "categories" / "cs.CL.html").read_text()


def test_compiled_templates_are_kept_for_the_next_build(config, store, monkeypatch, tmp_path):
    make_issue(store, week=0, n_papers=2)
    build_archive(config, store)
    assert list((config.cache_dir / "templates").iterdir())
    compiled = []
    original = Environment.compile
    monkeypatch.setattr(Environment, "compile", lambda env, *a, **k: compiled.append(a) or original(env, *a, **k))
    build_archive(config, store, tmp_path / "second")  # a new process would start as this new builder does
    assert compiled == []
    config.store.cache_dir = str(tmp_path / "a-file")  # a cache we cannot use: compile, and build all the same
    (tmp_path / "a-file").write_text("")
    build_archive(config, store, tmp_path / "third")
    assert compiled and (tmp_path / "third" / "index.html").is_file()


def test_stale_index_pages_and_search_files_are_removed(config, store):
    for week in range(50):
        make_issue(store, week=week, n_papers=1)
    build_archive(config, store)
    site = config.archive_dir / "site"
    assert (site / "page" / "1.html").is_file() and (site / "2025" / "index.html").is_file()
    # 12 issues held back as drafts: 38 left fit on one page, none of them in 2025.
    store.execute("UPDATE issues SET status = 'draft', updated = 'x' WHERE week_start < '2026-03-01'")
    result = build_archive(config, store)
    assert not (site / "page" / "1.html").exists() and not (site / "2025" / "index.html").exists()
    assert result.removed >= 2


def test_search_files_index_words_and_cjk_bigrams(config, store):
    make_issue(store, week=1, n_papers=2, unique_word="xylophonic")
    make_issue(store, week=0, n_papers=1, language="ja", titles=["大規模言語モデルによる論文要約"])
    build_archive(config, store)
    site = config.archive_dir / "site"

    def load(name: str):
        text = (site / "search" / f"{name}.js").read_text()
        return json.loads(text.removeprefix(f'DIGEST_SEARCH_LOAD("{name}",').rstrip().removesuffix(");"))

    def postings(term: str) -> dict[int, int]:
        found = load(f"t{bucket(term)}-0").get(term, [])
        return dict(zip(found[0::2], found[1::2]))

    manifest = json.loads((site / "search-index.js").read_text().removeprefix("window.DIGEST_SEARCH = ")
                          .rstrip().rstrip(";"))
    assert manifest["docs"] == 3 and manifest["issues"]["2026-W47"].startswith("2026-W47")
    meta = load("m0")
    # Numbered by first appearance: the older issue's papers first.
    assert [row[0] for row in meta] == ["2611.10100", "2611.10101", "2611.10000"]
    assert postings("xylophonic") == {0: 1 << 4}  # in one answer (the Q&A field) of the first paper
    assert postings("lovelace") == {0: 2, 1: 2, 2: 2}  # authors
    assert set(postings("要約")) == {2} and set(postings("言語")) == {2} and postings("約") == {2: 0b11101}  # not in authors
    assert list(terms("BERTモデル")) == ["bert", "モ", "デ", "ル", "モデ", "デル"]
    assert fold("Müller ﬁne ＧＰＴ が") == "muller fine gpt が"  # accents go, kana voicing stays
    assert load("x0")[0][1].count("xylophonic") == 1


def test_an_overview_or_new_support_labels_render_the_issue_page_again(two_weeks):
    from digest.records import Overview, Theme

    config, store = two_weeks
    build_archive(config, store)
    site = config.archive_dir / "site"
    store.set_overview("2026-W47", "test-model", "en", Overview(
        issue_id="2026-W47", model="test-model", language="en",
        themes=[Theme("Grounded answers", "Papers 1 and 2 check their quotes.", [1, 2])]))
    result = build_archive(config, store)
    assert "issues/2026-W47.html" in result.rendered_paths
    assert "Grounded answers" in (site / "issues" / "2026-W47.html").read_text(encoding="utf-8")
    # Support labels are written into a stored generation after it was made: the page follows them.
    g = store.load_issue("2026-W47").entries[0].generation
    g.qa[0].support = "not"
    store.save_answers(g)
    result = build_archive(config, store)
    assert "issues/2026-W47.html" in result.rendered_paths
    assert "the quote does not support this answer" in (site / "issues" / "2026-W47.html").read_text(encoding="utf-8")
    assert build_archive(config, store).rendered == 0


KILLED_BUILD = """
import sys
from pathlib import Path
from conftest import make_config
from digest.archive.site import build_archive
from digest.store import Store
config = make_config(Path(sys.argv[1]))
config.selection.authors = ["Lovelace"]
build_archive(config, Store(config.db_path), workers=1)
"""


def build_killed_after(config, writes: int) -> None:
    """Build the archive in a child process that SIGKILLs itself once it has written `writes` pages."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), str(Path(__file__).parent.parent)]),
               **{KILL_AFTER_ENV: str(writes)})
    proc = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(config.path.parent)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@pytest.mark.parametrize("writes", [1, 9, 30])
def test_a_build_killed_mid_write_is_repaired_by_the_next(two_weeks, tmp_path, writes):
    config, store = two_weeks
    config.selection.authors = ["Lovelace"]
    build_archive(config, store)
    make_issue(store, week=-1, n_papers=2, unique_word="marimba")
    build_killed_after(config, writes)
    site = config.archive_dir / "site"
    assert (site / JOURNAL_NAME).is_file()
    result = build_archive(config, store)
    assert result.rendered and not (site / JOURNAL_NAME).exists()
    assert not [p for p in site.rglob("*.tmp")]
    build_archive(config, store, tmp_path / "clean")
    assert site_files(site) == site_files(tmp_path / "clean")


def test_pages_a_killed_build_tore_are_written_again_even_when_the_store_went_back(two_weeks, tmp_path):
    # A torn page whose data then returns to what the last whole build showed has the fingerprint the old
    # manifest holds: only the journal says it must be written again.
    config, store = two_weeks
    config.selection.authors = ["Lovelace"]
    build_archive(config, store)
    site = config.archive_dir / "site"
    before = site_files(site)
    saved = sqlite3.connect(tmp_path / "saved.sqlite")
    store.db.backup(saved)
    make_issue(store, week=-1, n_papers=2)
    build_killed_after(config, 12)
    torn = json.loads((site / JOURNAL_NAME).read_text())["pages"]
    for rel in torn:  # as SIGKILL in the middle of each write would leave them
        if (site / rel).is_file():
            (site / rel).write_bytes((site / rel).read_bytes()[:10])
    saved.backup(store.db)  # the new issue is gone again: the store is as the last whole build saw it
    saved.close()
    assert BuildManifest.read(site).signature != queries.archive_signature(store)
    result = build_archive(config, store)
    assert set(torn) & set(result.rendered_paths)
    assert site_files(site) == before


def test_one_new_issue_loads_only_the_write_ups_of_the_pages_it_renders(config, store, monkeypatch, tmp_path):
    monkeypatch.setattr(site_module, "FEED_ENTRIES", 2)
    monkeypatch.setattr(search_shards, "GROUP_SIZE", 4)
    monkeypatch.setattr(search_shards, "TEXT_CHUNK", 2)
    for week in range(6):
        make_issue(store, week=week, n_papers=2)
    assert build_archive(config, store).loaded == 12  # a first build shows every write-up
    assert build_archive(config, store).loaded == 0
    make_issue(store, week=-1, n_papers=1)
    filled: list[str] = []
    fill = queries.fill_generations
    monkeypatch.setattr(queries, "fill_generations",
                        lambda st, gs: (filled.extend(g.paper_key for g in gs), fill(st, gs)))
    result = build_archive(config, store)
    # The new paper (its issue, page, search files) and the issue before it (its page links the new one;
    # the feed shows both); none of the four older issues' papers.
    assert sorted(filled) == ["2611.09900", "2611.10000", "2611.10001"] and result.loaded == 3
    build_archive(config, store, tmp_path / "clean")
    assert site_files(config.archive_dir / "site") == site_files(tmp_path / "clean")
    filled.clear()
    config.web.public_url = "https://digest.example.org"  # a setting every page shows: all rendered again
    again = build_archive(config, store)
    assert again.loaded == 13 and len(filled) == 13 and again.rendered == len(again.rendered_paths) > 50


def test_search_falls_back_to_every_generation_when_the_shown_one_has_no_text(config, store):
    # Which generations a paper's search text comes from is decided before any summary is loaded: a shown
    # generation without even a TL;DR has its content loaded to tell whether it has any text.
    paper = make_paper(0)
    store.upsert_paper(paper)
    store.save_generation(make_generation(paper, "other-model", unique_word="glockenspiel",
                                          created="2026-11-15T08:00:00+00:00"), {})
    empty = replace(make_generation(paper), tldr="", summary="", qa=[])
    store_one_paper_issue(store, paper, empty)
    build_archive(config, store)
    texts = (config.archive_dir / "site" / "search" / "x0.js").read_text()
    assert "glockenspiel" in texts
    with_text = replace(make_generation(paper, "third-model"), key="k3", tldr="", qa=[], summary="A theremin.")
    store.save_generation(with_text, {})
    store.save_issue(replace(store.load_issue("2026-W47"), model="third-model"), {paper.key: with_text})
    build_archive(config, store)
    texts = (config.archive_dir / "site" / "search" / "x0.js").read_text()
    assert "theremin" in texts and "glockenspiel" not in texts


def test_a_new_variant_and_showing_it_render_the_pages_of_its_papers_with_their_text(two_weeks, tmp_path):
    config, store = two_weeks
    build_archive(config, store)
    site = config.archive_dir / "site"
    paper = store.get_paper("2611.10100")  # of the older issue, 2026-W46
    variant = make_generation(paper, "bigger-model", unique_word="ocarina")
    store.save_generation(variant, {})
    store.add_issue_generation("2026-W46", variant)
    added = build_archive(config, store)
    assert "papers/2611.10100.html" in added.rendered_paths and added.loaded >= 1
    assert "ocarina" in (site / "papers" / "2611.10100.html").read_text()
    store.show_variant("2026-W46", "bigger-model", language=None, published=True)
    shown = build_archive(config, store)
    assert {"issues/2026-W46.html", "issues/2026-W46.bib"} <= set(shown.rendered_paths)
    assert "ocarina" in (site / "issues" / "2026-W46.html").read_text()
    assert not any(p.startswith("papers/2611.1000") for p in shown.rendered_paths)  # the newer issue's papers
    build_archive(config, store, tmp_path / "clean")
    assert site_files(site) == site_files(tmp_path / "clean")


def test_the_quick_author_test_never_refuses_a_name_same_author_accepts():
    names = ["Jane Doe", "Doe, Jane M.", "J. Doe", "Doe", "John Doe", "Müller", "Muller", "Hans Müller", "H. Muller",
             "Ada Lovelace", "Author 7", "Author 17", "山田 太郎", "JosÃ© RaÃºl", "José Raúl", "Raul", "ＡＢＣ Def",
             "Abc Def", "O'Neil", "Smith-Jones", "Jones", "Xi", "Lee", "LEE, X.", "ﬁnn Doe"]
    pairs = [(w, a) for w in names for a in names]
    assert all(listings._could_be(w)(a) for w, a in pairs if same_author(w, a))
    assert not listings._could_be("Jane Doe")("Author 7")  # what makes it quick


def test_an_unreadable_journal_has_every_page_written_again(two_weeks):
    config, store = two_weeks
    first = build_archive(config, store)
    site = config.archive_dir / "site"
    (site / "index.html").write_bytes(b"<html")  # torn, and the journal that named it unreadable
    (site / JOURNAL_NAME).write_text("{\"pages\": [\"index.ht")
    again = build_archive(config, store)
    assert again.rendered == first.rendered and again.written_paths == [str(site / "index.html")]
    assert not (site / JOURNAL_NAME).exists() and build_archive(config, store).rendered == 0


# What a page may show of the papers and issues on it besides its own paper or issue: lists of papers and of
# issues, the search files, the feed and the Markdown index.
LISTING = re.compile(r"(index\.html|\d{4}/index\.html|page/.*|categories/.*|authors/.*|search-index\.js|search/.*"
                     r"|feed\.xml|\.\./README\.md)$")


def test_a_change_to_one_paper_renders_its_pages_and_the_lists_only(two_weeks, tmp_path):
    # Issue 23: fingerprints are made of the store's change stamps, so a rebuild loads and renders the pages
    # of what changed, however it was written (a store method or plain SQL).
    from digest.feedback import SITE, record_vote

    config, store = two_weeks
    config.selection.authors = ["Lovelace"]
    site = config.archive_dir / "site"
    build_archive(config, store)
    own = {"papers/2611.10100.html", "issues/2026-W46.html", "issues/2026-W46.bib", "issues/2026-W46.ris",
           "issues/2026-W46.json"}  # the paper's page, and its issue's page and files
    g = store.load_issue("2026-W46").entries[0].generation
    assert g.paper_key == "2611.10100"
    g.qa[0].support = "not"  # a support label written into the stored generation after it was made
    store.save_answers(g)
    labelled = build_archive(config, store)
    rendered = set(labelled.rendered_paths)
    assert own <= rendered and not {p for p in rendered - own if not LISTING.match(p)}
    assert {os.path.relpath(p, site) for p in labelled.written_paths} >= {"papers/2611.10100.html",
                                                                            "issues/2026-W46.html"}
    assert "the quote does not support this answer" in (site / "papers" / "2611.10100.html").read_text()
    # Plain SQL is seen as well: the triggers of m017_archive_changes stamp every write.
    store.execute("UPDATE papers SET title = 'A title fixed by hand' WHERE key = '2611.10100'")
    fixed = build_archive(config, store)
    assert own <= set(fixed.rendered_paths) and not {p for p in fixed.rendered_paths if p not in own
                                                     and not LISTING.match(p)}
    assert "A title fixed by hand" in (site / "categories" / "cs.CL.html").read_text()
    # A vote shapes the next weeks' selection and shows on no page: nothing is rendered, no file is touched.
    backdate(site)
    before = snapshot(site)
    assert record_vote(store, "2611.10100", 1, SITE)
    voted = build_archive(config, store)
    assert voted.rendered == voted.written == 0 and snapshot(site) == before
    # A new issue: its pages, its paper's, and the issue before it (whose page links it).
    make_issue(store, week=-1, n_papers=1)
    added = build_archive(config, store)
    new = {"issues/2026-W48.html", "issues/2026-W48.bib", "issues/2026-W48.ris", "issues/2026-W48.json",
           "papers/2611.09900.html", "issues/2026-W47.html"}
    assert new <= set(added.rendered_paths) and not {p for p in added.rendered_paths if p not in new
                                                     and not LISTING.match(p)}
    backdate(site)
    before = snapshot(site)
    again = build_archive(config, store)
    assert again.rendered == again.written == again.loaded == 0 and snapshot(site) == before
    # The feed's entries kept from the last builds are the ones a build without them makes.
    assert (config.cache_dir / site_module.FEED_CACHE).is_file()
    (config.cache_dir / site_module.FEED_CACHE).unlink()
    (site / MANIFEST_NAME).unlink()
    assert build_archive(config, store).written == 0
    build_archive(config, store, tmp_path / "clean")
    assert site_files(site) == site_files(tmp_path / "clean")


def test_stamps_of_another_store_or_of_a_store_that_went_back_are_not_trusted(two_weeks, tmp_path):
    config, store = two_weeks
    site = config.archive_dir / "site"
    first = build_archive(config, store)
    store.execute("UPDATE archive_store SET token = 'another store'")  # as a site moved to another database
    moved = build_archive(config, store)
    assert moved.rendered == first.rendered and moved.written == 0
    saved = sqlite3.connect(tmp_path / "saved.sqlite")
    store.db.backup(saved)
    make_issue(store, week=-1, n_papers=1)
    build_archive(config, store)
    saved.backup(store.db)  # a backup restored: its counter runs over the same numbers again
    saved.close()
    make_issue(store, week=-1, n_papers=1, titles=["Another paper under the same numbers"])
    restored = build_archive(config, store)
    assert {"issues/2026-W48.html", "papers/2611.09900.html"} <= set(restored.rendered_paths)
    assert "Another paper under the same numbers" in (site / "papers" / "2611.09900.html").read_text()
    build_archive(config, store, tmp_path / "clean")
    assert site_files(site) == site_files(tmp_path / "clean")


def test_the_pool_is_shown_after_the_issue_and_a_pool_change_renders_what_shows_it(two_weeks, tmp_path):
    # Issue 21: the archive shows the editor's issue plus every paper of the week's pool; the stamps of
    # m021_pool_stamps make a change to the pool re-render its issue's page, its papers' and the lists only.
    from digest.readers import save_pool

    config, store = two_weeks
    config.selection.authors = ["Lovelace"]
    site = config.archive_dir / "site"
    build_archive(config, store)
    before = site_files(site)
    editor = [e.paper for e in store.load_issue("2026-W47").entries]
    # A pool of the editor's papers alone (no reader asked for more): every page as it was, but the feed's
    # <updated> when the clock moved on (save_pool stamps the issue's updated time).
    save_pool(store, "2026-W47", editor)
    same = build_archive(config, store)
    assert {os.path.relpath(p, site) for p in same.written_paths} <= {"feed.xml"}
    assert {k: v for k, v in site_files(site).items() if k != "feed.xml"} == \
        {k: v for k, v in before.items() if k != "feed.xml"}
    before = site_files(site)
    # A reader's pick joins the pool, written up in the variant the issue shows.
    pick = make_paper(50, title="A zymurgic pool paper for one reader")
    store.upsert_paper(pick)
    g = make_generation(pick, created="2026-11-16T08:00:00+00:00")
    store.save_generation(g, {"model": "test-model"})
    store.add_issue_generation("2026-W47", g)
    save_pool(store, "2026-W47", editor + [pick])
    pooled = build_archive(config, store)
    own = {"issues/2026-W47.html", "papers/2611.10050.html"}
    exports = {f"issues/2026-W47.{s}" for s in ("bib", "ris", "json")}  # the issue's stamp moved: same bytes
    editor_pages = {f"papers/{p.key}.html" for p in editor}  # they name the issue: same bytes
    assert own <= set(pooled.rendered_paths)
    assert not {p for p in pooled.rendered_paths if p not in own | exports | editor_pages and not LISTING.match(p)}
    assert {os.path.relpath(p, site) for p in pooled.written_paths if not LISTING.match(os.path.relpath(p, site))} \
        == own
    page = (site / "issues" / "2026-W47.html").read_text()
    section = page[page.index("Also written up this week for readers&#39; own issues"):]
    assert 'id="p-2611.10050"' in section and 'href="../papers/2611.10050.html"' in section
    assert f"TL;DR of {pick.title}." in section and not any(f"papers/{p.key}.html" in section for p in editor)
    assert page.index("Also written up this week") > max(page.index(f'id="p-{p.key}"') for p in editor)
    paper_page = (site / "papers" / "2611.10050.html").read_text()
    assert 'href="../issues/2026-W47.html#p-2611.10050"' in paper_page and f"Summary of {pick.title}" in paper_page
    assert pick.title in (site / "categories" / "cs.CL.html").read_text()
    assert any(pick.title in f.read_text() for f in (site / "search").glob("m*.js"))
    assert [(h.paper_key, h.issue_ids) for h in search(store, "zymurgic")] == [("2611.10050", ["2026-W47"])]
    assert (site / "issues" / "2026-W46.html").read_bytes() == before["issues/2026-W46.html"]
    assert json.loads((site / "issues" / "2026-W47.json").read_bytes()) == json.loads(before["issues/2026-W47.json"])
    # Nothing new: nothing rendered; and the incremental site is the one a clean build makes.
    again = build_archive(config, store)
    assert again.rendered == again.written == 0
    build_archive(config, store, tmp_path / "clean")
    assert site_files(site) == site_files(tmp_path / "clean")
    # Plain SQL on the pool is seen too (the triggers of m021_pool_stamps): the pick leaves the site.
    store.execute("DELETE FROM issue_pool WHERE paper_key = '2611.10050'")
    dropped = build_archive(config, store)
    assert "issues/2026-W47.html" in dropped.rendered_paths and dropped.removed >= 1
    assert not (site / "papers" / "2611.10050.html").exists()
    assert (site / "issues" / "2026-W47.html").read_bytes() == before["issues/2026-W47.html"]


def test_a_japanese_issue_labels_its_pool_in_japanese(config, store):
    from digest.i18n import labels
    from digest.readers import save_pool

    issue = make_issue(store, n_papers=1, language="ja")
    pick = make_paper(70, title="A pool paper in English")
    store.upsert_paper(pick)
    g = make_generation(pick, "test-model", "ja")
    store.save_generation(g, {"model": "test-model"})
    store.add_issue_generation(issue.id, g)
    save_pool(store, issue.id, [e.paper for e in issue.entries] + [pick])
    build_archive(config, store)
    page = (config.archive_dir / "site" / "issues" / f"{issue.id}.html").read_text()
    assert labels("ja")["site_pool_heading"] in page and labels("en")["site_pool_heading"] not in page
    # The paper's own English title is tagged as English on a Japanese page.
    assert 'href="../papers/2611.10070.html" lang="en">A pool paper in English</a>' in page
