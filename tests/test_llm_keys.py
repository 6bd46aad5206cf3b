"""A key the server rejects is named by where it came from (never by its value), not asked for again."""

from __future__ import annotations

import pytest
from llm_server import LLMServer
from test_llm import call

from digest.config import ModelConfig
from digest.errors import LLMError
from digest.llm.client import get_model

WRONG = "sk-wrong-SECRET-0123456789"


@pytest.fixture
def strict_server():
    server = LLMServer(api_key="sk-the-right-key-000000").start()
    yield server
    server.stop()


def rejected(config, store) -> str:
    with pytest.raises(LLMError) as err:
        call(get_model("guarded", config, store))
    assert err.value.status == 401
    said = str(err.value)
    assert WRONG not in said and "SECRET" not in said
    return said


def test_a_rejected_key_from_the_environment_names_its_variable(strict_server, config, store, monkeypatch):
    monkeypatch.setenv("DIGEST_TEST_KEY", WRONG)
    config.models["guarded"] = ModelConfig(base_url=strict_server.base_url, api_key_env="DIGEST_TEST_KEY")
    said = rejected(config, store)
    assert "rejected the key from the environment variable DIGEST_TEST_KEY" in said
    assert "set the environment variable" not in said  # it is set: setting it is not the fix


def test_a_rejected_key_from_the_keys_file_names_the_file(strict_server, config, store, monkeypatch, tmp_path):
    monkeypatch.delenv("DIGEST_TEST_KEY", raising=False)
    keys = tmp_path / "keys.env"
    keys.write_text(f"DIGEST_TEST_KEY={WRONG}\n")
    config.llm.keys_file = str(keys)
    config.models["guarded"] = ModelConfig(base_url=strict_server.base_url, api_key_env="DIGEST_TEST_KEY")
    assert f"rejected the key from DIGEST_TEST_KEY in llm.keys_file ({keys})" in rejected(config, store)


def test_a_server_that_wants_a_key_when_none_was_sent_says_where_one_goes(strict_server, config, store,
                                                                          monkeypatch):
    monkeypatch.delenv("DIGEST_TEST_KEY", raising=False)
    config.models["guarded"] = ModelConfig(base_url=strict_server.base_url, api_key_env="DIGEST_TEST_KEY")
    said = rejected(config, store)
    assert "wants an API key: set the environment variable DIGEST_TEST_KEY" in said
