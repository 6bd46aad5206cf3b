"""Rerunning a past issue: only LLM calls (no download, no parse), variants kept side by side, cached reruns."""

from __future__ import annotations

import pytest
from llm_server import LLMServer
from rerun_helpers import ISSUE_ID, add_chat_model, make_responder

from digest.errors import ExitStatus, NotFoundError, QualityGateError
from digest.rerun import list_issues, rerun_issue, use_variant


@pytest.fixture
def model_b(config):
    server = LLMServer(responder=make_responder("model-B")).start()
    add_chat_model(config, "model-B", server)
    yield server
    server.stop()


def page_rows(store):
    return [tuple(r) for r in store.query("SELECT paper_key, number, body FROM pages ORDER BY 1, 2")]


def test_rerun_calls_only_the_model(config, store, issue, model_b, httpserver):
    pages_before = page_rows(store)
    original = {e.paper.key: e.generation.key for e in issue.entries}

    rep = rerun_issue(config, store, ISSUE_ID, "model-B")

    # No download (the PDF server saw nothing, and nothing was put back in the cache), no parse.
    assert httpserver.log == []
    assert not config.cache_dir.exists() or not any(config.cache_dir.iterdir())
    assert page_rows(store) == pages_before
    assert {r["text_status"] for r in store.query("SELECT text_status FROM papers")} == {"ok"}
    # Two calls per paper, all to the model; the report says what was spent.
    assert len(model_b.chat_requests()) == 2 * len(issue.entries) + 1 == rep.calls  # and the week's overview
    assert rep.cost > 0 and rep.reused == 0 and rep.fallbacks == []
    # The new generations sit beside the old ones; the issue still shows the original.
    assert store.issue_models(ISSUE_ID) == ["extractive", "model-B"]
    assert store.load_issue(ISSUE_ID).model == "extractive"
    assert {e.paper.key: e.generation.key for e in store.load_issue(ISSUE_ID).entries} == original
    rerun = store.load_issue(ISSUE_ID, model="model-B")
    for e in rerun.entries:
        g = e.generation
        assert g.model == "model-B" and g.tldr.startswith("model-B TL;DR")
        assert len(g.qa) == 8 and all(q.verified for q in g.qa)  # quotes from the stored page texts
        assert g.key != original[e.paper.key] and store.get_generation(original[e.paper.key]) is not None


def test_rerunning_the_same_model_makes_no_call(config, store, issue, model_b):
    rerun_issue(config, store, ISSUE_ID, "model-B")
    sent = len(model_b.chat_requests())
    again = rerun_issue(config, store, ISSUE_ID, "model-B")
    assert len(model_b.chat_requests()) == sent
    assert again.calls == 0 and again.cost == 0 and again.reused == len(issue.entries)
    # The extractive model regenerating its own issue is just as free.
    assert rerun_issue(config, store, ISSUE_ID, "extractive").reused == len(issue.entries)


def test_dry_run_estimates_without_calling(config, store, issue, model_b):
    rep = rerun_issue(config, store, ISSUE_ID, "model-B", dry_run=True)
    assert rep.dry_run and model_b.chat_requests() == []
    assert [e.calls for _, e in rep.estimate] == [2] * len(issue.entries)
    assert all(e.cost > 0 for _, e in rep.estimate)
    assert store.issue_models(ISSUE_ID) == ["extractive"]


def test_use_switches_the_variant_and_rewrites_the_markdown(config, store, issue, model_b):
    md = config.archive_dir / f"{ISSUE_ID}.md"
    assert "Written without an LLM" in md.read_text()
    rerun_issue(config, store, ISSUE_ID, "model-B")
    shown = use_variant(config, store, ISSUE_ID, "model-B")
    chosen = shown.issue
    assert shown.path == md and not shown.forced and chosen.status == "published"
    assert chosen.model == "model-B" and store.load_issue(ISSUE_ID).model == "model-B"
    text = md.read_text()
    assert "Written by model-B." in text and "model-B TL;DR" in text
    summaries = list_issues(store)
    assert [(s.id, s.chosen, s.papers, s.variants) for s in summaries] == [
        (ISSUE_ID, "model-B", 3, ["extractive", "model-B"])]
    use_variant(config, store, ISSUE_ID, "extractive")
    assert "Written without an LLM" in md.read_text()
    with pytest.raises(NotFoundError, match="no variant 'model-C'"):
        use_variant(config, store, ISSUE_ID, "model-C")


