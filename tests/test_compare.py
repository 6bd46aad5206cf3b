"""The compare page: ROUGE-L and page overlap, per-model figures, escaping, and what a browser shows."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from factories import HOSTILE_TITLE, make_generation, make_issue
from llm_server import LLMServer
from rerun_helpers import ISSUE_ID, add_chat_model, make_responder

from digest.archive.compare import (
    compare_issue,
    jaccard,
    list_reports,
    reports_by_issue,
    rouge_l,
    tokenize,
    write_compare,
)
from digest.errors import DigestError, NotFoundError
from digest.llm.calllog import llm_cost_report
from digest.records import QA
from digest.rerun import rerun_issue


def test_rouge_l():
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert rouge_l("the cat sat on the mat", "the cat lay on the mat") == pytest.approx(5 / 6)
    assert rouge_l("alpha beta", "gamma delta") == 0.0
    assert rouge_l("", "anything") == 0.0
    # Punctuation and case do not count; Japanese is compared per character.
    assert rouge_l("The Cat, sat.", "the cat sat") == 1.0
    assert tokenize("猫が座った model-2") == ["猫", "が", "座", "っ", "た", "model", "2"]
    assert rouge_l("猫が座った", "猫が寝た") == pytest.approx(2 * 0.6 * 0.75 / 1.35)


def test_jaccard():
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)
    assert jaccard(set(), set()) is None


def two_variants(store, titles=None):
    """Issue with model A and a model B variant: B agrees on paper 0, differs on paper 1, has no paper 2."""
    issue = make_issue(store, model="A", titles=titles)
    for i, e in enumerate(issue.entries[:2]):
        g = make_generation(e.paper, "B")
        if i == 1:
            g.summary = "Entirely different wording about unrelated matters."
            g.qa = [QA(question="Q?", answer="A.", pages=[9], quote="x", verified=False)] * 4
            g.n_dropped = 2
            g.usage.cost = 0.5
        store.save_generation(g, {})
        store.add_issue_generation(issue.id, g, "B")
    return issue


def test_comparison_figures(store):
    issue = two_variants(store)
    cmp = compare_issue(store, issue.id, ["A", "B"])
    # Least agreeing first; the paper only one model wrote about comes last.
    assert [p.paper.key for p in cmp.papers] == [issue.entries[1].paper.key, issue.entries[0].paper.key,
                                                 issue.entries[2].paper.key]
    assert cmp.papers[0].rouge_l < 0.2 and cmp.papers[1].rouge_l == 1.0 and cmp.papers[2].rouge_l is None
    assert cmp.papers[0].page_overlap == 0.0 and cmp.papers[1].page_overlap == 1.0
    a, b = cmp.stats
    assert (a.papers, a.answers, a.verified, a.dropped) == (3, 24, 21, 0)
    assert (b.papers, b.answers, b.verified, b.dropped) == (2, 12, 7, 2)
    assert a.verified_rate == pytest.approx(21 / 24)
    assert b.usage.cost == pytest.approx(0.501) and a.usage.input_tokens == 3000


def test_missing_variant_and_single_model(store):
    issue = two_variants(store)
    with pytest.raises(NotFoundError, match="no variant C"):
        compare_issue(store, issue.id, ["A", "C"])
    with pytest.raises(DigestError, match="only A"):
        compare_issue(store, issue.id, ["A"])
    assert compare_issue(store, issue.id).models == ["A", "B"]  # default: every variant


def test_paper_text_is_escaped_and_links_are_http_only(config, store):
    issue = two_variants(store, titles=[HOSTILE_TITLE])
    store.execute("UPDATE papers SET abs_url='javascript:alert(3)', pdf_url=NULL WHERE key=?",
                  (issue.entries[1].paper.key,))
    cmp, html_path, md_path = write_compare(config, store, issue.id)
    html = html_path.read_text()
    md = md_path.read_text()
    assert html_path == config.archive_dir / "compare" / f"{issue.id}_A_vs_B_1.html"
    assert "<script" not in html and "<img" not in html and "javascript:" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in md and "<img" not in md and "javascript:" not in md
    assert 'href="https://arxiv.org/abs/2611.10000"' in html
    assert "<svg" in html and html.count('class="bar-cost"') == 2 and "http://www.w3.org/2000/svg" in html
    assert not re.search(r"<[^>]*\s(src|srcset)=", html) and "<link" not in html  # nothing loaded from anywhere


def test_reports_are_kept_named_by_models_and_listed(config, store):
    issue = two_variants(store)
    folder = config.archive_dir / "compare"
    _, first, first_md = write_compare(config, store, issue.id, now=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    _, second, _ = write_compare(config, store, issue.id, ["B", "A"], now=datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    _, third, _ = write_compare(config, store, issue.id, now=datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    assert [first.name, second.name, third.name] == [
        f"{issue.id}_A_vs_B_1.html", f"{issue.id}_B_vs_A_1.html", f"{issue.id}_A_vs_B_2.html"]
    assert first.is_file() and first_md.is_file()  # the earlier report is still there
    assert "2026-11-20" in first.read_text() and "2026-11-22" in third.read_text()
    reports = list_reports(folder)
    assert [r.stem for r in reports] == [third.stem, second.stem, first.stem]  # newest first
    assert reports[0].models == ["A", "B"] and reports[0].issue_id == issue.id
    assert len(reports[0].paper_keys) == 3
    index = (folder / "index.html").read_text()
    assert all(f'href="{p.name}"' in index for p in (first, second, third))
    # Per issue, only the newest report of each pair of models is linked from the site.
    assert [r.stem for r in reports_by_issue(reports)[issue.id]] == [third.stem, second.stem]
    first.unlink()
    assert first.stem not in [r.stem for r in list_reports(folder)]


def test_agreement_names_both_models_and_empty_figures_are_hidden(config, store):
    issue = two_variants(store)
    store.execute("UPDATE papers SET authors='[]', published=NULL WHERE key=?", (issue.entries[0].paper.key,))
    store.execute("UPDATE generations SET input_tokens=0, cached_tokens=0, output_tokens=0, cost=0, "
                  "latency_ms=0 WHERE model='A'")
    cmp, html_path, md_path = write_compare(config, store, issue.id)
    html, md = html_path.read_text(), md_path.read_text()
    assert re.search(r"ROUGE-L A vs B: 0\.[01]\d</span> <span class=\"score\">pages A vs B: 0\.00", html)
    assert "ROUGE-L A vs B: 1.00" in html and "pages A vs B: 1.00" in html
    assert "ROUGE-L A vs B: 1.00" in md
    assert "only one model wrote about this paper" in html  # paper 2 has no B variant
    card_a, card_b = re.findall(r'<section class="model-row">(.*?)</section>', html, re.S)
    assert "Cost" not in card_a and "Tokens" not in card_a and "Time per paper" not in card_a
    assert "Cost" in card_b and "$0.5010" in card_b and "Answers dropped" in card_b
    section = html[html.index(f'id="paper-{issue.entries[0].paper.key.replace(".", "-")}"'):]
    facts = re.search(r'<p class="muted">(.*?)</p>', section).group(1)
    assert " · " not in facts and "Published" not in facts  # no authors, no date: no empty separators


def test_report_in_japanese(config, store):
    issue = make_issue(store, model="A", language="ja")
    g = make_generation(issue.entries[0].paper, "B", "ja")
    store.save_generation(g, {})
    store.add_issue_generation(issue.id, g, "B")
    _, html_path, md_path = write_compare(config, store, issue.id)
    html = html_path.read_text()
    assert '<html lang="ja">' in html and "モデル別" in html and "論文ごとの一致度" in html
    assert "ROUGE-L A 対 B: 1.00" in html and "モデル別" in md_path.read_text()


@pytest.fixture
def compared(config, store, issue, httpserver):
    """`digest run` with the extractive model, then a rerun with model-B, then the compare page."""
    server = LLMServer(responder=make_responder("model-B")).start()
    add_chat_model(config, "model-B", server)
    rerun_issue(config, store, ISSUE_ID, "model-B")
    yield write_compare(config, store, ISSUE_ID, ["extractive", "model-B"])
    assert httpserver.log == []  # nothing but the model was contacted
    server.stop()


def test_compare_page_after_a_rerun(compared, store):
    cmp, html_path, md_path = compared
    extractive, b = cmp.stats
    # Two calls per paper and the week's overview: as `digest rerun` and `digest cost` count them.
    cost = {r["model"]: r for r in llm_cost_report(store, ISSUE_ID)}
    assert b.usage.calls == 7 == cost["model-B"]["calls"] and b.usage.cost > 0 and b.usage.input_tokens > 0
    assert b.usage.cost == pytest.approx(cost["model-B"]["cost"])
    assert extractive.usage.cost == 0 and extractive.answers > 0
    html, md = html_path.read_text(), md_path.read_text()
    for text in (html, md):
        assert "model-B TL;DR" in text
        for p in cmp.papers:
            for g in p.generations.values():
                assert g.tldr[:40].replace("&", "&amp;") in text.replace("&#39;", "'")
    assert f"{b.usage.cost:.4f}" in html and f"{b.usage.cost:.4f}" in md


def test_each_variant_counts_its_own_calls_as_rerun_does(config, store, issue):
    server = LLMServer(responder=make_responder("model-B")).start()
    try:
        add_chat_model(config, "model-B", server)
        en = rerun_issue(config, store, ISSUE_ID, "model-B")
        ja = rerun_issue(config, store, ISSUE_ID, "model-B", language="ja")  # the same model id, its own overview
        cmp = compare_issue(store, ISSUE_ID, ["model-B", "model-B@ja"])
    finally:
        server.stop()
    assert [s.usage.calls for s in cmp.stats] == [en.calls, ja.calls] == [7, 7]
    assert [round(s.usage.cost, 6) for s in cmp.stats] == [round(en.cost, 6), round(ja.cost, 6)]
    assert sum(r["calls"] for r in llm_cost_report(store, ISSUE_ID)) == en.calls + ja.calls


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine")
def test_compare_page_in_a_browser(compared, tmp_path):
    cmp, html_path, _ = compared
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", html_path.as_uri()], capture_output=True,
                         text=True, timeout=90).stdout
    assert "model-B TL;DR" in dom  # both models' text as the browser parsed it
    extractive_tldr = cmp.papers[0].generations["extractive"].tldr
    assert extractive_tldr[:30] in dom.replace("&amp;", "&")
    assert '<svg id="chart"' in dom and dom.count('class="bar-rate"') == 2
    shot = tmp_path / "compare.png"
    subprocess.run([CHROMIUM, *flags, "--window-size=1400,1000", f"--screenshot={shot}", html_path.as_uri()],
                   capture_output=True, timeout=90)
    assert shot.is_file() and shot.stat().st_size > 10_000  # something was drawn


def test_compare_line_says_excerpts_are_not_verified_quotes():
    """The terminal line of `digest compare` never shows extractive excerpts as '100% verified'."""
    from digest.archive.compare import ModelStats
    from digest.cli.rerun import _verified_text

    assert _verified_text(ModelStats("extractive", answers=8, verified=8, excerpts=8)) == \
        "8 excerpts with their pages (nothing to verify)"
    assert _verified_text(ModelStats("m", answers=8, verified=6, checked_verified=6)) == "6/8 quotes verified (75%)"
