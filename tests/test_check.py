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
        def write(*, key: str = "sk-right", smtp_password: str = PASSWORD, sources: str = f'"{FEED}"',
                  channels: str = "", env: dict[str, str] | None = None):
            cfg = tmp_path / "digest.toml"
            cfg.write_text(
                f'sources = [{sources}]\n[store]\narchive_dir = "{tmp_path / "archive"}"\n'
                f'[arxiv]\napi_url = "http://127.0.0.1:9/api"\n'
                f'[llm]\nmodel = "test-model"\n[models."test-model"]\nbase_url = "{server.base_url}"\n'
                f'api_key_env = "TEST_KEY"\n[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                f'username = "{USER}"\npassword_env = "TEST_SMTP_PASSWORD"\n{channels}', encoding="utf-8")
            env = {"PATH": "/usr/bin:/bin", "TEST_KEY": key, "TEST_SMTP_PASSWORD": smtp_password, **(env or {})}
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


SLACK = '[[channels]]\nname = "team-slack"\nkind = "slack"\nurl_env = "TEST_SLACK_URL"\n'


def test_a_channel_is_checked_without_posting(setup, httpserver):
    check, _, _ = setup
    url = httpserver.url_for("/services/T000/B000/secret-part").replace("127.0.0.1", "localhost")
    done = check(channels=SLACK, env={"TEST_SLACK_URL": url})
    said = lines(done)
    assert done.returncode == ExitStatus.SUCCESS, said
    assert "ok channel team-slack (slack): $TEST_SLACK_URL is set; localhost resolves" in said
    assert httpserver.log == [] and "secret-part" not in said  # nothing posted, the URL never shown


def test_an_unset_channel_variable_fails_the_check(setup):
    check, _, _ = setup
    done = check(channels=SLACK)
    said = lines(done)
    assert done.returncode == ExitStatus.ERROR and "ready for the weekly run" not in said, said
    assert "failed channel team-slack (slack): $TEST_SLACK_URL is not set" in said


@pytest.mark.parametrize("url, why", [
    ("", "is not set"),
    ("hooks.slack.com/services/x", "does not hold an http(s) URL"),
    ("ftp://hooks.slack.com/services/x", "does not hold an http(s) URL"),
    ("https://hooks.slack.com:port/services/x", "does not hold an http(s) URL"),
    ("https:///services/x", "does not hold an http(s) URL"),
    ("https://no-such-host.invalid/services/x", "does not resolve: Name or service not known"),
])
def test_each_wrong_channel_url_is_named(url, why):
    from digest.config import ChannelConfig
    from digest.preflight import check_channel

    def resolve(host, timeout):
        return "Name or service not known" if host.endswith(".invalid") else None

    ch = ChannelConfig(name="lab", kind="webhook", url_env="LAB_URL")
    c = check_channel(ch, {"LAB_URL": url}, resolve)
    assert not c.ok and why in c.detail and "/services/x" not in c.detail, c.detail
    assert check_channel(ch, {"LAB_URL": "https://hooks.slack.com/services/x"}, resolve).ok


def test_a_resolver_that_never_answers_is_given_up_on(monkeypatch):
    import threading

    from digest import preflight

    released = threading.Event()
    monkeypatch.setattr(preflight.socket, "getaddrinfo", lambda *a, **k: released.wait(60))
    try:
        assert preflight.resolve_host("hooks.example.org", 0.05) == "no answer within 0.05 s"
    finally:
        released.set()
    monkeypatch.undo()
    assert preflight.resolve_host("localhost", 30) is None
