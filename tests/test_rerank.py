"""The optional LLM re-rank of the editor's issue (issue 21): one call over the top candidates, reasons kept,
an unusable reply leaving the BM25 order, its cost logged and budgeted, and nothing at all when it is off."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from factories import make_paper
from llm_server import LLMServer, bad_json
from rerun_helpers import add_chat_model

from digest.errors import ConfigError
from digest.select import load_selection, save_selection, select_papers
from digest.writers.rerank import Rerank

TOPICS = [  # BM25 ranks them in this order for the interests below
    ("Summarisation of long scientific documents", "We summarise long scientific documents with summaries."),
    ("Faithful abstractive summarisation", "Abstractive summarisation of documents that stays faithful."),
    ("Evaluating summary factuality", "A benchmark for the factuality of summaries."),
    ("Retrieval for summarisation", "Retrieval helps summarisation of long inputs."),
    ("Protein folding with diffusion models", "Diffusion models predict protein structures."),
]
INTERESTS = "summarisation of long scientific documents, summaries"
_KEY = re.compile(r"^key: (\S+)$", re.MULTILINE)


AUTHORS = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Jane Doe", "Marie Curie"]


def week_papers():
    return [dataclasses.replace(make_paper(i, title=t), abstract=a, authors=[AUTHORS[i]])
            for i, (t, a) in enumerate(TOPICS)]


def prompt_keys(messages) -> list[str]:
    """The candidate keys a re-rank prompt lists, in its order."""
    return _KEY.findall(messages[-1]["content"])


def reversing(messages, schema):
    """A model that puts the BM25 order upside down, with a reason naming the paper's place."""
    keys = prompt_keys(messages)
    return {"ranking": [{"key": k, "reason": f"reason for {k} [/]"} for k in reversed(keys)]}  # not markup


@pytest.fixture
def server():
    s = LLMServer(responder=reversing).start()
    yield s
    s.stop()


@pytest.fixture
def ranked(config, server):
    config.selection.interests = INTERESTS
    config.selection.max_papers = 2
    add_chat_model(config, "model-R", server)
    return select_papers(week_papers(), config.selection)


def selected(candidates) -> list[str]:
    return [c.paper.key for c in candidates if c.selected]


def ranks(candidates) -> list[str]:
    return [c.paper.key for c in sorted((c for c in candidates if c.rank), key=lambda c: c.rank)]


def test_off_by_default_makes_no_call(config, store, ranked, server):
    assert config.selection.rerank_model == ""
    before = [(c.paper.key, c.rank, c.selected, list(c.reasons)) for c in ranked]
    rerank = Rerank(config, store)
    warnings = []
    after = rerank.apply(ranked, "2026-W47", warnings)
    assert [(c.paper.key, c.rank, c.selected, c.reasons) for c in after] == before
    assert server.requests == [] and warnings == [] and rerank.estimate.calls == 0 and rerank.calls == 0
    assert store.query("SELECT count(*) AS n FROM llm_calls")[0]["n"] == 0


def test_reorders_stores_reasons_and_logs_the_cost(config, store, ranked, server):
    bm25 = ranks(ranked)
    assert selected(ranked) == bm25[:2]
    config.selection.rerank_model = "model-R"
    rerank = Rerank(config, store)
    warnings = []
    out = rerank.apply(ranked, "2026-W47", warnings)
    # The model saw the top 2 x max_papers in BM25 order, titles and abstracts, and reversed them.
    [req] = server.chat_requests()
    assert prompt_keys(req["messages"]) == bm25[:4]
    assert TOPICS[0][1] in req["messages"][-1]["content"]
    assert ranks(out) == [*reversed(bm25[:4]), bm25[4]]
    assert selected(out) == [bm25[3], bm25[2]] and warnings == []
    first = next(c for c in out if c.paper.key == bm25[3])
    assert f"re-ranked by model-R (BM25 rank 4): reason for {bm25[3]} [/]" in first.reasons
    assert first.reasons[-1] == "rank 1 of 5: selected"
    assert not any(r.startswith("rank 4") for r in first.reasons)  # the BM25 rank line is replaced
    assert "re-ranked the top 4 candidates with model-R" in rerank.note

    # Stored with the selection, as `digest fetch --explain` reads it.
    save_selection(store, "2026-W47", out)
    stored = load_selection(store, "2026-W47")
    assert [c.paper.key for c in stored if c.selected] == [bm25[3], bm25[2]]
    assert any(r.startswith("re-ranked by model-R") for r in stored[0].reasons)

    # Logged and costed like every call: one row, priced, the run's spend is the log's.
    [row] = store.query("SELECT purpose, generation_key, cost, status FROM llm_calls")
    assert (row["purpose"], row["generation_key"], row["status"]) == ("rerank", "rerank:2026-W47", "ok")
    assert row["cost"] > 0 and rerank.calls == 1 and rerank.usage.cost == pytest.approx(row["cost"])
    assert rerank.estimate.calls == 1 and rerank.estimate.cost > 0

    # The same week again: served from the call log, no HTTP, nothing spent, the same order.
    again = Rerank(config, store)
    out2 = again.apply(select_papers(week_papers(), config.selection), "2026-W47", [])
    assert ranks(out2) == ranks(out) and len(server.chat_requests()) == 1 and again.usage.cost == 0


