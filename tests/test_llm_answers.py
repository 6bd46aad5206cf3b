"""Nothing a model replies vanishes silently: answers and page numbers that are not kept are counted with a reason."""

from __future__ import annotations

from dataclasses import replace

import pytest
from factories import make_issue
from pdfmaker import make_pdf
from rerun_helpers import add_chat_model
from weekfeed import TODAY, Item, grounded_responder, serve_week

from digest.pipeline import run_week
from digest.quality import judge_issue
from digest.records import Page
from digest.writers.answer_check import (
    PAGE_OUT_OF_RANGE,
    PAST_LAST_QUESTION,
    REPEATED_ANSWER,
    UNANSWERED,
    UNVERIFIED_DROPPED,
    check_answers,
)

PAGES = [Page(1, "We propose a method that answers questions about a paper and quotes the passage it rests on."),
         Page(2, "Grounded answers were verified for ninety one percent of the questions that we asked.")]
QUESTIONS = [{"question": f"What does the paper report about point {i}?"} for i in range(1, 4)]
REAL = "Grounded answers were verified for ninety one percent of the questions"
FAKE = "our quantum transformer solves every benchmark perfectly with zero data"


def answer(i, quote=REAL, pages=(2,)):
    return {"question_index": i, "answer": f"It reports result {i}, verified at ninety one percent.",
            "pages": list(pages), "quote": quote}


def test_answers_past_the_last_question_are_dropped_and_counted():
    qa, dropped, drops = check_answers(QUESTIONS, [answer(1), answer(1), answer(4), answer(9), answer(0)], PAGES,
                                       drop_unverified=False)
    assert len(qa) == 1 and dropped == 2
    assert drops == {PAST_LAST_QUESTION: 3, REPEATED_ANSWER: 1, UNANSWERED: 2}


def test_page_numbers_past_the_last_page_are_never_shown():
    found, _, drops = check_answers(QUESTIONS[:1], [answer(1, pages=[266, 2, 300])], PAGES, drop_unverified=False)
    assert found[0].verified and found[0].pages == [2] and drops == {PAGE_OUT_OF_RANGE: 2}
    # Only an impossible page cited: the quote is looked for on every real page, and found there.
    moved, _, drops = check_answers(QUESTIONS[:1], [answer(1, pages=[266])], PAGES, drop_unverified=False)
    assert moved[0].verified and moved[0].pages == [2] and drops == {PAGE_OUT_OF_RANGE: 1}
    # A quote found nowhere stays unverified, and shows no page at all rather than page 266 or every page.
    fake, _, _ = check_answers(QUESTIONS[:1], [answer(1, FAKE, pages=[266])], PAGES, drop_unverified=False)
    assert not fake[0].verified and fake[0].pages == []
    _, dropped, drops = check_answers(QUESTIONS[:1], [answer(1, FAKE)], PAGES, drop_unverified=True)
    assert dropped == 1 and drops == {UNVERIFIED_DROPPED: 1}


# Enough sentences for eight answers with eight different quotes, as a model gives a paper of this length.
MORE = ["Each paper is read from its PDF and split into passages that keep their page numbers.",
        "A retrieval step picks the passages most relevant to each question before the model answers.",
        "Annotators judged whether every quote supports the answer it was given for in the digest.",
        "Longer papers lose more answers to the context limit than short workshop papers do.",
        "Our evaluation covers two hundred papers from the computation and language category of arXiv.",
        "Limitations remain for tables and equations, which the text extraction does not keep at all."]


@pytest.fixture
def small_week(tmp_path, httpserver, config):
    pdf = make_pdf(tmp_path / "grounded.pdf", [[PAGES[0].body, *MORE[:3]], [PAGES[1].body, *MORE[3:]]])
    serve_week(httpserver, config, [Item("2611.00077", 1, "Grounded digests of research papers",
                                         "We answer questions about papers with quotes.", pdf)])
    config.selection.interests = ""
    config.selection.categories = []


def test_the_run_report_counts_what_was_dropped(small_week, config, store, llm_server):
    grounded = grounded_responder()

    def sloppy(messages, schema):
        reply = grounded(messages, schema)
        if "answers" in schema["properties"]:
            reply["answers"][0]["pages"] = [266]
            reply["answers"].append({**reply["answers"][1], "question_index": 12})
        return reply

    llm_server.responder = sloppy
    add_chat_model(config, "test-model", llm_server)
    config.llm.model = "test-model"
    rep = run_week(config, store, yes=True, today=TODAY)
    g = rep.issue.entries[0].generation
    assert g.drops == {PAST_LAST_QUESTION: 1, PAGE_OUT_OF_RANGE: 1}
    assert store.get_generation(g.key).drops == g.drops  # stored, so a later report can count them too
    assert rep.verdict.drop_report() == f"1 {PAST_LAST_QUESTION}; 1 {PAGE_OUT_OF_RANGE}"
    assert all(266 not in q.pages for q in g.qa)


def test_the_gate_fails_an_issue_whose_answers_are_mostly_unverified_or_missing(store):
    issue = make_issue(store, n_papers=4)
    assert judge_issue(issue, max_failed_share=0.5).passed
    e = issue.entries
    e[0].generation = replace(e[0].generation, qa=[replace(q, verified=False) for q in e[0].generation.qa])
    e[1].generation = replace(e[1].generation, qa=[])
    v = judge_issue(issue, max_failed_share=0.5)
    assert v.passed and len(v.failed) == 2  # half: at the threshold
    e[2].generation = replace(e[2].generation, qa=[])
    v = judge_issue(issue, max_failed_share=0.5)
    assert not v.passed and v.cause() == "no Q&A kept (2 of 3)"
    assert "no answer has a verified quote" in v.causes
    # Abstract-only entries (the PDF could not be read) and the extractive writer are not judged on this.
    for x in e[:3]:
        x.generation = replace(x.generation, status="abstract-only")
    assert judge_issue(issue, max_failed_share=0.0).passed
    ok = make_issue(store, week=1, n_papers=2, model="extractive")
    for x in ok.entries:
        x.generation = replace(x.generation, qa=[])
    assert judge_issue(ok, max_failed_share=0.0).passed


def test_digest_run_prints_the_dropped_line(small_week, config, llm_server, tmp_path):
    from click.testing import CliRunner

    from digest.cli.main import cli

    grounded = grounded_responder()

    def sloppy(messages, schema):
        reply = grounded(messages, schema)
        if "answers" in schema["properties"]:
            reply["answers"].append({**reply["answers"][1], "question_index": 12})
        return reply

    llm_server.responder = sloppy
    cfg = tmp_path / "digest.toml"
    cfg.write_text(
        f'sources = ["arxiv:cs.CL"]\n[llm]\nmodel = "test-model"\nmax_cost = 100\n'
        f'[models."test-model"]\nbase_url = "{llm_server.base_url}"\napi_key_env = ""\n'
        f'[arxiv]\nrss_url = "{config.arxiv.rss_url}"\npdf_url = "{config.arxiv.pdf_url}"\n'
        f'[store]\narchive_dir = "{tmp_path / "cli-archive"}"\n[selection]\ninterests = ""\n', encoding="utf-8")
    done = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--yes"])
    said = " ".join(done.output.split())
    assert done.exit_code == 0, said
    assert f"dropped: 1 {PAST_LAST_QUESTION}" in said
