"""Answers checked for support: does the (verified) quote back what the answer says?"""

from __future__ import annotations

import pytest
from llm_server import QuotingModel
from rerun_helpers import add_chat_model
from weekfeed import TODAY, real_papers, serve_week

from digest.archive.site import build_archive
from digest.config import Config
from digest.mail.message import render_parts
from digest.pipeline import run_week
from digest.records import QA, Generation, Page
from digest.render import render_markdown
from digest.writers.backing import (
    EXCERPT,
    NOT,
    PARTLY,
    SUPPORTED,
    UNCHECKED,
    lexical_support,
    rate_answers,
    support_rate,
)

QUOTE = ("BART and PEGASUS are two recent abstractive summarizers based on the Transformer architecture; "
         "fine-tuned, they reach 12.5% higher ROUGE-L while using 0.5 of the training data and 89.36 F1.")


@pytest.mark.parametrize("answer", [
    "BART and PEGASUS, both Transformer-based abstractive summarizers, gain 12.5 % ROUGE-L.",  # spaced percent
    "Fine-tuned BART reaches 12.5% higher ROUGE-L using .5 of the training data.",  # .5 is 0.5
    "The abstractive summarizers BART and PEGASUS reach 89.4 F1.",  # rounded from 89.36
    "BART and PEGASUS are two abstractive summarizers built on the Transformer.",
])
def test_answers_their_quote_states_are_supported(answer):
    assert lexical_support(answer, QUOTE, []).label == SUPPORTED


@pytest.mark.parametrize("answer, label, why", [
    ("BART and PEGASUS reach 17.3% higher ROUGE-L.", NOT, "17.3%"),  # a number the quote does not give
    ("BART and PEGASUS summarizers beat T5 and GPT-4 on ROUGE-L.", NOT, "T5, GPT-4"),  # names it does not
    ("BART abstractive summarizers beat LongT5 on ROUGE-L.", PARTLY, "LongT5"),  # one name of several
    ("Weather forecasts improved markedly in the northern regions.", NOT, "no content word"),
])
def test_answers_claiming_what_the_quote_does_not_state_are_caught(answer, label, why):
    s = lexical_support(answer, QUOTE, [])
    assert s.label == label and why in s.reason


def test_a_number_on_the_quotes_page_counts_and_an_unverified_quote_does_not():
    page = "Table 2 shows that the model reaches 71.3 accuracy on the benchmark."
    answer = "BART and PEGASUS reach 71.3 accuracy as abstractive summarizers."
    assert lexical_support(answer, QUOTE, [page]).label == SUPPORTED
    assert lexical_support(answer, QUOTE, []).label == NOT
    # An unverified quote is no evidence: only the page is read.
    assert lexical_support("The model reaches 12.5% with BART.", QUOTE, [page], quote_verified=False).label == NOT


def test_japanese_answers_are_compared_by_numbers_and_latin_terms():
    assert lexical_support("BARTとPEGASUSはROUGE-Lが12.5%向上しました。", QUOTE, []).label == SUPPORTED
    s = lexical_support("BARTはZephyrion-7より97.3%高い性能を示しました。", QUOTE, [])
    assert s.label == NOT and "97.3%" in s.reason
    assert lexical_support("BARTはZephyrion-7より高い性能を示しました。", QUOTE, []).label == PARTLY
    # Nothing comparable across the translation: not made to look checked.
    assert lexical_support("要約モデルは優れた性能を示しました。", QUOTE, []).label == UNCHECKED
    # Full-width digits are the same numbers.
    assert lexical_support("BARTは１２.５%向上しました。", QUOTE, []).label == SUPPORTED


def test_support_rate_counts_only_checked_answers():
    def gen(*labels):
        return Generation(key="k", paper_key="p", version=1, model="m", prompt_version="v", language="en",
                          tldr="", summary="", qa=[QA("q", "a", support=x) for x in labels])
    r = support_rate([gen(SUPPORTED, SUPPORTED, NOT), gen(PARTLY, UNCHECKED, EXCERPT), None])
    assert (r.answers, r.checked, r.supported, r.partly, r.unsupported) == (6, 4, 2, 1, 1)
    assert r.rate == 0.5 and r.cell() == "50% (2/4)"
    assert support_rate([gen(EXCERPT, EXCERPT)]).cell() == "—"


# ---- end to end: the test server fabricates answers around real quotes ------------------------------------


def fabricate_some(i: int) -> str | None:
    """Answers 2 and 5 claim a made-up number and model; answer 7 turns its quote around."""
    return {2: "number", 5: "number", 7: "claim"}.get(i)


