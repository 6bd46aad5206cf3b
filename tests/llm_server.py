"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: chat completions, models, files, batches.

Use the `llm_server` fixture (import it into a test module or conftest), point a model's base_url at
`llm_server.base_url`, and script misbehaviour with `llm_server.push(rate_limited(1), server_error(), ...)`:
each pushed Step is consumed by the next chat completion request, in order. With nothing queued, the
server answers normally: `responder(messages, schema)` (default: an object built from the JSON schema)
after `latency` seconds. Every request is recorded in `llm_server.requests`.

A model whose id contains "strict-roles" rejects messages whose roles do not alternate, as Gemma's and
Mistral's chat templates do. A gpt-*/o* model (or the Azure route) rejects schema keywords OpenAI's strict
mode does not permit; any other model cuts its reply to the schema's maxLength and maxItems, as llama.cpp's
grammar does.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

Responder = Callable[[list[dict], "dict | None"], "dict | str"]


@dataclass
class Step:
    """What the server does with one chat completion request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float | None = None  # seconds before answering; None: the server's latency
    content: str | None = None  # raw reply content instead of the responder's
    finish_reason: str | None = None  # force a finish reason (e.g. "length")
    body: dict | None = None  # the JSON body of an error reply
    no_choices: bool = False  # a 200 whose `choices` list is empty (seen from overloaded proxies)


def rate_limited(retry_after: float | str = 1, *, ms: float | None = None) -> Step:
    """A 429 asking to retry after `retry_after` seconds (or an HTTP date), or `ms` milliseconds."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if ms is not None:
        headers["retry-after-ms"] = str(ms)
    return Step(status=429, headers=headers, body=_error("Rate limit reached. Please try again later.",
                                                         "rate_limit_exceeded"))


def server_error(status: int = 500) -> Step:
    """A 5xx reply."""
    return Step(status=status, body=_error("The server had an error while processing your request.",
                                           "server_error"))


def slow(seconds: float) -> Step:
    """A normal reply after `seconds`."""
    return Step(delay=seconds)


def bad_json(content: str = '{"answer": "unterminated') -> Step:
    """A 200 whose content is not valid JSON."""
    return Step(content=content)


def truncated(content: str | None = None) -> Step:
    """A 200 with finish_reason=length."""
    return Step(content=content, finish_reason="length")


def no_choices() -> Step:
    """A 200 with an empty `choices` list."""
    return Step(no_choices=True)


STRICT_ROLES = "strict-roles"  # a model id containing this answers like Gemma's or Mistral's chat template


def role_order_problem(messages: list[dict]) -> str | None:
    """What a chat template that needs alternating roles says about these messages (None: it accepts them).

    As Gemma's and Mistral's templates do: an optional system message first, then user, assistant, user, ...
    """
    rest = messages[1:] if messages and messages[0].get("role") == "system" else messages
    for i, m in enumerate(rest):
        if m.get("role") != ("user" if i % 2 == 0 else "assistant"):
            if m.get("role") == "system":
                return "System message must be at the beginning."
            return "Conversation roles must alternate user/assistant/user/assistant/..."
    return None


# OpenAI strict mode rejects a schema using any of these (Structured Outputs, "Supported schemas", 2025):
# of the bounds it takes only pattern/format, minimum/maximum/multipleOf and minItems/maxItems.
OPENAI_UNSUPPORTED = frozenset({
    "minLength", "maxLength", "uniqueItems", "minProperties", "maxProperties", "patternProperties",
    "unevaluatedProperties", "propertyNames", "unevaluatedItems", "contains", "minContains", "maxContains",
    "allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas",
})
_OPENAI_MODEL = re.compile(r"(^|/)(gpt-|chatgpt-|o\d)", re.IGNORECASE)


