"""The quality gate: an issue in which the model failed for most papers is a draft, never mailed."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from factories import make_issue
from llm_server import bad_json
from rerun_helpers import add_chat_model
from smtp_helpers import Inbox, smtp_server
from weekfeed import TODAY, grounded_responder, real_papers, serve_week

from digest.errors import ExitStatus, QualityGateError
from digest.mail.delivery import send_issue
from digest.mail.subscribers import add_subscriber
from digest.pipeline import run_week
from digest.quality import failure_cause, judge_issue
from digest.rerun import rerun_issue, use_variant


def test_the_cause_is_said_once_without_per_paper_numbers(store):
    issue = make_issue(store, n_papers=4)
    notes = ["the model failed (Expecting value: line 1 column 1 (char 0))",
             "the model failed (Expecting value: line 1 column 7 (char 6))",
             "the model failed (timeout after 30.0 s)"]
    for e, note in zip(issue.entries, notes):
        e.generation = replace(e.generation, status="fallback", note=note)
    v = judge_issue(issue, max_failed_share=0.5)
    assert not v.passed and len(v.failed) == 3 and v.papers == 4
    assert v.cause() == "Expecting value (2 of 3)"
    assert "failed for 3 of 4 papers" in v.message()
    assert failure_cause("the model failed (timeout after 30.0 s)") == "timeout after"


def test_a_share_at_the_threshold_passes_and_extractive_never_fails(store):
    issue = make_issue(store, n_papers=4)
    for e in issue.entries[:2]:
        e.generation = replace(e.generation, status="fallback", note="x")
    assert judge_issue(issue, max_failed_share=0.5).passed
    assert not judge_issue(issue, max_failed_share=0.25).passed
    issue.entries[2].generation = None  # no generation at all counts as a failure
    assert not judge_issue(issue, max_failed_share=0.5).passed
    ok = make_issue(store, week=1, n_papers=2, model="extractive")
    assert judge_issue(ok, max_failed_share=0.0).passed


@pytest.fixture
def week(corpus, httpserver, config):
    items = real_papers(corpus)
    serve_week(httpserver, config, items)
    config.selection.interests = ""
    config.selection.categories = []
    return items


def test_a_run_where_the_model_failed_is_a_draft_that_is_not_sent(week, config, store, llm_server):
    llm_server.push(*[bad_json() for _ in range(20)])
    add_chat_model(config, "test-model", llm_server)
    config.llm.model = "test-model"
    rep = run_week(config, store, yes=True, today=TODAY)
    assert rep.verdict is not None and not rep.verdict.passed
    issue = rep.issue
    assert issue.status == "draft" and store.load_issue(issue.id).status == "draft"
    assert (config.archive_dir / "drafts" / f"{issue.id}.md").is_file()
    assert not (config.archive_dir / f"{issue.id}.md").exists()
    assert store.issue_ids() == [] and store.issue_ids(drafts=True) == [issue.id]
    assert store.published_versions() == {}  # its papers stay eligible for the next issue
    add_subscriber(store, "reader@example.org")
    with pytest.raises(QualityGateError, match="is a draft"):
        send_issue(config, store, issue.id)

    # Regenerated with a model that works, the variant passes the gate and the issue is published.
    llm_server.steps.clear()
    llm_server.responder = grounded_responder()
    rerun_issue(config, store, issue.id, "test-model", yes=True)  # fallbacks are retried
    use_variant(config, store, issue.id, "test-model")
    assert store.load_issue(issue.id).status == "published"
    assert (config.archive_dir / f"{issue.id}.md").is_file()


def test_cli_run_send_exits_4_and_mails_nothing(week, config, llm_server, tmp_path):
    llm_server.push(*[bad_json() for _ in range(20)])
    inbox = Inbox()
    with smtp_server(inbox) as port:
        cfg = tmp_path / "digest.toml"
        cfg.write_text(
            f'sources = ["arxiv:cs.CL"]\n[llm]\nmodel = "test-model"\nmax_cost = 100\n'
            f'[models."test-model"]\nbase_url = "{llm_server.base_url}"\napi_key_env = ""\n'
            f'[arxiv]\nrss_url = "{config.arxiv.rss_url}"\npdf_url = "{config.arxiv.pdf_url}"\n'
            f'[store]\narchive_dir = "{tmp_path / "cli-archive"}"\n[selection]\ninterests = ""\n'
            f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nper_minute = 0\n',
            encoding="utf-8")

        def digest(*args):
            return subprocess.run([sys.executable, "-m", "digest", "--config", str(cfg), *args],
                                  capture_output=True, text=True, timeout=120)

        assert digest("subscribers", "add", "reader@example.org").returncode == 0
        done = digest("run", "--yes", "--send")
        assert done.returncode == ExitStatus.QUALITY_GATE, done.stdout + done.stderr
        said = " ".join((done.stdout + done.stderr).split())  # the terminal wraps long lines
        assert "kept as a draft and was not sent" in said and "failed for 2 of 2 papers" in said
        assert said.count("invalid JSON") == 1  # the cause once, not once per paper
        assert inbox.messages == []
        later = digest("send")  # the newest published issue: there is none, the draft is not it
        assert later.returncode == ExitStatus.ERROR and inbox.messages == []
