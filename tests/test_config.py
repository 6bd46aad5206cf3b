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


def _template_with_examples() -> str:
    """The init template with its commented example tables and keys (`# key = value`) switched on."""
    import re

    from digest.config import default_config_text

    return re.sub(r"^# (?=\[|[a-z_]+ *= )", "", default_config_text(), flags=re.MULTILINE)


def test_every_setting_the_config_accepts_is_in_the_init_template():
    """Introspects the settings dataclasses, so a new setting cannot be left out of `digest init` again."""
    import dataclasses
    import tomllib

    from digest.config import _SECTIONS, ChannelConfig, Config, ModelConfig, parse_config

    text = _template_with_examples()
    data = tomllib.loads(text)
    parse_config(data)  # the examples, switched on, are valid settings too
    top = {f.name for f in dataclasses.fields(Config)} - {"path"}
    assert top <= set(data), sorted(top - set(data))
    shown = {name: set(data[name]) for name in _SECTIONS}
    shown["models"] = set().union(*data["models"].values())
    shown["channels"] = set().union(*data["channels"])
    accepted = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in
                {**_SECTIONS, "models": ModelConfig, "channels": ChannelConfig}.items()}
    missing = {name: sorted(keys - shown[name]) for name, keys in accepted.items() if keys - shown[name]}
    assert missing == {}


def test_the_init_template_says_each_default_it_shows():
    """A value written in the template's own sections is the default the program uses without it."""
    import tomllib

    from digest.config import _SECTIONS, Config

    data = tomllib.loads(_template_with_examples())
    defaults = Config()
    for name in _SECTIONS:
        for key, value in data[name].items():
            if name == "selection" and key == "interests":
                continue  # an example of what to write, not a default
            assert getattr(getattr(defaults, name), key) == value, f"{name}.{key}"


OPENAI_TABLE = '[models."gpt-4o-mini"]\nrpm = 500\ntpm = 200000\n'


@pytest.mark.parametrize("base", ["http://127.0.0.1:8080/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1",
                                  "https://llm.example.org/v1"])
def test_a_table_written_for_openai_brings_no_rate_limit_to_another_server(tmp_path, base):
    path = tmp_path / "digest.toml"
    path.write_text(OPENAI_TABLE + '[models.local]\nbase_url = "http://127.0.0.1:9000/v1"\ntpm = 1000\n',
                    encoding="utf-8")
    cfg = load_config(path, env={"OPENAI_BASE_URL": base})
    reached = cfg.model("gpt-4o-mini")
    assert reached.base_url == base and (reached.rpm, reached.tpm) == (0, 0)
    assert cfg.model("local").tpm == 1000  # a limit a local table sets for itself is kept
    assert cfg.model("not-configured").tpm == 0


def test_openai_keeps_its_rate_limits(tmp_path):
    path = tmp_path / "digest.toml"
    path.write_text(OPENAI_TABLE, encoding="utf-8")
    for env in ({}, {"OPENAI_BASE_URL": "https://api.openai.com/v1"}):
        m = load_config(path, env=env).model("gpt-4o-mini")
        assert (m.rpm, m.tpm) == (500, 200000), env


def test_a_local_server_reached_through_the_default_table_is_not_throttled(tmp_path, store):
    """The limiter a model really gets: none for a local server, OpenAI's own for OpenAI."""
    from digest.llm.client import get_model

    path = tmp_path / "digest.toml"
    path.write_text(OPENAI_TABLE, encoding="utf-8")
    local = load_config(path, env={"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"})
    model = get_model("gpt-4o-mini", local, store)
    assert model.limiter.tokens is None and model.limiter.requests is None
    remote = load_config(path, env={})
    assert get_model("gpt-4o-mini", remote, store, check_key=False).limiter.tokens is not None


# ---- a mistyped model id is answered with the name it is close to, not a table for the typo ---------------


def _two_models(tmp_path, base_url: str = ""):
    path = tmp_path / "digest.toml"
    local = f'[models.local]\nbase_url = "{base_url}"\napi_key_env = ""\n' if base_url else ""
    path.write_text(f'[models."gpt-4o-mini"]\nprice_input = 0.15\n{local}', encoding="utf-8")
    return load_config(path, env={})


def test_a_mistyped_model_without_a_key_is_told_the_name_it_is_close_to(tmp_path, store, monkeypatch):
    from digest.errors import LLMError
    from digest.llm.client import get_model

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = _two_models(tmp_path)
    with pytest.raises(LLMError) as err:
        get_model("gpt-4o-mnii", cfg, store)
    said = str(err.value)
    assert "did you mean gpt-4o-mini?" in said and '[models."gpt-4o-mnii"]' not in said, said
    with pytest.raises(LLMError) as err:  # nothing close: a model of its own needs a table (or a key)
        get_model("mistral-large", cfg, store)
    assert '[models."mistral-large"]' in str(err.value) and "did you mean" not in str(err.value)


def test_the_endpoints_model_list_names_the_model_meant(tmp_path, store, monkeypatch):
    """The model list the preflight reads anyway (no call just for the message) knows names the config does not."""
    from llm_server import LLMServer

    from digest.errors import LLMError
    from digest.llm.client import get_model

    server = LLMServer(models=("gpt-4.1-nano", "qwen2.5:7b")).start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)  # stands in for api.openai.com, whose list is final
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    try:
        cfg = _two_models(tmp_path)
        for typo, meant in (("gpt-4.1-nanoo", "gpt-4.1-nano"), ("gpt-4o-mnii", "gpt-4o-mini")):
            with pytest.raises(LLMError) as err:
                get_model(typo, cfg, store).preflight()
            assert err.value.status == 404 and f"did you mean {meant}?" in str(err.value), str(err.value)
    finally:
        server.stop()