def openai_schema_problem(schema: Any, context: tuple = ()) -> str | None:
    """OpenAI's complaint about the first keyword its strict mode does not permit (None: all permitted)."""
    if isinstance(schema, list):
        for s in schema:
            found = openai_schema_problem(s, context)
            if found:
                return found
    elif isinstance(schema, dict):
        for k, v in schema.items():
            if k in OPENAI_UNSUPPORTED:
                return f"In context={context}, '{k}' is not permitted."
            if k in ("properties", "$defs", "definitions") and isinstance(v, dict):
                for name, s in v.items():
                    found = openai_schema_problem(s, (*context, k, name))
                    if found:
                        return found
            elif isinstance(v, dict | list) and k not in ("enum", "const", "required"):
                found = openai_schema_problem(v, (*context, k))
                if found:
                    return found
    return None


def within_bounds(value: Any, schema: dict) -> Any:
    """The value as a grammar enforcing maxLength and maxItems lets a model write it: cut, still valid JSON."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: within_bounds(v, props.get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        kept = value[: schema["maxItems"]] if "maxItems" in schema else value
        return [within_bounds(v, schema.get("items", {})) for v in kept]
    if isinstance(value, str) and "maxLength" in schema:
        return value[: schema["maxLength"]]
    return value


def _error(message: str, code: str, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


# ---- building a reply from a JSON schema ------------------------------------------------------------


def example_from_schema(schema: dict, root: dict | None = None) -> Any:
    """A value valid against a (simple) JSON schema: strings "text", arrays of minItems items, numbers at their minimum."""
    root = root if root is not None else schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return example_from_schema(target, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for alt in ("anyOf", "oneOf"):
        if schema.get(alt):
            options = [s for s in schema[alt] if s.get("type") != "null"] or schema[alt]
            return example_from_schema(options[0], root)
    if schema.get("allOf"):
        merged: dict = {}
        for s in schema["allOf"]:
            merged.update(s)
        return example_from_schema(merged, root)
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t is None:
        t = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if t == "object":
        return {k: example_from_schema(v, root) for k, v in schema.get("properties", {}).items()}
    if t == "array":
        n = max(schema.get("minItems", 1), 1)
        if "maxItems" in schema:
            n = min(n, schema["maxItems"])
        items = schema.get("items", {"type": "string"})
        values = [example_from_schema(items, root) for _ in range(n)]
        if schema.get("uniqueItems") and all(isinstance(v, str) for v in values):
            values = [f"{v} {i + 1}" for i, v in enumerate(values)]
        return values
    if t == "string":
        text = "text"
        if schema.get("format") == "date":
            text = "2024-01-01"
        min_len = schema.get("minLength", 0)
        if len(text) < min_len:
            text = (text + " ") * (min_len // 5 + 1)
        if "maxLength" in schema:
            text = text[: schema["maxLength"]]
        return text
    if t in ("integer", "number"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in schema else 1)
        if "maximum" in schema:
            lo = min(lo, schema["maximum"])
        return int(lo) if t == "integer" else float(lo)
    if t == "boolean":
        return True
    return None


def schema_from_messages(messages: list[dict]) -> dict | None:
    """Like a real model, read the JSON schema a client put in its prompt (after the words 'JSON Schema')."""
    for m in messages:
        content = m.get("content")
        if not isinstance(content, str):
            continue
        at = content.find("JSON Schema")
        brace = content.find("{", at) if at >= 0 else -1
        if brace >= 0:
            try:
                schema, _ = json.JSONDecoder().raw_decode(content[brace:])
                if isinstance(schema, dict):
                    return schema
            except ValueError:
                continue
    return None


_OVERVIEW_PAPER = re.compile(r"^\[(\d+)\] (.+)$", re.MULTILINE)


def is_overview_request(schema: dict | None) -> bool:
    """True for the week's overview call (its schema asks for themes)."""
    return "themes" in (schema or {}).get("properties", {})