@pytest.mark.parametrize("reply", ["unknown key", "no JSON", "nothing ranked"])
def test_an_unusable_reply_keeps_the_bm25_order_with_a_warning(config, store, ranked, server, reply):
    bm25, chosen = ranks(ranked), selected(ranked)
    config.selection.rerank_model = "model-R"
    if reply == "unknown key":
        server.responder = lambda m, s: {"ranking": [{"key": "2611.99999", "reason": "not a candidate"},
                                                     *reversing(m, s)["ranking"]]}
    elif reply == "no JSON":
        server.push(bad_json(), bad_json())  # the reply and its one repair
    else:
        server.responder = lambda m, s: {"ranking": []}
    warnings = []
    rerank = Rerank(config, store)
    out = rerank.apply(ranked, "2026-W47", warnings)
    assert ranks(out) == bm25 and selected(out) == chosen
    assert not any("re-ranked" in r for c in out for r in c.reasons)
    [warning] = warnings
    assert warning.startswith("re-rank by model-R not used, the selection keeps the BM25 order")
    if reply == "unknown key":
        assert "'2611.99999'" in warning
    # A failed reply was paid for: its calls are counted.
    assert rerank.calls == len(server.chat_requests()) >= 1


def test_keys_as_a_model_may_write_them_and_papers_it_left_out(config, store, ranked, server):
    bm25 = ranks(ranked)
    config.selection.rerank_model = "model-R"
    # 'arXiv:' and a version are the same paper; a paper named twice counts once; two left out follow in order.
    server.responder = lambda m, s: {"ranking": [{"key": f"arXiv:{bm25[2]}v1", "reason": "best"},
                                                 {"key": bm25[1], "reason": "next"},
                                                 {"key": bm25[2], "reason": "again"}]}
    rerank = Rerank(config, store)
    out = rerank.apply(ranked, "2026-W47", [])
    assert ranks(out) == [bm25[2], bm25[1], bm25[0], bm25[3], bm25[4]]
    assert "2 it left out follow in BM25 order" in rerank.note


def test_the_watch_list_stays_first(config, store, ranked, server):
    config.selection.rerank_model = "model-R"
    config.selection.authors = ["M. Curie"]  # the protein paper, last by BM25
    candidates = select_papers(week_papers(), config.selection)
    bm25 = ranks(candidates)
    assert bm25[0] == "2611.10004"
    out = Rerank(config, store).apply(candidates, "2026-W47", [])
    assert "2611.10004" not in prompt_keys(server.chat_requests()[0]["messages"])
    assert ranks(out)[:1] == ["2611.10004"] and ranks(out)[1:4] == list(reversed(bm25[1:4]))


def test_dry_run_estimates_without_calling_and_the_budget_stops_it(config, store, ranked, server):
    config.selection.rerank_model = "model-R"
    dry = Rerank(config, store, dry_run=True)
    out = dry.apply(ranked, "2026-W47", [])
    assert server.requests == [] and ranks(out) == ranks(ranked)
    assert dry.estimate.calls == 1 and dry.estimate.cost > 0 and dry.estimate.input_tokens > 100

    config.llm.max_cost = dry.estimate.cost / 2
    warnings = []
    Rerank(config, store).apply(ranked, "2026-W47", warnings)
    assert server.requests == [] and "above llm.max_cost" in warnings[0] and "--yes" in warnings[0]
    Rerank(config, store, yes=True).apply(ranked, "2026-W47", [])
    assert len(server.chat_requests()) == 1


def test_extractive_cannot_rerank(config, store):
    config.selection.rerank_model = "extractive"
    with pytest.raises(ConfigError, match="rerank_model"):
        Rerank(config, store)


