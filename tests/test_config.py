"""`digest init` and the configuration: the commented file parses, env overrides, clear errors."""

import subprocess
import sys

import pytest

from digest.config import load_config
from digest.errors import ConfigError


def test_init_writes_a_config_that_loads(tmp_path):
    run = subprocess.run([sys.executable, "-m", "digest", "init"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    cfg = load_config(tmp_path / "digest.toml", env={})
    assert cfg.sources == ["arxiv-query:cat:cs.CL"] and cfg.llm.model == "extractive"
    assert cfg.model("gpt-4o-mini").price_input > 0 and cfg.selection.max_papers == 10
    (tmp_path / "digest.toml").write_text('sources = ["dir:papers"]\n', encoding="utf-8")  # the user's edit
    again = subprocess.run([sys.executable, "-m", "digest", "init"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and "--force" in again.stderr  # so `init && run` can be repeated
    assert (tmp_path / "digest.toml").read_text(encoding="utf-8") == 'sources = ["dir:papers"]\n'
    forced = subprocess.run([sys.executable, "-m", "digest", "init", "--force"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert forced.returncode == 0 and "arxiv-query:cat:cs.CL" in (tmp_path / "digest.toml").read_text()


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "digest.toml"
    path.write_text('[llm]\nmodel = "extractive"\n[models."m"]\nbase_url = ""\n', encoding="utf-8")
    cfg = load_config(path, env={"DIGEST_MODEL": "m", "DIGEST_SELECTION_MAX_PAPERS": "5",
                                 "DIGEST_LANGUAGE": "ja", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"})
    assert (cfg.llm.model, cfg.selection.max_papers, cfg.output.language) == ("m", 5, "ja")
    assert cfg.model("m").base_url == "http://127.0.0.1:1/v1"
    assert cfg.db_path == tmp_path / "archive" / "digest.sqlite"  # relative to the config file


@pytest.mark.parametrize("text, message", [
    ("[llm]\nmodle = 'x'\n", "unknown setting 'llm.modle'"),
    ("[nonsense]\n", "unknown section"),
    ("sources = 'arxiv:cs.CL'\n", "sources must be a list"),
    ("[llm\n", "TOML"),
    ("[llm]\nunverified = 'hide'\n", "mark' or 'drop"),
])
def test_config_mistakes_are_one_clear_error(tmp_path, text, message):
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert message in str(err.value) or (message == "TOML" and str(path) in str(err.value))


def test_missing_explicit_config(tmp_path):
    with pytest.raises(ConfigError, match="digest init"):
        load_config(tmp_path / "absent.toml", env={})
