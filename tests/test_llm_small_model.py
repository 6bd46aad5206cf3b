"""What a real 1.5B model got past the checks (issue 24), replayed by the test server's SmallModel: caught for
every model, and a capable model's good output (derived numbers, Japanese with Latin names) still accepted."""

from __future__ import annotations

from decimal import Decimal

import pytest
from factories import make_paper
from llm_server import SmallModel
from rerun_helpers import add_chat_model

from digest.pipeline import make_writer
from digest.records import Issue, IssueEntry, Page
from digest.writers.answer_check import SAME_ANSWER, TRIMMED_QUOTE
from digest.writers.backing import SUPPORTED, lexical_support
from digest.writers.grounding import PageIndex, PaperNumbers, normalise, summary_problems
from digest.writers.outline_check import check_outline, meaning_words, near_duplicate, one_sentence
from digest.writers.overview import write_overview
from digest.writers.schemas import TLDR_CHARS

PAGES = [
    "LongEval studies how people judge the faithfulness of long summaries written by models. "
    "Annotators read each summary sentence next to the source passages that the sentence draws upon. "
    "Coarse judgements over the whole summary were found to disagree far more than fine ones. "
    "The guidelines ask annotators to mark every unsupported claim in the summary they are reading.",
    "Partial annotation of a fraction of the summary sentences kept the ranking of the systems stable. "
    "The study covers three domains, namely scientific papers, novels and long news articles. "
    "Inter-annotator agreement rose from 0.45 to 0.62 once the fine-grained guidelines were followed. "
    "The authors release their annotation interface and all the judgements collected in the study. "
    "Future work should extend the guidelines to dialogue summaries and to other languages than English.",
]


def stored_paper(store, n: int, title: str):
    """Paper `n` stored with the LongEval-like PAGES as its text."""
    p = make_paper(n, title=title)
    store.upsert_paper(p)
    store.save_pages(p.key, p.version, [Page(i + 1, body) for i, body in enumerate(PAGES)], pdf_path=None,
                     token_count=None)
    return store.get_paper(p.key)


@pytest.fixture
def paper(store):
    return stored_paper(store, 1, "LongEval: Guidelines for Human Evaluation of Faithfulness in Long-form Summarization")


def generate(config, store, server, paper, model: SmallModel, language: str = "en"):
    server.responder = model
    add_chat_model(config, "qwen-like", server)
    return make_writer(config, store, "qwen-like", language).generate(paper)


def on_page(quote: str) -> bool:
    opening = quote.removesuffix(" …")
    return normalise(opening) in normalise(" ".join(PAGES))


def test_a_faithful_small_model_keeps_all_its_answers(config, store, llm_server, paper):
    g = generate(config, store, llm_server, paper, SmallModel())
    assert g.status == "ok" and len(g.qa) == 8 and all(q.verified for q in g.qa) and not g.drops, g.drops


def test_one_answer_for_every_question_is_shown_once(config, store, llm_server, paper):
    g = generate(config, store, llm_server, paper, SmallModel("same_answer"))
    assert len(g.qa) == 1 and g.drops[SAME_ANSWER] == 7
    assert len({q.answer for q in g.qa}) == len(g.qa)


def test_a_quote_that_runs_on_past_the_page_is_shown_cut_to_what_is_there(config, store, llm_server, paper):
    g = generate(config, store, llm_server, paper, SmallModel("runaway_quotes"))
    assert len(g.qa) == 8 and g.drops[TRIMMED_QUOTE] == 8
    for q in g.qa:  # verified for the part shown, and shown as cut: never the junk tail as verified
        assert q.verified and q.quote.endswith(" …") and on_page(q.quote) and "as 1" not in q.quote


def test_quote_openings_follow_word_boundaries_and_must_be_substantial():
    index = PageIndex([Page(1, PAGES[0])])
    sentence = "Annotators read each summary sentence next to the source passages that the sentence draws upon."
    cut = index.find(sentence + " and then the whole world agrees with them as 1", [1])
    assert cut.verified and cut.trimmed == sentence.rstrip(".") + "." or cut.trimmed.startswith("Annotators read")
    assert not index.find("Annotators read each summary but nothing else here is in the paper at all", [1]).verified
    # A real word cut short at the end ("draws up") is not a word of the page: the opening stops before it.
    short = index.find("Annotators read each summary sentence next to the source passages that the sentence draws up", [1])
    assert short.verified and not short.trimmed
    part = index.find("Annotators read each summary sentence next to the sour and the rest of this long quote is "
                      "invented by the model that wrote it", [1])
    assert not part.verified  # a short opening is not enough to show