@pytest.fixture
def model_x(config):
    """A model that writes nothing usable: every paper falls back, so its variant fails the quality gate."""
    server = LLMServer(responder=make_responder("model-X", broken={""})).start()
    add_chat_model(config, "model-X", server)
    yield server
    server.stop()


def test_a_variant_that_fails_the_gate_is_refused_and_the_issue_stays_published(config, store, issue, model_x):
    md = config.archive_dir / f"{ISSUE_ID}.md"
    before = md.read_text()
    rerun_issue(config, store, ISSUE_ID, "model-X", yes=True)
    with pytest.raises(QualityGateError, match="variant model-X of 2026-W47 fails the quality gate.*stays published"):
        use_variant(config, store, ISSUE_ID, "model-X")
    kept = store.load_issue(ISSUE_ID)
    assert (kept.status, kept.model) == ("published", "extractive") and md.read_text() == before
    assert not (config.archive_dir / "drafts").exists()

    # --force shows it, and the issue stays published: send and the archive still find it.
    shown = use_variant(config, store, ISSUE_ID, "model-X", force=True)
    assert shown.forced and not shown.verdict.passed and shown.path == md
    assert store.load_issue().id == ISSUE_ID and store.load_issue_to_publish(ISSUE_ID).model == "model-X"
    assert store.issue_ids() == [ISSUE_ID] and "Written by model-X." in md.read_text()
    assert not (config.archive_dir / "drafts").exists()


def test_a_draft_stays_a_draft_until_a_variant_passes_the_gate(config, store, issue, model_x):
    rerun_issue(config, store, ISSUE_ID, "model-X", yes=True)
    store.execute("UPDATE issues SET status='draft' WHERE id=?", (ISSUE_ID,))
    (config.archive_dir / f"{ISSUE_ID}.md").unlink()  # as `digest run` leaves a held issue: in drafts/ only
    with pytest.raises(QualityGateError, match="stays a draft"):
        use_variant(config, store, ISSUE_ID, "model-X")
    forced = use_variant(config, store, ISSUE_ID, "model-X", force=True)
    assert forced.issue.status == "draft" and forced.path == config.archive_dir / "drafts" / f"{ISSUE_ID}.md"
    assert not (config.archive_dir / f"{ISSUE_ID}.md").exists() and store.issue_ids() == []
    passing = use_variant(config, store, ISSUE_ID, "extractive")
    assert passing.issue.status == "published" and passing.path == config.archive_dir / f"{ISSUE_ID}.md"
    assert passing.path.is_file() and not forced.path.exists()  # the held copy is gone with the hold


def test_a_published_issue_never_turns_back_into_a_draft(config, store, issue):
    held = store.load_issue(ISSUE_ID)
    held.status = "draft"  # what `digest run` makes of the same week when the model fails this time
    with pytest.raises(QualityGateError, match="is published and stays as it was"):
        store.save_issue(held, {})
    assert store.load_issue(ISSUE_ID).status == "published" and len(store.load_issue(ISSUE_ID).entries) == 3
    store.show_variant(ISSUE_ID, "extractive", language=None, published=False)
    assert store.load_issue(ISSUE_ID).status == "published"


def test_without_a_published_issue_send_is_told_about_the_draft(config, store, issue):
    store.execute("UPDATE issues SET status='draft' WHERE id=?", (ISSUE_ID,))
    with pytest.raises(NotFoundError, match="2026-W47 is a draft the quality gate held") as e:
        store.load_issue()
    assert f"digest issues use {ISSUE_ID} --model M" in str(e.value)


