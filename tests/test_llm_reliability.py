"""An unattended run against a model server that stalls, refuses, answers emptily or half: never minutes lost."""

from __future__ import annotations

import json
import socket
import time

import pytest
from factories import make_paper
from llm_server import no_choices, slow, truncated
from rerun_helpers import add_chat_model
from weekfeed import grounded_responder

from digest.config import ModelConfig
from digest.errors import LLMError
from digest.llm.client import ChatModel, LLMTruncated, forget_endpoint, get_model
from digest.records import Page
from digest.writers.chat import ChatWriter
from digest.writers.prompts import PromptSet

SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"],
          "additionalProperties": False}


def model_for(base_url: str, store, **settings) -> ChatModel:
    return ChatModel("test-model", ModelConfig(base_url=base_url, **settings), store, max_retries=5,
                     backoff_base=0.01)


def ask(model: ChatModel):
    return model.complete_json([{"role": "user", "content": "Summarise."}], SCHEMA, schema_name="s", purpose="test")


def test_a_stalled_server_is_given_up_after_three_timeouts(llm_server, store):
    llm_server.push(*[slow(600) for _ in range(20)])  # stalls until the server stops
    # A deadline far past three timeouts: the breaker, not the clock, ends this call.
    model = model_for(llm_server.base_url, store, timeout=0.3, deadline=600)
    started = time.monotonic()
    with pytest.raises(LLMError) as first:
        ask(model)
    assert time.monotonic() - started < 120  # not one stall (600 s); bounds a hang only
    assert first.value.retry
    assert len(llm_server.chat_requests()) == 3  # it did retry; the breaker opened after three timeouts
    with pytest.raises(LLMError, match="stopped answering") as later:
        ask(model_for(llm_server.base_url, store, timeout=0.3))  # another paper, another ChatModel
    assert len(llm_server.chat_requests()) == 3  # failed fast: no request at all
    assert llm_server.base_url.split("//")[1].split("/")[0] in str(later.value)  # names the endpoint


def test_a_stalled_reply_costs_one_deadline_whatever_the_timeout(llm_server, store):
    llm_server.push(*[slow(600) for _ in range(20)])  # stalls until the server stops
    model = model_for(llm_server.base_url, store, timeout=600, deadline=2.0)
    started = time.monotonic()
    with pytest.raises(LLMError, match="deadline of 2 s") as err:
        ask(model)
    assert time.monotonic() - started < 120  # not the 600 s timeout; bounds a hang only
    assert err.value.retry
    # The one attempt was given what was left of the deadline as its timeout: no time for a second.
    assert len(llm_server.chat_requests()) == 1


def test_a_refusing_endpoint_fails_fast_and_the_hint_names_it(store):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    try:
        with pytest.raises(LLMError) as first:
            ask(model_for(base, store, timeout=5))
        assert f"127.0.0.1:{port}" in (first.value.hint or "") and "api.openai.com" not in str(first.value)
        tried = store.query("SELECT COUNT(*) FROM llm_calls")[0][0]
        with pytest.raises(LLMError, match="stopped answering"):
            ask(model_for(base, store, timeout=5))
        # Failed fast: not one connection attempt, so not one more call log row (each attempt has one).
        assert store.query("SELECT COUNT(*) FROM llm_calls")[0][0] == tried > 0
    finally:
        forget_endpoint(base)


def test_an_empty_choices_list_is_retried(llm_server, store):
    llm_server.push(no_choices(), no_choices())
    result = ask(model_for(llm_server.base_url, store))
    assert result.data["summary"] and len(llm_server.chat_requests()) == 3


def test_a_reply_cut_for_length_is_never_asked_again_unchanged(llm_server, store):
    # The request asks for 4000 tokens and the model allows 4096: "more room" would be the same request.
    llm_server.push(*[truncated('{"summary": "The paper') for _ in range(3)])
    model = model_for(llm_server.base_url, store, max_output_tokens=4096)
    with pytest.raises(LLMTruncated):
        model.complete_json([{"role": "user", "content": "Summarise."}], SCHEMA, schema_name="s",
                            purpose="test", max_tokens=4000)
    bodies = [json.dumps(b, sort_keys=True) for b in llm_server.chat_requests()]
    assert len(bodies) == 1


def half_answering(responder):
    """The grounded stand-in model, except that its first answers reply leaves out questions 4 to 8."""
    state = {"answers_calls": 0}

    def respond(messages, schema):
        reply = responder(messages, schema)
        if "answers" in (schema or {}).get("properties", {}):
            state["answers_calls"] += 1
            if state["answers_calls"] == 1:
                reply["answers"] = reply["answers"][:3]
        return reply
    return respond


def test_a_reply_missing_answers_gets_one_repair_call_for_them(config, store, llm_server):
    llm_server.responder = half_answering(grounded_responder())
    add_chat_model(config, "test-model", llm_server)
    paper = make_paper(1)
    store.upsert_paper(paper)
    pages = [Page(1, "We propose a grounded summariser for long scientific documents and evaluate it carefully. "
                     "Our method improves ROUGE-L by 1.5 points on the arXiv summarisation benchmark overall. "
                     "The model is trained on forty thousand papers drawn from eight scientific fields. "
                     "Ablations show that the retrieval step accounts for most of the observed improvement."),
             Page(2, "Human judges preferred our summaries in sixty percent of the pairwise comparisons made. "
                     "The main limitation is the cost of retrieval for papers longer than one hundred pages. "
                     "Future work will extend the method to figures and tables in the scientific papers. "
                     "The code and the trained models are released under an open licence for research use.")]
    store.save_pages(paper.key, paper.version, pages, pdf_path="x.pdf", token_count=200)
    paper = store.get_paper(paper.key)
    writer = ChatWriter(config, store, get_model("test-model", config, store), PromptSet(), "en")
    g = writer.generate(paper)
    requests = llm_server.chat_requests()
    assert len(requests) == 3  # outline, answers, and one call for the missing ones
    last = requests[-1]["messages"][-1]["content"]
    assert "4, 5, 6, 7, 8" in last and "1, 2" not in last
    asked = {q.question.split(" about")[0] for q in g.qa}
    assert {"Question 1", "Question 4", "Question 8"} <= asked and len(g.qa) + g.n_dropped == 8
