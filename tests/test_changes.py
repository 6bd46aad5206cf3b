"""What changed in a new version: the changed passages of two versions, told by the model or shown as they are."""

from __future__ import annotations

import re
from datetime import date

import pytest
from pdfmaker import make_pdf
from rerun_helpers import add_chat_model
from weekfeed import Item, grounded_responder, serve_week

from digest.pipeline import run_week
from digest.records import Page, Paper
from digest.rerun import rerun_issue
from digest.writers.changes import changed_passages

ARXIV_ID = "2611.04321"
COMMON_1 = [
    "Sparse Routing for Long Document Summaries",
    "Abstract. We study sparse routing of tokens to experts for the summarization of long documents.",
    "Our router sends each token to two of sixteen experts and keeps the compute of a dense model fixed.",
    "On the arXiv summarization benchmark the routed model reaches 41.2 ROUGE-1 against 39.8 for the",
    "dense baseline with the same number of active parameters.",
]
COMMON_2 = [
    "Training uses the AdamW optimizer with a learning rate of three times ten to the minus four.",
    "We train every model for one hundred thousand steps on eight accelerators in the same cluster.",
    "Routing collapse is avoided with an auxiliary balancing loss that is weighted by one hundredth.",
]
REMOVED = "We leave the evaluation on biomedical articles from PubMed to future work for lack of time."
ADDED = ["In this version we add an evaluation on biomedical articles from PubMed, where the routed",
         "model improves ROUGE-1 from 44.0 to 46.3 points over the dense baseline."]


def two_versions(tmp_path):
    """v1 and v2 of one paper: v2 re-typesets page 1, adds a PubMed result on page 2 and drops a sentence."""
    v1 = make_pdf(tmp_path / "v1.pdf", [COMMON_1, [*COMMON_2, REMOVED]])
    # The same page-1 words broken into other lines: layout, not a change.
    reflowed = [" ".join(COMMON_1[1:3]), COMMON_1[3], COMMON_1[4]]
    v2 = make_pdf(tmp_path / "v2.pdf", [[COMMON_1[0], *reflowed], [*COMMON_2, *ADDED]])
    return v1, v2


def changes_responder(messages, schema):
    """The stand-in model: tells the first AFTER passage as the change, quoting it; else as grounded_responder."""
    if "changes" not in (schema or {}).get("properties", {}):
        return grounded_responder()(messages, schema)
    text = messages[-1]["content"]
    ja = "in 日本語" in text  # a model writes the points in the language it is asked for
    points = []
    for m in re.finditer(r"\[change \d+(?:, page (\d+) of v\d+)?\]\nBEFORE: (.*)\nAFTER: (.*)", text):
        after = m.group(3)
        if after != "(removed)":
            quote = " ".join(after.split()[:14])
            points.append({"change": "PubMedでの評価が追加され、ROUGE-1は44.0から46.3に上がった。" if ja else
                           "A PubMed evaluation is added: ROUGE-1 rises from 44.0 to 46.3.",
                           "page": int(m.group(1) or 0), "quote": quote})
    points.append({"change": "作り話の主張。" if ja else "A made-up claim.", "page": 1,
                   "quote": "this sentence is in neither version"})
    return {"changes": points}


def publish_then_update(httpserver, config, store, tmp_path, *, language="en"):
    """Week 1 publishes v1; week 2 lists v2 as a replacement. Returns week 2's run report."""
    v1, v2 = two_versions(tmp_path)
    config.selection.interests = ""
    config.selection.categories = []
    config.output.language = language
    paper = dict(arxiv_id=ARXIV_ID, title="Sparse Routing for Long Document Summaries",
                 abstract="We study sparse routing for summarization.")
    serve_week(httpserver, config, [Item(version=1, pdf=v1, **paper)])
    first = run_week(config, store, today=date(2026, 11, 13), yes=True)
    assert [e.paper.versioned_id for e in first.issue.entries] == [f"{ARXIV_ID}v1"]
    httpserver.clear()
    serve_week(httpserver, config, [Item(version=2, pdf=v2, announce="replace", **paper)])
    return run_week(config, store, today=date(2026, 11, 20), yes=True)


def use_model(config, llm_server):
    add_chat_model(config, "test-model", llm_server, max_output_tokens=4096)
    config.llm.model = "test-model"
    llm_server.responder = changes_responder


def page(n: int, *lines: str) -> Page:
    return Page(number=n, body="\n".join(lines))


def test_changed_passages_are_the_new_and_removed_text_not_the_layout():
    old = [page(1, *COMMON_1), page(2, *COMMON_2, REMOVED)]
    new = [page(1, COMMON_1[0], " ".join(COMMON_1[1:3]), *COMMON_1[3:]), page(2, *COMMON_2, *ADDED)]
    hunks = changed_passages(old, new)
    assert len(hunks) == 1
    h = hunks[0]
    assert "PubMed, where the routed model improves ROUGE-1 from 44.0 to 46.3" in h.new and h.new_page == 2
    assert h.old == REMOVED and h.old_page == 2
    assert changed_passages(old, old) == []
    # A hyphenated line break and a typo-sized edit are not changes worth telling.
    tweaked = [page(1, *COMMON_1), page(2, *COMMON_2[:2], COMMON_2[2].replace("hundredth", "hundreth"), REMOVED)]
    assert changed_passages(old, tweaked) == []


