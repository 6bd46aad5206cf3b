"""The Batch API end to end against the test server: two phases, an interrupted collect, live fallbacks."""

from __future__ import annotations

import json

import pytest
from llm_server import LLMServer
from rerun_helpers import ISSUE_ID, add_chat_model, make_responder

from digest.batch import batch_status, collect_all, submit_rerun
from digest.errors import ConfigError
from digest.pipeline import make_writer
from digest.store import Store

BROKEN_PAPER = "1903.10676"  # its outline comes back as junk from the batch, then works live
LONG_PAPER = "1111.2011"  # several pages: more than a small context window holds


class Interrupt:
    """A progress reporter that stops the collect (like Ctrl-C) after `after` stored results."""

    def __init__(self, after: int):
        self.after, self.seen = after, 0

    def start(self, label, total):
        pass

    def advance(self, n=1):
        self.seen += n
        if self.seen >= self.after:
            raise KeyboardInterrupt

    def note(self, message):
        pass


@pytest.fixture
def batch_server(config):
    broken = {f"arXiv: {BROKEN_PAPER}"}
    server = LLMServer(responder=make_responder("model-B", broken=broken), batch_polls_before_done=1).start()
    server.broken = broken
    add_chat_model(config, "model-B", server)
    yield server
    server.stop()


def paths(server):
    return [(r.method, r.path) for r in server.requests]


def test_batch_end_to_end_with_interrupted_collect(config, store, issue, batch_server, httpserver):
    sub = submit_rerun(config, store, [ISSUE_ID], "model-B")
    assert sub.phase == "outline" and sub.requests == 3 and len(sub.batch_ids) == 1
    assert paths(batch_server) == [("POST", "/v1/files"), ("POST", "/v1/batches")]
    uploaded = next(iter(batch_server.files.values()))["data"].decode().splitlines()
    lines = [json.loads(line) for line in uploaded]
    assert {line["url"] for line in lines} == {"/v1/chat/completions"}
    assert all(line["body"]["response_format"]["type"] == "json_schema" for line in lines)
    assert batch_server.batches[sub.batch_ids[0]]["completion_window"] == "24h"

    # Still running: nothing stored yet.
    [first] = collect_all(config, store)
    assert first.status == "in_progress" and first.stored == 0
    assert store.query("SELECT count(*) AS n FROM llm_calls")[0]["n"] == 0

    # Done: outlines stored (one came back as junk), answers submitted for the two good outlines.
    [second] = collect_all(config, store)
    assert (second.status, second.stored, second.failed) == ("completed", 2, 1)
    assert second.next.phase == "answers" and second.next.requests == 2
    answers_batch = second.next.batch_ids[0]

    batch_server.broken.clear()  # the model works again: the live fallback will succeed
    assert [r.status for r in collect_all(config, store)] == ["in_progress"]
    with pytest.raises(KeyboardInterrupt):
        collect_all(config, store, reporter=Interrupt(after=1))
    states = [r["status"] for r in store.query("SELECT status FROM batch_requests WHERE batch_id=?", (answers_batch,))]
    assert sorted(states) == ["done", "pending"]  # one stored, one left for the resumed collect

    [resumed] = collect_all(config, store)
    assert resumed.stored == 1 and resumed.next.finished
    # The live path made only the failed paper's two calls; everything else came from the batches.
    live = batch_server.chat_requests()
    assert len(live) == 2 and all(BROKEN_PAPER in json.dumps(r["messages"]) for r in live)
    # Each successful request is logged once, at batch price, with its batch id.
    rows = store.query("SELECT request_hash, count(*) AS n, min(batch_id) AS b, sum(cost) AS cost FROM llm_calls "
                       "WHERE status='ok' GROUP BY request_hash")
    assert len(rows) == 6 and all(r["n"] == 1 for r in rows)
    assert sum(1 for r in rows if r["b"]) == 4 and all(r["cost"] > 0 for r in rows)
    # The rerun variant is there, complete and grounded; the issue still shows the original.
    variant = store.load_issue(ISSUE_ID, model="model-B")
    assert all(e.generation and e.generation.status == "ok" and len(e.generation.qa) == 8
               and all(q.verified for q in e.generation.qa) for e in variant.entries)
    assert store.load_issue(ISSUE_ID).model == "extractive"
    assert httpserver.log == []  # no PDF downloaded
    assert {r.status for r in batch_status(config, store)} == {"advanced"}

    # Collecting again costs nothing; rerunning live only adds the week's overview, which batches do not write.
    calls = store.query("SELECT count(*) AS n FROM llm_calls")[0]["n"]
    assert collect_all(config, store) == []
    from digest.rerun import rerun_issue
    assert rerun_issue(config, store, ISSUE_ID, "model-B").calls == 1
    assert store.query("SELECT count(*) AS n FROM llm_calls")[0]["n"] == calls + 1
    assert len(batch_server.chat_requests()) == 3


