"""The LLM stage through real HTTP: the openai client against the OpenAI-compatible test server."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import jsonschema
import openai
import pytest
from factories import make_issue
from llm_server import LLMServer, Step, bad_json, llm_server, rate_limited, server_error, slow, truncated  # noqa: F401

from digest.config import ModelConfig
from digest.errors import ConfigError, LLMError
from digest.llm.calls import TRUNCATED
from digest.llm.client import (
    ChatModel,
    ChatRequest,
    LLMTruncated,
    get_model,
    llm_cost_report,
    model_settings_fingerprint,
)
from digest.llm.support import RateLimiter, parse_json_content, retry_after_seconds

SCHEMA = {
    "type": "object",
    "properties": {
        "tldr": {"type": "string", "minLength": 1},
        "qa": {
            "type": "array", "minItems": 2,
            "items": {
                "type": "object",
                "properties": {"question": {"type": "string"}, "pages": {"type": "array", "minItems": 1,
                                                                         "items": {"type": "integer", "minimum": 1}}},
                "required": ["question", "pages"], "additionalProperties": False,
            },
        },
    },
    "required": ["tldr", "qa"],
    "additionalProperties": False,
}


def messages(text: str = "Summarise the paper.") -> list[dict]:
    return [{"role": "system", "content": "You summarise research papers."}, {"role": "user", "content": text}]


def make_model(server: LLMServer, store, *, max_retries: int = 3, api_key: str | None = None,
               model_id: str = "test-model", **settings) -> ChatModel:
    cfg = ModelConfig(base_url=server.base_url, **settings)
    return ChatModel(model_id, cfg, store, api_key=api_key, max_retries=max_retries, backoff_base=0.01)


def call(model: ChatModel, text: str = "Summarise the paper.", schema: dict = SCHEMA, **kw):
    return model.complete_json(messages(text), schema, schema_name="paper_summary", purpose="test", **kw)


def rows(store) -> list[dict]:
    return [dict(r) for r in store.query("SELECT * FROM llm_calls ORDER BY id")]


def test_json_schema_reply_is_validated_and_logged_with_usage_and_cost(llm_server, store):
    model = make_model(llm_server, store, price_input=2.0, price_cached_input=1.0, price_output=8.0)
    result = call(model, paper_key="2401.00001", generation_key="g1", prompt_version="v1")

    jsonschema.validate(result.data, SCHEMA)
    assert result.from_cache is False and result.finish_reason == "stop"
    sent = llm_server.chat_requests()[0]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["strict"] is True
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    assert sent["model"] == "test-model" and sent["max_tokens"] == 4096  # a local server: max_tokens

    [row] = rows(store)
    assert row["status"] == "ok" and row["http_status"] == 200 and row["id"] == result.call_id
    assert (row["model"], row["purpose"], row["paper_key"], row["generation_key"], row["prompt_version"]) == (
        "test-model", "test", "2401.00001", "g1", "v1")
    assert json.loads(row["messages"]) == messages()
    assert json.loads(row["response"]) == result.data
    assert row["input_tokens"] == result.usage.input_tokens > 0
    assert row["output_tokens"] == result.usage.output_tokens > 0
    expected = (result.usage.input_tokens * 2.0 + result.usage.output_tokens * 8.0) / 1e6
    assert row["cost"] == pytest.approx(expected) and result.usage.cost == pytest.approx(expected)


def test_shared_prefix_reports_cached_tokens_and_cheaper_cost(llm_server, store):
    model = make_model(llm_server, store, price_input=2.0, price_cached_input=0.5, price_output=0.0)
    paper = "word " * 600
    first = call(model, paper + "Question one?")
    second = call(model, paper + "Question two?")
    assert first.usage.cached_tokens == 0
    assert second.usage.cached_tokens >= 512 and second.usage.cached_tokens % 128 == 0
    uncached = second.usage.input_tokens - second.usage.cached_tokens
    assert second.usage.cost == pytest.approx((uncached * 2.0 + second.usage.cached_tokens * 0.5) / 1e6)
    assert rows(store)[1]["cached_tokens"] == second.usage.cached_tokens


@pytest.mark.parametrize("form, minimum", [("seconds", 1.0), ("retry-after-ms", 0.4)])
def test_429_waits_at_least_retry_after(llm_server, store, form, minimum):
    model = make_model(llm_server, store)
    llm_server.push(rate_limited(1) if form == "seconds" else rate_limited(None, ms=400))
    result = call(model)
    jsonschema.validate(result.data, SCHEMA)
    first, second = llm_server.chat_times()
    # The 429 is recorded before it is sent and the wait starts after it arrives: a busy machine only adds.
    assert second - first >= minimum
    assert [(r["status"], r["http_status"]) for r in rows(store)] == [("error", 429), ("ok", 200)]


def test_429_with_an_http_date_waits_until_that_date(llm_server, store):
    model = make_model(llm_server, store)
    # Whole seconds: two seconds ahead is at least one second away from now.
    date = email.utils.formatdate(time.time() + 2, usegmt=True)
    llm_server.push(rate_limited(date))
    call(model)
    wall_minus_monotonic = time.time() - time.monotonic()
    _, second = llm_server.chat_times()
    # The retry arrives no earlier than the date, however long the machine took before the 429 came back.
    assert second + wall_minus_monotonic >= email.utils.parsedate_to_datetime(date).timestamp() - 0.05
    assert [(r["status"], r["http_status"]) for r in rows(store)] == [("error", 429), ("ok", 200)]


def test_5xx_is_retried_then_succeeds(llm_server, store):
    model = make_model(llm_server, store)
    llm_server.push(server_error(500), server_error(503))
    result = call(model)
    assert result.data["qa"]
    assert [(r["status"], r["http_status"]) for r in rows(store)] == [("error", 500), ("error", 503), ("ok", 200)]


def test_5xx_gives_up_after_max_retries(llm_server, store):
    model = make_model(llm_server, store, max_retries=2)
    llm_server.push(*(server_error(502) for _ in range(5)))
    with pytest.raises(LLMError) as err:
        call(model)
    assert err.value.status == 502 and err.value.retry is True
    assert len(llm_server.chat_requests()) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_are_not_retried(llm_server, store, status):
    model = make_model(llm_server, store)
    llm_server.push(Step(status=status, body={"error": {"message": "nope", "type": "invalid_request_error"}}))
    with pytest.raises(LLMError) as err:
        call(model)
    assert err.value.status == status
    assert len(llm_server.chat_requests()) == 1


def test_invalid_json_is_repaired_once(llm_server, store):
    model = make_model(llm_server, store)
    llm_server.push(bad_json('{"tldr": "cut off'))
    result = call(model)
    jsonschema.validate(result.data, SCHEMA)
    repair = llm_server.chat_requests()[1]["messages"]
    assert repair[:2] == messages()
    assert repair[2] == {"role": "assistant", "content": '{"tldr": "cut off'}
    assert repair[3]["role"] == "user" and "invalid JSON" in repair[3]["content"]
    logged = rows(store)
    assert [r["status"] for r in logged] == ["error", "ok"]
    assert logged[0]["error"].startswith("invalid JSON")
    # Tokens of both attempts are charged to the result.
    assert result.usage.input_tokens == logged[0]["input_tokens"] + logged[1]["input_tokens"]


def test_schema_violation_after_repair_raises(llm_server, store):
    model = make_model(llm_server, store)
    llm_server.push(bad_json("not json at all"), bad_json('{"tldr": "ok", "qa": []}'))
    with pytest.raises(LLMError, match="schema violation"):
        call(model)
    assert len(llm_server.chat_requests()) == 2
    assert "ok" not in [r["status"] for r in rows(store)]


def test_fenced_json_is_accepted():
    assert parse_json_content('Here it is:\n```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_content('Sure! {"a": [1, 2]} Hope this {helps}.') == {"a": [1, 2]}
    assert parse_json_content('<think>maybe {"a": 0}? no</think>\n{"a": 3}') == {"a": 3}
    with pytest.raises(ValueError):
        parse_json_content("no json here")


def test_length_gets_more_room_then_truncated(llm_server, store):
    model = make_model(llm_server, store, max_output_tokens=4096)
    result = call(model, max_tokens=5)
    assert [r["max_tokens"] for r in llm_server.chat_requests()] == [5, 4096]
    assert [r["finish_reason"] for r in rows(store)] == ["length", "stop"]
    jsonschema.validate(result.data, SCHEMA)

    small = make_model(llm_server, store, max_output_tokens=5)
    with pytest.raises(LLMTruncated):
        call(small, "Another paper.")
    assert len(llm_server.chat_requests()) == 3  # no second try: there is no more room to give


def test_length_twice_raises_truncated(llm_server, store):
    model = make_model(llm_server, store, max_output_tokens=4096)
    llm_server.push(truncated('{"tldr": "cut'), truncated('{"tldr": "cut again'))
    with pytest.raises(LLMTruncated):
        call(model, max_tokens=100)
    assert [r["max_tokens"] for r in llm_server.chat_requests()] == [100, 4096]


def test_length_with_a_complete_valid_object_is_accepted(llm_server, store):
    model = make_model(llm_server, store)
    llm_server.push(truncated())  # the responder's full, valid object, labelled "length"
    result = call(model, max_tokens=1000)
    jsonschema.validate(result.data, SCHEMA)
    assert len(llm_server.chat_requests()) == 1 and result.finish_reason == "length"


def test_server_without_json_schema_falls_back_and_remembers(store):
    server = LLMServer(reject_json_schema=True).start()
    try:
        model = make_model(server, store)
        result = call(model)
        jsonschema.validate(result.data, SCHEMA)
        first, second = server.chat_requests()
        assert first["response_format"]["type"] == "json_schema"
        assert second["response_format"] == {"type": "json_object"}
        # The schema is described at the end, after the unchanged prefix the server may have cached.
        assert second["messages"][:1] == messages()[:1]
        last = second["messages"][-1]
        assert last["role"] == "user" and last["content"].startswith("Summarise the paper.")
        assert "JSON Schema" in last["content"] and json.dumps(SCHEMA) in last["content"]
        assert model.format_mode == "json_object"
        call(model, "A second paper.")
        assert server.chat_requests()[2]["response_format"] == {"type": "json_object"}
        # Another ChatModel for the same model and server in this process starts from the downgrade.
        assert make_model(server, store).format_mode == "json_object"
    finally:
        server.stop()
    # A new server on that address is asked afresh.
    assert make_model(server, store).format_mode == "json_schema"


def test_server_without_any_response_format_gets_plain_instructions(store):
    server = LLMServer(reject_json_schema=True, reject_json_object=True).start()
    try:
        model = make_model(server, store)
        result = call(model)
        jsonschema.validate(result.data, SCHEMA)
        formats = [r.get("response_format") for r in server.chat_requests()]
        assert [f and f["type"] for f in formats] == ["json_schema", "json_object", None]
        assert model.format_mode == "none"
    finally:
        server.stop()


def test_server_reply_that_violates_schema_in_fallback_mode_is_caught(store):
    # A server that ignores the schema it was told about: validation still applies.
    server = LLMServer(responder=lambda msgs, schema: {"summary": "wrong shape"}, reject_json_schema=True).start()
    try:
        with pytest.raises(LLMError, match="schema violation"):
            call(make_model(server, store))
    finally:
        server.stop()


def test_unsupported_temperature_is_dropped_and_remembered(llm_server, store):
    model = make_model(llm_server, store, temperature=0.2)
    llm_server.push(Step(status=400, body={"error": {
        "message": "Unsupported value: 'temperature' does not support 0.2 with this model. "
                   "Only the default (1) value is supported.", "type": "invalid_request_error",
        "param": "temperature", "code": "unsupported_value"}}))
    call(model)
    call(model, "Another paper.")
    assert [("temperature" in r) for r in llm_server.chat_requests()] == [True, False, False]


def test_rejected_max_tokens_switches_parameter(llm_server, store):
    model = make_model(llm_server, store)
    llm_server.push(Step(status=400, body={"error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                   "Use 'max_completion_tokens' instead.", "type": "invalid_request_error"}}))
    call(model)
    first, second = llm_server.chat_requests()
    assert "max_tokens" in first and second["max_completion_tokens"] == 4096 and "max_tokens" not in second


def test_slow_reply_times_out_and_is_retried(llm_server, store):
    # A stall far past the timeout, and a timeout a normal reply meets even on a busy machine.
    model = make_model(llm_server, store, timeout=5, max_retries=1)
    llm_server.push(slow(600))
    result = call(model)
    assert result.data["tldr"]
    first = rows(store)[0]
    assert first["status"] == "error" and first["error"].startswith("timeout") and first["http_status"] is None


def test_slow_reply_times_out_after_retries(llm_server, store):
    model = make_model(llm_server, store, timeout=0.3, max_retries=1)
    llm_server.push(slow(600), slow(600))
    with pytest.raises(LLMError, match="timeout") as err:
        call(model)
    assert err.value.retry is True
    assert [r["status"] for r in rows(store)] == ["error", "error"]


def test_a_batch_reply_is_read_and_judged_as_a_live_one(llm_server, store):
    """The body of a batch line, answered by the server: logged like the live call, served later without HTTP."""
    model = make_model(llm_server, store, price_input=2.0, price_output=8.0)
    short = ChatRequest("test", messages("Short."), SCHEMA, "paper_summary", max_tokens=5)
    body = model.batch_request_body(short)
    _, reply = llm_server.complete(body)  # cut at 5 tokens, as the live call would be
    assert model.record_batch_reply(short, body["messages"], reply, batch_id="b1") == TRUNCATED

    req = ChatRequest("test", messages(), SCHEMA, "paper_summary", paper_key="2401.00001")
    body = model.batch_request_body(req)
    _, reply = llm_server.complete(body)
    assert model.record_batch_reply(req, body["messages"], reply, batch_id="b1", price_factor=0.5) is None
    assert [(r["status"], r["error"], r["batch_id"]) for r in rows(store)] == [
        ("error", TRUNCATED, "b1"), ("ok", None, "b1")]

    served = model.complete(req)
    usage = reply["usage"]
    assert served.from_cache and llm_server.chat_requests() == []
    assert served.usage.cost == pytest.approx(
        model.estimate_cost(usage["prompt_tokens"], usage["completion_tokens"],
                            usage["prompt_tokens_details"]["cached_tokens"]) * 0.5)


def test_identical_request_is_served_from_the_store(llm_server, store, config):
    model = make_model(llm_server, store, price_input=1.0, price_output=1.0)
    first = call(model)
    assert len(llm_server.chat_requests()) == 1
    # A new process (new ChatModel, same store) asking the same thing: no HTTP request at all.
    again = make_model(llm_server, store, price_input=1.0, price_output=1.0)
    second = call(again)
    assert len(llm_server.chat_requests()) == 1
    # It carries what the call was billed when it was made; from_cache says nothing is spent now.
    assert second.from_cache and second.data == first.data and second.usage.cost == first.usage.cost > 0
    assert (second.usage.input_tokens, second.usage.output_tokens, second.call_id) == (
        first.usage.input_tokens, first.usage.output_tokens, first.call_id)
    assert len(rows(store)) == 1

    # Anything that changes the output makes a new request: messages, schema, settings.
    call(model, "Summarise it differently.")
    call(model, schema={**SCHEMA, "required": ["tldr"]})
    call(make_model(llm_server, store, temperature=0.9))
    assert len(llm_server.chat_requests()) == 4


def test_failed_calls_are_not_reused(llm_server, store):
    model = make_model(llm_server, store, max_retries=0)
    llm_server.push(server_error())
    with pytest.raises(LLMError):
        call(model)
    call(model)
    assert len(llm_server.chat_requests()) == 2


def test_eight_threads_at_once(store):
    server = LLMServer(latency=0.2).start()
    try:
        model = make_model(server, store)
        server.push(rate_limited(0.2))  # one of them is told to wait
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: call(model, f"Paper {i}", paper_key=f"p{i}"), range(8)))
        assert all(not r.from_cache for r in results)
        for r in results:
            jsonschema.validate(r.data, SCHEMA)
        assert len({r.call_id for r in results}) == 8
        logged = rows(store)
        assert sorted(r["paper_key"] for r in logged if r["status"] == "ok") == [f"p{i}" for i in range(8)]
        assert len(server.chat_requests()) == 9
    finally:
        server.stop()


class LimiterClock:
    """The rate limiter's clock and sleep, held by the test: time moves only when the test moves it.

    A sleeping thread is held until the test advances the clock past the end of its sleep, so the test
    sees which requests the limiter lets through at each instant it computes, however busy the machine.
    """

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []  # every pause the limiter asked for
        self._ends: list[float] = []  # when each thread asleep right now may wake
        self._cond = threading.Condition()

    def monotonic(self) -> float:
        with self._cond:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._cond:
            end = self.now + seconds
            self.sleeps.append(seconds)
            self._ends.append(end)
            self._cond.notify_all()
            woke = self._cond.wait_for(lambda: self.now >= end, timeout=120)  # bounds a hang only
            self._ends.remove(end)
            assert woke, "the test never moved the limiter's clock"

    def held(self) -> int:
        """Threads asleep that the current time does not wake yet."""
        with self._cond:
            return sum(1 for end in self._ends if end > self.now)

    def advance_to(self, t: float) -> None:
        with self._cond:
            self.now = t
            self._cond.notify_all()


def wait_until(condition, what: str, timeout: float = 120.0) -> None:
    """Poll `condition` until it holds; the timeout bounds a hang only."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"still waiting for {what}"
        time.sleep(0.005)


