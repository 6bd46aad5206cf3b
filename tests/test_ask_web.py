"""The Ask page of `digest serve` (issue 22) over real HTTP: the form, grounded answers with linked citations,
questions scoped to one paper, the per-client rate limit, the daily cost cap under 20 concurrent questions,
the links from the static site and the email, and the page in Chromium at 1280 and 375 px."""

from __future__ import annotations

import html
import os
import re
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
import pytest
from ask_model import BIRDS, KV, LITQA, MADE_UP_QUOTE, QUESTION, AskModel
from factories import make_issue
from llm_server import Step
from web_helpers import web_server

from digest.archive.site import build_archive
from digest.ask.answer import estimate_cost
from digest.ask.index import ensure_index, indexed_papers
from digest.ask.spend import committed_today, reserve, settle
from digest.ask.web import TokenBucket, register
from digest.config import ModelConfig
from digest.mail.message import Recipient, build_message
from digest.mail.web import create_app, make_server
from digest.records import Page
from digest.store import Store
from digest.text import slugify

NOW = datetime(2026, 12, 7, 23, 59, 30, tzinfo=UTC)  # half a minute before the cap's UTC day turns
PUBLIC = "https://digest.example.org"

TITLES = ["Two-bit KV cache quantization", "Agents that read papers", "Magnetic compass of songbirds"]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def archive(config, store, llm_server):
    """Three published papers with page texts, indexed, a built site, and chat model `m` on the test server."""
    issue = make_issue(store, n_papers=3, titles=TITLES)
    keys = [e.paper.key for e in issue.entries]
    for key, version, bodies in zip(keys, [e.paper.version for e in issue.entries], [KV, LITQA, BIRDS]):
        store.save_pages(key, version, [Page(number=n, body=b) for n, b in enumerate(bodies, 1)],
                         pdf_path=None, token_count=None)
    ensure_index(store)
    llm_server.responder = AskModel(fabricate=lambda i: i == 2)
    config.models["m"] = ModelConfig(base_url=llm_server.base_url, api_key_env="DIGEST_TEST_NO_KEY",
                                     price_input=1.0, price_output=4.0)
    config.llm.model = "m"
    config.ask.max_usd_per_day = 100.0
    config.ask.per_client_per_minute = 100
    build_archive(config, store)
    return keys


def serve(config, store, clock=None, **limits):
    """digest serve's app with the Ask page, on a free port, `now` fixed at NOW."""
    pages = [partial(register, now=lambda: NOW, clock=clock or Clock(), catch_up=False)]
    return web_server(config, store, pages=pages, limits=limits or None)


def ledger(store) -> list[tuple[float, float | None]]:
    return [(r["reserved"], r["spent"]) for r in store.query("SELECT reserved, spent FROM ask_spend ORDER BY id")]


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# ---- the form --------------------------------------------------------------------------------------------