def test_store_keeps_the_text_of_the_replaced_version(store):
    store.upsert_paper(Paper(key=ARXIV_ID, title="T", arxiv_id=ARXIV_ID, version=1))
    store.save_pages(ARXIV_ID, 1, [page(1, "first version text")], pdf_path=None, token_count=3)
    store.save_pages(ARXIV_ID, 1, [page(1, "first version text, parsed again")], pdf_path=None, token_count=3)
    assert store.version_pages(ARXIV_ID, 1)[0].body == "first version text, parsed again"
    store.save_pages(ARXIV_ID, 2, [page(1, "second version text")], pdf_path=None, token_count=3)
    assert store.version_pages(ARXIV_ID, 1)[0].body == "first version text, parsed again"
    assert store.version_pages(ARXIV_ID, 2)[0].body == "second version text"
    assert store.version_pages(ARXIV_ID, 3) == []


def test_a_chat_model_tells_what_changed_with_verified_quotes(httpserver, config, store, tmp_path, llm_server):
    use_model(config, llm_server)
    rep = publish_then_update(httpserver, config, store, tmp_path)
    entry = rep.issue.entries[0]
    assert entry.is_update and entry.changes is not None
    c = entry.changes
    assert (c.old_version, c.new_version, c.model, c.status) == (1, 2, "test-model", "ok")
    good, made_up = c.points
    assert good.kind == "described" and good.verified and good.page == 2
    assert good.quote.startswith("In this version we add an evaluation on biomedical")
    assert not made_up.verified  # a quote in neither version is never shown as verified
    asked = [r.json for r in llm_server.requests if r.path.endswith("/chat/completions")
             and "version_changes" in repr(r.json.get("response_format"))]
    assert len(asked) == 1
    prompt = asked[0]["messages"][-1]["content"]
    assert REMOVED in prompt and "44.0 to 46.3" in prompt
    assert "Abstract. We study" not in prompt  # the unchanged, re-typeset page is not sent
    text = (config.archive_dir / f"{rep.issue.id}.md").read_text(encoding="utf-8")
    assert "### What changed in v2 (since v1)" in text
    assert "- A PubMed evaluation is added: ROUGE-1 rises from 44.0 to 46.3. (p. 2)" in text
    assert "> “this sentence is in neither version” — ⚠ *quote not found in the paper*" in text
    assert rep.calls >= 3  # the changes call is counted with the run's calls

    # The same week again: the stored changes are shown, no new call.
    def completions():
        return sum(r.path.endswith("/chat/completions") for r in llm_server.requests)

    before = completions()
    again = run_week(config, store, today=date(2026, 11, 20), yes=True)
    assert completions() == before
    assert again.issue.entries[0].changes.points == c.points


def test_the_extractive_model_shows_the_changed_passages(httpserver, config, store, tmp_path):
    rep = publish_then_update(httpserver, config, store, tmp_path, language="ja")
    c = rep.issue.entries[0].changes
    assert c.model == "extractive" and c.status == "ok"
    assert [(p.kind, p.page, p.verified) for p in c.points] == [("added", 2, False)]
    assert c.points[0].text.endswith("46.3 points over the dense baseline.")
    text = (config.archive_dir / f"{rep.issue.id}.md").read_text(encoding="utf-8")
    assert "### v2 での変更点（v1 から）" in text
    assert "2つのバージョンで異なる箇所の抜粋です" in text
    assert "- **v2 で追加** (p. 2): “In this version we add" in text


def test_the_earlier_version_is_fetched_once_when_its_text_is_not_kept(httpserver, config, store, tmp_path):
    v1, _ = two_versions(tmp_path)
    store.execute("DELETE FROM version_pages")  # as in a store made before texts of old versions were kept
    # Without the kept text, week 2 reads v1 from its own PDF (here: served again, the cache emptied).
    config.cache_dir.mkdir(parents=True, exist_ok=True)
    for cached in config.cache_dir.glob("*.pdf"):
        cached.unlink()
    httpserver.expect_request(f"/pdf/{ARXIV_ID}v1").respond_with_data(v1.read_bytes(),
                                                                       content_type="application/pdf")
    rep = publish_then_update(httpserver, config, store, tmp_path)
    assert rep.issue.entries[0].changes.status == "ok"
    store.execute("DELETE FROM version_pages")
    store.execute("DELETE FROM version_changes")
    for cached in config.cache_dir.glob(f"{ARXIV_ID}v1.pdf"):
        cached.unlink()
    httpserver.expect_request(f"/pdf/{ARXIV_ID}v1").respond_with_data(v1.read_bytes(),
                                                                       content_type="application/pdf")
    again = run_week(config, store, today=date(2026, 11, 20), yes=True)
    c = again.issue.entries[0].changes
    assert c.status == "ok" and c.points[0].page == 2
    assert [r.path for r, _ in httpserver.log].count(f"/pdf/{ARXIV_ID}v1") == 1
    assert store.version_pages(ARXIV_ID, 1)  # kept now: the next time needs no download