def overview_responder(messages: list[dict], schema: dict | None) -> dict:
    """Like a model writing the week's overview: themes over pairs of the numbered papers in the prompt, each
    naming its papers, in the language the prompt asks for (Japanese for language code "ja")."""
    prompt = "\n".join(m.get("content") or "" for m in messages)
    block = prompt[prompt.rfind("<papers>"):prompt.rfind("</papers>")]
    papers = [(int(n), title) for n, title in _OVERVIEW_PAPER.findall(block)]
    ja = 'language code "ja"' in prompt
    themes = []
    for i in range(0, max(len(papers), 1), 2):
        pair = papers[i:i + 2] or [(1, "the paper")]
        cited = " ".join(f"[{n}]" for n, _ in pair)
        titles = "; ".join(t for _, t in pair)
        # Only what the papers' titles say: a theme the support check must keep.
        text = (f"{cited} はいずれも {titles} を扱っています。" if ja else f"{cited} both take up {titles}.")
        themes.append({"title": f"テーマ{len(themes) + 1}" if ja else f"Theme {len(themes) + 1}",
                       "text": text, "papers": [n for n, _ in pair]})
    return {"themes": themes[:5]}


_LANGUAGE_CODE = re.compile(r'language code "([a-z-]+)"')
JA_TLDR = "本論文は提案手法を評価し、その有効性を示している。"
JA_SUMMARY = "本論文は新しい手法を提案する。実験によりその有効性を確認した。主な限界についても議論している。"


def distinct_picks(items: list, n: int, *, step: int = 3) -> list:
    """n items taken every `step` places round the list, skipping any taken already (repeats only when the
    list has fewer than n): a stand-in model gives different questions different quotes, as a good model does."""
    if not items:
        return []
    taken: list[int] = []
    at = 0
    for _ in range(n):
        at = (at + step) % len(items)
        if len(taken) < len(items):
            while at in taken:
                at = (at + 1) % len(items)
        taken.append(at)
    return [items[i] for i in taken]


def asked_language(messages: list[dict]) -> str:
    """The language code the system prompt asks the model to write in ('en' when it names none)."""
    for m in messages:
        found = _LANGUAGE_CODE.search(m.get("content") or "") if isinstance(m.get("content"), str) else None
        if found:
            return found.group(1)
    return "en"


def default_responder(messages: list[dict], schema: dict | None) -> dict:
    """An object valid against the schema (the overview's as a model would write it), or a fixed object."""
    if is_overview_request(schema):
        return overview_responder(messages, schema)
    return example_from_schema(schema) if schema else {"answer": "text"}


_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def rough_tokens(text: str) -> list[str]:
    """Words and punctuation: a stand-in for a tokenizer that keeps prefixes comparable."""
    return _TOKEN_RE.findall(text)


def _message_tokens(messages: list[dict]) -> list[str]:
    seq: list[str] = []
    for m in messages:
        seq.append(f"<|{m.get('role', '')}|>")
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        seq.extend(rough_tokens(content or ""))
    return seq


@dataclass
class Recorded:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    at: float  # time.monotonic() on arrival


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        pass


