"""Shared fixtures: the corpus in ../shared (skipped cleanly when absent), a fresh store and config."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from digest.config import Config
from digest.store import Store

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DIGEST_TEST_CORPUS", ROOT.parent / "shared" / "corpus"))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/factories.py, tests/llm_server.py

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def corpus_files(sub: str) -> list[Path]:
    """Files of a corpus folder, for parametrize; empty when the corpus is absent."""
    d = CORPUS / sub
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    """`digest run` and `digest fetch`, in-process or as subprocesses, run on TODAY, never the machine's date."""
    from weekfeed import TODAY

    monkeypatch.setenv("DIGEST_TODAY", TODAY.isoformat())


@pytest.fixture
def corpus() -> Path:
    """The shared corpus folder; the test is skipped when it is not beside the checkout."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    return CORPUS


def make_config(folder: Path) -> Config:
    """A config whose archive, store and cache live in `folder`."""
    cfg = Config(path=folder / "digest.toml")
    cfg.store.archive_dir = str(folder / "archive")
    cfg.arxiv.api_delay_seconds = 0.0
    return cfg


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A config whose archive, store and cache live in a temporary folder."""
    return make_config(tmp_path)


@pytest.fixture
def store(config: Config) -> Store:
    """A fresh store at the config's location."""
    s = Store(config.db_path)
    yield s
    s.close()


from llm_server import llm_server  # noqa: E402,F401 - the OpenAI-compatible test server fixture
from rerun_helpers import first_issue_archive, issue  # noqa: E402,F401 - one first issue per session, a copy per test