def test_a_title_as_tldr_is_repaired_with_the_title_shown(config, store, llm_server, paper):
    model = SmallModel("title_tldr")
    g = generate(config, store, llm_server, paper, model)
    assert g.status == "ok" and g.tldr != paper.title and not g.note
    (repair,) = model.repair_prompts
    assert "repeats the title" in repair and paper.title in repair


def test_a_three_sentence_tldr_cut_at_the_bound_is_kept_to_its_first_sentence(config, store, llm_server, paper):
    g = generate(config, store, llm_server, paper, SmallModel("long_tldr"))
    assert g.tldr == PAGES[0].split(". ")[0] + "." and len(g.tldr) < TLDR_CHARS


def test_near_duplicate_questions_are_repaired_and_the_repair_shows_them(config, store, llm_server, paper):
    model = SmallModel("near_duplicate_questions")
    g = generate(config, store, llm_server, paper, model)
    (repair,) = model.repair_prompts
    assert 'question 3 "What is the main approach of the paper?" repeats question 2 "What is the main method' in repair
    assert 'question 5 "What are the main quantitative results?" repeats question 4' in repair
    assert g.status == "ok" and len(g.qa) == 8 and "main approach" not in " ".join(q.question for q in g.qa)


def test_questions_still_repeated_after_the_repair_give_way_to_the_digests_own(config, store, llm_server, paper):
    """A model that repeats one question however it is told: its repeats are replaced by questions the digest
    asks of every paper (here the headline ones: the paper has no headings for the others), listed in the
    answers request, answered in the same call and shown; the note says which were the digest's."""
    g = generate(config, store, llm_server, paper, SmallModel("repeats_after_repair"))
    [answers] = [r for r in llm_server.chat_requests() if "Task 2 of 2" in r["messages"][-1]["content"]]
    task = answers["messages"][-1]["content"]
    assert "Question 3: What problem does the paper address?" in task and "Question 5: What are the main results?" in task
    assert "Answer these questions in their places instead" in task
    shown = [q.question for q in g.qa]
    assert shown.count("What is the method used in the paper?") == 1
    assert {"What problem does the paper address?", "What does the paper propose?",
            "What are the main results?"} <= set(shown)
    assert "questions asked by the digest: 3, 4, 5" in g.note and "left out" not in g.note


def test_near_duplicates_in_meaning_not_only_in_letters():
    def same(a, b):
        return near_duplicate(meaning_words(a), meaning_words(b))
    assert same("What is the main method?", "What is the main approach proposed in this paper?")
    assert same("What are the main results?", "What are the main quantitative results?")
    assert not same("What is the main method?", "What are the main results?")
    assert not same("What does Table 2 report?", "What does Table 3 report?")  # numbers name different things
    assert not same("Which datasets does LongEval use?", "Which annotators does LongEval recruit?")


def test_the_copy_check_compares_meaning_not_a_prefix():
    outline = {"kind": "empirical", "tldr": "This paper proposes LongEval, guidelines for judging faithfulness.",
               "summary": "The paper proposes LongEval, guidelines for judging faithfulness. It tests them.",
               "questions": []}
    assert any("copies the summary" in p for p in check_outline(outline, "en").problems)
    assert one_sentence("One. Two three four five six seven eight nine ten eleven.", 300).startswith("One.")


def test_a_position_paper_is_not_asked_for_results_against_baselines():
    questions = [{"question": "What are the quantitative results against the baselines?", "search_terms": []},
                 {"question": "What does the paper argue about expository writing support?", "search_terms": []}]
    check = check_outline({"kind": "position", "tldr": "", "summary": "", "questions": questions}, "en")
    assert 1 in check.bad_questions and 2 not in check.bad_questions
    assert 1 not in check_outline({"kind": "empirical", "tldr": "", "summary": "", "questions": questions},
                                  "en").bad_questions


# ---- no false rejections --------------------------------------------------------------------------------------

PAPER_TEXT = ("Our model reaches 89.36 F1 against 87.05 for the strong baseline system, which has more parameters; "
              "ours has 7,000,000,000 parameters and a better recall of 0.45. It improves F1 by a margin of points.")


@pytest.mark.parametrize("derived", ["improves F1 by 2.31 points", "reaches about 90 F1", "has a recall of 45%",
                                     "reaches 89.4 F1", "has 7 billion parameters", "uses 7000 million parameters"])
def test_numbers_derived_from_the_page_are_accepted(derived):
    off, numbers = summary_problems(f"Our model {derived} against the baseline.",
                                    f"Our model {derived} against the strong baseline system, with fewer parameters and better recall.", PAPER_TEXT)
    assert off is None and numbers == []
    assert lexical_support(f"The model {derived}.", PAPER_TEXT, []).label == SUPPORTED