def test_no_change_and_no_text_are_said_as_such(httpserver, config, store, tmp_path):
    v1, _ = two_versions(tmp_path)
    config.selection.interests = ""
    config.selection.categories = []
    paper = dict(arxiv_id=ARXIV_ID, title="Sparse Routing", abstract="We study sparse routing.", pdf=v1)
    serve_week(httpserver, config, [Item(version=1, **paper)])
    run_week(config, store, today=date(2026, 11, 13))
    httpserver.clear()
    serve_week(httpserver, config, [Item(version=2, announce="replace", **paper)])  # v2: the same PDF
    rep = run_week(config, store, today=date(2026, 11, 20))
    assert rep.issue.entries[0].changes.status == "same"
    text = (config.archive_dir / f"{rep.issue.id}.md").read_text(encoding="utf-8")
    assert "The text of v2 is the same as v1 apart from formatting." in text

    store.execute("DELETE FROM version_changes")
    store.execute("DELETE FROM version_pages")
    store.execute("DELETE FROM pages")  # neither text at hand, and v1's PDF is not served any more
    for cached in config.cache_dir.glob("*.pdf"):
        cached.unlink()
    rep = run_week(config, store, today=date(2026, 11, 20))
    c = rep.issue.entries[0].changes
    assert c.status == "no-text" and "v1" in c.note


def test_a_failed_changes_call_shows_the_passages_and_the_issue_goes_out(httpserver, config, store, tmp_path,
                                                                       llm_server):
    use_model(config, llm_server)
    broken = []

    def respond(messages, schema):
        if "changes" in (schema or {}).get("properties", {}) and not broken:
            return "Sure! Here is what changed: {"  # not JSON, and the same again after the repair request
        return changes_responder(messages, schema)

    llm_server.responder = respond
    rep = publish_then_update(httpserver, config, store, tmp_path)
    c = rep.issue.entries[0].changes
    assert rep.issue.status == "published"
    assert c.status == "failed" and "the model failed" in c.note
    assert [p.kind for p in c.points] == ["added"]  # the passages themselves, not nothing
    text = (config.archive_dir / f"{rep.issue.id}.md").read_text(encoding="utf-8")
    assert "the changed passages are shown" in text and "- **New in v2** (p. 2)" in text

    broken.append(True)  # the model works again: the next run asks again
    again = run_week(config, store, today=date(2026, 11, 20), yes=True)
    assert again.issue.entries[0].changes.status == "ok"


@pytest.mark.parametrize("language", ["en", "ja"])
def test_a_rerun_tells_the_changes_in_its_own_model_and_language(httpserver, config, store, tmp_path, llm_server,
                                                                language):
    rep = publish_then_update(httpserver, config, store, tmp_path)
    assert rep.issue.entries[0].changes.model == "extractive"
    use_model(config, llm_server)
    rerun_issue(config, store, rep.issue.id, "test-model", language=language, yes=True)
    shown = store.load_issue(rep.issue.id, model="test-model" if language == "en" else "test-model@ja")
    c = shown.entries[0].changes
    assert (c.model, c.language, c.points[0].kind) == ("test-model", language, "described")
    assert store.load_issue(rep.issue.id).entries[0].changes.model == "extractive"  # the original stays


def test_a_changed_number_is_a_change_and_a_renumbered_citation_is_not():
    old = [page(1, "On the arXiv benchmark the routed model reaches 41.2 ROUGE-1 as reported by [12].")]
    new = [page(1, "On the arXiv benchmark the routed model reaches 43.5 ROUGE-1 as reported by [13].")]
    (h,) = changed_passages(old, new)
    assert "43.5" in h.new and "41.2" in h.old
    renumbered = [page(1, "On the arXiv benchmark the routed model reaches 41.2 ROUGE-1 as reported by [14].")]
    assert changed_passages(old, renumbered) == []


def test_the_email_and_the_site_show_what_changed(httpserver, config, store, tmp_path, llm_server):
    from digest.archive.site import build_archive
    from digest.mail.message import render_parts

    use_model(config, llm_server)
    rep = publish_then_update(httpserver, config, store, tmp_path)
    issue = store.load_issue(rep.issue.id)
    text, html = render_parts(config, issue, None)
    assert "-- What changed in v2 (since v1) --" in text
    assert "- A PubMed evaluation is added: ROUGE-1 rises from 44.0 to 46.3. (p. 2)" in text
    assert "neither version" not in text  # compact: the first two points, their quotes on the site
    config.mail.edition = "full"
    text, _ = render_parts(config, issue, None)
    assert '"this sentence is in neither version" [quote not found in the paper]' in text
    assert "What changed in v2 (since v1)</h3>" in html
    assert f'/pdf/{ARXIV_ID}v2#page=2" class="a">p. 2</a>' in html
    site = build_archive(config, store)
    page = (site.site_dir / "issues" / f"{issue.id}.html").read_text(encoding="utf-8")
    assert "What changed in v2 (since v1)" in page and "A PubMed evaluation is added" in page
