"""Chat channels against a local webhook server that checks every platform's payload shape and limits.

The server records each request as it arrives (before answering), so a request the client was killed
waiting for still counts as received: that is the moment a real crash cannot tell apart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import make_issue
from waits import wait_for

from digest.channels.base import issue_post
from digest.channels.delivery import BUILDERS, RetryPolicy, deliver_issue, redact
from digest.cli.main import cli
from digest.config import ChannelConfig, ConfigError, parse_config
from digest.errors import QualityGateError

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cr3tT0ken"  # in every webhook path: it must never show up in output or the store


# ---- validators, one per platform, from the platforms' documented limits ---------------------------


def validate_slack(p: dict, raw: bytes) -> list[str]:
    """Block Kit: text fallback, 1-50 blocks, section text <= 3000, header <= 150, 40k chars in all."""
    assert set(p) == {"text", "blocks"} and isinstance(p["text"], str) and p["text"]
    assert 1 <= len(p["blocks"]) <= 50, len(p["blocks"])
    total, texts = len(p["text"]), []
    for b in p["blocks"]:
        t = b["text"]
        if b["type"] == "header":
            assert t["type"] == "plain_text" and 0 < len(t["text"]) <= 150
        else:
            assert b["type"] == "section" and t["type"] == "mrkdwn" and 0 < len(t["text"]) <= 3000, len(t["text"])
        total += len(t["text"])
        texts.append(t["text"])
    assert total <= 40_000
    return texts


def validate_discord(p: dict, raw: bytes) -> list[str]:
    """Webhook: content <= 2000, <= 10 embeds, title <= 256, description <= 4096, 6000 in all; no pings."""
    assert set(p) <= {"content", "embeds", "allowed_mentions"} and p["allowed_mentions"] == {"parse": []}
    assert p.get("content") or p.get("embeds")
    assert len(p.get("content", "")) <= 2000
    embeds = p.get("embeds", [])
    assert len(embeds) <= 10
    total = 0
    for e in embeds:
        assert set(e) <= {"title", "description", "url"} and e["title"]
        assert len(e["title"]) <= 256 and len(e.get("description", "")) <= 4096
        assert e.get("url", "https://").startswith("https://")
        total += len(e["title"]) + len(e.get("description", ""))
    assert total <= 6000, total
    return [p.get("content", "")] + [e["title"] + "\n" + e.get("description", "") for e in embeds]


def validate_teams(p: dict, raw: bytes) -> list[str]:
    """A message with one Adaptive Card attachment, the whole body under 28 KB."""
    assert len(raw) < 28 * 1024, len(raw)
    assert p["type"] == "message" and len(p["attachments"]) == 1
    a = p["attachments"][0]
    assert a["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = a["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] and card["body"]
    for b in card["body"]:
        assert b["type"] == "TextBlock" and isinstance(b["text"], str) and b["text"] and b["wrap"] is True
    for act in card.get("actions", []):
        assert act["type"] == "Action.OpenUrl" and act["url"].startswith("https://")
    return [b["text"] for b in card["body"]]


def validate_webhook(p: dict, raw: bytes) -> list[str]:
    """The documented JSON: issue_id, title, url, mode, part, parts, papers with n, title, url, tldr."""
    assert set(p) == {"issue_id", "title", "url", "mode", "part", "parts", "papers"}
    assert 1 <= p["part"] <= p["parts"]
    for paper in p["papers"]:
        assert {"n", "title", "url", "tldr"} <= set(paper) <= {"n", "title", "url", "tldr", "summary"}
        assert paper["url"].startswith("https://arxiv.org/abs/")
    return [json.dumps(paper, ensure_ascii=False) for paper in p["papers"]]


VALIDATORS = {"slack": validate_slack, "discord": validate_discord, "teams": validate_teams,
              "webhook": validate_webhook}


# ---- the webhook server ----------------------------------------------------------------------------


class Hooks:
    """What the server received per path, and what it answers: scripted replies, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict, bytes]] = []
        self.replies: dict[str, list[tuple[int, dict[str, str], str]]] = {}
        self.errors: list[str] = []
        self.hold_nth = 0  # hold the nth request (1-based) until `release` is set
        self.release = threading.Event()
        self.lock = threading.Lock()

    def bodies(self, path: str) -> list[dict]:
        return [p for q, p, _ in self.received if q == path]


