"""Pieces of the LLM stage around the client: rate limits, Retry-After, JSON replies, keys, redaction, what the
process learnt about each server, and the classification of API errors."""

from __future__ import annotations

import email.utils
import json
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digest.errors import LLMError

if TYPE_CHECKING:  # only named in annotations: the run that needs no chat model never imports openai
    import openai

NO_KEY = "sk-no-key"  # local servers ignore the key, but the client insists on one


_waiters = 0  # threads sleeping in a rate limiter right now (the CLI's progress line shows it)
_waiters_lock = threading.Lock()


def _note_waiter(delta: int) -> None:
    global _waiters
    with _waiters_lock:
        _waiters += delta


def rate_limit_waiters() -> int:
    """How many model calls are waiting for a rate limiter in this process right now."""
    return _waiters


class Bucket:
    """A token bucket refilled continuously; a request bigger than the bucket may drive it negative.

    `clock` and `sleep` default to time.monotonic and time.sleep; a test passes its own to see the waits
    the bucket computes without waiting them.
    """

    def __init__(self, per_minute: float, burst_seconds: float = 1.0, *,
                 clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        # Looked up at call time when not given, so a patched `time` module still reaches the bucket.
        self._clock = clock or (lambda: time.monotonic())
        self._sleep = sleep or (lambda seconds: time.sleep(seconds))
        self.stamp = self._clock()
        self.lock = threading.Lock()

    def acquire(self, amount: float) -> float:
        """Block until `amount` may be spent; returns the seconds waited."""
        waited = 0.0
        while True:
            with self.lock:
                now = self._clock()
                self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
                self.stamp = now
                need = min(amount, self.capacity)
                if self.level >= need:
                    self.level -= amount
                    return waited
                pause = (need - self.level) / self.rate
            _note_waiter(+1)
            try:
                self._sleep(pause)
            finally:
                _note_waiter(-1)
            waited += pause


class RateLimiter:
    """Requests per minute and tokens per minute for one model, shared by every thread; 0 = unlimited."""

    def __init__(self, rpm: int, tpm: int, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None):
        # Spread requests evenly (providers enforce limits over sub-minute windows too).
        self.requests = Bucket(rpm, clock=clock, sleep=sleep) if rpm > 0 else None
        self.tokens = Bucket(tpm, clock=clock, sleep=sleep) if tpm > 0 else None

    def acquire(self, tokens: int) -> float:
        """Block until one request of `tokens` tokens is allowed; returns the seconds waited."""
        waited = 0.0
        if self.requests:
            waited += self.requests.acquire(1)
        if self.tokens:
            waited += self.tokens.acquire(tokens)
        return waited


def retry_after_seconds(headers: Any, now: datetime | None = None) -> float | None:
    """The wait a response asks for: retry-after-ms, or Retry-After in seconds or as an HTTP date (from `now`)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_THINK_RE = re.compile(r"<think>.*?</think>", re.S)  # reasoning models served locally print their thoughts


def parse_json_content(text: str) -> Any:
    """JSON from a model's reply, tolerating <think> blocks, Markdown fences and prose around one object."""
    s = _THINK_RE.sub("", text).strip()
    try:
        return json.loads(s)
    except ValueError as e:
        first_error = e
    fenced = re.search(r"```(?:json)?\s*(.*?)```", s, re.S)
    if fenced:
        try:
            return json.loads(fenced.group(1))
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    at = s.find("{")
    while at >= 0:
        try:
            return decoder.raw_decode(s, at)[0]
        except ValueError:
            at = s.find("{", at + 1)
    raise first_error


def schema_problem(data: Any, validator: Any) -> str | None:
    """What is wrong with data under the validator (first few errors), or None."""
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    shown = []
    for e in errors[:5]:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        shown.append(f"at {where}: {e.message[:300]}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "schema violation " + "; ".join(shown) + more


def check_reply(content: str, validator: Any) -> tuple[Any, str | None]:
    """(data, None) when content is a schema-valid JSON object, else (None, what is wrong)."""
    try:
        data = parse_json_content(content)
    except ValueError as e:
        return None, f"invalid JSON: {e}"
    if not isinstance(data, dict):
        return None, f"expected a JSON object, got {type(data).__name__}"
    problem = schema_problem(data, validator)
    return (None, problem) if problem else (data, None)


def read_keys_file(path: os.PathLike | str) -> dict[str, str]:
    """NAME=value lines of a keys file (comments, blank lines and `export ` allowed)."""
    keys: dict[str, str] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise LLMError("keys", f"cannot read the keys file {path}: {e.strerror}",
                       hint="fix llm.keys_file in the config") from None
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        keys[name.strip()] = value.strip().strip("'\"")
    return keys


class Redactor:
    """Removes the API key from text we store or raise; error texts also lose anything shaped like a key."""

    # Servers echo (partly masked) keys in 401 messages, e.g. "Incorrect API key provided: sk-ab***yz".
    KEYISH = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*]{6,}")

    def __init__(self, secret: str | None):
        self.secret = secret if secret and secret != NO_KEY else None

    def __call__(self, text: str | None) -> str | None:
        if text is None or not self.secret:
            return text
        return text.replace(self.secret, "[redacted]")

    def error(self, text: str) -> str:
        """An error message without the key or key-like strings (never applied to prompts or replies)."""
        return self.KEYISH.sub("[redacted]", self(text) or "")


# ---- what this process learnt about each endpoint, shared by every ChatModel and thread ------------

FORMAT_MODES = ("json_schema", "json_object", "none")

_limiters: dict[tuple, RateLimiter] = {}
_format_modes: dict[tuple, str] = {}  # response_format downgrades
_adjusted: dict[tuple, set[str]] = {}  # request changes servers asked for
_breakers: dict[str, Breaker] = {}
_registry_lock = threading.Lock()


class Breaker:
    """Stops calls to an endpoint that keeps timing out or refusing connections.

    After `threshold` such failures in a row (any thread, any model on that base URL) the breaker
    opens: calls fail at once instead of each waiting out its timeout and retries. One success closes it.
    """

    def __init__(self, threshold: int = 3):
        self.threshold = threshold
        self.failures = 0
        self.last: str = ""
        self.lock = threading.Lock()

    @property
    def open(self) -> bool:
        """True when the endpoint is given up on for this process."""
        with self.lock:
            return self.failures >= self.threshold

    def failed(self, why: str) -> None:
        """Count a timeout or connection failure."""
        with self.lock:
            self.failures += 1
            self.last = why

    def succeeded(self) -> None:
        """Any answer from the server (even an error status) shows it is there."""
        with self.lock:
            self.failures = 0


def breaker_for(base_url: str) -> Breaker:
    """The one breaker of an endpoint in this process."""
    with _registry_lock:
        return _breakers.setdefault(base_url.strip(), Breaker())


def limiter_for(key: tuple, rpm: int, tpm: int) -> RateLimiter:
    """The one rate limiter of a (model, base_url, rpm, tpm) in this process."""
    with _registry_lock:
        if key not in _limiters:
            _limiters[key] = RateLimiter(rpm, tpm)
        return _limiters[key]


def remembered_mode(key: tuple, configured: str) -> str:
    """The response_format mode for a (model, base_url): the configured one unless downgraded."""
    with _registry_lock:
        mode = _format_modes.get(key, configured)
    return mode if mode in FORMAT_MODES else "json_schema"


def downgrade_mode(key: tuple, rejected: str, configured: str) -> str | None:
    """Record that `rejected` failed; returns the next mode, or None when there is none."""
    if rejected == FORMAT_MODES[-1]:
        return None
    nxt = FORMAT_MODES[FORMAT_MODES.index(rejected) + 1]
    with _registry_lock:
        # Only ever downwards: a thread reporting a stale rejection must not undo a later one.
        current = _format_modes.get(key, configured)
        if current not in FORMAT_MODES or FORMAT_MODES.index(current) < FORMAT_MODES.index(nxt):
            _format_modes[key] = nxt
    return nxt


def remembered_adjustments(key: tuple) -> set[str]:
    """Request changes made for a (model, base_url)."""
    with _registry_lock:
        return set(_adjusted.get(key, ()))


def remember_adjustment(key: tuple, fix: str) -> bool:
    """Record a request change; False when it was already made."""
    with _registry_lock:
        done = _adjusted.setdefault(key, set())
        if fix in done:
            return False
        done.add(fix)
        return True


def forget_endpoint(base_url: str) -> None:
    """Drop what this process remembered about a server (format downgrades, parameter changes, rate state)."""
    base = base_url.strip()
    with _registry_lock:
        for registry in (_format_modes, _adjusted, _limiters):
            for key in [k for k in registry if k[1] == base]:
                del registry[key]
        _breakers.pop(base, None)


# ---- classifying API errors -----------------------------------------------------------------------


def error_text(e: openai.APIStatusError) -> str:
    """The message of an API error body (OpenAI and most compatible servers nest it in error.message)."""
    body = e.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        return json.dumps(body, ensure_ascii=False)[:1000]
    if isinstance(body, str) and body:
        return body[:1000]
    return e.message


def parameter_fix(detail: str, limit_param: str) -> str | None:
    """The change a 400 asks for: no temperature (reasoning models), or the other max-tokens parameter."""
    d = detail.lower()
    refused = any(w in d for w in ("unsupported", "not supported", "does not support", "unrecognized",
                                   "unknown", "extra inputs", "not permitted", "only the default"))
    if not refused:
        return None
    if "temperature" in d:
        return "no_temperature"
    if limit_param in d:
        return "use_max_tokens" if limit_param == "max_completion_tokens" else "use_max_completion_tokens"
    return None


def mentions_format(detail: str) -> bool:
    """Whether a 400 is about response_format (the server lacks structured output)."""
    d = detail.lower()
    return any(w in d for w in ("response_format", "json_schema", "json_object", "structured output"))


def is_retryable(status: int, e: openai.APIStatusError) -> bool:
    """429 (unless the quota is gone), 408, 409 and 5xx are worth another try."""
    if status == 429:
        # An exhausted quota does not come back by waiting.
        return not (isinstance(e.body, dict) and "insufficient_quota" in json.dumps(e.body))
    return status in (408, 409) or status >= 500