def batch_lines(server, paper_key: str) -> list[dict]:
    """The Batch API input lines the server received for one paper, in upload order."""
    files = [f["data"] for f in server.files.values() if f["meta"]["purpose"] == "batch"]
    lines = [json.loads(line) for data in files for line in data.decode().splitlines()]
    return [line for line in lines if f"arXiv: {paper_key}" in json.dumps(line["body"]["messages"])]


def test_batch_requests_are_the_live_requests_for_a_paper_cut_to_fit(config, store, issue, batch_server, tmp_path):
    """A paper too long for the context (outline on a part, answers with passages found per question): each
    Batch API line carries the very body the live path sends."""
    batch_server.broken.clear()
    add_chat_model(config, "model-B", batch_server, context_window=8000)  # ~1000 tokens of paper text
    before = tmp_path / "before-batch.db"
    store.execute("VACUUM INTO ?", (str(before),))  # the same store, for the live path to start from

    sub = submit_rerun(config, store, [ISSUE_ID], "model-B")
    while not sub.finished:
        [rep] = collect_all(config, store)
        sub = rep.next or sub
    assert batch_server.chat_requests() == []
    batched = batch_lines(batch_server, LONG_PAPER)
    assert [line["custom_id"].split("-")[0] for line in batched] == ["outline", "answers"]

    live_store = Store(before)
    try:
        writer = make_writer(config, live_store, "model-B", "en")
        paper = live_store.get_paper(LONG_PAPER)
        plan = writer.plan(paper)
        assert plan.text.mode == "partial"  # the retrieval path, not the whole paper
        g = writer.generate(paper)
    finally:
        live_store.close()
    live = batch_server.chat_requests()
    assert g.status == "ok" and len(live) == 2
    # The answers call brings passages picked for the questions, beyond the part the outline saw.
    assert "Here are more passages from the paper" in live[1]["messages"][-1]["content"]
    for sent, line in zip(live, batched, strict=True):
        assert json.dumps(line["body"], sort_keys=True) == json.dumps(sent, sort_keys=True)


def test_batch_made_generations_record_the_cost_billed(config, store, issue, batch_server):
    """A generation made from batch results costs what its calls were billed: the batch price, not the live one."""
    batch_server.broken.clear()
    sub = submit_rerun(config, store, [ISSUE_ID], "model-B")
    while not sub.finished:
        [rep] = collect_all(config, store)
        sub = rep.next or sub
    rows = store.query(
        "SELECT g.cost, (SELECT sum(c.cost) FROM llm_calls c WHERE c.generation_key=g.key AND c.status='ok' "
        "AND c.batch_id IS NOT NULL) AS billed FROM generations g WHERE g.model='model-B'")
    assert len(rows) == 3
    assert all(r["billed"] > 0 and r["cost"] == pytest.approx(r["billed"], abs=1e-6) for r in rows), (
        [dict(r) for r in rows])


def test_expired_batch_falls_back_to_live_calls(config, store, issue, batch_server):
    batch_server.broken.clear()
    sub = submit_rerun(config, store, [ISSUE_ID], "model-B")
    batch_server.batches[sub.batch_ids[0]]["status"] = "expired"  # the 24 h window passed
    [rep] = collect_all(config, store)
    assert (rep.status, rep.stored, rep.failed) == ("expired", 0, 3) and rep.next.finished
    assert len(batch_server.chat_requests()) == 6  # every paper made live, two calls each
    assert all(e.generation for e in store.load_issue(ISSUE_ID, model="model-B").entries)


def test_nothing_to_batch_when_every_call_is_logged(config, store, issue, batch_server):
    batch_server.broken.clear()
    from digest.rerun import rerun_issue
    rerun_issue(config, store, ISSUE_ID, "model-B", language="ja")
    sent = len(batch_server.requests)
    rep = submit_rerun(config, store, [ISSUE_ID], "model-B", language="ja")
    assert rep.finished and rep.batch_ids == [] and len(batch_server.requests) == sent