@contextmanager
def webhook_server(hooks: Hooks):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            kind = self.path.strip("/").split("/")[0]
            try:
                payload = json.loads(raw)
                assert self.headers["Content-Type"].startswith("application/json")
                VALIDATORS[kind](payload, raw)
            except Exception as e:  # the test reads these: any invalid payload fails it
                hooks.errors.append(f"{self.path}: {type(e).__name__} {e}")
                payload = {}
            with hooks.lock:
                hooks.received.append((self.path, payload, raw))
                n = len(hooks.received)
                script = hooks.replies.get(self.path)
                status, headers, body = script.pop(0) if script else (200, {}, "ok")
            if n == hooks.hold_nth:
                hooks.release.wait(30)
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                data = body.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client was killed while we held its request

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        hooks.release.set()
        server.shutdown()
        server.server_close()


def channel(name: str, kind: str, mode: str = "digest") -> ChannelConfig:
    return ChannelConfig(name=name, kind=kind, url_env=f"HOOK_{name.upper().replace('-', '_')}", mode=mode, timeout=5)


def env_for(base: str, *channels: ChannelConfig) -> dict[str, str]:
    return {c.url_env: f"{base}/{c.kind}/{c.name}/{SECRET}" for c in channels}


def path_of(c: ChannelConfig) -> str:
    return f"/{c.kind}/{c.name}/{SECRET}"


def no_sleep(waits: list[float]):
    return waits.append


def long_issue(store, n: int = 10):
    """n papers: Japanese TL;DRs of ~1200 characters (3.6 KB), summaries of 5000 characters, one of 40000."""
    issue = make_issue(store, n_papers=n)
    for i, e in enumerate(issue.entries):
        e.generation.tldr = f"要約{i}: " + "日本語の長い要約の文です。" * 92 + f" END{i}"
        e.generation.summary = f"Summary {i}. " + "A long sentence about <the> method & its *results*. " * (
            800 if i == 3 else 95) + f"FIN{i}"
        store.save_generation(e.generation, {"model": issue.model})
    return store.load_issue(issue.id)


# ---- splitting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["digest", "per-paper"])
@pytest.mark.parametrize("kind", ["slack", "discord", "teams", "webhook"])
def test_ten_long_papers_are_split_within_each_platforms_limits(config, store, kind, mode):
    issue = long_issue(store)
    config.output.archive_url = "https://digest.example.org"
    config.channels = [channel("c", kind, mode)]
    hooks = Hooks()
    with webhook_server(hooks) as base:
        report = deliver_issue(config, store, issue.id, env=env_for(base, *config.channels), sleep=no_sleep([]))
    assert hooks.errors == []
    (r,) = report.results
    assert r.status == "sent" and r.sent == r.parts == len(hooks.received), r
    texts = [t for _, p, raw in hooks.received for t in VALIDATORS[kind](p, raw)]
    text = "\n".join(texts)
    # Every paper, once and in order.
    titles = [e.paper.title for e in issue.entries]
    where = [text.find(f"{i + 1}. {t}") if kind != "webhook" else text.find(json.dumps(t)) for i, t in enumerate(titles)]
    assert all(w >= 0 for w in where) and where == sorted(where), where
    if kind == "webhook":  # nothing is cut: the whole text of every paper is there
        assert all(f"END{i}" in text for i in range(10))
        assert all(f"FIN{i}" in text for i in range(10)) == (mode == "per-paper")
        assert len(hooks.received) == (1 if mode == "digest" else 10)
        return
    assert len(hooks.received) == ({"slack": 1, "discord": 3, "teams": 2}[kind] if mode == "digest" else 11)
    if mode == "digest":  # TL;DRs fit every platform's unit: none is cut
        assert [i for i in range(10) if f"END{i}" not in text] == [] and r.truncated == []
        return
    # Per paper: the summaries over a limit are cut with an ellipsis and a link, and the report names them.
    cut = {"slack": range(10), "discord": range(10), "teams": [3]}[kind]
    assert r.truncated == [titles[i] for i in cut]
    for i in range(10):
        assert (f"FIN{i}" in text) == (i not in cut)
    assert text.count("…") >= len(cut)
    assert "https://digest.example.org/issues/2026-W47.html#paper-2611-10003" in text


def test_slack_digest_over_fifty_blocks_takes_a_second_message(config, store):
    issue = make_issue(store, n_papers=60)
    built = BUILDERS["slack"](issue_post(config, issue), "digest")
    assert [len(p["blocks"]) for p in built.payloads] == [50, 12]
    for p in built.payloads:
        validate_slack(p, b"")