def held_limiter(model: ChatModel) -> LimiterClock:
    """Give `model` a rate limiter with its own rpm/tpm settings whose clock the test holds."""
    clock = LimiterClock()
    model.limiter = RateLimiter(model.settings.rpm, model.settings.tpm, clock=clock.monotonic, sleep=clock.sleep)
    return clock


def test_rpm_limit_spaces_requests(llm_server, store):
    model = make_model(llm_server, store, rpm=120)  # 2 per second, a burst of 2
    clock = held_limiter(model)
    done: list[int] = []

    def one(i: int) -> None:
        try:
            call(model, f"Paper {i}")
        finally:  # a failed call counts too: the check below then names the missing request
            done.append(i)

    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(one, i) for i in range(5)]
        # Five threads at once, through real HTTP: the burst of 2 goes at 0 s, then one request every 0.5 s.
        for t, arrived in [(0.0, 2), (0.5, 3), (1.0, 4), (1.5, 5)]:
            clock.advance_to(t)
            wait_until(lambda: clock.held() + len(done) == 5, f"every thread done or held at {t} s")
            assert len(llm_server.chat_requests()) == arrived, t
            assert len(done) == arrived  # nothing is still on its way to the server
        for f in futures:
            f.result(timeout=120)
    assert clock.held() == 0 and max(clock.sleeps) == pytest.approx(0.5)


