"""`digest check` before the first cron run: each part tried over its real protocol, nothing stored or sent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from llm_server import LLMServer
from smtp_helpers import PASSWORD, USER, Inbox, smtp_server

from digest.errors import ExitStatus

FEED = Path(__file__).resolve().parent / "fixtures" / "feeds" / "blog_rss2.xml"


@pytest.fixture
def setup(tmp_path):
    server = LLMServer(api_key="sk-right").start()
    inbox = Inbox()
    with smtp_server(inbox, auth=True) as port:
        def write(*, key: str = "sk-right", smtp_password: str = PASSWORD, sources: str = f'"{FEED}"'):
            cfg = tmp_path / "digest.toml"
            cfg.write_text(
                f'sources = [{sources}]\n[store]\narchive_dir = "{tmp_path / "archive"}"\n'
                f'[arxiv]\napi_url = "http://127.0.0.1:9/api"\n'
                f'[llm]\nmodel = "test-model"\n[models."test-model"]\nbase_url = "{server.base_url}"\n'
                f'api_key_env = "TEST_KEY"\n[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                f'username = "{USER}"\npassword_env = "TEST_SMTP_PASSWORD"\n', encoding="utf-8")
            env = {"PATH": "/usr/bin:/bin", "TEST_KEY": key, "TEST_SMTP_PASSWORD": smtp_password}
            return subprocess.run([sys.executable, "-m", "digest", "--config", str(cfg), "check", "--smtp"],
                                  capture_output=True, text=True, timeout=120, env=env)
        yield write, server, inbox
    server.stop()


def lines(proc) -> str:
    return " ".join((proc.stdout + proc.stderr).split())


def test_a_working_setup_is_ready(setup):
    check, server, inbox = setup
    done = check()
    assert done.returncode == ExitStatus.SUCCESS, lines(done)
    said = lines(done)
    assert "ready for the weekly run" in said and "5 papers" in said and "logged in as" in said
    assert server.chat_requests() == [] and inbox.messages == []  # a model list and a login: nothing spent


@pytest.mark.parametrize("broken, named", [
    (dict(key="sk-wrong"), "model test-model"),
    (dict(smtp_password="wrong"), "SMTP 127.0.0.1"),
    (dict(sources='"arxvi:cs.CL"'), "source arxvi:cs.CL"),
])
def test_each_broken_part_is_named_and_fails_the_check(setup, broken, named):
    check, _, _ = setup
    done = check(**broken)
    said = lines(done)
    assert done.returncode == ExitStatus.ERROR, said
    assert f"failed {named}" in said and "checks failed" in said


def test_run_says_a_rejected_key_before_reading_any_source(config, store, httpserver):
    from rerun_helpers import add_chat_model

    from digest.errors import LLMError
    from digest.pipeline import run_week

    server = LLMServer(api_key="sk-right").start()
    try:
        add_chat_model(config, "test-model", server, api_key_env="TEST_KEY_UNSET_HERE")
        config.models["test-model"].api_key_env = ""  # the local-server style: any key, here a wrong one
        config.llm.model = "test-model"
        config.sources = [f"rss:{httpserver.url_for('/feed.xml')}"]
        with pytest.raises(LLMError, match="401"):
            run_week(config, store, yes=True)
        assert httpserver.log == []  # nothing fetched, nothing parsed
    finally:
        server.stop()


def test_a_dry_run_needs_no_key(config, store, monkeypatch):
    from digest.pipeline import make_writer
    from digest.records import Paper

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config.models.clear()  # gpt-4o-mini from OpenAI: a key is needed to call, not to estimate
    writer = make_writer(config, store, "gpt-4o-mini", "en", dry_run=True)
    assert writer.estimate(Paper(key="2611.00001", title="T", abstract="We study things.")).calls == 2
