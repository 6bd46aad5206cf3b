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


# ---- one vocabulary, in the issue's language -----------------------------------------------------

EXCERPT = "We propose FaithScore, a metric that checks each claim against the source."


def _extractive_issue(language: str, note: str | None = None, status: str = "ok", model: str = "extractive"):
    from digest.records import QA, Generation, Issue, IssueEntry, Paper

    paper = Paper(key="2611.00001", title="FaithScore", abstract=EXCERPT, authors=["Ann Author"],
                  published="2026-11-16T00:00:00+00:00", abs_url="https://arxiv.org/abs/2611.00001v1")
    g = Generation(key=f"g-{language}-{model}", paper_key=paper.key, version=1, model=model,
                   prompt_version="extractive-4", language=language, tldr=EXCERPT,
                   summary="Long documents are hard to evaluate. FaithScore agrees with annotators.",
                   qa=[QA("What does the paper propose?", EXCERPT, [1], EXCERPT, True, excerpt=model == "extractive")],
                   status=status, note=note, created="2026-11-16T08:00:00+00:00")
    return Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language=language, model=model,
                 created="2026-11-16T08:00:00+00:00", entries=[IssueEntry(paper=paper, generation=g, position=1)])


def _outputs(config, issue) -> dict[str, str]:
    from digest.mail.message import render_parts

    text, html = render_parts(config, issue, None)
    return {"markdown": render_markdown(issue, title="Digest"), "text": text, "html": html}


def test_an_extractive_issue_never_says_its_excerpts_were_checked_in_any_output(config):
    """The intro, the Q&A label and the model note agree: excerpts with their pages, no check claimed."""
    for lang, label, claim in (("en", "excerpts from the paper, each with its page", "checked against"),
                               ("ja", "論文からの抜粋(ページ付き)", "照合")):
        for name, body in _outputs(config, _extractive_issue(lang)).items():
            assert label in body, (lang, name)
            assert claim not in body and "not checked" not in body and "検証済みの回答ではありません" not in body, (lang, name)
    # A model's issue still says its quotes are checked, and counts them.
    md = _outputs(config, _extractive_issue("en", model="gpt-4o-mini"))["markdown"]
    assert "checked against the PDF text" in md and "1 of 1 answers verified" in md


def test_a_japanese_issue_shows_its_notes_in_japanese_and_an_english_one_in_english(config):
    note = "TL;DR and summary taken from the abstract: the TL;DR is not in Japanese; questions left out: 2 of 10"
    ja = _outputs(config, _extractive_issue("ja", note=note, model="gpt-4o-mini"))
    en = _outputs(config, _extractive_issue("en", note=note, model="gpt-4o-mini"))
    for name, body in ja.items():
        assert "taken from the abstract" not in body and "questions left out" not in body, name
        assert "アブストラクトから取りました" in body and "一部の質問を除外しました" in body, name
    for name, body in en.items():
        assert "TL;DR and summary taken from the abstract: the TL;DR is not in Japanese" in body, name
        assert "questions left out: 2 of 10" in body, name
    # The paper's English in a Japanese email is marked as English, the Japanese notes are not.
    assert ja["html"].count('lang="en"') >= 3 and 'lang="en">モデル' not in ja["html"]
    assert 'lang="en"' not in en["html"].split("<body", 1)[1]
    failed = _extractive_issue("ja", note="PDF unreadable: encrypted; with a semicolon", status="abstract-only")
    md = render_markdown(failed, title="Digest")
    assert "アブストラクトのみから要約しました: PDFを読み取れませんでした。" in md and "encrypted" not in md


def test_note_parts_keep_a_detail_that_holds_a_semicolon():
    from digest.render import note_parts

    assert note_parts("TL;DR and summary taken from the abstract: a; b; questions left out: 1") == [
        ("note_from_abstract", "a; b"), ("note_questions_left_out", "1")]
    assert note_parts("something else entirely") == [("note_other", "something else entirely")]


def test_text_language_marks_english_text_in_a_japanese_issue():
    from digest.render import text_language

    assert text_language(EXCERPT, "ja") == "en"
    assert text_language("この論文は新しい指標を提案する。", "ja") == "ja"
    assert text_language(EXCERPT, "en") == "en" and text_language("", "ja") == "ja"


def test_the_site_labels_english_excerpts_of_a_japanese_issue_as_english(config, store):
    from digest.archive.site import build_archive

    issue = _extractive_issue("ja", note="TL;DR and summary taken from the abstract: the TL;DR is not in Japanese")
    g = issue.entries[0].generation
    store.upsert_paper(issue.entries[0].paper)
    store.save_generation(g, {})
    store.save_issue(issue, {g.paper_key: g})
    build_archive(config, store, workers=1)
    html = (config.archive_dir / "site" / "issues" / "2026-W47.html").read_text()
    assert 'lang="ja"' in html and "アブストラクトから取りました" in html and "taken from the abstract" not in html
    tldr = html.split('class="tldr"')[1].split("</p>")[0]
    assert 'lang="en"' in tldr and "FaithScore" in tldr
    quote = html.split('class="quote"')[1].split("</blockquote>")[0]
    assert 'lang="en"' in quote


def test_compare_shows_a_dash_where_a_check_cannot_fail_and_supported_beside_verified():
    from digest.archive.compare import ModelStats

    extractive = ModelStats(model="extractive", answers=8, verified=8, excerpts=8)
    assert extractive.verified_share is None and extractive.supported_share is None
    chat = ModelStats(model="m", answers=4, verified=3, checked_verified=3, supported=2, support_checked=3)
    assert chat.verified_share == 0.75 and abs(chat.supported_share - 2 / 3) < 1e-9
