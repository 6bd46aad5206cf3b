"""The first call's reply is checked beyond its schema, repaired once, and otherwise falls back visibly."""

from __future__ import annotations

import pytest
from factories import make_paper
from llm_server import JA_SUMMARY, JA_TLDR
from rerun_helpers import add_chat_model
from weekfeed import grounded_responder

from digest.pipeline import make_writer
from digest.quality import judge_issue
from digest.records import Issue, IssueEntry, Page
from digest.writers.outline_check import check_outline

PAGES = [
    "Grounded digests of research papers for busy readers.\n"
    "We propose a method that answers questions about a paper and quotes the passage each answer rests on.\n"
    "Our evaluation covers two hundred papers from the computation and language category of arXiv.\n"
    "Each paper is read from its PDF and split into passages that keep their page numbers.\n"
    "A retrieval step picks the passages most relevant to each question before the model answers.",
    "Results and discussion of the grounded answering method on the benchmark.\n"
    "Grounded answers were verified for ninety one percent of the questions that we asked the model.\n"
    "Limitations remain for tables and equations, which the text extraction does not keep at all.\n"
    "Annotators judged whether every quote supports the answer it was given for.\n"
    "Longer papers lose more answers to the context limit than short workshop papers do.",
]
GOOD_QUESTIONS = [{"question": f"Which result number {i} does the grounded digest method report?",
                   "search_terms": ["result"]} for i in range(1, 9)]
GOOD = {"kind": "empirical", "tldr": "A grounded digest answers questions about papers with checked quotes.",
        "summary": "The paper proposes grounded digests. Answers quote the paper and are verified.",
        "questions": GOOD_QUESTIONS}
REPAIR_MARK = "cannot be used as it is"


def outline(**changes) -> dict:
    return {**GOOD, **changes}


@pytest.mark.parametrize("bad, found", [
    (outline(questions=[{"question": str(i), "search_terms": []} for i in range(1, 11)]),
     "questions 1, 2, 3, 4, 5, 6, 7, 8, 9, 10: not a real question"),
    (outline(questions=[{"question": "What is the main result of the paper?", "search_terms": []}] * 8),
     "questions 2, 3, 4, 5, 6, 7, 8: repeats an earlier question"),
    (outline(questions=[*GOOD_QUESTIONS[:7], {"question": GOOD_QUESTIONS[0]["question"].upper() + "!!",
                                              "search_terms": []}]),
     "question 8: repeats an earlier question"),
    (outline(tldr=GOOD["summary"]), "the TL;DR copies the summary's opening"),
    (outline(tldr="The paper proposes grounded digests."), "the TL;DR copies the summary's opening"),
    (outline(tldr="...", summary="1. 2. 3."), "the TL;DR is empty or too short"),
    (outline(tldr="Эта статья предлагает обоснованные дайджесты научных работ."), "the TL;DR is not in English"),
])
def test_bad_english_outlines_are_found(bad, found):
    check = check_outline(bad, "en")
    assert check and any(p.startswith(found) for p in check.problems), check.problems
    assert not check_outline(GOOD, "en")


JA_QUESTIONS = [{"question": f"グラウンデッド要約手法は結果{i}として何を報告しているか?", "search_terms": ["result"]}
                for i in range(1, 9)]


def test_the_language_is_checked_for_en_and_ja_only():
    ja = outline(tldr=JA_TLDR, summary=JA_SUMMARY + " BERT と ROUGE-L を用いる。", questions=JA_QUESTIONS)
    assert not check_outline(ja, "ja")
    # Every model-written field of a Japanese run: English questions are left out like an English TL;DR.
    assert check_outline({**ja, "questions": GOOD_QUESTIONS}, "ja").bad_questions[1] == "not in Japanese"
    problems = check_outline(GOOD, "ja").problems  # an English TL;DR in a Japanese rerun
    assert "the TL;DR is not in Japanese" in problems and "the summary is not in Japanese" in problems
    assert not check_outline(GOOD, "de") and not check_outline(ja, "fr")  # no guessing for other languages


# ---- the writer: one repair, then a visible fallback --------------------------------------------------


@pytest.fixture
def paper(store):
    p = make_paper(1)
    store.upsert_paper(p)
    store.save_pages(p.key, p.version, [Page(i + 1, body) for i, body in enumerate(PAGES)], pdf_path=None,
                     token_count=None)
    return store.get_paper(p.key)


def scripted(first: dict, repaired: dict | None = None):
    """A model replying `first` to the outline call, `repaired` to the repair request, and real answers."""
    answers = grounded_responder()

    def respond(messages, schema):
        if "questions" not in schema["properties"]:
            return answers(messages, schema)
        asked_to_repair = REPAIR_MARK in messages[-1]["content"]
        return (repaired or first) if asked_to_repair else first
    return respond


