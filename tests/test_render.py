"""The Markdown issue: seed 004's structure, labels per language, escaping of paper-derived text."""

import os

from factories import HOSTILE_TITLE, make_issue

from digest.render import render_markdown, safe_url, write_markdown


def test_structure_follows_the_seed(store):
    text = render_markdown(make_issue(store, n_papers=2), title="Paper digest")
    # TL;DR list first, then per paper: title, authors, dates, URL, categories, summary, Q&A.
    order = ["## This week's papers", "## 1. Paper 0", "**Authors:**", "**Published:**", "**Updated:**",
             "**URL:** https://arxiv.org/abs/2611.10000", "**Categories:** Computation and Language \\(cs.CL\\)",
             "### Summary", "### Q&A", "**Q1.", "(p. 2)", "## 2. Paper 1"]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert "quote not found in the paper" in text  # the one unverified answer is marked
    assert "Written by test-model." in text


def test_japanese_labels(store):
    text = render_markdown(make_issue(store, language="ja"), title="論文ダイジェスト")
    for label in ("著者", "発行日", "最終更新日", "カテゴリ", "概要", "今週の論文"):
        assert label in text


def test_paper_text_never_becomes_markup(store):
    text = render_markdown(make_issue(store, titles=[HOSTILE_TITLE]), title="Digest")
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in text


def test_only_absolute_http_links():
    assert safe_url("https://arxiv.org/abs/1") == "https://arxiv.org/abs/1"
    for bad in ("javascript:alert(1)", " JavaScript:x", "JaVaScRiPt:alert(1)", "data:text/html,x",
                "//evil.example/x", "/relative", "ftp://x.org/a", "https://", "http://a b",
                "https://exa mple.org", "", None):
        assert safe_url(bad) == "", bad


def test_rewrite_with_no_change_keeps_the_file(store, tmp_path):
    issue = make_issue(store)
    path = write_markdown(issue, tmp_path, title="Digest")
    old = 1_500_000_000 * 10**9  # a rewrite in the same clock tick would keep the mtime: start from 2017
    os.utime(path, ns=(old, old))
    write_markdown(issue, tmp_path, title="Digest")
    assert path.stat().st_mtime_ns == old