def test_a_model_with_limits_on_the_real_clock_gets_its_replies(llm_server, store):
    model = make_model(llm_server, store, rpm=6000, tpm=1_000_000)  # the limiter's own clock and sleep
    assert model.limiter.requests and model.limiter.tokens
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: call(model, f"Paper {i}"), range(4)))
    assert all(r.data["tldr"] for r in results) and len(llm_server.chat_requests()) == 4


def test_tpm_limit_spaces_requests(llm_server, store):
    model = make_model(llm_server, store, tpm=12_000, max_output_tokens=200)  # 200 tokens per second
    clock = held_limiter(model)
    asked: list[int] = []
    acquire = model.limiter.acquire

    def spend(tokens: int) -> float:
        asked.append(tokens)
        return acquire(tokens)

    model.limiter.acquire = spend
    call(model, "Paper A")
    assert clock.sleeps == [] and len(llm_server.chat_requests()) == 1
    second = threading.Thread(target=call, args=(model, "Paper B"))
    second.start()
    wait_until(lambda: clock.held() == 1, "the second request to wait for tokens")
    assert len(llm_server.chat_requests()) == 1
    # Each request spends its input and its whole output allowance: the first leaves the bucket
    # that many tokens short, and the second waits until they have flowed back in at 200 a second.
    first_tokens = asked[0]
    assert first_tokens > 200 and clock.sleeps == [pytest.approx(first_tokens / 200)]
    clock.advance_to(first_tokens / 200 + 1e-6)  # past float rounding in the refill
    second.join(120)  # bounds a hang only
    assert not second.is_alive() and len(llm_server.chat_requests()) == 2 and len(clock.sleeps) == 1