class LLMServer:
    """An OpenAI-compatible server in a background thread; see the module docstring."""

    def __init__(self, *, latency: float = 0.0, responder: Responder | None = None,
                 models: tuple[str, ...] = ("test-model",), reject_json_schema: bool = False,
                 reject_json_object: bool = False, api_key: str | None = None,
                 cache_min_tokens: int = 0, batch_polls_before_done: int = 0):
        self.latency = latency
        self.responder: Responder = responder or default_responder
        self.models = list(models)
        self.reject_json_schema = reject_json_schema
        self.reject_json_object = reject_json_object
        self.api_key = api_key  # when set, other keys get a 401 that (like OpenAI's) quotes the key
        self.cache_min_tokens = cache_min_tokens
        self.batch_polls_before_done = batch_polls_before_done
        self.requests: list[Recorded] = []
        self.steps: deque[Step] = deque()
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self._prompts: dict[str, list[list[str]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # -- lifecycle

    def start(self) -> LLMServer:
        """Listen on a free port of 127.0.0.1."""
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="llm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow replies still waiting are cut short."""
        self._stopping.set()
        if self._server is not None:
            # A later server may get the same port: it must not inherit what clients learnt about this one.
            from digest.llm.client import forget_endpoint

            forget_endpoint(self.base_url)
            forget_endpoint(self.base_url.removesuffix("/v1"))
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        """The base URL to configure (ends in /v1)."""
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    # -- scripting and inspection

    def push(self, *steps: Step) -> None:
        """Queue behaviours for the next chat completion requests, in order."""
        with self._lock:
            self.steps.extend(steps)

    def chat_requests(self) -> list[dict]:
        """The JSON bodies of the chat completion requests received, in order."""
        with self._lock:
            return [r.json for r in self.requests if r.path.endswith("/chat/completions")]

    def chat_times(self) -> list[float]:
        """Arrival times (time.monotonic) of the chat completion requests."""
        with self._lock:
            return [r.at for r in self.requests if r.path.endswith("/chat/completions")]

    # -- the WSGI app

    def _app(self, environ: dict, start_response: Callable) -> Any:
        req = Request(environ)
        body: Any = None
        if req.mimetype == "application/json":
            body = req.get_json(silent=True)
        with self._lock:
            self.requests.append(Recorded(req.method, req.path, dict(req.headers), body, time.monotonic()))
        try:
            resp = self._route(req, body)
        except Exception as e:  # noqa: BLE001 - a bug in a test responder becomes a 500 the test can see
            resp = _json(500, _error(f"test server error: {type(e).__name__}: {e}", "server_error"))
        return resp(environ, start_response)

    def _route(self, req: Request, body: Any) -> Response:
        path = req.path.rstrip("/")
        if self.api_key is not None:
            # OpenAI sends the key as a bearer token, Azure in an api-key header.
            given = req.headers.get("api-key") or req.headers.get("Authorization", "").removeprefix("Bearer ")
            if given != self.api_key:
                return _json(401, _error(f"Incorrect API key provided: {given}. You can find your API key "
                                         "at https://platform.openai.com/account/api-keys.",
                                         "invalid_api_key"))
        if req.method == "POST" and (path == "/v1/chat/completions"
                                     or re.fullmatch(r"/openai/deployments/[^/]+/chat/completions", path)):
            return self._chat_http(body or {}, azure=path.startswith("/openai/"))
        if path == "/v1/models" and req.method == "GET":
            return _json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.models]})
        if path == "/v1/files" and req.method == "POST":
            return self._upload(req)
        m = re.fullmatch(r"/v1/files/([^/]+)(/content)?", path)
        if m:
            f = self.files.get(m.group(1))
            if f is None:
                return _json(404, _error("No such file", "not_found"))
            if m.group(2):
                return Response(f["data"], 200, mimetype="application/octet-stream")
            if req.method == "DELETE":
                del self.files[m.group(1)]
                return _json(200, {"id": f["meta"]["id"], "object": "file", "deleted": True})
            return _json(200, f["meta"])
        if path == "/v1/batches" and req.method == "POST":
            return self._create_batch(body or {})
        if path == "/v1/batches" and req.method == "GET":
            return _json(200, {"object": "list", "data": list(self.batches.values()), "has_more": False})
        m = re.fullmatch(r"/v1/batches/([^/]+)(/cancel)?", path)
        if m:
            b = self.batches.get(m.group(1))
            if b is None:
                return _json(404, _error("No such batch", "not_found"))
            if m.group(2):
                b.update(status="cancelled", cancelled_at=int(time.time()))
                return _json(200, b)
            return _json(200, self._poll_batch(b))
        return _json(404, _error(f"unknown endpoint {req.method} {path}", "not_found"))

    # -- chat completions

    def _chat_http(self, body: dict, *, azure: bool = False) -> Response:
        with self._lock:
            step = self.steps.popleft() if self.steps else Step()
        delay = self.latency if step.delay is None else step.delay
        if delay > 0:
            self._stopping.wait(delay)
        if step.status != 200:
            return _json(step.status, step.body or _error(f"HTTP {step.status}", "error"), step.headers)
        status, reply = self.complete(body, step, openai_style=azure)
        if step.no_choices:
            reply["choices"] = []
        return _json(status, reply, step.headers)

    def complete(self, body: dict, step: Step | None = None, *, openai_style: bool = False) -> tuple[int, dict]:
        """Answer one chat completion body (HTTP status, JSON reply); also used for batch lines.

        OpenAI-style (Azure, or a gpt-*/o* model id) rejects schema keywords strict mode does not permit;
        any other model enforces maxLength and maxItems on its reply, as llama.cpp's grammar does.
        """
        step = step or Step()
        openai_style = openai_style or bool(_OPENAI_MODEL.search(body.get("model", "")))
        messages = body.get("messages") or []
        if STRICT_ROLES in body.get("model", ""):
            problem = role_order_problem(messages)
            if problem:  # llama.cpp's server reports a template's exception as a 400 with its message
                return 400, {"error": {"code": 400, "message": problem, "type": "invalid_request_error"}}
        fmt = (body.get("response_format") or {}).get("type", "text")
        if fmt == "json_schema" and self.reject_json_schema:
            return 400, _error("response_format of type json_schema is not supported by this server",
                               "unsupported_parameter", "response_format")
        if fmt == "json_object" and self.reject_json_object:
            return 400, _error("response_format of type json_object is not supported by this server",
                               "unsupported_parameter", "response_format")
        if fmt == "json_schema":
            schema = body["response_format"]["json_schema"].get("schema")
            problem = openai_schema_problem(schema) if openai_style else None
            if problem:
                name = body["response_format"]["json_schema"].get("name")
                return 400, _error(f"Invalid schema for response_format '{name}': {problem}",
                                   "invalid_json_schema", "response_format")
        else:
            schema = schema_from_messages(messages)
        if step.content is not None:
            content = step.content
        else:
            produced = self.responder(messages, schema)
            if fmt == "json_schema" and not openai_style and schema and not isinstance(produced, str):
                produced = within_bounds(produced, schema)
            content = produced if isinstance(produced, str) else json.dumps(produced, ensure_ascii=False)
        finish = step.finish_reason or "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        out = rough_tokens(content)
        if limit and len(out) > limit:
            # Cut where a real model would have stopped: after `limit` tokens.
            cut = [m.end() for m in _TOKEN_RE.finditer(content)][limit - 1]
            content, finish = content[:cut], "length"
        prompt, cached = self._prompt_usage(body.get("model", ""), messages)
        with self._lock:
            self._counter += 1
            n = self._counter
        return 200, {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", ""), "system_fingerprint": "fp_test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                         "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": min(len(out), limit or len(out)),
                      "total_tokens": prompt + min(len(out), limit or len(out)),
                      "prompt_tokens_details": {"cached_tokens": cached}},
        }

    def _prompt_usage(self, model: str, messages: list[dict]) -> tuple[int, int]:
        """Prompt tokens, and cached tokens: the longest prefix shared with an earlier prompt, in 128s."""
        seq = _message_tokens(messages)
        with self._lock:
            earlier = self._prompts.setdefault(model, [])
            best = 0
            for old in earlier:
                n = 0
                for a, b in zip(old, seq):
                    if a != b:
                        break
                    n += 1
                best = max(best, n)
            earlier.append(seq)
        cached = best // 128 * 128
        if cached < self.cache_min_tokens:
            cached = 0
        return len(seq) + 3, min(cached, len(seq))

    # -- files and batches

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:24]}"

    def _add_file(self, data: bytes, filename: str, purpose: str) -> dict:
        meta = {"id": self._new_id("file"), "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}
        with self._lock:
            self.files[meta["id"]] = {"meta": meta, "data": data}
        return meta

    def _upload(self, req: Request) -> Response:
        f = req.files.get("file")
        if f is None:
            return _json(400, _error("missing file", "invalid_request"))
        return _json(200, self._add_file(f.read(), f.filename or "upload", req.form.get("purpose", "batch")))

    def _create_batch(self, body: dict) -> Response:
        if body.get("input_file_id") not in self.files:
            return _json(400, _error("input_file_id not found", "invalid_request", "input_file_id"))
        b = {"id": self._new_id("batch"), "object": "batch", "endpoint": body.get("endpoint", ""),
             "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window", "24h"),
             "status": "validating", "created_at": int(time.time()), "output_file_id": None,
             "error_file_id": None, "errors": None, "metadata": body.get("metadata"),
             "request_counts": {"total": 0, "completed": 0, "failed": 0},
             "_polls": self.batch_polls_before_done}
        with self._lock:
            self.batches[b["id"]] = b
        return _json(200, _public(b))

    def _poll_batch(self, b: dict) -> dict:
        if b["status"] in ("validating", "in_progress"):
            if b["_polls"] > 0:
                b["_polls"] -= 1
                b["status"] = "in_progress"
            else:
                self._run_batch(b)
        return _public(b)

    def _run_batch(self, b: dict) -> None:
        lines = self.files[b["input_file_id"]]["data"].decode("utf-8").splitlines()
        out, errors, done, failed = [], [], 0, 0
        for line in lines:
            if not line.strip():
                continue
            item = json.loads(line)
            status, reply = self.complete(item.get("body") or {})
            record = {"id": self._new_id("batch_req"), "custom_id": item.get("custom_id"),
                      "response": {"status_code": status, "request_id": self._new_id("req"), "body": reply},
                      "error": None}
            if status == 200:
                done += 1
                out.append(record)
            else:
                failed += 1
                errors.append(record)
        if out:
            b["output_file_id"] = self._add_file(
                "".join(json.dumps(r) + "\n" for r in out).encode(), "batch_output.jsonl", "batch_output")["id"]
        if errors:
            b["error_file_id"] = self._add_file(
                "".join(json.dumps(r) + "\n" for r in errors).encode(), "batch_errors.jsonl", "batch_output")["id"]
        b.update(status="completed", completed_at=int(time.time()),
                 request_counts={"total": done + failed, "completed": done, "failed": failed})