def test_a_hostile_title_cannot_ping_or_break_markup(config, store):
    issue = make_issue(store, n_papers=1, titles=["@everyone <!channel> *bold* [x](https://evil)"])
    post = issue_post(config, issue)
    slack_text = json.dumps(BUILDERS["slack"](post, "digest").payloads)
    assert "<!channel>" not in slack_text and "&lt;!channel&gt;" in slack_text
    d = BUILDERS["discord"](post, "digest").payloads[0]
    assert d["allowed_mentions"] == {"parse": []}


# ---- exactly once ----------------------------------------------------------------------------------


def _digest(conf: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")} | env
    return subprocess.Popen([sys.executable, "-c", "from digest.cli import main\nmain()\n", "--config", str(conf),
                             *args], cwd=ROOT, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _config_file(path: Path, archive: Path, *channels: ChannelConfig) -> Path:
    text = f'[store]\narchive_dir = "{archive}"\n[output]\narchive_url = "https://digest.example.org"\n'
    for c in channels:
        text += f'[[channels]]\nname = "{c.name}"\nkind = "{c.kind}"\nurl_env = "{c.url_env}"\nmode = "{c.mode}"\ntimeout = 5\n'
    path.write_text(text, encoding="utf-8")
    return path


def test_kill_9_while_the_server_holds_a_message_then_resume_posts_every_part(config, store, tmp_path):
    """Only the part in flight at the kill can arrive twice; every part arrives; a third run posts nothing."""
    make_issue(store, n_papers=5)
    ch = channel("team", "slack", "per-paper")
    conf = _config_file(tmp_path / "digest.toml", config.archive_dir, ch)
    hooks = Hooks()
    hooks.hold_nth = 2
    with webhook_server(hooks) as base:
        env = env_for(base, ch)
        proc = _digest(conf, env, "send", "--channel", "team")
        wait_for(lambda: len(hooks.received) >= 2 or proc.poll() is not None)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL, proc.stdout.read()
        hooks.release.set()
        assert len(hooks.received) == 2

        rerun = _digest(conf, env, "send", "--channel", "team")
        output, _ = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, output
        assert "posted again" in output and SECRET not in output
        third = _digest(conf, env, "send", "--channel", "team")
        output3, _ = third.communicate(timeout=60)
        assert third.returncode == 0, output3
    assert hooks.errors == []
    raws = [raw for _, _, raw in hooks.received]
    distinct = list(dict.fromkeys(raws))
    assert len(distinct) == 6  # the header and one message per paper
    assert [raws.count(r) for r in distinct] == [1, 2, 1, 1, 1, 1]  # only the held one twice
    assert raws[:3] == [distinct[0], distinct[1], distinct[1]]  # resumed in order, at the part in doubt
    rows = store.query("SELECT part, status, attempts FROM channel_deliveries ORDER BY part")
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1), ("sent", 2)] + [("sent", 1)] * 4


def test_a_second_send_skips_what_was_posted(config, store):
    issue = make_issue(store, n_papers=3)
    config.channels = [channel("d", "discord")]
    hooks = Hooks()
    with webhook_server(hooks) as base:
        env = env_for(base, *config.channels)
        deliver_issue(config, store, issue.id, env=env)
        again = deliver_issue(config, store, issue.id, env=env)
    assert len(hooks.received) == 1
    assert again.ok and again.results[0].skipped == 1 and again.results[0].sent == 0


# ---- rate limits, server errors, failures -----------------------------------------------------------


def test_429_retry_after_is_honoured(config, store):
    issue = make_issue(store, n_papers=2)
    ch = channel("s", "slack")
    config.channels = [ch]
    hooks = Hooks()
    hooks.replies[path_of(ch)] = [(429, {"Retry-After": "7"}, "rate_limited")]
    waits: list[float] = []
    with webhook_server(hooks) as base:
        report = deliver_issue(config, store, issue.id, env=env_for(base, ch), sleep=no_sleep(waits))
    assert report.ok and waits == [7.0]
    assert len(hooks.received) == 2 and hooks.received[0][2] == hooks.received[1][2]


def test_discord_retry_after_in_the_body_is_honoured(config, store):
    issue = make_issue(store, n_papers=1)
    ch = channel("d", "discord")
    config.channels = [ch]
    hooks = Hooks()
    hooks.replies[path_of(ch)] = [(429, {"Content-Type": "application/json"}, '{"retry_after": 1.5, "global": false}')]
    waits: list[float] = []
    with webhook_server(hooks) as base:
        assert deliver_issue(config, store, issue.id, env=env_for(base, ch), sleep=no_sleep(waits)).ok
    assert waits == [1.5]