def test_dry_run_and_extractive(config, store, issue, batch_server):
    rep = submit_rerun(config, store, [ISSUE_ID], "model-B", dry_run=True)
    assert rep.dry_run and rep.requests == 3 and rep.estimated_cost > 0 and batch_server.requests == []
    with pytest.raises(ConfigError, match="nothing to batch"):
        submit_rerun(config, store, [ISSUE_ID], "extractive")


def test_run_batch_publishes_the_week_when_collected(corpus, config, store, httpserver, batch_server, tmp_path):
    """`digest run --batch`: fetch and select now, generate through two batches, publish on the last collect."""
    from weekfeed import Item, serve_week

    batch_server.broken.clear()
    serve_week(httpserver, config, [
        Item("1111.2011", 2, "Quantum criticality of hot random spin chains", "We study random spin chains.",
             corpus / "pdfs/arxiv/arxiv_1111.2011v2_quantum-criticality_cond-mat.pdf"),
        Item("1903.10676", 1, "SciBERT: A Pretrained Language Model for Scientific Text", "We release SciBERT.",
             corpus / "pdfs/arxiv/arxiv_1903.10676_scibert_single-page-excerpt.pdf"),
    ])
    digest = cli_runner(config, tmp_path, f'sources = ["{config.sources[0]}"]\n\n[arxiv]\n'
                        f'rss_url = "{config.arxiv.rss_url}"\npdf_url = "{config.arxiv.pdf_url}"\n\n'
                        '[selection]\ninterests = ""\n\n')
    out = digest("run", "--batch", "--model", "model-B")
    assert "Submitted 1 batch of 2 outline requests for 2 papers" in out and store.issue_ids() == []
    for _ in range(3):  # running, outlines stored, running
        digest("batch", "collect")
    assert "done: the issue updated" in digest("batch", "collect")
    [issue_id] = store.issue_ids()
    issue = store.load_issue(issue_id)
    assert issue.model == "model-B" and all(e.generation.qa for e in issue.entries)
    assert batch_server.chat_requests() == []  # every call went through the batches
    assert "model-B TL;DR" in (config.archive_dir / f"{issue_id}.md").read_text()