def test_api_key_never_reaches_the_call_log(store):
    secret = "sk-test-SECRET-0123456789abcdef"
    server = LLMServer(api_key="sk-the-right-key-000000").start()
    try:
        model = make_model(server, store, api_key=secret)
        with pytest.raises(LLMError) as err:
            call(model)
        assert err.value.status == 401
        assert secret not in str(err.value) and "SECRET" not in str(err.value)
        assert len(server.chat_requests()) == 1
        server.api_key = secret
        call(model, "Now with the right key.")
        assert server.requests[-1].headers["Authorization"] == f"Bearer {secret}"  # it was sent...
    finally:
        server.stop()
    dump = json.dumps(rows(store))
    assert len(rows(store)) == 2
    assert secret not in dump and "SECRET" not in dump  # ...but never stored


def test_get_model_keys(monkeypatch, config, store, tmp_path, llm_server):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("DIGEST_TEST_KEY", raising=False)
    config.models["gpt-4o-mini"] = ModelConfig(api_key_env="DIGEST_TEST_KEY")
    with pytest.raises(LLMError, match="DIGEST_TEST_KEY"):
        get_model("gpt-4o-mini", config, store)

    keys = tmp_path / "keys.env"
    keys.write_text("# keys\nexport DIGEST_TEST_KEY='sk-from-file-123456'\n")
    config.llm.keys_file = str(keys)
    m = get_model("gpt-4o-mini", config, store)
    assert m.needs_key and m.key_env_var == "DIGEST_TEST_KEY" and m.client.api_key == "sk-from-file-123456"
    monkeypatch.setenv("DIGEST_TEST_KEY", "sk-from-env-654321")
    assert get_model("gpt-4o-mini", config, store).client.api_key == "sk-from-env-654321"

    # A local server needs no key, and an OpenAI model gets max_completion_tokens.
    config.models["local"] = ModelConfig(base_url=llm_server.base_url, api_key_env="NOT_SET_ANYWHERE")
    local = get_model("local", config, store)
    assert not local.needs_key
    local.complete_json(messages(), SCHEMA, schema_name="s", purpose="test")
    assert llm_server.requests[-1].headers["Authorization"] == "Bearer sk-no-key"
    config.models["gpt-4o-mini"].base_url = "https://api.openai.com/v1"
    assert get_model("gpt-4o-mini", config, store).needs_key
    with pytest.raises(LLMError, match=r'models\."not-configured"'):
        get_model("not-configured", config, store)