def test_numbers_the_page_does_not_give_are_marked():
    _, numbers = summary_problems("Our model reaches 93.1 F1 against the baseline.",
                                  "Our model reaches 93.1 F1 against the strong baseline system, with fewer parameters and better recall.", PAPER_TEXT)
    assert numbers and "93.1" in numbers[0]
    small = PaperNumbers({Decimal(12), Decimal(4)}, free_up_to=1)
    assert not small.gives(Decimal(8))  # any small number is some difference: differences need comparable numbers


def test_a_capable_models_derived_numbers_keep_its_summary(config, store, llm_server, paper):
    class Capable(SmallModel):
        def _outline(self, title, sentences, repair):
            reply = super()._outline(title, sentences, repair)
            reply["tldr"] = "Fine-grained guidelines raise inter-annotator agreement by 0.17, to about 60%."
            return reply
    g = generate(config, store, llm_server, paper, Capable())
    assert g.tldr.startswith("Fine-grained guidelines") and not g.note


def test_a_japanese_tldr_with_latin_names_is_accepted():
    ja = {"kind": "empirical", "tldr": "LongEvalはGPT-4とLLaMA-2の要約をPubMedとSQuADで評価した。",
          "summary": "LongEvalはfaithfulnessの評価指針である。細かい判定で一致率が0.45から0.62に上がった。",
          "questions": [{"question": f"LongEvalのガイドライン{i}は何を定めているか?", "search_terms": []}
                        for i in range(1, 9)]}
    assert not check_outline(ja, "ja")
    english = {**ja, "tldr": "LongEval evaluates GPT-4 and LLaMA-2 summaries on PubMed and SQuAD."}
    assert "the TL;DR is not in Japanese" in check_outline(english, "ja").problems


def test_in_a_japanese_run_english_answers_are_not_shown(config, store, llm_server, paper):
    class EnglishAnswers(SmallModel):
        def _outline(self, title, sentences, repair):
            reply = super()._outline(title, sentences, repair)
            reply["tldr"], reply["summary"] = "LongEvalは長い要約の忠実性を評価する指針である。", "LongEvalの指針を示す。"
            reply["questions"] = [{"question": f"LongEvalの論点{i}は何か?", "search_terms": []} for i in range(1, 9)]
            return reply
    g = generate(config, store, llm_server, paper, EnglishAnswers(), language="ja")
    assert g.qa == [] and g.drops["answers not in the issue's language"] == 8
    g2 = generate(config, store, llm_server, make_ja_paper(store), EnglishAnswers(language="ja"), language="ja")
    assert len(g2.qa) == 8


def make_ja_paper(store):
    return stored_paper(store, 2, "LongEval again")


def test_a_theme_its_papers_do_not_back_is_left_out(config, store, llm_server, paper):
    llm_server.responder = SmallModel("invented_theme")
    add_chat_model(config, "qwen-like", llm_server)
    writer = make_writer(config, store, "qwen-like", "en")
    g1 = writer.generate(paper)
    other = make_ja_paper(store)
    g2 = writer.generate(other)
    issue = Issue(id="2026-W47", week_start="", week_end="", language="en", model="qwen-like", created="",
                  entries=[IssueEntry(paper, g1, 1), IssueEntry(other, g2, 2)])
    out = write_overview(config, issue, writer, language="en", yes=True)
    assert out.overview and all("quantum" not in t.text for t in out.overview.themes)
    assert "not backed by the papers" in out.note and "Writing needs quantum hardware" in out.note


def test_the_run_line_says_how_many_answers_are_supported_only_in_part(paper):
    from digest.quality import judge_issue
    from digest.records import QA, Generation

    qa = [QA("q1", "a1", [1], "x", True, support="partly"), QA("q2", "a2", [1], "y", True, support="supported")]
    g = Generation(key="k", paper_key=paper.key, version=1, model="m", prompt_version="v", language="en",
                   tldr="t", summary="s", qa=qa, status="ok")
    issue = Issue(id="2026-W47", week_start="", week_end="", language="en", model="m", created="",
                  entries=[IssueEntry(paper, g, 1)])
    line = judge_issue(issue, max_failed_share=0.5).answers_line()
    assert line == "2 answers: 0 unverified, 0 not supported by their quote, 1 supported only in part"


