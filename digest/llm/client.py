"""Chat models behind the openai client: schema-valid JSON, our own retries, rate limits, call log and resume."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
from typing import Any

from digest.config import Config, ModelConfig, did_you_mean, known_model_names
from digest.errors import ConfigError, LLMError
from digest.llm.calllog import CallLog, Logged, llm_cost_report
from digest.llm.calls import CONTENT_FILTER, TRUNCATED, Attempt, ChatRequest, LLMResult, judge_reply, read_reply
from digest.llm.schema_bounds import CHECKED, KEPT, SCHEMA_BOUNDS, resolve_bounds, restrict_schema
from digest.llm.support import (
    FORMAT_MODES,
    NO_KEY,
    Redactor,
    breaker_for,
    downgrade_mode,
    error_text,
    forget_endpoint,
    is_retryable,
    limiter_for,
    mentions_format,
    parameter_fix,
    read_keys_file,
    remember_adjustment,
    remembered_adjustments,
    remembered_mode,
    retry_after_seconds,
)

__all__ = [  # forget_endpoint is re-exported: callers reach the whole stage through digest.llm
    "ChatModel", "ChatRequest", "LLMResult", "LLMTruncated", "forget_endpoint", "get_model", "llm_cost_report",
    "model_settings_fingerprint",
]
from digest.llm.tokens import count_message_tokens, get_encoding
from digest.records import Usage
from digest.store import Store

log = logging.getLogger("digest")

MAX_RETRY_AFTER = 300.0  # a server asking us to wait longer than this is treated as a hard failure
SCHEMA_INSTRUCTION = (
    "Reply with one JSON object only: no prose, no Markdown fences. "
    "It must validate against this JSON Schema:\n"
)


class LLMTruncated(LLMError):
    """The reply hit the output limit even with the most room allowed; send less input."""


# ---- helpers ---------------------------------------------------------------------------------


def model_settings_fingerprint(settings: ModelConfig) -> dict:
    """The settings that change a model's output, for generation keys and request hashes."""
    fp = {
        "api_model": settings.api_model,
        "temperature": settings.temperature,
        "response_format": settings.response_format,
        "max_output_tokens": settings.max_output_tokens,
    }
    if settings.schema_bounds != "auto":  # absent by default, so the keys of earlier generations stay valid
        fp["schema_bounds"] = settings.schema_bounds
    return fp


def _with_schema_instruction(messages: list[dict], schema: dict) -> list[dict]:
    """Describe the schema at the end of the last user message.

    At the end, so the prefix the provider (or a local server's KV cache) has seen stays the same; in the
    user message, because some chat templates refuse a system message anywhere but first.
    """
    note = SCHEMA_INSTRUCTION + json.dumps(schema, ensure_ascii=False)
    if messages and messages[-1].get("role") == "user" and isinstance(messages[-1].get("content"), str):
        last = messages[-1]
        return [*messages[:-1], {**last, "content": last["content"] + "\n\n" + note}]
    return [*messages, {"role": "user", "content": note}]


# ---- the model --------------------------------------------------------------------------------