def test_azure_deployment_with_max_completion_tokens(llm_server, store):
    root = llm_server.base_url.removesuffix("/v1")
    model_cfg_root = ModelConfig(base_url=root, api_model="my-deployment", azure_api_version="2024-10-21")
    model = ChatModel("gpt-4o-mini", model_cfg_root, store, api_key="azure-key-0123456789", backoff_base=0.01)
    assert model.needs_key
    result = call(model)
    jsonschema.validate(result.data, SCHEMA)
    req = llm_server.requests[-1]
    assert req.path == "/openai/deployments/my-deployment/chat/completions"
    assert req.headers["Api-Key"] == "azure-key-0123456789"
    assert req.json["max_completion_tokens"] == 4096 and "max_tokens" not in req.json
    assert "azure-key-0123456789" not in json.dumps(rows(store))


def test_cost_report_per_model_and_issue(llm_server, store):
    issue = make_issue(store, n_papers=2)
    keys = [e.paper.key for e in issue.entries]
    a = make_model(llm_server, store, price_input=1.0, price_output=2.0, model_id="model-a")
    b = make_model(llm_server, store, price_input=3.0, price_output=0.0, model_id="model-b")
    ra = call(a, "one", paper_key=keys[0])
    rb = call(b, "two", paper_key=keys[1])
    call(b, "three", paper_key="not-in-the-issue")

    report = {r["model"]: r for r in llm_cost_report(store)}
    assert report["model-a"]["calls"] == 1 and report["model-b"]["calls"] == 2
    assert report["model-a"]["cost"] == pytest.approx(ra.usage.cost, abs=1e-6)
    per_issue = {r["model"]: r for r in llm_cost_report(store, issue.id)}
    assert per_issue["model-b"]["calls"] == 1
    assert per_issue["model-b"]["input_tokens"] == rb.usage.input_tokens
    assert per_issue["model-b"]["issue_id"] == issue.id
    assert llm_cost_report(store, "1999-W01") == []


