"""The two replies a chat writer asks for per paper, as JSON Schemas, and the room each may take."""

from __future__ import annotations

MIN_QUESTIONS, MAX_QUESTIONS = 8, 10
OUTLINE_OUTPUT_TOKENS = 1500  # TL;DR + summary + 10 questions with search terms
ANSWERS_OUTPUT_TOKENS = 4000  # 10 answers with quotes

OUTLINE_SCHEMA = {
    "type": "object",
    "properties": {
        "tldr": {"type": "string"},
        "summary": {"type": "string"},
        "questions": {
            "type": "array", "minItems": MIN_QUESTIONS, "maxItems": MAX_QUESTIONS,
            "items": {
                "type": "object",
                "properties": {
                    "question": {"type": "string"},
                    "search_terms": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["question", "search_terms"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["tldr", "summary", "questions"],
    "additionalProperties": False,
}

ANSWERS_SCHEMA = {
    "type": "object",
    "properties": {
        "answers": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "question_index": {"type": "integer"},
                    "answer": {"type": "string"},
                    "pages": {"type": "array", "items": {"type": "integer"}},
                    "quote": {"type": "string"},
                },
                "required": ["question_index", "answer", "pages", "quote"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["answers"],
    "additionalProperties": False,
}

# Per step of a paper's plan: the schema, its name in response_format, and the output tokens asked for.
STEPS = {"outline": (OUTLINE_SCHEMA, "paper_outline", OUTLINE_OUTPUT_TOKENS),
         "answers": (ANSWERS_SCHEMA, "paper_answers", ANSWERS_OUTPUT_TOKENS)}