def test_issues_use_on_the_command_line_says_what_it_did(config, store, issue, model_x, tmp_path):
    import subprocess
    import sys

    cfg = tmp_path / "use.toml"
    cfg.write_text(f'[store]\narchive_dir = "{config.archive_dir}"\n', encoding="utf-8")
    rerun = rerun_issue(config, store, ISSUE_ID, "model-X", yes=True)

    def digest(*args):
        done = subprocess.run([sys.executable, "-m", "digest", "--config", str(cfg), *args],
                              capture_output=True, text=True, timeout=120)
        return done.returncode, " ".join((done.stdout + done.stderr).split())

    code, said = digest("compare", ISSUE_ID, "--models", "extractive", "model-X")
    assert code == ExitStatus.SUCCESS and "model-X: 3 papers" in said, said
    assert said.count("fails the quality gate") == 1 and "failed for 3 of 3 papers" in said
    assert f"0 answers dropped, {rerun.calls} LLM calls" in said  # counted as the rerun counted them
    code, said = digest("issues", "use", ISSUE_ID, "--model", "model-X")
    assert code == ExitStatus.QUALITY_GATE and "fails the quality gate" in said and "--force" in said, said
    assert "now shows" not in said and store.load_issue(ISSUE_ID).model == "extractive"
    code, said = digest("issues", "use", ISSUE_ID, "--model", "model-X", "--force")
    assert code == ExitStatus.SUCCESS, said
    assert "shown anyway because of --force" in said and "is published" in said
    assert f"wrote {config.archive_dir / (ISSUE_ID + '.md')}" in said


def test_other_language_and_prompts_are_new_variants(config, store, issue, model_b, tmp_path):
    rerun_issue(config, store, ISSUE_ID, "model-B")
    ja = rerun_issue(config, store, ISSUE_ID, "model-B", language="ja")
    assert ja.variant == "model-B@ja" and ja.calls == 7  # the overview in Japanese too
    assert "日本語" in model_b.chat_requests()[-2]["messages"][0]["content"]
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "system.j2").write_text("You summarise papers for the Friday reading group, in {{ language_name }}."
                                       " Reply with JSON only.")
    own = rerun_issue(config, store, ISSUE_ID, "model-B", prompts_dir=str(prompts))
    # The same TL;DRs as model-B's: its overview request was made before, and comes from the call log.
    assert own.variant.startswith("model-B+prompts-") and own.calls == 6
    assert "Friday reading group" in model_b.chat_requests()[-1]["messages"][0]["content"]
    assert store.issue_models(ISSUE_ID) == sorted(["extractive", "model-B", "model-B@ja", own.variant])
    chosen = use_variant(config, store, ISSUE_ID, "model-B@ja").issue
    assert chosen.language == "ja" and all(e.generation.language == "ja" for e in chosen.entries)
    assert "著者" in (config.archive_dir / f"{ISSUE_ID}.md").read_text()


def pool_issue(store, issue):
    """The issue as `digest run` leaves it with a reader's pick: its first two papers are the editor's, the
    third was written up for the reader (interested in retrieval) only."""
    from dataclasses import replace

    from digest.mail.subscribers import add_subscriber
    from digest.readers import ReaderInterests, save_pool, set_interests

    papers = [e.paper for e in issue.entries]
    store.execute("UPDATE papers SET title=? WHERE key=?", ("Dense passage retrieval", papers[2].key))
    gens = {e.paper.key: e.generation for e in issue.entries}
    store.save_issue(replace(issue, entries=issue.entries[:2]), gens)
    save_pool(store, issue.id, papers)
    sub, _ = add_subscriber(store, "rag@example.org")
    set_interests(store, sub.id, ReaderInterests(keywords=["retrieval"], max_papers=2))
    return papers[2].key, sub.id