def _run(config: Config, store, server, httpserver, corpus, *, language: str, judge: bool):
    model = QuotingModel(language=language, fabricate=fabricate_some)
    server.responder = model
    add_chat_model(config, "test-model", server, max_output_tokens=4096)
    config.llm.model = "test-model"
    config.llm.support_judge = judge
    config.output.language = language
    serve_week(httpserver, config, real_papers(corpus))
    config.selection.interests = ""
    rep = run_week(config, store, yes=True, today=TODAY)
    return model, rep


def _labels(rep, model):
    """(fabricated?, label) of every answer of the issue."""
    out = []
    for e in rep.issue.entries:
        for q in e.generation.qa:
            out.append((" ".join(q.answer.split()) in model.fabricated, q.support, q))
    return out


@pytest.mark.parametrize("language", ["en", "ja"])
def test_fabricated_answers_with_real_quotes_are_caught_by_the_lexical_check(
        language, config, store, llm_server, httpserver, corpus):
    model, rep = _run(config, store, llm_server, httpserver, corpus, language=language, judge=False)
    labels = _labels(rep, model)
    made_up = [(lab, q) for fab, lab, q in labels if fab and "Zephyrion-7" in q.answer]
    assert len(made_up) == 4 and all(q.verified for _, q in made_up)  # real quotes, found in the paper
    assert all(lab == NOT for lab, _ in made_up)
    faithful = [lab for fab, lab, _ in labels if not fab]
    assert faithful and all(lab in (SUPPORTED, UNCHECKED) for lab in faithful)
    assert model.judge_calls == 0  # the judge is off by default
    assert rep.verdict.unsupported == 4 and "4 not supported by their quote" in rep.verdict.answers_line()

    # Marked like unverified answers in every output, in the issue's language.
    stored = store.load_issue(rep.issue.id)
    mark = {"en": "the quote does not support this answer", "ja": "引用はこの回答を裏付けていません"}[language]
    count = {"en": "2 not supported by their quote", "ja": "2件は引用の裏付けなし"}[language]
    md = render_markdown(stored, title="Digest")
    assert md.count(mark) == 4 and md.count(count) == 2
    text, html = render_parts(config, stored, "https://example.org/u")
    assert mark not in text and mark not in html  # the compact edition shows the best answers: these are not
    config.mail.edition = "full"
    text, html = render_parts(config, stored, "https://example.org/u")
    assert text.count(mark) == 4 and html.count(mark) == 4
    build_archive(config, store)
    page = (config.archive_dir / "site" / "issues" / f"{rep.issue.id}.html").read_text(encoding="utf-8")
    assert page.count(mark) == 4 and page.count(count) == 2


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_judge_labels_all_answers_of_a_paper_in_one_logged_call(
        language, config, store, llm_server, httpserver, corpus):
    model, rep = _run(config, store, llm_server, httpserver, corpus, language=language, judge=True)
    assert model.judge_calls == 2  # one per paper, every answer of the paper in it
    labels = _labels(rep, model)
    # The turned-around claim uses the quote's own words: the lexical check cannot see it, the judge does.
    turned = [(lab, q) for fab, lab, q in labels if fab and "Zephyrion-7" not in q.answer]
    assert len(turned) == 2 and all(lab == NOT and q.judged for lab, q in turned)
    assert all(lab == NOT for fab, lab, _ in labels if fab)
    assert all(lab == SUPPORTED for fab, lab, _ in labels if not fab)
    calls = store.query("SELECT purpose, cost, paper_key FROM llm_calls WHERE purpose='support'")
    assert len(calls) == 2 and all(c["cost"] > 0 for c in calls)
    # Stored: a second run makes no judge call (labels kept; the call log would serve it anyway).
    run_week(config, store, yes=True, today=TODAY)
    assert model.judge_calls == 2


def test_the_judge_is_skipped_with_a_note_when_the_budget_would_be_exceeded(
        config, store, llm_server, httpserver, corpus):
    config.llm.max_cost = 0.0
    model, rep = _run(config, store, llm_server, httpserver, corpus, language="en", judge=True)
    assert model.judge_calls == 0
    assert any("support judge skipped for 2 papers" in n for n in rep.notes)
    # The lexical labels still stand.
    assert {lab for fab, lab, _ in _labels(rep, model) if fab and lab} >= {NOT}