def test_estimate_cost(llm_server, store):
    model = make_model(llm_server, store, price_input=2.5, price_cached_input=1.25, price_output=10.0)
    assert model.estimate_cost(1_000_000, 1_000_000, 400_000) == pytest.approx(0.6 * 2.5 + 0.4 * 1.25 + 10.0)
    no_cached_price = make_model(llm_server, store, price_input=2.0)
    assert no_cached_price.estimate_cost(1_000_000, 0, 500_000) == pytest.approx(2.0)


def test_unknown_response_format_is_a_config_error(llm_server, store):
    with pytest.raises(ConfigError, match="response_format"):
        make_model(llm_server, store, response_format="text")


def test_fingerprint_names_the_output_settings():
    fp = model_settings_fingerprint(ModelConfig(temperature=0.0, api_model="m", max_output_tokens=100))
    assert fp == {"api_model": "m", "temperature": 0.0, "response_format": "json_schema", "max_output_tokens": 100}
    assert "base_url" not in fp and "price_input" not in fp


def test_retry_after_header_forms():
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    now = datetime(2001, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC)  # far from any machine's clock
    assert retry_after_seconds({"retry-after": "Mon, 01 Jan 2001 12:00:30 GMT"}, now) == 29.75
    assert retry_after_seconds({"retry-after": "Mon, 01 Jan 2001 11:59:00 GMT"}, now) == 0.0  # a date passed
    assert retry_after_seconds({"retry-after": "garbage"}) is None
    assert retry_after_seconds({}) is None


