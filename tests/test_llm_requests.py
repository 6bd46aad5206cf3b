"""What the chat writer sends: valid for strict chat templates, and schemas bounded as each server accepts."""

from __future__ import annotations

import pytest
from pdfmaker import make_pdf
from rerun_helpers import add_chat_model
from weekfeed import TODAY, Item, grounded_responder, serve_week

from digest.pipeline import run_week

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
    outline, answers = llm_server.chat_requests()
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