def _public(b: dict) -> dict:
    return {k: v for k, v in b.items() if not k.startswith("_")}


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status, headers=headers or {}, mimetype="application/json")


@pytest.fixture
def llm_server():
    """A running LLMServer; stopped after the test."""
    server = LLMServer().start()
    yield server
    server.stop()


# ---- a stand-in model that quotes the paper, and can fabricate answers around real quotes ----------------

_PAGE_BLOCK = re.compile(r"^\[page (\d+)\]\n(.*?)(?=^\[page \d+\]|^</paper>)", re.M | re.S)
_SENTENCE = re.compile(r"[^.!?\[\]]{60,300}[.!?]")
_JUDGE_ITEM = re.compile(r"^\[(\d+)\]\nQuestion: .*\nAnswer: (.*)\nQuote: ", re.M)
_MADE_UP_NUMBERS = ("37.9", "83.17", "61.4", "92.6", "4.73")


class QuotingModel:
    """A responder whose answers quote real sentences of the pages in the prompt, in English or Japanese.

    `fabricate(i)` says what answer i does with its (real, verbatim) quote: None, a faithful answer built
    from the quote; "number", an answer that also claims a number and a model name the paper does not give;
    "claim", an answer that turns the quote around in the quote's own words (only a judge can tell). The
    answers it fabricated are remembered, and its support judge (a request whose schema has "labels")
    labels exactly those "not" and the others "supported", as an attentive model would.
    """

    def __init__(self, *, language: str = "en", fabricate: Callable[[int], str | None] = lambda i: None):
        self.language = language
        self.fabricate = fabricate
        self.fabricated: set[str] = set()
        self.judge_calls = 0
        self._lock = threading.Lock()

    def __call__(self, messages: list[dict], schema: dict | None) -> dict:
        props = (schema or {}).get("properties", {})
        text = "\n".join(m.get("content") or "" for m in messages if isinstance(m.get("content"), str))
        if "labels" in props:
            return self._judge(messages[-1].get("content") or "")
        pages = [(int(n), t) for n, t in _PAGE_BLOCK.findall(text)]
        sentences = [(n, " ".join(s.split("[…]")[-1].split())) for n, t in pages for s in _SENTENCE.findall(t)]
        if "questions" in props:
            first = [s for _, s in sentences[:2]]
            return {"kind": "empirical", "tldr": first[0][:150] if first else "About the paper.",
                    "summary": " ".join(first) or "The paper.",
                    "questions": [{"question": f"What does the paper report about point {i}?" if self.language == "en"
                                   else f"論文はポイント{i}について何を報告しているか?",
                                   "search_terms": ["result", "method"]} for i in range(1, 9)]}
        answers = []
        for i, (page, sentence) in enumerate(distinct_picks(sentences, 8, step=5) or [(0, "")] * 8, 1):
            quote = " ".join(sentence.split()[:24])
            answer = self._answer(quote, self.fabricate(i), text)
            answers.append({"question_index": i, "answer": answer, "pages": [page], "quote": quote})
        return {"answers": answers}

    def _answer(self, quote: str, kind: str | None, paper: str) -> str:
        body = quote.rstrip(".")
        latin = [w for w in re.findall(r"[A-Za-z][A-Za-z-]{3,}", quote)][:4]
        if kind == "number":
            number = next((n for n in _MADE_UP_NUMBERS if n not in paper), "99.99")
            answer = (f"According to the paper, {body}, and it beats Zephyrion-7 by {number}%." if self.language == "en"
                      else f"論文によると、{' '.join(latin)}について、Zephyrion-7より{number}%高い性能を示しました。")
        elif kind == "claim":
            answer = (f"The paper rejects the idea that {body[0].lower() + body[1:]}." if self.language == "en"
                      else f"論文は{' '.join(latin)}について述べた内容を否定しています。")
        else:
            # Numbers as the quote writes them (33,511; 12.5%), not the digits of a name (GPT-4, Sb2O3).
            numbers = " ".join(re.findall(r"(?<![\w.,-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?(?![\w,])", quote, re.ASCII))
            answer = (f"According to the paper, {body}." if self.language == "en"
                      else f"論文によると、{' '.join(latin)}について述べています{('(' + numbers + ')') if numbers else ''}。")
        if kind:
            with self._lock:
                self.fabricated.add(" ".join(answer.split()))
        return answer

    def _judge(self, prompt: str) -> dict:
        with self._lock:
            self.judge_calls += 1
            made_up = set(self.fabricated)
        # The prompt neutralises angle brackets in answers; none of ours have any.
        return {"labels": [{"index": int(n), "label": "not" if " ".join(a.split()) in made_up else "supported",
                            "reason": "the quote does not state this" if " ".join(a.split()) in made_up else "stated"}
                           for n, a in _JUDGE_ITEM.findall(prompt)]}


