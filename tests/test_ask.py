"""`digest ask` (issue 22): the passage index (incremental, kill-safe, injection-safe) and grounded answers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ask_model import BIRDS, KV, LITQA, MADE_UP_QUOTE, QUESTION, AskModel
from click.testing import CliRunner
from factories import command_group, make_issue, make_paper

from digest.ask.answer import ask, estimate_cost, nothing_found_text
from digest.ask.index import _fts_query, ensure_index, index_paper, search, stale_papers, stems
from digest.cli.ask import register
from digest.config import ModelConfig
from digest.errors import ConfigError, NotFoundError
from digest.records import Page
from digest.store import Store
from digest.text import tokenize

ROOT = Path(__file__).resolve().parent.parent


def store_paper(store: Store, i: int, title: str, bodies: list[str], *, category: str = "cs.CL") -> str:
    p = make_paper(i, title=title)
    p.categories, p.primary_category = [category], category
    store.upsert_paper(p)
    pages = [Page(number=n, body=b, refs="") for n, b in enumerate(bodies, 1)]
    store.save_pages(p.key, p.version, pages, pdf_path=None, token_count=None)
    return p.key


@pytest.fixture
def archive(store):
    keys = [store_paper(store, 0, "Two-bit KV cache quantization", KV, category="cs.LG"),
            store_paper(store, 1, "Agents that read papers", LITQA),
            store_paper(store, 2, "Magnetic compass of songbirds", BIRDS, category="q-bio.PE")]
    ensure_index(store)
    return keys


@pytest.fixture
def chat(config, llm_server):
    """A chat model `m` on the test server answering like AskModel, priced so costs are visible."""
    llm_server.responder = AskModel()
    config.models["m"] = ModelConfig(base_url=llm_server.base_url, api_key_env="DIGEST_TEST_NO_KEY",
                                     price_input=1.0, price_output=4.0)
    return llm_server


# ---- the index ------------------------------------------------------------------------------------------


def test_index_is_built_incrementally_and_replaces_a_papers_rows(store, archive):
    kv, litqa, birds = archive
    assert stale_papers(store) == []
    assert search(store, "warblers geolocators")[0].paper_key == birds
    hit = search(store, "two bits quantizing keys values")[0]
    assert (hit.paper_key, hit.page, hit.section) == (kv, 1, "1 Introduction")
    # A new text of one paper (a new version) makes only that paper stale, and its old words leave the index.
    store.save_pages(birds, 3, [Page(number=1, body="1 Introduction\nWe study coral reef bleaching under heat "
                                                    "waves across forty reefs of the Pacific ocean.\n", refs="")],
                     pdf_path=None, token_count=None)
    assert stale_papers(store) == [birds]
    assert ensure_index(store) == 1 and stale_papers(store) == []
    assert search(store, "warblers geolocators") == []
    assert search(store, "coral reef bleaching")[0].paper_key == birds
    assert index_paper(store, birds) == 1  # idempotent: the same rows again, not twice
    assert store.query("SELECT count(*) FROM passages WHERE paper_key=?", (birds,))[0][0] == 1
    # A paper whose text failed is not searched any more.
    store.mark_text_failed(kv, 2, "unreadable")
    assert stale_papers(store) == [kv]
    ensure_index(store)
    assert all(h.paper_key != kv for h in search(store, "KV cache quantizing"))


def test_the_catch_up_scans_the_archive_only_after_a_text_changed(store, archive, monkeypatch):
    """At 50,000 papers finding what is stale takes seconds: ensure_index skips it while no text changed."""
    from digest.ask import index as ix

    kv, _, birds = archive
    ensure_index(store)
    scans = []
    real = ix.stale_papers
    monkeypatch.setattr(ix, "stale_papers", lambda s: scans.append(1) or real(s))
    assert ix.index_is_current(store) and ensure_index(store) == 0 and scans == []
    # Each write that can make a paper's rows stale moves the counter: new pages, a failed text.
    store.save_pages(birds, 3, [Page(number=1, body="1 Introduction\nWe count warblers on geolocators "
                                                    "across forty islands of the Pacific ocean.\n", refs="")],
                     pdf_path=None, token_count=None)
    assert not ix.index_is_current(store) and ensure_index(store) == 1 and len(scans) == 1
    assert ensure_index(store) == 0 and len(scans) == 1
    store.mark_text_failed(kv, 2, "unreadable")
    assert ensure_index(store) == 1 and len(scans) == 2
    assert all(h.paper_key != kv for h in search(store, "KV cache quantizing"))
    # A rebuild empties the index and finds it whole again only once every paper is back in it.
    assert ix.rebuild_index(store) == 2 and ix.index_is_current(store)


def test_the_index_stems_words_as_the_writers_retrieval_does():
    text = "Modelling the Müller-Lyon eﬀect: summarization studies ran 3 runs; informa- tion flows.\n日本語の論文"
    assert stems(text) == tokenize(text)
    assert stems("KVキャッシュの圧縮") == ["kv", "キャッシュの圧縮"]


def test_a_japanese_question_meets_the_papers_latin_words(store, archive):
    assert search(store, "LitQAで評価している論文は?")[0].paper_key == archive[1]


def test_references_are_not_indexed(store):
    key = make_paper(5).key
    store.upsert_paper(make_paper(5))
    store.save_pages(key, 1, [Page(number=1, body="1 Introduction\nWe measure the gait of horses on sand.\n",
                                   refs="[1] Zebrafish fins regenerate. Nature 2001.")], pdf_path=None, token_count=None)
    ensure_index(store)
    assert search(store, "horses gait")[0].paper_key == key
    assert search(store, "zebrafish regenerate") == []


def test_the_pipeline_indexes_a_paper_where_its_page_texts_are_stored():
    source = (ROOT / "digest" / "pipeline.py").read_text()
    at = source.index("store.save_pages(p.key")
    assert "index_paper(store, p.key)" in source[at:at + 400]


KILLED_CHILD = textwrap.dedent("""
    import sys, time
    import digest.ask.index as ix
    from digest.store import Store
    store = Store(sys.argv[1])
    real, seen = ix._terms, [0]
    def slow_terms(text):
        seen[0] += 1
        if seen[0] == 3:  # inside index_paper's transaction, some rows written
            print("inside", flush=True)
            time.sleep(600)
        return real(text)
    ix._terms = slow_terms
    ix.index_paper(store, sys.argv[2])