def cli_runner(config, tmp_path, extra_toml: str = ""):
    """Run `digest ...` in-process with a config file for this test's archive and model-B."""
    from click.testing import CliRunner

    from digest.cli.main import cli

    cfg = tmp_path / "digest.toml"
    m = config.models["model-B"]
    cfg.write_text(f'{extra_toml}[store]\narchive_dir = "{config.archive_dir}"\n\n[models."model-B"]\n'
                   f'base_url = "{m.base_url}"\napi_key_env = ""\nprice_input = 1.0\nprice_output = 4.0\n',
                   encoding="utf-8")
    runner = CliRunner()

    def digest(*args):
        result = runner.invoke(cli, ["--config", str(cfg), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return digest


def test_batch_commands(config, store, issue, batch_server, tmp_path):
    """`digest rerun ISSUE --model M --batch`, then `digest batch status` and `digest batch collect`."""
    from digest.cli.main import cli

    batch_server.broken.clear()
    digest = cli_runner(config, tmp_path)
    assert any(p.name == "batch" for p in cli.commands["run"].params)
    out = digest("rerun", ISSUE_ID, "--model", "model-B", "--batch")
    assert "Submitted 1 batch of 3 outline requests for 3 papers" in out
    assert "in_progress" in digest("batch", "status")  # asking the provider is a poll too
    out = digest("batch", "collect")
    assert "3 results stored" in out and "submitted 3 answers requests" in out
    assert "in_progress" in digest("batch", "collect")
    assert "done: 2026-W47 updated" in digest("batch", "collect")
    status = digest("batch", "status")
    assert status.count("advanced") == 2 and "outline" in status and "answers" in status
    assert batch_server.chat_requests() == []
    assert "model-B" in digest("issues", "list")


def week_with_readers(tmp_path, httpserver, config, store):
    """Four papers served as this week's listing: the editor's interests take two, a reader's the third."""
    from weekfeed import serve_topic_week

    from digest.mail.subscribers import add_subscriber
    from digest.readers import ReaderInterests, set_interests

    topics = [("Summaries of long documents", "We summarise long scientific documents for their readers."),
              ("Faithful summaries", "Abstractive summaries that stay faithful to the documents they cover."),
              ("Dense passage retrieval", "Dense retrieval of passages for open-domain question answering."),
              ("Protein folding", "Diffusion models fold proteins from their amino acid sequences.")]
    serve_topic_week(tmp_path, httpserver, config, topics, " This paper explains the method in detail and reports "
                     "the results of every experiment we ran on the benchmark.")
    config.selection.interests = "summaries"
    config.selection.max_papers = 2
    config.selection.pool_max = 3
    sub, _ = add_subscriber(store, "rag@example.org")
    set_interests(store, sub.id, ReaderInterests(keywords=["retrieval"], max_papers=2))
    return sub.id


def test_run_batch_writes_up_the_pool_for_readers(tmp_path, httpserver, config, store, batch_server):
    """`digest run --batch` writes up the week's pool as `digest run` does: the issue stays the editor's, the
    reader's pick is in the job, in issue_pool, and in that reader's issue with the batch's write-up."""
    from weekfeed import TODAY

    from digest.batch import submit_week
    from digest.readers import forget_pools, reader_issue

    batch_server.broken.clear()
    rag = week_with_readers(tmp_path, httpserver, config, store)
    fetched, dry = submit_week(config, store, model="model-B", dry_run=True, today=TODAY)
    assert [p.key for p in fetched.pool] == ["2611.00002"]
    assert dry.requests == 3 and dry.papers == 3 and batch_server.requests == []  # the pool is planned and costed

    _, sub = submit_week(config, store, model="model-B", today=TODAY)
    assert sub.requests == 3
    while not sub.finished:
        [rep] = collect_all(config, store)
        sub = rep.next or sub
    assert batch_server.chat_requests() == []  # every paper, the pool's too, through the batches
    [issue_id] = store.issue_ids()
    issue = store.load_issue(issue_id)
    editor = [e.paper.key for e in issue.entries]
    assert sorted(editor) == ["2611.00000", "2611.00001"]
    pooled = [r["paper_key"] for r in store.query("SELECT paper_key FROM issue_pool ORDER BY position")]
    assert pooled == [*editor, "2611.00002"]
    forget_pools()
    got, why = reader_issue(store, issue, rag, config)
    assert [e.paper.key for e in got.entries][0] == "2611.00002" and why["2611.00002"] == "matches 'retrieval'"
    # `digest cost ISSUE` counts the pool's paper with the editor's: the week paid for all three.
    from digest.llm.calllog import llm_cost_report
    [cost] = [r for r in llm_cost_report(store, issue_id) if r["model"] == "model-B"]
    assert cost["papers"] == 3
    assert got.entries[0].generation.model == "model-B" and got.entries[0].generation.tldr.startswith("model-B")


def test_batch_rerun_writes_up_the_pool(config, store, issue, batch_server):
    """`digest rerun ISSUE --model M --batch` batches the issue's pool too, so readers keep their papers."""
    from dataclasses import replace

    from digest.readers import save_pool

    batch_server.broken.clear()
    gens = {e.paper.key: e.generation for e in issue.entries}
    store.save_issue(replace(issue, entries=issue.entries[:2]), gens)  # the third is a reader's pick only
    save_pool(store, issue.id, [e.paper for e in issue.entries])
    sub = submit_rerun(config, store, [ISSUE_ID], "model-B")
    assert sub.requests == 3 and sub.papers == 3
    while not sub.finished:
        [rep] = collect_all(config, store)
        sub = rep.next or sub
    variant = {r["paper_key"] for r in store.query("SELECT paper_key FROM issue_generations WHERE model='model-B'")}
    assert variant == {e.paper.key for e in issue.entries} and batch_server.chat_requests() == []


def test_run_batch_dry_run_prices_the_rerank_live(tmp_path, httpserver, config, store, batch_server):
    """The week's re-rank is one live call: `run --batch --dry-run` prices it at the model's own price, apart
    from the batches at half price, and says so."""
    from weekfeed import TODAY

    from digest.batch import submit_week
    from digest.cli.rerun import print_submitted

    week_with_readers(tmp_path, httpserver, config, store)
    _, plain = submit_week(config, store, model="model-B", dry_run=True, today=TODAY)
    assert plain.live_cost == 0
    config.selection.rerank_model = "model-B"
    _, dry = submit_week(config, store, model="model-B", dry_run=True, today=TODAY)
    assert dry.live_cost > 0 and dry.estimated_cost == pytest.approx(plain.estimated_cost + dry.live_cost)
    assert batch_server.requests == []
    from digest.cli.common import out
    with out.capture() as said:
        print_submitted(dry)
    assert f"${dry.live_cost:.4f} for the week's re-rank, a live call" in " ".join(said.get().split())
