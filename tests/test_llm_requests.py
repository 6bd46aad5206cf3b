"""What the chat writer sends: valid for strict chat templates, and schemas bounded as each server accepts."""

from __future__ import annotations

import json

import pytest
from factories import make_paper
from pdfmaker import make_pdf
from rerun_helpers import add_chat_model
from weekfeed import TODAY, Item, grounded_responder, serve_week

from digest.llm.schema_bounds import bound_keywords_in, restrict_schema
from digest.pipeline import make_writer, run_week
from digest.records import Page
from digest.writers.schemas import ANSWERS_SCHEMA, OUTLINE_SCHEMA, TLDR_CHARS

PAGES = [
    ["Grounded digests of research papers for busy readers.",
     "We propose a method that answers questions about a paper and quotes the passage each answer rests on.",
     "Our evaluation covers two hundred papers from the computation and language category of arXiv.",
     "The quotes are checked against the text of the PDF so that a reader can trust every answer given."],
    ["Results and discussion of the grounded answering method on the benchmark.",
     "Grounded answers were verified for ninety one percent of the questions that we asked the model.",
     "The extractive baseline verified every quote but answered only half of the questions well enough.",
     "Limitations remain for tables and equations, which the text extraction does not keep at all."],
]


@pytest.fixture
def small_week(tmp_path, httpserver, config):
    """One short paper with a readable PDF, listed as this week's arXiv cs.CL."""
    pdf = make_pdf(tmp_path / "grounded.pdf", PAGES)
    items = [Item("2611.00077", 1, "Grounded digests of research papers",
                  "We answer questions about papers and quote the passage each answer rests on.", pdf)]
    serve_week(httpserver, config, items)
    config.selection.interests = ""
    config.selection.categories = []
    return items


def test_a_model_whose_template_needs_alternating_roles_writes_the_qa(small_week, config, store, llm_server):
    llm_server.responder = grounded_responder()
    add_chat_model(config, "gemma-strict-roles", llm_server)
    config.llm.model = "gemma-strict-roles"
    rep = run_week(config, store, yes=True, today=TODAY)
    g = rep.issue.entries[0].generation
    assert g.status == "ok" and g.qa and all(q.verified for q in g.qa), g.note
    text = (config.archive_dir / f"{rep.issue.id}.md").read_text(encoding="utf-8")
    assert "**Q1." in text
    # The week's overview is one call more, made as soon as the outline is in (before or after the answers).
    assert len(llm_server.chat_requests()) == 3
    by_name = {r["response_format"]["json_schema"]["name"]: r for r in llm_server.chat_requests()}
    outline, answers, overview = by_name["paper_outline"], by_name["paper_answers"], by_name["issue_overview"]
    assert [m["role"] for m in overview["messages"]] == ["user"]
    assert [m["role"] for m in outline["messages"]] == ["system", "user"]
    assert [m["role"] for m in answers["messages"]] == ["system", "user", "assistant", "user"]
    # The paper comes first in the one user message, so both calls share the prefix up to its end and beyond.
    user = outline["messages"][1]["content"]
    assert user.index("</paper>") < user.index("Task 1 of 2")
    assert answers["messages"][:2] == outline["messages"]


def test_the_test_server_rejects_what_strict_templates_reject(llm_server):
    import openai

    client = openai.OpenAI(base_url=llm_server.base_url, api_key="x", max_retries=0)
    two_users = [{"role": "system", "content": "s"}, {"role": "user", "content": "paper"},
                 {"role": "user", "content": "task"}]
    late_system = [{"role": "user", "content": "a"}, {"role": "system", "content": "s"}]
    for messages in (two_users, late_system):
        with pytest.raises(openai.BadRequestError, match="must"):
            client.chat.completions.create(model="x-strict-roles", messages=messages)
    client.chat.completions.create(model="lenient", messages=two_users)  # other models accept it


def stored_paper(store):
    """A paper with two pages of text in the store, ready for a writer."""
    paper = make_paper(1)
    store.upsert_paper(paper)
    store.save_pages(paper.key, paper.version, [Page(i + 1, "\n".join(lines)) for i, lines in enumerate(PAGES)],
                     pdf_path=None, token_count=None)
    return store.get_paper(paper.key)


def generate(config, store, server, model_id, responder=None, **settings):
    server.responder = responder or grounded_responder()
    add_chat_model(config, model_id, server, **settings)
    return make_writer(config, store, model_id, "en").generate(stored_paper(store))