class ChatModel:
    """A model reached through the openai client at any base URL (OpenAI, Azure, Ollama, vLLM, llama.cpp, LM Studio)."""

    def __init__(self, model_id: str, settings: ModelConfig, store: Store | None, *,
                 api_key: str | None = None, max_retries: int = 5, backoff_base: float = 1.0,
                 backoff_max: float = 60.0, check_key: bool = True, known_models: tuple[str, ...] = (),
                 key_source: str | None = None):
        self.model_id = model_id
        self.known_models = known_models  # the config's model ids, for "did you mean" when the server has no such model
        self.settings = settings
        self.store = store
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.api_model = settings.api_model or model_id
        base = settings.base_url.strip()
        self.is_openai = bool(settings.azure_api_version) or not base or "api.openai.com" in base
        self.needs_key = self.is_openai
        self.key_env_var = settings.api_key_env or None
        # Where the key came from, for the message when a server rejects it (never the key itself).
        self.key_source = key_source or ("the API key given" if api_key else None)
        if settings.response_format not in FORMAT_MODES:
            raise ConfigError(f"models.{model_id}.response_format is {settings.response_format!r}",
                              hint="use json_schema, json_object or none")
        if settings.schema_bounds not in SCHEMA_BOUNDS:
            raise ConfigError(f"models.{model_id}.schema_bounds is {settings.schema_bounds!r}",
                              hint="use auto, all, openai or none")
        self.schema_bounds = resolve_bounds(settings.schema_bounds, openai_endpoint=self.is_openai,
                                            model_name=self.api_model)
        if self.needs_key and not api_key and check_key:  # a dry run only estimates: it needs no key
            raise LLMError(model_id, "no API key", hint=self._key_hint())
        self._redact = Redactor(api_key)
        self.calls = CallLog(store, model_id, self._redact)
        # openai (with pydantic and its httpx) is imported only where a chat model is built or called: about
        # 35 MB and a second of start-up that runs with the extractive model never use (issue 23).
        import openai

        common = dict(api_key=api_key or NO_KEY, max_retries=0, timeout=settings.timeout)
        if settings.azure_api_version:
            self.client: Any = openai.AzureOpenAI(
                azure_endpoint=base, api_version=settings.azure_api_version, **common)
        else:
            self.client = openai.OpenAI(base_url=base or None, **common)
        self.limiter = limiter_for((model_id, settings.base_url.strip(), settings.rpm, settings.tpm),
                                   settings.rpm, settings.tpm)
        self._format_key = (model_id, base)
        self.encoding = settings.encoding
        self.endpoint = str(self.client.base_url).rstrip("/")  # what is really called (OPENAI_BASE_URL too)
        self.breaker = breaker_for(base or self.endpoint)
        self.deadline_seconds = settings.deadline or 3 * settings.timeout

    def __repr__(self) -> str:
        return f"ChatModel({self.model_id!r})"

    def _rejected_key_hint(self) -> str:
        """A 401: which key was sent and that it was refused, or where a key goes when none was sent."""
        if self.key_source:
            return f"the server rejected the key from {self.key_source}: replace it with a valid key"
        if self.needs_key:
            return self._key_hint()
        return "the server wants an API key: " + self._key_hint()

    def _key_hint(self) -> str:
        if self.key_env_var:
            return f"set the environment variable {self.key_env_var} (or put it in llm.keys_file)"
        return f"set api_key_env for [models.\"{self.model_id}\"] in the config"

    # -- costs and hashes

    def estimate_cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """USD for a call; cached input falls back to the full input price when no cached price is set."""
        s = self.settings
        cached_price = s.price_cached_input if s.price_cached_input > 0 else s.price_input
        cached = min(cached_tokens, input_tokens)
        return ((input_tokens - cached) * s.price_input + cached * cached_price
                + output_tokens * s.price_output) / 1_000_000

    def request_hash(self, messages: list[dict], schema: dict) -> str:
        """Identity of a request for resume: model, settings that change output, messages, schema."""
        blob = json.dumps(
            {"model": self.model_id, "api_model": self.api_model,
             "settings": model_settings_fingerprint(self.settings), "messages": messages, "schema": schema},
            sort_keys=True, ensure_ascii=False, default=str,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def format_mode(self) -> str:
        """The response_format mode in use (after any downgrade this process made)."""
        return remembered_mode(self._format_key, self.settings.response_format)

    def _downgrade(self, mode: str) -> str | None:
        nxt = downgrade_mode(self._format_key, mode, self.settings.response_format)
        if nxt:
            log.warning("%s: the server rejected response_format %s; using %s from now on",
                        self.model_id, mode, nxt)
        return nxt

    # -- the call

    def complete_json(self, messages: list[dict], schema: dict, *, schema_name: str, purpose: str,
                      paper_key: str | None = None, generation_key: str | None = None,
                      prompt_version: str | None = None, max_tokens: int | None = None) -> LLMResult:
        """A schema-valid JSON object from the model (from the call log when this exact request succeeded before)."""
        return self.complete(ChatRequest(purpose, messages, schema, schema_name, max_tokens, paper_key,
                                         generation_key, prompt_version))

    def complete(self, req: ChatRequest) -> LLMResult:
        """Make a planned request: schema-valid JSON, from the call log when this exact request succeeded before."""
        validator = self._validator(req)
        info = Logged(req, self.request_hash(req.messages, req.schema))
        cached = self.calls.find(info.request_hash, validator)
        if cached:
            return cached
        ceiling = self.settings.max_output_tokens
        limit = self._limit(req.max_tokens)
        total = Usage()
        convo = list(req.messages)
        repaired = False
        deadline = time.monotonic() + self.deadline_seconds
        while True:
            a, call_id = self._send(convo, req, limit, info, deadline)
            total += a.usage
            data, problem = judge_reply(a.content, a.finish_reason, validator)
            self.calls.settle(call_id, a, problem)
            if problem is None:
                return LLMResult(data=data, text=a.content, usage=total, finish_reason=a.finish_reason,
                                 call_id=call_id, from_cache=False)
            if problem == TRUNCATED:
                if ceiling >= limit * 1.25:
                    # One more try with all the room the model allows; a few more tokens would only repeat
                    # the same request, so the caller is told at once to send less or ask for less.
                    limit = ceiling
                    continue
                raise LLMTruncated(self.model_id, f"{req.purpose}: the reply was cut at {limit} tokens",
                                   hint="send less input or raise max_output_tokens")
            if problem == CONTENT_FILTER:
                raise LLMError(self.model_id, f"{req.purpose}: the reply was blocked by the content filter")
            if repaired:
                raise LLMError(self.model_id, f"{req.purpose}: {problem} (after one repair attempt)",
                               hint="try another model or response_format")
            repaired = True
            log.info("%s: %s reply was not valid (%s); asking for a repair", self.model_id, req.purpose,
                     problem[:120])
            convo = [*req.messages, {"role": "assistant", "content": a.content}, {"role": "user", "content": (
                f"Your reply was not valid: {problem}\n"
                "Reply again with only the corrected JSON object, valid against the schema, nothing else.")}]

    def preflight(self) -> None:
        """A cheap look before a run spends time: the endpoint answers, takes the key, and (OpenAI) has the model."""
        import openai

        try:
            listed = self.client.models.list(timeout=min(self.settings.timeout, 15.0))
            ids = {m.id for m in listed.data}
        except openai.APIStatusError as e:
            if e.status_code in (401, 403):
                raise self._status_error(e.status_code, self._redact.error(error_text(e)), 0) from None
            return  # a server without a model list (or a passing fault): the first call will tell
        except openai.APIConnectionError as e:
            raise LLMError(self.model_id, f"cannot reach {self.endpoint}: {e.__cause__ or e}", retry=True,
                           hint=self._endpoint_hint()) from None
        except Exception:  # noqa: BLE001 - an odd model list is no reason to stop a run
            return
        # Local servers often serve one model under any name: only OpenAI's list is authoritative.
        if self.is_openai and not self.settings.azure_api_version and ids and self.api_model not in ids:
            raise LLMError(self.model_id, f"the server has no model {self.api_model!r}", status=404,
                           hint=did_you_mean(self.api_model, {*ids, *self.known_models})
                           or "check the model id (or api_model) in the config")

    def _validator(self, req: ChatRequest) -> Any:
        """A reply is checked without maxLength/maxItems: a server that ignores them is not a failure."""
        import jsonschema

        schema = restrict_schema(req.schema, CHECKED)
        try:
            validator = jsonschema.validators.validator_for(schema)(schema)
            validator.check_schema(req.schema)
        except jsonschema.SchemaError as e:
            raise LLMError(self.model_id, f"invalid JSON schema {req.schema_name}: {e.message}") from None
        return validator

    def _limit(self, max_tokens: int | None) -> int:
        """The first output limit of a request: what it asks for, within what the model allows."""
        ceiling = self.settings.max_output_tokens
        return min(max_tokens, ceiling) if max_tokens else ceiling

    def _adjustments(self) -> set[str]:
        return remembered_adjustments(self._format_key)

    def _adjust(self, fix: str) -> bool:
        """Remember a request change the server asked for; False when it was already made."""
        if not remember_adjustment(self._format_key, fix):
            return False
        log.warning("%s: the server rejected a parameter; from now on: %s", self.model_id, fix.replace("_", " "))
        return True

    def _limit_param(self, adjustments: set[str]) -> str:
        if "use_max_completion_tokens" in adjustments:
            return "max_completion_tokens"
        if "use_max_tokens" in adjustments:
            return "max_tokens"
        # OpenAI's newer models reject max_tokens; other servers often only know max_tokens.
        return "max_completion_tokens" if self.is_openai else "max_tokens"

    def _body(self, convo: list[dict], schema: dict, schema_name: str, mode: str, limit: int) -> dict:
        """The chat completion body for a conversation: the one place both live calls and batch lines are built."""
        schema = restrict_schema(schema, KEPT[self.schema_bounds])  # what this server accepts and enforces
        sent = convo if mode == "json_schema" else _with_schema_instruction(convo, schema)
        adjustments = self._adjustments()
        kwargs: dict[str, Any] = {"model": self.api_model, "messages": sent}
        kwargs[self._limit_param(adjustments)] = limit
        if self.settings.temperature is not None and "no_temperature" not in adjustments:
            kwargs["temperature"] = self.settings.temperature
        if mode == "json_schema":
            name = re.sub(r"[^A-Za-z0-9_-]", "_", schema_name)[:64] or "reply"
            kwargs["response_format"] = {
                "type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
        elif mode == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def _send(self, convo: list[dict], req: ChatRequest, limit: int, info: Logged,
              deadline: float) -> tuple[Attempt, int | None]:
        """One completion and its call log row, retrying 429/5xx/connection errors and downgrading
        response_format as needed."""
        import openai

        retries = 0
        while True:
            if self.breaker.open:
                raise LLMError(self.model_id, f"{self.endpoint} stopped answering ({self.breaker.failures} "
                                              f"calls in a row: {self.breaker.last}); not called again in this run",
                               retry=True, hint=self._endpoint_hint())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LLMError(self.model_id, f"{req.purpose}: no reply within the call's deadline of "
                                              f"{self.deadline_seconds:.0f} s (after {retries} retries)",
                               retry=True, hint=self._endpoint_hint())
            mode = self.format_mode
            body = self._body(convo, req.schema, req.schema_name, mode, limit)
            sent = body["messages"]
            if self.limiter.tokens:
                self.limiter.acquire(count_message_tokens(sent, self.model_id, self.encoding) + limit)
            else:
                self.limiter.acquire(0)
            t0 = time.monotonic()
            try:
                resp = self.client.chat.completions.create(**body, timeout=min(self.settings.timeout, remaining))
            except openai.APIStatusError as e:
                self.breaker.succeeded()
                ms = int((time.monotonic() - t0) * 1000)
                status = e.status_code
                detail = self._redact.error(error_text(e))
                self.calls.failure(info, sent, ms, status, detail)
                fix = parameter_fix(detail, self._limit_param(self._adjustments()))
                if status == 400 and fix and self._adjust(fix):
                    continue
                if status == 400 and mode != "none" and mentions_format(detail) and self._downgrade(mode):
                    continue
                if is_retryable(status, e) and retries < self.max_retries:
                    self._pause(retries, e.response.headers, f"HTTP {status}", deadline)
                    retries += 1
                    continue
                raise self._status_error(status, detail, retries) from None
            except openai.APIConnectionError as e:
                ms = int((time.monotonic() - t0) * 1000)
                what = "timeout" if isinstance(e, openai.APITimeoutError) else "connection error"
                detail = self._redact.error(f"{what}: {e.__cause__ or e}")
                self.calls.failure(info, sent, ms, None, detail)
                self.breaker.failed(what)
                if retries < self.max_retries and not self.breaker.open:
                    self._pause(retries, None, what, deadline)
                    retries += 1
                    continue
                raise LLMError(self.model_id, f"{detail} (after {retries} retries)", retry=True,
                               hint=self._endpoint_hint()) from None
            except Exception as e:  # noqa: BLE001 - the client can raise many things; each is one failure
                ms = int((time.monotonic() - t0) * 1000)
                detail = self._redact.error(f"{type(e).__name__}: {e}")
                self.calls.failure(info, sent, ms, None, detail)
                raise LLMError(self.model_id, f"unexpected reply: {detail}") from None
            ms = int((time.monotonic() - t0) * 1000)
            # Stored first, before it is read, counted or judged: a kill from here on loses no paid reply.
            row = self.calls.received(info, sent, read_reply(resp),
                                      self._reported_usage(resp, ms) or Usage(latency_ms=ms))
            self.breaker.succeeded()
            try:
                return self._attempt(resp, sent, ms), row
            except LLMError as e:
                self.calls.unreadable(row, e.message)
                if e.retry and retries < self.max_retries:  # e.g. no choices: a passing server fault
                    self._pause(retries, None, e.message, deadline)
                    retries += 1
                    continue
                raise

    def _attempt(self, resp: Any, sent: list[dict], ms: int, price_factor: float = 1.0) -> Attempt:
        """Content, finish reason and usage (priced) of a chat completion, live or from a batch result."""
        reply = read_reply(resp)
        if reply is None:
            raise LLMError(self.model_id, "the server returned no choices", retry=True)
        content, finish_reason = reply
        usage = self._reported_usage(resp, ms, price_factor)
        if usage is None:  # some local servers report no usage: count it ourselves
            tin = count_message_tokens(sent, self.model_id, self.encoding)
            tout = get_encoding(self.model_id, self.encoding).count(content)
            usage = Usage(input_tokens=tin, output_tokens=tout, cost=self.estimate_cost(tin, tout) * price_factor,
                          latency_ms=ms)
        return Attempt(sent=sent, content=content, finish_reason=finish_reason, usage=usage)

    def _reported_usage(self, resp: Any, ms: int, price_factor: float = 1.0) -> Usage | None:
        """The usage the server reported for a completion, priced; None when it reported none."""
        usage = getattr(resp, "usage", None)
        if usage is None or usage.prompt_tokens is None:
            return None
        details = getattr(usage, "prompt_tokens_details", None)
        cached = (getattr(details, "cached_tokens", None) or 0) if details else 0
        tin, tout = usage.prompt_tokens or 0, usage.completion_tokens or 0
        return Usage(input_tokens=tin, cached_tokens=cached, output_tokens=tout,
                     cost=self.estimate_cost(tin, tout, cached) * price_factor, latency_ms=ms)

    def _endpoint_hint(self) -> str:
        return (f"is the server at {self.endpoint} up? raise models.\"{self.model_id}\".timeout (and deadline) "
                "for a slow server")

    def _pause(self, retries: int, headers: Any, why: str, deadline: float) -> None:
        wait = retry_after_seconds(headers)
        if wait is not None and wait > MAX_RETRY_AFTER:
            raise LLMError(self.model_id, f"{why}: the server asks to wait {wait:.0f} s", retry=True,
                           hint="try again later")
        backoff = min(self.backoff_max, self.backoff_base * 2 ** retries) * random.uniform(0.5, 1.0)
        # The server's Retry-After is a minimum; a little jitter keeps threads from retrying in lockstep.
        wait = wait + random.uniform(0, 0.1 * max(wait, self.backoff_base)) if wait is not None else backoff
        if time.monotonic() + wait >= deadline:
            raise LLMError(self.model_id, f"{why}; a retry in {wait:.0f} s would pass the call's deadline of "
                                          f"{self.deadline_seconds:.0f} s", retry=True, hint=self._endpoint_hint())
        log.info("%s: %s; retry %d/%d in %.1f s", self.model_id, why, retries + 1, self.max_retries, wait)
        time.sleep(wait)

    def _status_error(self, status: int, detail: str, retries: int) -> LLMError:
        hints = {
            401: self._rejected_key_hint(),
            403: "the key has no access to this model",
            404: f"check the model name ({self.api_model}) and base_url",
            429: "the rate limit or quota is exhausted; lower rpm/tpm or wait",
        }
        hint = hints.get(status) or ("the server is failing; try again later" if status >= 500 else None)
        suffix = f" (after {retries} retries)" if retries else ""
        return LLMError(self.model_id, f"HTTP {status}: {detail[:500]}{suffix}", status=status,
                        retry=status == 429 or status >= 500, hint=hint)

    # -- the Batch API: the same requests, sent in bulk, logged as the live calls would be

    def batch_request_body(self, req: ChatRequest) -> dict:
        """The chat completion body complete() would send now, for one line of a Batch API input file."""
        return self._body(req.messages, req.schema, req.schema_name, self.format_mode, self._limit(req.max_tokens))

    def logged_reply(self, req: ChatRequest) -> LLMResult | None:
        """The stored successful reply to exactly this request (made live or by a batch), else None."""
        return self.calls.find(self.request_hash(req.messages, req.schema), self._validator(req))

    def record_batch_reply(self, req: ChatRequest, sent: list[dict], reply: dict | None, *, batch_id: str,
                           error: str | None = None, price_factor: float = 0.5) -> str | None:
        """Log one Batch API result as the live call would be logged; returns what is wrong, or None when ok.

        The reply is read and judged by the live path's own code; an ok row carries the request hash of
        `req`, so complete() later serves it without HTTP. The Batch API bills less, hence price_factor.
        """
        from openai.types.chat import ChatCompletion

        info = Logged(req, self.request_hash(req.messages, req.schema))
        problem = error or (None if reply else "no reply")
        if problem is None:
            try:
                a = self._attempt(ChatCompletion.model_validate(reply), sent, 0, price_factor)
            except (ValueError, LLMError) as e:  # pydantic's ValidationError is a ValueError
                problem = f"unexpected reply: {getattr(e, 'message', e)}"[:500]
        if problem is not None:
            self.calls.failure(info, sent, 0, 200 if reply else None, problem, batch_id)
            return problem
        _, problem = judge_reply(a.content, a.finish_reason, self._validator(req))
        self.calls.attempt(info, a, problem, batch_id)
        return problem


def get_model(model_id: str, config: Config, store: Store | None, *, check_key: bool = True) -> ChatModel:
    """The configured model, its API key from the environment (settings.api_key_env) or llm.keys_file."""
    settings = config.model(model_id)
    known = tuple(known_model_names(config))
    key = source = None
    env_name = settings.api_key_env
    if env_name:
        key = os.environ.get(env_name)
        source = f"the environment variable {env_name}"
        if not key and config.llm.keys_file:
            key = read_keys_file(config.resolve(config.llm.keys_file)).get(env_name)
            source = f"{env_name} in llm.keys_file ({config.llm.keys_file})"
    try:
        return ChatModel(model_id, settings, store, api_key=key or None, max_retries=config.llm.max_retries,
                         check_key=check_key, known_models=known, key_source=source if key else None)
    except LLMError as e:
        if model_id in config.models:
            raise
        suggestion = did_you_mean(model_id, known)
        if suggestion:  # a typo: a table for the misspelt name is the wrong fix
            raise LLMError(model_id, f"is not a configured model; {suggestion}",
                           hint="configured: " + ", ".join([*config.models, "extractive"])) from e
        raise LLMError(model_id, "is not configured and has no OpenAI API key", hint=(
            f"add a [models.\"{model_id}\"] table (base_url for a local server) or set {env_name}")) from e