""")


def test_kill_9_while_indexing_leaves_the_old_rows_and_the_index_whole(config, store, archive):
    kv = archive[0]
    store.save_pages(kv, 3, [Page(number=1, body="1 Introduction\nWe prune attention heads of vision "
                                                 "transformers by their entropy on held out images.\n"
                                                 "2 Method\nEntropy is measured per head on a small sample.\n",
                                  refs="")], pdf_path=None, token_count=None)
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(config.db_path), kv], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout.readline().strip() == "inside"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    fresh = Store(config.db_path)
    try:
        # The transaction never committed: the paper still has its old rows, and is known to be stale.
        assert search(fresh, "two bits quantizing keys values")[0].paper_key == kv
        assert stale_papers(fresh) == [kv]
        assert ensure_index(fresh) == 1
        assert search(fresh, "prune attention heads entropy")[0].paper_key == kv
        assert not any("two bits" in h.text for h in search(fresh, "two bits quantizing keys values"))
        fresh.execute("INSERT INTO passage_fts (passage_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        fresh.close()


@pytest.mark.parametrize("question", [
    'LitQA" OR 1=1 --', "NEAR(LitQA agents, 2)", "LitQA*", "^LitQA", "terms:LitQA", "(LitQA", "LitQA AND",
    "- LitQA", '"""LitQA"""', "LitQA; DROP TABLE passages;", "{terms heading}: LitQA", "LitQA NOT agents", "\x00LitQA",
])
def test_user_text_is_never_fts_syntax(store, archive, question):
    hits = search(store, question)
    assert hits and hits[0].paper_key == archive[1]


def test_any_term_is_quoted_into_a_valid_fts_query(store, archive):
    # Stems never hold FTS syntax today; the query is safe even if a term ever did.
    hostile = ['lit"qa', "NEAR", "agents*", "^x", "terms:x", "(", ")", "AND", "-", "{a b}", "'", '""']
    count = store.query("SELECT count(*) FROM passage_fts WHERE passage_fts MATCH ?", (_fts_query(hostile),))
    assert count[0][0] == 0
    assert store.query("SELECT count(*) FROM passage_fts WHERE passage_fts MATCH ?",
                       (_fts_query(["litqa", "AND"]),))[0][0] >= 1


def test_a_question_of_common_words_only_is_searched_in_the_newest_passages(store, archive, monkeypatch):
    import digest.ask.index as ix
    monkeypatch.setattr(ix, "COMMON_DF", 1)  # every word is common
    assert search(store, "KV cache memory")[0].paper_key == archive[0]
    birds = store.query("SELECT count(*) FROM passages WHERE paper_key=?", (archive[2],))[0][0]
    monkeypatch.setattr(ix, "COMMON_BUDGET", birds)  # only the newest paper's passages are searched
    assert {h.paper_key for h in search(store, "KV cache memory light")} == {archive[2]}
    assert search(store, "KV cache memory") == []
    # A question scoped to one paper searches all of it, however common its words.
    assert search(store, "KV cache memory", paper_key=archive[0])[0].paper_key == archive[0]


def test_the_rarest_words_are_queried_first_within_a_budget(store, archive, monkeypatch):
    import digest.ask.index as ix
    monkeypatch.setattr(ix, "POSTINGS_BUDGET", 1)  # room for the rarest word only
    assert {h.paper_key for h in search(store, "songbirds memory")} == {archive[2]}


def test_a_question_of_stop_words_or_unknown_words_finds_nothing(store, archive):
    assert search(store, "what is it about?") == []
    assert search(store, "xylophone zeppelin") == []
    assert search(store, "") == []


def test_filters_scope_the_search(store, archive):
    kv, litqa, birds = archive
    issue = make_issue(store, week=3, n_papers=1)
    store.execute("INSERT INTO issue_papers (issue_id, paper_key, position) VALUES (?,?,2)", (issue.id, litqa))
    assert {h.paper_key for h in search(store, QUESTION, paper_key=kv)} == {kv}
    assert {h.paper_key for h in search(store, QUESTION, category="cs.LG")} == {kv}
    assert {h.paper_key for h in search(store, QUESTION, issue=issue.id)} == {litqa}
    assert search(store, QUESTION, since="2030-01-01") == []
    assert {h.paper_key for h in search(store, QUESTION, since="2020-01-01")} == {kv, litqa}


# ---- answers ----------------------------------------------------------------------------------------------


def test_an_english_answer_cites_verified_quotes_with_pages_and_is_costed(config, store, archive, chat):
    a = ask(config, store, QUESTION, model_id="m", language="en")
    assert not a.nothing_found and a.citations
    assert all(c.verified for c in a.citations)
    assert {c.paper_key for c in a.citations} == {archive[0], archive[1]}
    for c in a.citations:
        assert f"[{c.n}]" in a.text
        assert c.quote in " ".join(" ".join(store.pages(c.paper_key)[c.page - 1].body.split()).split())
    assert [p.key for p in a.papers] and all(p.pages for p in a.papers)
    logged = store.query("SELECT purpose, cost FROM llm_calls WHERE purpose='ask'")
    assert len(logged) == 1 and a.cost == pytest.approx(logged[0]["cost"]) and a.cost > 0


def test_a_japanese_answer_keeps_the_quotes_verbatim(config, store, archive, chat):
    a = ask(config, store, QUESTION, model_id="m", language="ja")
    assert 'language code "ja"' in chat.chat_requests()[-1]["messages"][0]["content"]
    assert "論文" in a.text and a.citations and all(c.verified for c in a.citations)
    assert all(c.quote.isascii() for c in a.citations)


def test_a_made_up_quote_is_marked_or_dropped_as_the_issue_does(config, store, archive, chat):
    chat.responder = AskModel(fabricate=lambda i: i == 1)
    a = ask(config, store, QUESTION, model_id="m")
    made_up = [c for c in a.citations if c.quote == MADE_UP_QUOTE]
    assert len(made_up) == 1 and not made_up[0].verified and "not found" in made_up[0].note
    config.llm.unverified = "drop"
    b = ask(config, store, QUESTION + " ", model_id="m")  # the same request would come from the call log
    assert b.dropped == 1 and all(c.verified for c in b.citations)
    assert MADE_UP_QUOTE not in b.text and [c.n for c in b.citations] == list(range(1, len(b.citations) + 1))


def test_nothing_found_is_an_answer_with_no_call(config, store, archive, chat):
    a = ask(config, store, "What is the boiling point of tungsten?", model_id="m")
    assert a.nothing_found and a.text == nothing_found_text("en") and not a.citations and a.cost == 0
    assert chat.chat_requests() == []
    assert ask(config, store, "What is the boiling point of tungsten?", model_id="m",
               language="ja").text == nothing_found_text("ja")


def test_nothing_found_when_the_model_says_so(config, store, archive, chat):
    chat.responder = AskModel(nothing=True)
    a = ask(config, store, QUESTION, model_id="m")
    assert a.nothing_found and not a.citations and len(chat.chat_requests()) == 1


def test_extractive_shows_passages_grouped_by_paper_and_labelled(config, store, archive):
    a = ask(config, store, QUESTION, model_id="extractive", language="en")
    assert not a.citations and a.passages and a.text.startswith("Passages from the archive")
    order = [h.paper_key for h in a.passages]
    assert order == sorted(order, key=order.index)  # each paper's passages together
    assert set(order) == {archive[0], archive[1]}
    assert "Passages" not in ask(config, store, QUESTION, model_id="extractive", language="ja").text


def test_dry_run_estimates_without_a_call(config, store, archive, chat):
    a = ask(config, store, QUESTION, model_id="m", dry_run=True)
    e = estimate_cost(config, store, QUESTION, model_id="m")
    assert a.dry_run and a.estimate == e and 0 < e.cost < e.max_cost and e.input_tokens > 100
    assert chat.chat_requests() == []


def test_bad_questions_and_scopes_are_one_line_errors(config, store, archive):
    with pytest.raises(ConfigError):
        ask(config, store, "   ", model_id="extractive")
    with pytest.raises(NotFoundError, match="no paper"):
        ask(config, store, QUESTION, model_id="extractive", paper_key="9999.99999")
    with pytest.raises(NotFoundError, match="no issue"):
        ask(config, store, QUESTION, model_id="extractive", issue="1999-W01")


# ---- the command ------------------------------------------------------------------------------------------



def test_cli_json_has_citations_with_links_to_archive_and_pdf_pages(config, store, archive, chat):
    config.web.public_url = "https://digest.example.org"
    r = CliRunner().invoke(command_group(config, store, register), ["ask", QUESTION, "--model", "m", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["citations"] and all(c["verified"] for c in data["citations"])
    c = data["citations"][0]
    assert c["archive_url"].startswith("https://digest.example.org/papers/")
    assert c["pdf_url"].endswith(f"#page={c['page']}") and "arxiv.org/pdf" in c["pdf_url"]


def test_cli_text_and_dry_run(config, store, archive, chat):
    cli = command_group(config, store, register)
    r = CliRunner().invoke(cli, ["ask", QUESTION, "--model", "m", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "estimated $" in " ".join(r.output.split()) and "nothing sent" in r.output and chat.chat_requests() == []
    r = CliRunner().invoke(cli, ["ask", QUESTION, "--model", "m", "--papers", "1"])
    assert r.exit_code == 0, r.output
    assert "(verified)" in r.stdout and "Papers:" in r.stdout
    prompt = next(m["content"] for m in chat.chat_requests()[-1]["messages"] if "<passages>" in m["content"])
    assert len(set(re.findall(r"^\[P\d+\] (.*?) — page", prompt, re.M))) == 1  # --papers 1
    r = CliRunner().invoke(cli, ["ask", QUESTION, "--model", "extractive", "--paper", archive[1] + "v2"])
    assert r.exit_code == 0, r.output
    assert "Agents that read papers" in r.stdout and "Two-bit" not in r.stdout


def test_the_command_catches_up_the_index_and_fails_in_one_line(tmp_path, store, archive):
    del archive
    store.execute("DELETE FROM passage_index_papers")  # as if stored before the index existed
    store.execute("DELETE FROM passage_index_state")
    (tmp_path / "digest.toml").write_text('[store]\narchive_dir = "archive"\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "digest", "--config", str(tmp_path / "digest.toml"), "ask"]
    started = time.monotonic()
    ok = subprocess.run([*cmd, "LitQA benchmark agents", "--model", "extractive"], capture_output=True,
                        text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "Agents that read papers" in ok.stdout and time.monotonic() - started < 120
    bad = subprocess.run([*cmd, "LitQA", "--model", "extractive", "--issue", "1999-W01"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 1 and "no issue 1999-W01" in bad.stderr and "Traceback" not in bad.stderr