def test_a_wait_over_the_limit_defers_the_channel_and_the_next_send_posts_it(config, store):
    issue = make_issue(store, n_papers=1)
    ch = channel("s", "slack")
    config.channels = [ch]
    hooks = Hooks()
    hooks.replies[path_of(ch)] = [(429, {"Retry-After": "3600"}, "rate_limited")]
    waits: list[float] = []
    with webhook_server(hooks) as base:
        env = env_for(base, ch)
        first = deliver_issue(config, store, issue.id, env=env, sleep=no_sleep(waits))
        assert not first.ok and first.results[0].status == "deferred" and "3600 s" in first.results[0].error
        assert waits == []
        second = deliver_issue(config, store, issue.id, env=env, sleep=no_sleep(waits))
    assert second.ok and second.results[0].sent == 1 and len(hooks.received) == 2


def test_a_channel_that_keeps_answering_429_is_deferred_by_the_wait_cap_and_says_so(config, store):
    issue = make_issue(store, n_papers=1)
    ch = channel("s", "slack")
    config.channels = [ch]
    hooks = Hooks()
    hooks.replies[path_of(ch)] = [(429, {"Retry-After": "2"}, "rate_limited")] * 10
    waits: list[float] = []
    with webhook_server(hooks) as base:
        report = deliver_issue(config, store, issue.id, env=env_for(base, ch), sleep=no_sleep(waits))
    result = report.results[0]
    assert result.status == "deferred" and waits == [2.0] * 5
    # Each wait was within the 60 s allowed: what stopped it was the number of waits, and it says that.
    assert "after 5 waits" in result.error and "60 s" not in result.error, result.error


def test_5xx_is_retried_with_backoff_then_deferred(config, store):
    issue = make_issue(store, n_papers=1)
    ok, down = channel("ok", "teams"), channel("down", "webhook")
    config.channels = [down, ok]
    hooks = Hooks()
    hooks.replies[path_of(ok)] = [(502, {}, "bad gateway")]
    hooks.replies[path_of(down)] = [(503, {}, "busy")] * 3
    waits: list[float] = []
    with webhook_server(hooks) as base:
        report = deliver_issue(config, store, issue.id, env=env_for(base, ok, down), sleep=no_sleep(waits),
                               policy=RetryPolicy(retries=2, backoff=1.0))
    d, o = report.results
    assert d.status == "deferred" and "HTTP 503" in d.error and o.status == "sent"
    assert waits == [1.0, 2.0, 1.0]
    assert len(hooks.bodies(path_of(down))) == 3


def test_a_failing_channel_does_not_stop_the_others_and_exits_3(config, store, tmp_path):
    make_issue(store, n_papers=2)
    gone, ok, unset = channel("gone", "discord"), channel("ok", "slack"), channel("unset", "teams")
    conf = _config_file(tmp_path / "digest.toml", config.archive_dir, gone, ok, unset)
    hooks = Hooks()
    hooks.replies[path_of(gone)] = [(404, {}, '{"message": "Unknown Webhook", "code": 10015}')]
    with webhook_server(hooks) as base:
        res = CliRunner().invoke(cli, ["--config", str(conf), "send"], env=env_for(base, gone, ok))
    assert res.exit_code == 3, res.output
    assert "HTTP 404" in res.output and "Unknown Webhook" in res.output
    assert "$HOOK_UNSET is not set" in res.output
    assert len(hooks.bodies(path_of(ok))) == 1 and len(hooks.bodies(path_of(gone))) == 1
    assert SECRET not in res.output
    statuses = {r["channel"]: r["status"] for r in store.query("SELECT channel, status FROM channel_deliveries")}
    assert statuses == {"gone": "failed", "ok": "sent"}


