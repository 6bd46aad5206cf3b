"""Which JSON Schema bounds (maxLength, maxItems, ...) a server is sent, and which a reply is checked against.

Bounds keep a small model from looping inside a string or an array until max_tokens under schema-constrained
decoding. llama.cpp, vLLM and Ollama compile them into the grammar; OpenAI's strict mode accepts only some of
them and rejects the whole request for any other.
"""

from __future__ import annotations

import re
from typing import Any

SCHEMA_BOUNDS = ("auto", "all", "openai", "none")

BOUND_KEYWORDS = frozenset({
    "minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "multipleOf", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
})
# OpenAI Structured Outputs, "Supported schemas" (2025): strings pattern and format; numbers multipleOf,
# maximum, exclusiveMaximum, minimum, exclusiveMinimum; arrays minItems and maxItems. Not minLength/maxLength.
OPENAI_STRICT_BOUNDS = frozenset({
    "pattern", "format", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "minItems", "maxItems",
})
KEPT = {"all": BOUND_KEYWORDS, "openai": OPENAI_STRICT_BOUNDS, "none": frozenset()}
# A reply is not rejected for being long: the bounds brake generation, and the writer caps what it keeps.
CHECKED = BOUND_KEYWORDS - {"maxLength", "maxItems"}

_MAPS = ("properties", "$defs", "definitions", "patternProperties")  # their keys are names, not keywords
_OPENAI_MODEL = re.compile(r"(^|/)(gpt-|chatgpt-|o\d)", re.IGNORECASE)


def resolve_bounds(setting: str, *, openai_endpoint: bool, model_name: str) -> str:
    """The bounds a model is sent: `auto` is OpenAI's subset for OpenAI (its API, Azure, or its model names
    behind a proxy) and all of them for any other server."""
    if setting != "auto":
        return setting
    return "openai" if openai_endpoint or _OPENAI_MODEL.search(model_name) else "all"


def restrict_schema(schema: Any, keep: frozenset[str] | set[str]) -> Any:
    """The schema without the bound keywords not in `keep` (property names are never touched)."""
    if isinstance(schema, list):
        return [restrict_schema(s, keep) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k in BOUND_KEYWORDS and k not in keep:
            continue
        if k in _MAPS and isinstance(v, dict):
            out[k] = {name: restrict_schema(s, keep) for name, s in v.items()}
        elif isinstance(v, dict | list) and k not in ("enum", "const", "required", "default", "examples"):
            out[k] = restrict_schema(v, keep)
        else:
            out[k] = v
    return out


def bound_keywords_in(schema: Any) -> set[str]:
    """Every bound keyword a schema uses (for checks and tests)."""
    found: set[str] = set()
    if isinstance(schema, list):
        for s in schema:
            found |= bound_keywords_in(s)
    elif isinstance(schema, dict):
        for k, v in schema.items():
            if k in BOUND_KEYWORDS:
                found.add(k)
            if k in _MAPS and isinstance(v, dict):
                for s in v.values():
                    found |= bound_keywords_in(s)
            elif isinstance(v, dict | list) and k not in ("enum", "const", "required", "default", "examples"):
                found |= bound_keywords_in(v)
    return found