def generate(config, store, server, paper, responder, language="en"):
    server.responder = responder
    add_chat_model(config, "small-model", server)
    return make_writer(config, store, "small-model", language).generate(paper)


def test_a_bad_outline_is_repaired_once_and_the_repair_is_used(config, store, llm_server, paper):
    numbers = outline(questions=[{"question": str(i), "search_terms": []} for i in range(1, 9)])
    g = generate(config, store, llm_server, paper, scripted(numbers, GOOD))
    assert g.status == "ok" and len(g.qa) == 8 and not g.note
    assert [q.question for q in g.qa] == [q["question"] for q in GOOD_QUESTIONS]
    first, repair, answers = llm_server.chat_requests()
    said = repair["messages"][-1]["content"]
    assert "not a real question" in said and "questions 1, 2, 3" in said
    assert repair["messages"][:2] == first["messages"]  # the prefix up to the paper and task 1 is shared
    assert answers["messages"][:2] == first["messages"] and GOOD_QUESTIONS[0]["question"] in \
        answers["messages"][2]["content"]


@pytest.mark.parametrize("bad", [
    outline(questions=[{"question": str(i), "search_terms": []} for i in range(1, 11)]),
    outline(questions=[{"question": "What is the main result of the paper?", "search_terms": []}] * 8),
])
def test_questions_still_unusable_after_the_repair_fall_back_visibly(config, store, llm_server, paper, bad):
    g = generate(config, store, llm_server, paper, scripted(bad))
    assert g.status == "fallback" and "outline failed its checks" in g.note
    assert len(llm_server.chat_requests()) == 2  # the outline and its one repair: no answers call
    issue = Issue(id="2026-W47", week_start="", week_end="", language="en", model="small-model", created="",
                  entries=[IssueEntry(paper=paper, generation=g, position=1)])
    verdict = judge_issue(issue, max_failed_share=0.5)
    assert not verdict.passed and verdict.cause() == "the model's outline failed its checks"


def test_a_few_bad_questions_are_left_out_and_said(config, store, llm_server, paper):
    twice = outline(questions=[*GOOD_QUESTIONS[:6], GOOD_QUESTIONS[0], {"question": "7", "search_terms": []}])
    g = generate(config, store, llm_server, paper, scripted(twice))
    # The repeat (question 7) gives way to one of the digest's own questions, answered in the same call;
    # the non-question (8) is left out, and the note says both.
    assert g.status == "ok" and len(g.qa) == 7 and g.qa[6].question not in [q["question"] for q in GOOD_QUESTIONS]
    assert "questions left out" in g.note and "question 8: not a real" in g.note and "repeats" not in g.note
    assert "questions asked by the digest: 7" in g.note
    assert g.drops["answers to questions the outline check rejected"] == 1


def test_an_english_tldr_in_a_japanese_run_is_replaced_by_the_abstract(config, store, llm_server, paper):
    g = generate(config, store, llm_server, paper, scripted(outline(questions=JA_QUESTIONS)), language="ja")
    assert g.status == "ok" and g.qa  # the questions were fine: the Q&A stays
    assert g.tldr != GOOD["tldr"] and "taken from the abstract" in g.note and "not in Japanese" in g.note
    assert g.drops["TL;DR and summary that failed the outline check"] == 1
    assert len(llm_server.chat_requests()) == 3  # outline, repair, answers


def test_a_repaired_japanese_outline_is_kept(config, store, llm_server, paper):
    ja = outline(tldr=JA_TLDR, summary=JA_SUMMARY, questions=JA_QUESTIONS)
    g = generate(config, store, llm_server, paper, scripted(GOOD, ja), language="ja")
    assert (g.tldr, g.summary) == (JA_TLDR, JA_SUMMARY) and not g.note


def test_every_repair_keeps_the_roles_alternating(config, store, llm_server, paper):
    """Invalid JSON, an outline that needs a repair, and missing answers, on a strict chat template."""
    from llm_server import bad_json, role_order_problem

    grounded = grounded_responder()

    def some_missing(messages, schema):
        if "questions" in schema["properties"]:
            return GOOD if REPAIR_MARK in messages[-1]["content"] else outline(tldr=GOOD["summary"])
        reply = grounded(messages, schema)
        if "no answer to question" not in messages[-1]["content"]:
            reply["answers"] = reply["answers"][:5]
        return reply

    llm_server.push(bad_json())
    llm_server.responder = some_missing
    add_chat_model(config, "tiny-strict-roles", llm_server)
    g = make_writer(config, store, "tiny-strict-roles", "en").generate(paper)
    assert g.status == "ok" and len(g.qa) == 8 and not g.note, g.note
    requests = llm_server.chat_requests()
    assert len(requests) == 5  # outline, its JSON repair, the outline repair, answers, missing answers
    assert all(role_order_problem(r["messages"]) is None for r in requests)