def test_batch_api_round_trip(llm_server, tmp_path):
    """The test server's Files and Batches endpoints, through the openai client."""
    client = openai.OpenAI(base_url=llm_server.base_url, api_key="sk-no-key", max_retries=0)
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "test-model", "messages": messages(f"paper {i}"),
                       "response_format": {"type": "json_schema",
                                           "json_schema": {"name": "s", "schema": SCHEMA, "strict": True}}}}
             for i in range(3)]
    path = tmp_path / "batch.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    uploaded = client.files.create(file=path.open("rb"), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    assert batch.status == "validating"
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.request_counts.completed == 3
    out = client.files.content(done.output_file_id).text.splitlines()
    by_id = {json.loads(x)["custom_id"]: json.loads(x) for x in out}
    assert set(by_id) == {"r0", "r1", "r2"}
    content = by_id["r1"]["response"]["body"]["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), SCHEMA)
    assert [m.id for m in client.models.list()] == ["test-model"]


def test_server_records_requests_thread_safely(llm_server):
    client = openai.OpenAI(base_url=llm_server.base_url, api_key="sk-no-key", max_retries=0)

    def one(i: int) -> None:
        client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": str(i)}])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["messages"][0]["content"] for r in llm_server.chat_requests()) == [str(i) for i in range(6)]