def test_the_form_and_a_scoped_form_never_spend(config, store, archive, llm_server):
    kv = archive[0]
    with serve(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        r = client.get("/ask")
        assert r.status_code == 200 and '<form method="post" action="/ask">' in r.text
        assert 'name="q"' in r.text and 'name="paper"' not in r.text
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer"
        # "Ask about this paper" from the site or the email: scoped, prefilled, still only a form.
        r = client.get("/ask", params={"paper": kv, "q": "How <b>small</b> is the cache?"})
        assert r.status_code == 200
        assert f'<input type="hidden" name="paper" value="{kv}">' in r.text
        assert f'href="/papers/{slugify(kv)}.html"' in r.text and TITLES[0] in r.text
        assert "How &lt;b&gt;small&lt;/b&gt; is the cache?" in r.text and "<b>small" not in r.text
        assert client.get(f"/papers/{slugify(kv)}.html").status_code == 200  # the link resolves
        assert client.get("/ask", params={"paper": "2611.99999"}).status_code == 404
        # Another site's form posting here (a browser says so) is refused: it would spend through visitors.
        r = client.post("/ask", data={"q": QUESTION}, headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403 and "only be asked from this site" in r.text
        # Bad questions are the form again with one line, and cost nothing.
        assert "Write a question first." in client.post("/ask", data={"q": "   "}).text
        long = client.post("/ask", data={"q": "word " * 400})
        assert long.status_code == 400 and "at most 1000 characters" in long.text
    assert llm_server.requests == [] and ledger(store) == []


# ---- answers ---------------------------------------------------------------------------------------------


def test_an_answer_links_its_verified_citations_to_the_paper_and_pdf_pages(config, store, archive, llm_server):
    kv, litqa, _ = archive
    with serve(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        r = client.post("/ask", data={"q": QUESTION})
        assert r.status_code == 200, r.text
        page = r.text
        # The answer's [n] marks link to their citations; each citation names its paper and page.
        marks = re.findall(r'<a href="#cite-(\d+)">\[\1\]</a>', page)
        assert len(set(marks)) >= 2
        for key in (kv, litqa):
            assert f'href="/papers/{slugify(key)}.html"' in page
        cites = dict(re.findall(r'<li id="cite-(\d+)">(.*?)</li>', page, re.S))
        assert set(cites) == set(marks)
        verified = [n for n, c in cites.items() if "quote found on this page" in c]
        unverified = [n for n, c in cites.items() if "quote not found in the paper" in c]
        assert len(unverified) == 1 and MADE_UP_QUOTE in cites[unverified[0]]
        assert verified and len(verified) + 1 == len(cites)
        for n in verified:
            link = re.search(r'href="(https://arxiv\.org/pdf/(2611\.\d+)#page=(\d+))"', cites[n])
            assert link, cites[n]
            quote = text_of(re.search(r"<blockquote[^>]*>(.*?)</blockquote>", cites[n], re.S).group(1)).strip()
            body = " ".join(store.pages(link.group(2))[int(link.group(3)) - 1].body.split())
            assert quote in body  # verified on the page the link opens
        assert "Answered by m." in page
        # The paper links resolve on the same server.
        assert client.get(f"/papers/{slugify(kv)}.html").status_code == 200
    # One call, reserved before and settled to what it cost.
    assert len([q for q in llm_server.requests if q.path.endswith("/chat/completions")]) == 1
    ((reserved, spent),) = ledger(store)
    logged = store.query("SELECT SUM(cost) FROM llm_calls")[0][0]
    assert 0 < spent <= reserved and spent == pytest.approx(logged)


def test_a_question_scoped_to_a_paper_reads_only_that_paper(config, store, archive, llm_server):
    kv, litqa, birds = archive
    model = llm_server.responder
    with serve(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        r = client.post("/ask", data={"q": QUESTION, "paper": litqa})
        assert r.status_code == 200
        assert TITLES[1] in model.prompts[-1] and TITLES[0] not in model.prompts[-1]
        assert f'<input type="hidden" name="paper" value="{litqa}">' in r.text  # the next question stays scoped
        assert slugify(kv) not in r.text.split('id="answer-heading"')[1]
        # Scoped to a paper that says nothing on it: an honest answer, and no call.
        calls = len(model.prompts)
        r = client.post("/ask", data={"q": "How is the KV cache quantized to two bits?", "paper": birds})
        assert r.status_code == 200 and "Nothing in the archive answers this question." in r.text
        assert len(model.prompts) == calls
        assert client.post("/ask", data={"q": QUESTION, "paper": "nope"}).status_code == 404
    assert ledger(store)[-1] == (0.0, 0.0)


def test_extractive_answers_with_passages_and_japanese_labels(config, store, archive, llm_server):
    config.llm.model = "extractive"
    config.output.language = "ja"
    with serve(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        r = client.post("/ask", data={"q": QUESTION})
        assert r.status_code == 200
        assert '<html lang="ja">' in r.text and "アーカイブに質問する" in r.text and "該当箇所" in r.text
        assert "LLMを使わずに回答しました" in r.text and "LitQA benchmark" in r.text
        assert 'href="https://arxiv.org/pdf/2611.10001#page=1"' in r.text
        assert 'lang="en"' in r.text  # the papers' English, marked as such on a Japanese page
        assert "Answer" not in r.text and "Ask the archive" not in r.text
    assert llm_server.requests == [] and ledger(store) == [(0.0, 0.0)]


def test_a_japanese_answer_is_linked_and_labelled_in_japanese(config, store, archive):
    config.output.language = "ja"
    with serve(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        r = client.post("/ask", data={"q": QUESTION})
        assert r.status_code == 200
        assert re.search(r'ある論文は[^<]*について報告しています<a href="#cite-1">\[1\]</a>', r.text)
        assert "引用はこのページで確認済み" in r.text and "出典" in r.text and "mによる回答です。" in r.text
        assert re.search(r'<blockquote lang="en">[A-Z]', r.text)  # the quote stays the paper's English
        assert "quote found" not in r.text and "Sources" not in r.text


def test_a_failed_call_keeps_its_reservation_spent(config, store, archive, llm_server):
    llm_server.push(Step(status=400, body={"error": {"message": "bad request", "type": "invalid_request_error",
                                                     "param": None, "code": "bad"}}))
    with serve(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        r = client.post("/ask", data={"q": QUESTION})
        assert r.status_code == 503 and "could not be answered just now" in r.text
    ((reserved, spent),) = ledger(store)
    assert reserved > 0 and spent == reserved  # what it spent is not known apart: the cap errs low


def test_a_model_without_its_api_key_is_refused_before_anything_is_reserved(config, store, archive, monkeypatch):
    monkeypatch.delenv("DIGEST_TEST_OPENAI_KEY", raising=False)
    config.models["gpt-4o-mini"] = ModelConfig(api_key_env="DIGEST_TEST_OPENAI_KEY", price_input=0.15,
                                               price_output=0.6)
    config.llm.model = "gpt-4o-mini"
    with serve(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        r = client.post("/ask", data={"q": QUESTION})
        assert r.status_code == 503 and "could not be answered just now" in r.text
    assert ledger(store) == []


# ---- limits ----------------------------------------------------------------------------------------------


def test_rate_limit_per_client(config, store, archive):
    config.llm.model = "extractive"
    config.ask.per_client_per_minute = 2
    clock = Clock()
    with serve(config, store, clock) as base, httpx.Client(base_url=base, timeout=60) as client:
        assert [client.post("/ask", data={"q": QUESTION}).status_code for _ in range(2)] == [200, 200]
        r = client.post("/ask", data={"q": QUESTION})
        assert r.status_code == 429 and "asked 2 questions in the last minute" in r.text
        assert r.headers["retry-after"] == "31"  # one question every 30 s after the burst
        assert client.get("/ask").status_code == 200  # the form is never limited
        clock.t += 30
        assert client.post("/ask", data={"q": QUESTION}).status_code == 200
        assert client.post("/ask", data={"q": QUESTION}).status_code == 429


def test_token_bucket_is_per_client():
    clock = Clock()
    bucket = TokenBucket(1, clock)
    assert bucket.take("a") == 0 and bucket.take("b") == 0
    assert bucket.take("a") == pytest.approx(60)
    clock.t += 59
    assert bucket.take("a") == pytest.approx(1)
    clock.t += 1
    assert bucket.take("a") == 0
    # Past 10,000 clients the ones whose bucket has refilled ("b") are forgotten; those still waiting are not.
    for n in range(10_001):
        bucket.take(f"c{n}")
    assert "b" not in bucket.buckets and "a" in bucket.buckets and "c0" in bucket.buckets
    clock.t += 60
    bucket.take("later")
    assert list(bucket.buckets) == ["later"]


def test_the_ledger_holds_across_connections_and_days(config, store):
    """Twenty writers with their own connections (as processes would have) reserve at once: only what fits."""
    barrier = threading.Barrier(20)
    got: list = []

    def one() -> None:
        s = Store(config.db_path)
        try:
            barrier.wait(timeout=60)
            got.append(reserve(s, 0.3, 1.0, now=NOW))
        finally:
            s.close()

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    held = [r for r in got if r is not None]
    assert len(got) == 20 and len(held) == 3
    assert committed_today(store, now=NOW) == pytest.approx(0.9)
    settle(store, held[0], 0.05, now=NOW)
    settle(store, held[0], 0.3, now=NOW)  # settled once only
    assert committed_today(store, now=NOW) == pytest.approx(0.65)
    assert reserve(store, 0.35, 1.0, now=NOW) is not None and reserve(store, 0.01, 1.0, now=NOW) is None
    tomorrow = NOW + timedelta(seconds=31)  # the UTC day turned: a fresh cap
    assert committed_today(store, now=tomorrow) == 0 and reserve(store, 1.0, 1.0, now=tomorrow) is not None
    with pytest.raises(ValueError):
        reserve(store, 0.1, 1.0, now=NOW.replace(tzinfo=None))


def test_the_cost_cap_holds_under_20_concurrent_questions(config, store, archive, llm_server):
    # Twenty different questions (the same one again would be answered from the model cache, for nothing).
    questions = [f"{QUESTION} Case {n}." for n in range(20)]
    most = [estimate_cost(config, store, q, model_id="m", language="en").max_cost for q in questions]
    fit = 5
    config.ask.max_usd_per_day = max(most) * fit + min(most) / 2
    assert min(most) * (fit + 1) > config.ask.max_usd_per_day  # exactly `fit` questions fit, whichever come first
    model, release = llm_server.responder, threading.Event()

    def held_model(messages, schema):
        release.wait(120)  # bounds a hang only: the test releases it
        return model(messages, schema)

    llm_server.responder = held_model
    app = create_app(config, store, pages=[partial(register, now=lambda: NOW, clock=Clock(), catch_up=False)])
    counts = app.extensions["digest_ask"]
    server = make_server(app, host="127.0.0.1", port=0, threads=24)
    runner = threading.Thread(target=server.run, daemon=True)
    runner.start()
    base = f"http://127.0.0.1:{server.effective_port}"
    statuses: list[int] = []
    start = threading.Barrier(20)

    def one(question: str) -> None:
        with httpx.Client(base_url=base, timeout=180) as client:
            start.wait(timeout=60)
            statuses.append(client.post("/ask", data={"q": question}).status_code)

    threads = [threading.Thread(target=one, args=(q,)) for q in questions]
    try:
        for t in threads:
            t.start()
        # While the admitted questions wait on the model, the others have been refused: the reservations
        # alone already fill the cap.
        deadline = time.monotonic() + 120
        while counts.refused_budget < 20 - fit and time.monotonic() < deadline:
            time.sleep(0.02)
        assert counts.refused_budget == 20 - fit
        assert len(ledger(store)) == fit and all(spent is None for _, spent in ledger(store))
        assert committed_today(store, now=NOW) <= config.ask.max_usd_per_day
        release.set()
        for t in threads:
            t.join(timeout=180)
    finally:
        release.set()
        server.trigger.pull_trigger(lambda: [d.close() for d in list(server._map.values())])
        runner.join(timeout=60)
        server.task_dispatcher.shutdown()
    assert sorted(statuses) == [200] * fit + [503] * (20 - fit)
    rows = ledger(store)
    assert len(rows) == fit and all(spent is not None and 0 < spent <= reserved for reserved, spent in rows)
    assert sum(spent for _, spent in rows) <= config.ask.max_usd_per_day
    assert counts.answered == fit and counts.refused_budget == 20 - fit
    assert len([q for q in llm_server.requests if q.path.endswith("/chat/completions")]) == fit


def test_the_budget_refusal_says_when_to_come_back(config, store, archive):
    config.ask.max_usd_per_day = 0.0
    with serve(config, store) as base, httpx.Client(base_url=base, timeout=60) as client:
        r = client.post("/ask", data={"q": QUESTION})
        assert r.status_code == 503 and "daily budget" in r.text
        assert r.headers["retry-after"] == "30"  # NOW is 23:59:30 UTC
    assert ledger(store) == []


def test_the_index_catches_up_in_the_background(config, store, archive):
    store.execute("DELETE FROM passage_index_papers")
    store.execute("DELETE FROM passages")
    store.execute("INSERT INTO passage_fts (passage_fts) VALUES ('delete-all')")
    store.execute("DELETE FROM passage_index_state")  # as a store from before the index knew it was whole
    assert indexed_papers(store) == 0
    app = create_app(config, store, pages=[partial(register, now=lambda: NOW)])
    assert app.extensions["digest_ask"].indexed.wait(120)
    assert indexed_papers(store) == 3


# ---- the links to the page -------------------------------------------------------------------------------


def test_site_and_email_link_to_the_ask_page_only_with_a_public_url(config, store, archive):
    kv = archive[0]
    paper_page = config.archive_dir / "site" / "papers" / f"{slugify(kv)}.html"
    assert "/ask" not in paper_page.read_text() and "/ask" not in (config.archive_dir / "site/index.html").read_text()
    config.web.public_url = PUBLIC + "/"
    build_archive(config, store)
    assert f'href="{PUBLIC}/ask?paper={kv}">Ask about this paper</a>' in paper_page.read_text()
    assert f'<a href="{PUBLIC}/ask">Ask</a>' in (config.archive_dir / "site/index.html").read_text()
    issue = store.load_issue()
    msg = build_message(config, issue, Recipient(email="reader@example.org"))
    text, html = (msg.get_body((kind,)).get_content() for kind in ("plain", "html"))
    for e in issue.entries:
        assert f"Ask about this paper: {PUBLIC}/ask?paper={e.paper.key}" in text
        assert f'<a href="{PUBLIC}/ask?paper={e.paper.key}" class="a">Ask</a>' in html
    config.web.public_url = ""
    bare = build_message(config, issue, Recipient(email="reader@example.org"))
    assert "/ask" not in bare.get_body(("html",)).get_content() + bare.get_body(("plain",)).get_content()


# ---- in a browser ----------------------------------------------------------------------------------------

CHROMIUM = os.environ.get("DIGEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_page_in_chromium_at_1280_and_375_px(config, store, archive, tmp_path):
    pytest.importorskip("websocket", reason="websocket-client is not installed")
    from test_archive_browser import Browser

    litqa = archive[1]
    browser = Browser(tmp_path / "profile")
    try:
        with serve(config, store) as base:
            for width in (1280, 375):
                browser.viewport(width)
                browser.open(f"{base}/ask?paper={litqa}")
                browser.evaluate(f"document.getElementById('q').value = {QUESTION!r}")
                browser.follow("document.querySelector('form button[type=submit]').click()")
                facts = browser.evaluate("""(() => ({
                  width: document.documentElement.scrollWidth,
                  cites: document.querySelectorAll('li[id^=cite-]').length,
                  marks: Array.from(document.querySelectorAll('a[href^="#cite-"]')).map(a => a.textContent),
                  verified: document.querySelectorAll('.mark.ok').length,
                  text: document.body.innerText,
                  paper: Array.from(document.querySelectorAll('a.paper-title')).map(a => a.href),
                  textarea: document.getElementById('q').getBoundingClientRect().width,
                  question: document.getElementById('q').value,
                }))()""")
                browser.screenshot(tmp_path / f"ask-{width}.png")
                assert facts["width"] <= width, facts  # nothing wider than the screen
                assert facts["cites"] >= 1 and facts["verified"] >= 1 and facts["marks"], facts
                assert "Agents that read papers" in facts["text"] and facts["question"] == QUESTION
                assert any(h.endswith(f"/papers/{slugify(litqa)}.html") for h in facts["paper"])
                assert facts["textarea"] <= width - 20
                assert browser.errors() == []  # no CSP violation, no script error
    finally:
        browser.close()


def test_digest_serve_serves_the_ask_page(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from digest.cli.main import cli

    served: dict = {}
    monkeypatch.setattr("digest.mail.web.serve", lambda config, store, **kw: served.update(kw))
    (tmp_path / "digest.toml").write_text('[store]\narchive_dir = "archive"\n')
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "digest.toml"), "serve", "--port", "9"])
    assert result.exit_code == 0, result.output
    assert served["pages"] == [register]