def test_rerun_writes_up_the_pool_so_readers_keep_their_papers(config, store, issue, model_b):
    from digest.readers import forget_pools, reader_issue

    picked, reader = pool_issue(store, issue)
    dry = rerun_issue(config, store, ISSUE_ID, "model-B", dry_run=True)
    assert [p.key for p, _ in dry.estimate][-1] == picked and dry.papers == 2 and dry.pool == 1
    assert model_b.chat_requests() == []

    rep = rerun_issue(config, store, ISSUE_ID, "model-B")
    assert rep.papers == 2 and rep.pool == 1 and rep.calls == 2 * 3 + 1  # three papers, one overview of two
    use_variant(config, store, ISSUE_ID, "model-B")
    shown = store.load_issue(ISSUE_ID)
    assert len(shown.entries) == 2 and picked not in {e.paper.key for e in shown.entries}
    forget_pools()
    got, why = reader_issue(store, shown, reader, config)
    assert got.entries[0].paper.key == picked and why[picked] == "matches 'retrieval'"
    assert got.entries[0].generation.model == "model-B" and got.entries[0].generation.tldr.startswith("model-B")
    # Rerunning again is free, the pool's paper included.
    again = rerun_issue(config, store, ISSUE_ID, "model-B")
    assert again.calls == 0 and again.reused == 3


def test_unknown_issue_is_a_clear_error(config, store):
    with pytest.raises(NotFoundError, match="no issue '2020-W01'"):
        rerun_issue(config, store, "2020-W01", "extractive")


def test_a_new_users_story_on_the_command_line(corpus, tmp_path, httpserver):
    """`digest run --model A`, `digest rerun ISSUE --model B`, `digest compare ISSUE --models A B`."""
    from click.testing import CliRunner
    from weekfeed import Item, serve_week

    from digest.cli.main import cli
    from digest.config import Config

    served = Config()
    serve_week(httpserver, served, [
        Item("1111.2011", 2, "Quantum criticality of hot random spin chains",
             "We study random quantum spin chains.",
             corpus / "pdfs/arxiv/arxiv_1111.2011v2_quantum-criticality_cond-mat.pdf"),
        Item("1903.10676", 1, "SciBERT: A Pretrained Language Model for Scientific Text",
             "We release SciBERT, a pretrained language model for scientific text.",
             corpus / "pdfs/arxiv/arxiv_1903.10676_scibert_single-page-excerpt.pdf"),
    ])
    servers = {m: LLMServer(responder=make_responder(m)).start() for m in ("model-A", "model-B")}
    models = "".join(
        f'[models."{m}"]\nbase_url = "{s.base_url}"\napi_key_env = ""\nprice_input = 2.5\n'
        f'price_cached_input = 1.25\nprice_output = 10.0\n\n' for m, s in servers.items())
    (tmp_path / "digest.toml").write_text(
        f'sources = {served.sources!r}\n\n[arxiv]\nrss_url = "{served.arxiv.rss_url}"\n'
        f'pdf_url = "{served.arxiv.pdf_url}"\n\n[selection]\ninterests = ""\n\n[llm]\nmax_cost = 50.0\n\n'
        f'[store]\narchive_dir = "archive"\n\n{models}'.replace("'", '"'), encoding="utf-8")
    runner = CliRunner()

    def digest(*args):
        result = runner.invoke(cli, ["--config", str(tmp_path / "digest.toml"), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    try:
        digest("run", "--model", "model-A")
        issue_id = next(p.stem for p in (tmp_path / "archive").glob("*-W*.md"))
        after_run = len(httpserver.log)
        out = digest("rerun", issue_id, "--model", "model-B")
        assert "2 papers as variant model-B" in out and "5 LLM calls" in out
        out = digest("compare", issue_id, "--models", "model-A", "model-B")
        assert "model-B: 2 papers, 16/16 quotes verified (100%)" in out and "compare/" in out
        assert len(httpserver.log) == after_run  # nothing but the LLM calls since the run
        assert len(servers["model-B"].chat_requests()) == 5  # two per paper and the overview
        html = (tmp_path / "archive" / "compare" / f"{issue_id}_model-A_vs_model-B_1.html").read_text()
        assert "model-A TL;DR" in html and "model-B TL;DR" in html and 'id="chart"' in html
        assert html.count('class="model-row"') == 2
        out = digest("issues", "list")
        assert issue_id in out and "model-A, model-B" in out
        digest("issues", "use", issue_id, "--model", "model-B")
        assert "Written by model-B." in (tmp_path / "archive" / f"{issue_id}.md").read_text()
    finally:
        for s in servers.values():
            s.stop()