def sent_schemas(server) -> list[dict]:
    return [r["response_format"]["json_schema"]["schema"] for r in server.chat_requests()]


def test_every_string_and_array_of_both_schemas_is_bounded():
    def walk(schema, where):
        if schema.get("type") == "string":
            assert "maxLength" in schema or "enum" in schema, where
        if schema.get("type") == "array":
            assert "maxItems" in schema, where
            walk(schema["items"], where + ".items")
        for name, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{name}")

    walk(OUTLINE_SCHEMA, "outline")
    walk(ANSWERS_SCHEMA, "answers")
    # Property names are never taken for keywords, and nothing is changed in place.
    tricky = {"type": "object", "properties": {"maxLength": {"type": "string", "maxLength": 3}}}
    assert restrict_schema(tricky, frozenset()) == {"type": "object", "properties": {"maxLength": {"type": "string"}}}
    assert tricky["properties"]["maxLength"]["maxLength"] == 3


def test_a_local_server_gets_every_bound_and_its_cut_replies_are_accepted(config, store, llm_server):
    def runaway(messages, schema):
        """A small model looping inside strings and arrays, as seen with llama.cpp."""
        reply = grounded_responder()(messages, schema)
        if "questions" in schema["properties"]:
            reply["tldr"] += " and so on" * 500
            for q in reply["questions"]:
                q["search_terms"] = [f"term {i}" for i in range(40)]
        else:
            for a in reply["answers"]:
                a["pages"] = [1, 1, 2, 2, *range(3, 267)]
        return reply

    g = generate(config, store, llm_server, "llama-local", runaway)
    assert {"maxLength", "maxItems", "minItems"} <= bound_keywords_in(sent_schemas(llm_server)[0])
    assert g.status == "ok" and len(g.qa) == 8 and len(llm_server.chat_requests()) == 2  # no repair needed
    assert len(g.tldr) <= TLDR_CHARS
    assert all(q.verified and set(q.pages) <= {1, 2} for q in g.qa)


def test_openai_models_get_only_what_strict_mode_permits(config, store, llm_server):
    g = generate(config, store, llm_server, "gpt-4o-mini")
    assert g.status == "ok" and g.qa
    for r in llm_server.chat_requests():
        assert r["response_format"]["type"] == "json_schema"  # not downgraded after a rejected schema
    keywords = set().union(*map(bound_keywords_in, sent_schemas(llm_server)))
    assert "maxItems" in keywords and not keywords & {"maxLength", "minLength"}


def test_the_setting_overrides_the_guess(config, store, llm_server, caplog):
    generate(config, store, llm_server, "gpt-4o-mini", schema_bounds="all")
    first = llm_server.chat_requests()[0]
    assert "maxLength" in json.dumps(first["response_format"])
    # The test server refuses it as OpenAI does; the client falls back to JSON mode and says so.
    assert any("rejected response_format" in r.message for r in caplog.records)
    llm_server.requests.clear()
    generate(config, store, llm_server, "no-bounds-model", schema_bounds="none")
    assert all(not bound_keywords_in(s) - {"minItems"} for s in sent_schemas(llm_server))


def test_a_server_that_ignores_the_bounds_is_not_a_failure(config, store, llm_server):
    def long(messages, schema):
        reply = grounded_responder()(messages, schema)
        if "questions" in (schema or {}).get("properties", {}):
            reply["summary"] += " more" * 500  # past maxLength, within max_tokens
        return reply

    g = generate(config, store, llm_server, "json-mode-model", long, response_format="json_object")
    assert g.status == "ok" and len(llm_server.chat_requests()) == 2
    assert len(g.summary) > 2000


def test_the_openai_keyword_check_of_the_test_server_can_fail(llm_server):
    import openai

    client = openai.OpenAI(base_url=llm_server.base_url, api_key="x", max_retries=0)
    bad = {"type": "json_schema", "json_schema": {"name": "s", "strict": True, "schema": {
        "type": "object", "properties": {"t": {"type": "string", "maxLength": 5}}, "required": ["t"],
        "additionalProperties": False}}}
    with pytest.raises(openai.BadRequestError, match="'maxLength' is not permitted"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}],
                                       response_format=bad)
    reply = client.chat.completions.create(model="local", messages=[{"role": "user", "content": "x"}],
                                           response_format=bad)
    assert json.loads(reply.choices[0].message.content) == {"t": "text"}