def test_extractive_answers_are_excerpts_not_checked(config, store, httpserver, corpus):
    serve_week(httpserver, config, real_papers(corpus))
    config.selection.interests = ""
    config.llm.support_judge = True  # nothing to judge: excerpts need no judge, and no model is called
    rep = run_week(config, store, today=TODAY)
    qa = [q for e in rep.issue.entries for q in e.generation.qa]
    assert qa and all(q.support == EXCERPT for q in qa)
    assert support_rate(e.generation for e in rep.issue.entries).rate is None
    assert "not support" not in render_markdown(store.load_issue(rep.issue.id), title="Digest")


def test_rate_answers_labels_generations_that_did_not_pass_through_the_pipeline():
    pages = [Page(3, QUOTE)]
    g = Generation(key="k", paper_key="p", version=1, model="m", prompt_version="v", language="en", tldr="",
                   summary="", qa=[QA("q1", "BART and PEGASUS reach 12.5% higher ROUGE-L.", [3], QUOTE, True),
                                   QA("q2", "BART and PEGASUS reach 31.5% higher ROUGE-L.", [3], QUOTE, True)])
    r = rate_answers([(g, pages), (None, [])])
    assert [q.support for q in g.qa] == [SUPPORTED, NOT] and r.cell() == "50% (1/2)"


def test_plurals_of_names_and_numbers_inside_names_are_found():
    page = "We fine-tune LLMs of 7B parameters, e.g. Llama 2 and GPT-4, on 12,000 examples."
    assert lexical_support("The LLM is fine-tuned on 12,000 examples.", page, []).label == SUPPORTED
    assert lexical_support("They fine-tune Llama and GPT models with 7 billion parameters.", page, []).label == SUPPORTED
    assert lexical_support("They fine-tune LLMs on 12000 examples.", "We fine-tune the LLM on 12,000 examples.",
                           []).label == SUPPORTED
    assert lexical_support("They fine-tune LLMs with 8 billion parameters.", page, []).label == NOT


def test_a_dry_run_plans_one_judge_call_per_paper(config, store, llm_server, httpserver, corpus):
    add_chat_model(config, "test-model", llm_server, max_output_tokens=4096)
    config.llm.model = "test-model"
    serve_week(httpserver, config, real_papers(corpus))
    config.selection.interests = ""
    plain = run_week(config, store, dry_run=True, today=TODAY)
    config.llm.support_judge = True
    judged = run_week(config, store, dry_run=True, today=TODAY)
    assert sum(e.calls for _, e in plain.estimate) == 4 and sum(e.calls for _, e in judged.estimate) == 6
    assert sum(e.cost for _, e in judged.estimate) > sum(e.cost for _, e in plain.estimate)
    assert llm_server.chat_requests() == []


def test_citation_clusters_are_numbers_of_the_source_too():
    page = "Instruction tuning is a baseline [96,97] for alignment with reinforcement learning."
    assert lexical_support("96 shows instruction tuning for alignment.", page, []).label == SUPPORTED


def test_the_run_report_counts_excerpts_apart_from_checked_answers():
    from dataclasses import replace

    from factories import make_generation, make_paper

    from digest.quality import judge_issue
    from digest.records import Issue, IssueEntry

    chat = make_generation(make_paper(1))
    chat.qa[0].support = "not"
    excerpts = make_generation(make_paper(2), model="extractive")
    excerpts.qa = [replace(q, verified=True, excerpt=True, support="excerpt") for q in excerpts.qa[:5]]
    issue = Issue(id="2026-W47", week_start="", week_end="", language="en", model="test-model", created="",
                  entries=[IssueEntry(make_paper(1), chat, 1), IssueEntry(make_paper(2), excerpts, 2)])
    assert judge_issue(issue, max_failed_share=0.5).answers_line() == (
        "8 answers: 1 unverified, 1 not supported by their quote; 5 excerpts from the papers with their pages")
    issue.entries = issue.entries[1:]
    assert judge_issue(issue, max_failed_share=0.5).answers_line() == \
        "5 excerpts from the papers with their pages"


def test_an_answer_whose_quote_is_not_in_the_paper_is_never_labelled_supported():
    from digest.writers.backing import lexical_support

    page = "On the arXiv benchmark the routed model reaches 41.2 ROUGE-1 against 39.8 for the dense baseline."
    answer = "The routed model reaches 41.2 ROUGE-1 on arXiv, above the dense baseline."
    assert lexical_support(answer, "reaches 41.2 ROUGE-1 against 39.8", [page]).label == "supported"
    made_up = lexical_support(answer, "a sentence the model made up about routing", [page], quote_verified=False)
    assert made_up.label == "unchecked" and "not in the paper" in made_up.reason
    # What the page contradicts is still said: a number that is nowhere is "not".
    assert lexical_support("It reaches 57.3 ROUGE-1.", "made up", [page], quote_verified=False).label == "not"