def test_a_run_selects_in_the_models_order_and_counts_its_call(tmp_path, httpserver, config, store, server):
    """`digest run` with the extractive writer and a re-rank model: the issue is the model's, its call is the run's."""
    from weekfeed import TODAY, serve_topic_week

    from digest.pipeline import run_week

    serve_topic_week(tmp_path, httpserver, config, TOPICS)
    config.selection.interests = INTERESTS
    config.selection.max_papers = 2
    config.selection.pool_max = 2
    add_chat_model(config, "model-R", server)
    config.selection.rerank_model = "model-R"

    dry = run_week(config, store, dry_run=True, today=TODAY)
    assert server.requests == [] and dry.rerank.calls == 1 and dry.rerank.cost > 0 and dry.calls == 0

    rep = run_week(config, store, today=TODAY)
    [req] = server.chat_requests()
    shown = prompt_keys(req["messages"])
    assert [e.paper.key for e in rep.issue.entries] == [shown[3], shown[2]]
    assert rep.calls == 1 and rep.cost == pytest.approx(store.query("SELECT sum(cost) AS c FROM llm_calls")[0]["c"])
    stored = load_selection(store, rep.issue.id)
    assert stored[0].paper.key == shown[3] and any("re-ranked by model-R" in r for r in stored[0].reasons)
    assert json.loads(store.query("SELECT reasons FROM candidates WHERE paper_key=?", (shown[3],))[0]["reasons"])
    # `digest cost ISSUE` counts the week's re-rank call with the issue's.
    from digest.llm.client import llm_cost_report
    [cost] = [r for r in llm_cost_report(store, rep.issue.id) if r["model"] == "model-R"]
    assert cost["calls"] == 1 and cost["cost"] == pytest.approx(rep.cost)
    # `digest fetch --explain` shows the order the run used, its reasons too, from the call log.
    from digest.pipeline import fetch_week, parse_since
    fetched = fetch_week(config, store, week=rep.issue.id, since=parse_since(None, TODAY))
    assert [p.key for p in fetched.selected] == [shown[3], shown[2]]
    assert any("re-ranked by model-R" in r for r in fetched.explain[0].reasons)
    assert len(server.chat_requests()) == 1


def test_digest_check_tries_the_rerank_model(config, store, server):
    from digest.preflight import check_setup

    def rerank_check():
        return [c for c in check_setup(config, store, smtp=False) if c.what.startswith("re-rank model")]

    assert rerank_check() == []  # off: nothing to try
    add_chat_model(config, "model-R", server)
    config.selection.rerank_model = "model-R"
    [ok] = rerank_check()
    assert ok.ok and ok.what == "re-rank model model-R" and server.chat_requests() == []
    config.selection.rerank_model = "model-typo"
    [bad] = rerank_check()
    assert not bad.ok and "model-typo" in bad.what


def test_run_on_the_command_line_shows_the_rerank(tmp_path, httpserver, config, server):
    """`digest run --dry-run` plans the re-rank call; `digest run` says what it did, or why it kept BM25's order."""
    from click.testing import CliRunner
    from weekfeed import serve_topic_week

    from digest.cli.main import cli

    serve_topic_week(tmp_path, httpserver, config, TOPICS, more="")
    cfg = tmp_path / "digest.toml"
    cfg.write_text(f'sources = ["{config.sources[0]}"]\n[store]\narchive_dir = "{tmp_path / "cli-archive"}"\n'
                   f'[arxiv]\nrss_url = "{config.arxiv.rss_url}"\npdf_url = "{config.arxiv.pdf_url}"\n'
                   f'[selection]\ninterests = "{INTERESTS}"\nmax_papers = 2\nrerank_model = "model-R"\n'
                   f'[models."model-R"]\nbase_url = "{server.base_url}"\napi_key_env = ""\nprice_input = 1.0\n'
                   'price_output = 4.0\n', encoding="utf-8")

    def digest(*args):
        result = CliRunner().invoke(cli, ["--config", str(cfg), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    said = digest("run", "--dry-run")
    assert "the week's re-rank: 1 call, estimated $" in said and "dry run: 1 call" in said
    assert server.requests == []
    said = digest("run")
    assert "re-ranked the top 4 candidates with model-R:" in said and len(server.chat_requests()) == 1
    assert re.search(r"1\. (2611\.\d+)v1 \(BM25 rank 4\): reason for \1 \[/\] 2\. ", said)  # the issue's papers, why

    server.responder = lambda m, s: {"ranking": [{"key": "2611.99999", "reason": "not a candidate"}]}
    # A fresh store, so the reply is asked for again.
    cfg.write_text(cfg.read_text().replace("cli-archive", "cli-archive-2"), encoding="utf-8")
    said = digest("run")
    assert "warning re-rank by model-R not used, the selection keeps the BM25 order" in said