def test_passages_given_in_pieces_say_which_section_they_are_from():
    from digest.writers.chat import passage_blocks
    from digest.writers.retrieval import Passage

    blocks = passage_blocks([Passage(3, "We fine-tune on PubMed.", 7, "4 Experiments"),
                             Passage(3, "Accuracy rises to 71.3.", 8, "4 Experiments"),
                             Passage(5, "Our study has two limitations.", 12, "6 Limitations")])
    assert blocks[0].text == "[section: 4 Experiments]\nWe fine-tune on PubMed.\nAccuracy rises to 71.3."
    assert blocks[1].text == "[section: 6 Limitations]\nOur study has two limitations."
    # A model that copies the marker into its quote still quotes the paper.
    index = PageIndex([Page(5, "6 Limitations Our study has two limitations that we discuss in turn here.")])
    assert index.find("[section: 6 Limitations] Our study has two limitations that we discuss", [5]).verified


def test_a_two_sentence_japanese_tldr_keeps_its_first_sentence():
    tldr = "LongEvalは長い要約の忠実性評価の指針を示す。一致率は0.45から0.62に上がった。"
    assert one_sentence(tldr, TLDR_CHARS) == "LongEvalは長い要約の忠実性評価の指針を示す。"


def test_a_tldr_still_copying_the_summary_after_the_repair_is_its_first_sentence_once(config, store, llm_server,
                                                                                        paper):
    model = SmallModel("copied_tldr")
    g = generate(config, store, llm_server, paper, model)
    assert len(model.repair_prompts) == 1 and "copies the summary" in model.repair_prompts[0]
    first = g.tldr
    assert first.startswith("Annotators read each summary sentence") and not g.note
    assert first not in g.summary and g.summary.startswith("Coarse judgements")  # said once, nothing lost


def test_stand_ins_ask_about_the_sections_the_paper_has():
    from digest.writers.outline_check import check_outline
    from digest.writers.retrieval import Passage
    from digest.writers.stand_ins import stand_in_questions

    passages = [Passage(1, "We propose a parser.", 0, "1 Introduction", ("1 Introduction",)),
                Passage(3, "We use the ACL corpus.", 1, "4 Experiments", ("4 Experiments",)),
                Passage(6, "It fails on scans.", 2, "6 Limitations", ("6 Limitations",))]
    repeat = {"question": "What is the method used in the paper?", "search_terms": ["method"]}
    questions = [{"question": "What does the paper propose?", "search_terms": ["propose"]}] + [dict(repeat)] * 7
    data = {"kind": "empirical", "tldr": "A parser for papers is proposed here.",
            "summary": "A parser is proposed and tested on a corpus of papers.", "questions": questions}
    check = check_outline(data, "en")
    assert sorted(check.repeated) == [3, 4, 5, 6, 7, 8]
    replaced = stand_in_questions(questions, check, passages, "en")
    asked = [q["question"] for q in questions]
    # Not the proposal again (question 1 asks it), nothing about future work (no conclusion to answer from).
    assert asked[2:] == ["What problem does the paper address?", "What are the main results?",
                         "What data or benchmarks does it use?", "What is it compared against?",
                         "What are the main contributions?", "What are the limitations?"]
    assert replaced == [3, 4, 5, 6, 7, 8] and not check.bad_questions and not check.repeated
    # A language the digest has no questions in keeps the repeats (they are left out, as before).
    again = [{"question": "Quelle est la méthode ?", "search_terms": []}] * 3
    assert stand_in_questions(again, check_outline({**data, "questions": again}, "fr"), passages, "fr") == []


def test_a_stand_in_questions_answer_shows_only_when_the_paper_backs_it():
    from digest.writers.answer_check import UNVERIFIED_STAND_IN, check_answers

    pages = [Page(1, PAGES[0]), Page(2, PAGES[1])]
    questions = [{"question": "How do annotators judge the faithfulness of a long summary?"},
                 {"question": "What problem does the paper address?", "stand_in": True},
                 {"question": "What are the main results?", "stand_in": True}]
    made_up = "The paper addresses the problem of judging long summaries written by models today."
    answers = [
        {"question_index": 1, "answer": "They read each summary sentence beside the source passages it draws upon.",
         "pages": [1], "quote": "Annotators judge every sentence of the summary in a long form against sources."},
        {"question_index": 2, "answer": "Judging the faithfulness of long model summaries.", "pages": [1],
         "quote": made_up},
        {"question_index": 3, "answer": "Agreement rose from 0.45 to 0.62 with fine-grained guidelines.",
         "pages": [2], "quote": "Inter-annotator agreement rose from 0.45 to 0.62 once the fine-grained guidelines "
                                "were followed."}]
    qa, _, drops = check_answers(questions, answers, pages, drop_unverified=False, language="en")
    # The model's own unverified answer is shown, marked (llm.unverified = "mark"); the digest's is not.
    assert [(q.question, q.verified) for q in qa] == [(questions[0]["question"], False),
                                                     ("What are the main results?", True)]
    assert drops == {UNVERIFIED_STAND_IN: 1}
