"""What one model call is made of: the request a writer plans, each HTTP exchange, the result, and the one
judgement of a reply that live calls and Batch API results share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from digest.llm.support import check_reply
from digest.records import Usage

TRUNCATED = "truncated: the reply hit max_tokens"
CONTENT_FILTER = "content filter"


@dataclass
class ChatRequest:
    """One call as planned: the live path sends it and a Batch API line is built from it, so both agree."""

    purpose: str  # outline, answers, ...: what the call is for, in the call log
    messages: list[dict]
    schema: dict
    schema_name: str
    max_tokens: int | None = None  # None: the model's max_output_tokens
    paper_key: str | None = None
    generation_key: str | None = None
    prompt_version: str | None = None


@dataclass
class LLMResult:
    """The outcome of a call: valid data plus its usage (summed over every attempt; as billed when logged)."""

    data: dict
    text: str
    usage: Usage
    finish_reason: str
    call_id: int | None
    from_cache: bool  # served from the call log: paid for when it was made, not now


@dataclass
class Attempt:
    """One exchange that produced a completion, live or in a batch."""

    sent: list[dict]
    content: str
    finish_reason: str
    usage: Usage = field(default_factory=Usage)


def read_reply(resp) -> tuple[str, str] | None:
    """(content, finish reason) of a chat completion's first choice, a refusal as JSON; None without choices."""
    choice = resp.choices[0] if getattr(resp, "choices", None) else None
    if choice is None:
        return None
    msg = choice.message
    content = msg.content or ""
    if not content and getattr(msg, "refusal", None):
        content = json.dumps({"refusal": msg.refusal})
    return content, choice.finish_reason or "stop"


def judge_reply(content: str, finish_reason: str, validator) -> tuple[dict | None, str | None]:
    """(data, None) for a usable reply, else (None, what is wrong): TRUNCATED, CONTENT_FILTER or a schema problem."""
    data, problem = check_reply(content, validator)
    if problem is not None and finish_reason == "length":
        return None, TRUNCATED
    if finish_reason == "content_filter":
        return None, CONTENT_FILTER
    return data, problem
