"""The two replies a chat writer asks for per paper, as JSON Schemas, and the room each may take.

Every string and array is bounded: under schema-constrained decoding a small model otherwise loops inside a
string or a list (pages 1, 1, 2, 2, ... 266) until max_tokens. The bounds are generous for the field's
purpose; the model's `schema_bounds` setting decides which of them a server is sent (digest.llm.schema_bounds).
"""

from __future__ import annotations

from digest.writers.outline_check import KINDS

MIN_QUESTIONS, MAX_QUESTIONS = 8, 10
OUTLINE_OUTPUT_TOKENS = 1500  # TL;DR + summary + 10 questions with search terms
ANSWERS_OUTPUT_TOKENS = 4000  # 10 answers with quotes

MAX_SEARCH_TERMS = 8  # the prompt asks for 3 to 8
MAX_PAGES = 5  # pages one answer rests on
TLDR_CHARS = 300  # one sentence of at most 30 words (about 200 characters; 80 in Japanese)
SUMMARY_CHARS = 2000  # 4 to 6 sentences
QUESTION_CHARS = 300
SEARCH_TERM_CHARS = 80
ANSWER_CHARS = 1000  # 1 to 3 sentences
# 8 to 40 words, in the paper's language: 40 words of scientific English average about 280 characters. A
# bound far above that let a small model run on to it and close the string mid-word ("...as 1").
QUOTE_CHARS = 320

OUTLINE_SCHEMA = {
    "type": "object",
    "properties": {
        # First, so a model decides what kind of paper it reads before it asks about it: a position paper
        # has no results against baselines to ask about.
        "kind": {"type": "string", "enum": list(KINDS)},
        "tldr": {"type": "string", "maxLength": TLDR_CHARS},
        "summary": {"type": "string", "maxLength": SUMMARY_CHARS},
        "questions": {
            "type": "array", "minItems": MIN_QUESTIONS, "maxItems": MAX_QUESTIONS,
            "items": {
                "type": "object",
                "properties": {
                    "question": {"type": "string", "maxLength": QUESTION_CHARS},
                    "search_terms": {"type": "array", "maxItems": MAX_SEARCH_TERMS,
                                     "items": {"type": "string", "maxLength": SEARCH_TERM_CHARS}},
                },
                "required": ["question", "search_terms"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["kind", "tldr", "summary", "questions"],
    "additionalProperties": False,
}

ANSWERS_SCHEMA = {
    "type": "object",
    "properties": {
        "answers": {
            "type": "array", "maxItems": MAX_QUESTIONS,
            "items": {
                "type": "object",
                "properties": {
                    "question_index": {"type": "integer"},
                    "answer": {"type": "string", "maxLength": ANSWER_CHARS},
                    "pages": {"type": "array", "maxItems": MAX_PAGES, "items": {"type": "integer"}},
                    "quote": {"type": "string", "maxLength": QUOTE_CHARS},
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