def test_every_channel_delivered_exits_0_and_names_only_the_chosen(config, store, tmp_path):
    make_issue(store, n_papers=2)
    a, b = channel("a", "webhook"), channel("b", "slack", "per-paper")
    conf = _config_file(tmp_path / "digest.toml", config.archive_dir, a, b)
    hooks = Hooks()
    with webhook_server(hooks) as base:
        runner = CliRunner()
        res = runner.invoke(cli, ["--config", str(conf), "send", "--channel", "b"], env=env_for(base, a, b))
        assert res.exit_code == 0, res.output
        assert hooks.bodies(path_of(a)) == [] and len(hooks.bodies(path_of(b))) == 3
        res = runner.invoke(cli, ["--config", str(conf), "send"], env=env_for(base, a, b))
        assert res.exit_code == 0, res.output
        assert len(hooks.bodies(path_of(a))) == 1 and len(hooks.bodies(path_of(b))) == 3
        res = runner.invoke(cli, ["--config", str(conf), "send", "--channel", "nope"], env=env_for(base, a, b))
    assert isinstance(res.exception, ConfigError) and "no channel named 'nope'" in str(res.exception)
    (hook,) = hooks.bodies(path_of(a))
    assert hook["url"] == "https://digest.example.org/issues/2026-W47.html"
    assert hook["papers"][0]["url"] == "https://arxiv.org/abs/2611.10000"


# ---- secrets ---------------------------------------------------------------------------------------


def test_the_webhook_url_never_appears_in_output_or_the_store(config, store, tmp_path, monkeypatch):
    monkeypatch.setattr("digest.channels.delivery.DEFAULT_POLICY", RetryPolicy(backoff=0.0))
    make_issue(store, n_papers=1)
    refused = channel("refused", "slack")
    conf = _config_file(tmp_path / "digest.toml", config.archive_dir, refused)
    env = {refused.url_env: f"http://127.0.0.1:9/slack/{SECRET}?token={SECRET}"}  # nothing listens on port 9
    runner = CliRunner()
    res = runner.invoke(cli, ["--config", str(conf), "--debug", "send", "--channel", "refused"], env=env)
    assert res.exit_code == 3, res.output
    assert "network error" in res.output and SECRET not in res.output
    assert all(SECRET not in (r[0] or "") for r in store.query("SELECT last_error FROM channel_deliveries"))
    res = runner.invoke(cli, ["--config", str(conf), "send", "--dry-run", "--channel", "refused"], env=env)
    assert res.exit_code == 0, res.output
    assert SECRET not in res.output and "$HOOK_REFUSED (redacted)" in res.output
    assert '"blocks"' in res.output  # the payload itself is shown


def test_redact_hides_every_form_of_the_url():
    url = f"https://hooks.example.com/services/T0/B0/{SECRET}"
    text = f"error for url '{url}' at /services/T0/B0/{SECRET}"
    assert SECRET not in redact(text, url, "SLACK_URL") and "$SLACK_URL" in redact(text, url, "SLACK_URL")


def test_dry_run_posts_nothing(config, store):
    issue = make_issue(store, n_papers=2)
    config.channels = [channel("t", "teams", "per-paper")]
    hooks = Hooks()
    with webhook_server(hooks) as base:
        report = deliver_issue(config, store, issue.id, dry_run=True, env=env_for(base, *config.channels))
    assert hooks.received == [] and report.results[0].parts == 3 and report.results[0].status == "dry-run"


def test_a_draft_is_never_posted(config, store):
    issue = make_issue(store, n_papers=2)
    store.execute("UPDATE issues SET status='draft' WHERE id=?", (issue.id,))
    config.channels = [channel("s", "slack")]
    hooks = Hooks()
    with webhook_server(hooks) as base, pytest.raises(QualityGateError):
        deliver_issue(config, store, issue.id, env=env_for(base, *config.channels))
    assert hooks.received == []


# ---- config ----------------------------------------------------------------------------------------


def test_channels_config_is_checked():
    cfg = parse_config({"channels": [{"name": "a", "kind": "discord", "url_env": "A_URL", "mode": "per-paper"}]})
    assert cfg.channels == [ChannelConfig(name="a", kind="discord", url_env="A_URL", mode="per-paper")]
    for bad, words in [
        ({"name": "a", "kind": "irc", "url_env": "X"}, "kind"),
        ({"name": "a", "kind": "slack", "url_env": "https://hooks.slack.com/services/x"}, "not a variable name"),
        ({"name": "a", "kind": "slack", "url_env": "X", "mode": "weekly"}, "mode"),
        ({"name": "", "kind": "slack", "url_env": "X"}, "name is empty"),
        ({"name": "a", "kind": "slack", "url_env": "X", "url": "https://x"}, "unknown setting"),
    ]:
        with pytest.raises(ConfigError, match=words) as e:
            parse_config({"channels": [bad]})
        assert "hooks.slack.com" not in str(e.value)
    with pytest.raises(ConfigError, match="used twice"):
        parse_config({"channels": [{"name": "a", "kind": "slack", "url_env": "X"}] * 2})
