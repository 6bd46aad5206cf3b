"""Issue 23: what an extractive run loads into the main process (checked by module, never by a memory figure)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from click.testing import CliRunner
from conftest import FIXTURES

from digest.cli import cli

# Run `digest run --model extractive` in a fresh interpreter, then say which of these it imported.
_RUN_AND_LIST = """
import atexit, json, sys
from digest.cli import main
atexit.register(lambda: print(json.dumps(sorted(
    m for m in sys.modules if m.split(".")[0] in ("openai", "tiktoken", "jsonschema")))))
sys.argv = ["digest", "run", "--model", "extractive"]
main()
"""


def _workspace(tmp_path):
    folder = tmp_path / "papers"
    folder.mkdir()
    shutil.copy(FIXTURES / "papers" / "2023.eacl-main.121.pdf", folder)
    (tmp_path / "digest.toml").write_text(
        'sources = ["dir:papers"]\n[selection]\ninterests = ""\n[store]\narchive_dir = "archive"\n', encoding="utf-8")
    return tmp_path


def test_an_extractive_run_loads_no_chat_client_and_no_tokenizer(tmp_path):
    """openai (+pydantic, httpx2, jsonschema: ~35 MB) and a tiktoken encoding (~45 MB) serve chat models only;
    the extractive run reads, writes and publishes without them (the 120 MB peak of issue 23)."""
    work = _workspace(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"}
    r = subprocess.run([sys.executable, "-c", _RUN_AND_LIST], cwd=work, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 paper, 0 LLM calls" in r.stdout
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def test_papers_show_counts_tokens_the_run_did_not(tmp_path, monkeypatch):
    """The run stores no token count (it would load an encoding); `papers show` counts them when asked."""
    monkeypatch.chdir(_workspace(tmp_path))
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["run", "--model", "extractive"]).exit_code == 0
    from digest.config import load_config
    from digest.store import Store

    config = load_config("digest.toml")
    store = Store(config.db_path)
    (paper,) = [p for p in store.papers_seen_since(__import__("datetime").datetime(2000, 1, 1))]
    assert paper.token_count is None
    shown = runner.invoke(cli, ["papers", "show", paper.key])
    assert shown.exit_code == 0, shown.output
    (line,) = [ln for ln in shown.stdout.splitlines() if " tokens " in f" {ln} "]
    assert int(line.split("tokens")[1].strip(" │|")) > 1000  # 20 pages of prose