# ---- a stand-in for the faults a real 1.5B model showed (issue 24) ------------------------------------------

_TITLE = re.compile(r"^- Title: (.*)$", re.M)
_PARTS = ("method", "data", "results", "limitations")


class SmallModel:
    """A responder that writes like Qwen2.5-Coder-1.5B did on real papers, one fault per mode:

    - "same_answer": one answer, with one long quote, for every question;
    - "runaway_quotes": each quote runs on past its sentence into words the paper does not have, to the bound;
    - "title_tldr": the TL;DR is the paper's title (in the first reply; a repair writes a sentence);
    - "long_tldr": the TL;DR is three sentences, cut by the length bound;
    - "near_duplicate_questions": "main method" beside "main approach", "main results" beside "main
      quantitative results" (in the first reply; a repair asks about other things);
    - "repeats_after_repair": questions 2 to 5 all ask "What is the method used in the paper?", in the repair
      too (as the 1.5B model did on the corpus);
    - "copied_tldr": the TL;DR is the summary's first sentence, in the repair too;
    - "invented_theme": the overview adds a theme claiming what no paper says.
    Without a mode it answers like a faithful model: different questions, each answered from its own sentence.
    """

    def __init__(self, *modes: str, language: str = "en"):
        self.modes, self.language = set(modes), language
        self.repair_prompts: list[str] = []

    def __call__(self, messages: list[dict], schema: dict | None) -> dict:
        props = (schema or {}).get("properties", {})
        text = "\n".join(m.get("content") or "" for m in messages if isinstance(m.get("content"), str))
        if is_overview_request(schema):
            reply = overview_responder(messages, schema)
            if "invented_theme" in self.modes:
                reply["themes"].insert(0, {
                    "title": "Writing needs quantum hardware",
                    "text": "Both papers [1] [2] argue that expository writing requires quantum annealing hardware "
                            "and crowds of professional typesetters.", "papers": [1, 2]})
            return reply
        title = (_TITLE.search(text) or [None, "the paper"])[1]
        pages = [(int(n), t) for n, t in _PAGE_BLOCK.findall(text)]
        sentences = [(n, " ".join(s.split("[…]")[-1].split())) for n, t in pages for s in _SENTENCE.findall(t)]
        last = messages[-1].get("content") or ""
        repair = "cannot be used as it is" in last
        if repair:
            self.repair_prompts.append(last)
        if "questions" in props:
            return self._outline(title, [s for _, s in sentences], repair)
        # Question i was written from sentence i: its answer quotes that sentence.
        picks = (sentences + distinct_picks(sentences, 8))[:8] if sentences else [(0, "")] * 8
        answers = []
        for i, (page, sentence) in enumerate(picks, 1):
            quote = sentence
            if "same_answer" in self.modes:
                page, quote = picks[0][0], " ".join(s for _, s in sentences)[:600]
            elif "runaway_quotes" in self.modes:
                quote = f"{sentence} Our findings overall were then compared against all existing work as 1"
            answer = (f"The paper states that {quote[:160].rstrip('.')}." if "same_answer" not in self.modes
                      else "The paper proposes a new approach and evaluates it carefully on several tasks.")
            if self.language == "ja":
                answer = f"論文によると、{answer} という点が述べられている。"
            answers.append({"question_index": i, "answer": answer, "pages": [page], "quote": quote})
        return {"answers": answers}

    def _outline(self, title: str, sentences: list[str], repair: bool) -> dict:
        words = [[w for w in re.findall(r"[A-Za-z]{5,}", s)][:3] for s in sentences] or [["paper"]]
        questions = [f"What does the paper say about {' '.join(w)}?" for w in words[:8]]
        while len(questions) < 8:
            questions.append(f"What does the paper say about its {_PARTS[len(questions) % 4]} in part {len(questions)}?")
        if "near_duplicate_questions" in self.modes and not repair:
            questions[1:5] = ["What is the main method of the paper?", "What is the main approach of the paper?",
                              "What are the main results?", "What are the main quantitative results?"]
        if "repeats_after_repair" in self.modes:
            questions[1:5] = ["What is the method used in the paper?"] * 4
        tldr = sentences[0] if sentences else f"A study of {title}"
        if "title_tldr" in self.modes and not repair:
            tldr = title
        if "long_tldr" in self.modes:
            tldr = " ".join(sentences[:3]) * 3  # cut by the schema's maxLength, as a grammar cuts it
        if "copied_tldr" in self.modes:  # in every reply, the repair's too
            tldr = sentences[1] if len(sentences) > 1 else tldr
        return {"kind": "empirical", "tldr": tldr, "summary": " ".join(sentences[1:4]) or title,
                "questions": [{"question": q, "search_terms": ["method"]} for q in questions]}
