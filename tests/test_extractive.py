"""The extractive model's pieces: TL;DR and summary from the abstract, the abstract from the text."""

import re

from digest.mail.message import render_parts
from digest.pdf.clean import clean_pages
from digest.records import QA, Generation, Issue, IssueEntry, Page, Paper
from digest.render import render_markdown
from digest.text import sentences
from digest.writers.extractive import (
    ExtractiveWriter,
    _one_line,
    _readable,
    abstract_from_pages,
    summarise,
    summarise_abstract,
)
from digest.writers.extractive_summary import third_person

ABSTRACT = ("Large language models are hard to evaluate on long documents. Existing metrics miss "
            "unfaithful claims. We propose FaithScore, a metric that checks each claim against the source. "
            "On three benchmarks FaithScore correlates with human judgments at 0.71 Kendall tau, "
            "beating ROUGE by 0.3. Code is released.")


def test_tldr_is_the_sentence_that_says_what_the_paper_does():
    tldr, summary = summarise_abstract(Paper(key="k", title="t", abstract=ABSTRACT))
    assert tldr == "They propose FaithScore, a metric that checks each claim against the source."
    assert "0.71 Kendall tau" in summary and summary.startswith("Large language models")


def test_a_long_sentence_becomes_one_line():
    long = "We present X, a method for " + "very " * 40 + "long things: details follow here."
    line = _one_line(long)
    assert len(line.split()) <= 36 and line.endswith(("…", "."))
    assert _one_line("Short and sweet.") == "Short and sweet."


def test_abstract_is_found_in_the_page_text_without_front_matter():
    pages = [Page(1, "A Title\nAnn Author\nAbstract\n" + ABSTRACT +
                 "\nACM Reference Format: Ann Author. 2023. A Title. In Proceedings of X.\n"
                 "1 Introduction\nBody text of the introduction goes on for a while here.")]
    text = abstract_from_pages(pages)
    assert text.startswith("Large language models") and "ACM Reference" not in text


# ---- excerpts, not answers ---------------------------------------------------------------------

INTRO = ("1 Introduction\n"
         "Long documents remain a challenge for summarisation models, which lose track of earlier sections. "
         "In this paper we propose FaithScore, a metric that checks each claim against the source text. "
         "We train all models on the arXiv-summ corpus of 20,000 annotated papers from four fields. "
         "Experiments show that FaithScore correlates with human judgments at 0.71 Kendall tau. "
         "Compared with ROUGE and BERTScore, it agrees with annotators far more often on every field.\n")
BACK = ("7 Author contributions\n"
        "Author contributions: A. Author wrote the code and the main contributions section of the paper draft. "
        "B. Author ran all the annotation studies and wrote the remaining parts of the paper text.\n")
CONTENTS = ["Contents", "1 Introduction 3", "2 Method . . . . . . . . . . . . . . . . . 4",
            "3 Results ........................ 9", "Figure 2 shows the architecture of our system in detail."]


def test_answers_are_excerpts_shown_once_and_unanswerable_questions_are_skipped(config, store):
    pages = [Page(1, "FaithScore\nAbstract\n" + ABSTRACT), Page(2, INTRO), Page(3, BACK)]
    qa, dropped = ExtractiveWriter(config, store, "en").answers(pages, "en")
    by_q = {q.question: q for q in qa}
    assert all(q.excerpt and q.answer == q.quote and q.verified for q in qa)
    for q in qa:  # each excerpt is on the page it cites
        assert " ".join(q.quote.split()) in " ".join(pages[q.pages[0] - 1].body.split())
    # The problem as the abstract opens with it (its first two sentences, the second not its claim).
    assert by_q["What problem does the paper address?"].quote == ("Large language models are hard to evaluate on "
                                                                   "long documents. Existing metrics miss unfaithful claims.")
    # "main contributions" is never answered with the author-contribution statement, nor any question with it.
    assert not any("wrote the code" in q.quote for q in qa)
    # Nothing in the paper speaks of future work: the question is skipped, not answered with a neighbour.
    assert "What future work do the authors suggest?" not in by_q and dropped >= 1 and len(qa) + dropped >= 9


def test_contents_tables_and_citation_clusters_are_never_shown():
    pages = clean_pages(["\n".join(["A Review of Things", "Abstract", ABSTRACT, *CONTENTS[:3]]),
                         "\n".join([*CONTENTS[3:], INTRO])])
    text = "\n".join(p.body for p in pages)
    assert "Contents" not in text and ". . . ." not in text and "1 Introduction 3" not in text
    # A heading is a paragraph of its own (digest.pdf.blocks), so it never runs into the text after it.
    assert "Figure 2 shows the architecture" in text and "1 Introduction\n\nLong documents" in text
    assert not _readable("3 Results ........................ 9 and the rest of it, here.")
    assert not _readable("Prior systems [3] [12, 14] [15] [21] did exactly this for short news documents.")
    assert not _readable("Accuracy on the four sets 81.2 77.9 65.0 90.1 88.3 is reported in the table below.")
    assert not _readable("Author contributions: A. Author wrote the paper and ran every experiment.")
    assert _readable("Prior systems [3] did exactly this for short news documents, and failed on long ones.")


def test_summary_is_at_most_four_sentences_without_front_matter():
    abstract = ABSTRACT + " Keywords evaluation, faithfulness, metrics"
    tldr, summary = summarise(Paper(key="k", title="t", abstract=abstract), [])
    assert tldr.startswith("They propose FaithScore") and "Keywords" not in summary
    assert 2 <= len(sentences(summary)) <= 4 and "0.71 Kendall tau" in summary


def test_excerpts_get_no_verified_badge_in_markdown_and_email(config):
    paper = Paper(key="2611.00001", title="FaithScore", abstract=ABSTRACT)
    quote = "We propose FaithScore, a metric that checks each claim against the source."
    g = Generation(key="g", paper_key=paper.key, version=1, model="extractive", prompt_version="extractive-3",
                   language="en", tldr="t", summary="s",
                   qa=[QA("What method or approach does it propose?", quote, [2], quote, True, excerpt=True)])
    for lang, label, verified in (("en", "excerpts from the paper", "answers verified"), ("ja", "論文からの抜粋", "1件中1件")):
        issue = Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language=lang,
                      model="extractive", created="2026-11-16T08:00:00+00:00",
                      entries=[IssueEntry(paper=paper, generation=g, position=1)])
        md = render_markdown(issue, title="Digest")
        assert label in md and verified not in md
        assert md.count("checks each claim against the source") == 1 and "(p. 2)" in md.split("FaithScore, a metric")[1][:80]
        text, html = render_parts(config, issue, None)
        for body in (text, html):
            assert label in body and body.count("checks each claim against the source") == 1
    g.qa[0].excerpt = False  # a model's answer keeps its verified count and shows answer and quote
    md = render_markdown(Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en",
                               model="m", created="2026-11-16T08:00:00+00:00",
                               entries=[IssueEntry(paper=paper, generation=g, position=1)]), title="Digest")
    assert "1 of 1 answers verified" in md and md.count("checks each claim against the source") == 2


# ---- answers from the section a question is about ------------------------------------------------

PAPER = [
    Page(1, "FaithScore: Checking Claims\n\nAbstract\n" + ABSTRACT + "\n\n1 Introduction\n"
            "Long documents remain a challenge for summarisation models, which lose track of earlier sections. "
            "In this paper we propose FaithScore, a metric that checks each claim against the source text."),
    Page(2, "2 Related Work\nFuture work in prior studies suggested checking claims with entailment models, "
            "an idea we do not follow here at all.\n\n3 Claim Alignment\nWe split each summary into atomic claims "
            "and align every claim with the sentences of the source that state it. Let M be the alignment matrix "
            "whose rows are claims and whose columns are source sentences.\n\n4 Experiments\n"
            "We evaluate on the arXiv-summ dataset of 20,000 annotated papers from four fields of science. "
            "FaithScore is compared against ROUGE and BERTScore baselines on every field of the dataset."),
    Page(3, "5 Limitations\nFaithScore is limited to English sources and cannot check claims about figures.\n\n"
            "6 Conclusion\nOur experiments show that FaithScore agrees with human judgments far more often than ROUGE. "
            "In future work we plan to extend FaithScore to claims about tables and figures."),
    Page(4, "References\n[1] A. Author. A paper. 2020.\n\nA Prompts\nDo not add any site limitations to your query "
            "and answer in the format shown below.\n\nB Data Examples\nThe data of each example is a matrix of "
            "claims and sentences, shown here for one paper of the dataset."),
]


def test_each_answer_comes_from_the_section_its_question_is_about(config, store):
    from digest.writers.retrieval import on_topic, split_passages

    qa, _ = ExtractiveWriter(config, store, "en").answers(PAPER, "en", title="FaithScore: Checking Claims",
                                                          abstract=ABSTRACT)
    by_q = {q.question: q.quote for q in qa}
    assert by_q["What are the limitations?"].startswith("FaithScore is limited to English")
    assert by_q["What future work do the authors suggest?"].startswith("In future work we plan")
    assert by_q["What data or benchmarks does it use?"].startswith("We evaluate on the arXiv-summ dataset")
    assert "baselines" in by_q["What is it compared against?"]
    assert not any("site limitations" in q or "Future work in prior studies" in q or "Let M be" in q
                   for q in by_q.values())
    # A question about the paper's own section, phrased with its heading.
    assert by_q["What does the section “Claim Alignment” describe?"].startswith("We split each summary")
    passages = split_passages(PAPER)
    marks = [on_topic(q.question, q.quote, q.pages, passages) for q in qa]
    assert all(m is not False for m in marks) and marks.count(True) >= 6


def test_a_question_is_skipped_when_the_paper_has_no_such_section(config, store):
    pages = [PAPER[0], PAPER[1], Page(3, "6 Conclusion\nFaithScore agrees with human judgments far more often "
                                         "than ROUGE, but it is limited to English and cannot check figures.")] + PAPER[3:]
    qa, dropped = ExtractiveWriter(config, store, "en").answers(pages, "en", title="FaithScore", abstract=ABSTRACT)
    questions = {q.question for q in qa}
    # No Limitations or Discussion section: the appendix prompt is not an answer, and nothing else is either.
    assert "What are the limitations?" not in questions and dropped >= 1
    assert not any("site limitations" in q.quote for q in qa)


def test_tldr_is_not_repeated_by_the_summary_which_draws_on_the_conclusion():
    paper = Paper(key="k", title="FaithScore: Checking Claims",
                  abstract="Long documents are hard to evaluate. Existing metrics miss unfaithful claims. "
                           "We propose FaithScore, a metric that checks each claim against the source.")
    tldr, summary = summarise(paper, PAPER)
    assert tldr not in summary and tldr.rstrip(".") not in summary
    assert "agrees with human judgments" in summary  # the abstract states no result: the conclusion's
    assert "Do not add" not in summary


def test_formulas_and_sentences_cut_at_a_page_break_are_never_shown():
    assert not _readable("We demonstrate that incorporating geospatial knowledge into the model")
    assert not _readable("The loss is L = sum of the terms over all the claims in the batch here.")
    assert not _readable("We now compute the full propagator with respect to the action, which is + + + shown.")
    assert not _readable("(29) We now wish to calculate the full propagator G(p) with respect to the action.")
    assert _readable("We demonstrate that incorporating geospatial rules improves performance.")


def test_japanese_questions_and_section_questions(config, store):
    qa, _ = ExtractiveWriter(config, store, "ja").answers(PAPER, "ja", title="FaithScore", abstract=ABSTRACT)
    questions = [q.question for q in qa]
    assert "限界や制約は何ですか?" in questions and "「Claim Alignment」の節では何を述べていますか?" in questions
    assert all(not q.isascii() for q in questions)


def test_a_ja_and_an_en_extractive_issue_label_their_answers_alike_and_note_only_in_their_language(config, store):
    """Browser-free: the writer's own generation of a paper, rendered as Markdown, text and HTML email."""
    from digest.mail.message import render_parts

    paper = Paper(key="2611.00002", title="FaithScore: Checking Claims", abstract=ABSTRACT, text_status="ok",
                  abs_url="https://arxiv.org/abs/2611.00002v1", version=1)
    store.upsert_paper(paper)
    store.save_pages(paper.key, None, PAPER, pdf_path=None, token_count=None)
    paper = store.get_paper(paper.key)
    bodies = {}
    for lang in ("en", "ja"):
        g = ExtractiveWriter(config, store, lang).generate(paper)
        assert g.excerpts and len(g.qa) >= 7
        issue = Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language=lang, model="extractive",
                      created="2026-11-16T08:00:00+00:00", entries=[IssueEntry(paper=paper, generation=g, position=1)])
        text, html = render_parts(config, issue, None)
        bodies[lang] = {"markdown": render_markdown(issue, title="Digest"), "text": text, "html": html}
    for name, body in bodies["en"].items():
        assert "excerpts from the paper, each with its page" in body and "Written without an LLM" in body, name
        assert "checked against" not in body and "not checked" not in body, name
    for name, body in bodies["ja"].items():
        assert "論文からの抜粋(ページ付き)" in body and "LLMを使わずに作成しました" in body, name
        assert "この論文は何を提案していますか?" in body and "照合" not in body, name
        # English here is only the paper's own words: no English label or note.
        for english in ("Written without", "excerpts from", "Summarised from", "taken from the abstract", "Authors"):
            assert english not in body, (name, english)
    assert "限界や制約は何ですか?" in bodies["ja"]["markdown"]  # the compact email shows the first answers only
    assert 'lang="en"' in bodies["ja"]["html"]


RARE_ABSTRACT = (
    "Neural machine translation systems often mistranslate rare words in low-resource language pairs. "
    "Recently, many teams have released their own software packages under permissive open licences for everyone. "
    "In this paper, we propose LexCopy, a translation method that copies rare words from a bilingual lexicon. "
    "LexCopy learns when to copy a lexicon entry and when to translate the rare word with the decoder. "
    "The weather in the city where the authors met was unusually pleasant during the whole of the spring. "
    "On three low-resource language pairs LexCopy improves the translation of rare words by 4.1 BLEU.")
RARE_PAGES = [
    Page(1, "LexCopy: Copying Rare Words from a Lexicon\n\nAbstract\n" + RARE_ABSTRACT),
    Page(2, "1 Introduction\nRare words remain the main source of errors when neural machine translation is trained "
            "on low-resource language pairs. A bilingual lexicon often lists exactly the rare words a decoder misses. "
            "We introduce LexCopy, which copies rare words from the lexicon into the translation."),
    Page(3, "6 Conclusion\nCopying rare words from a bilingual lexicon makes low-resource translation more faithful. "
            "Our results show that LexCopy improves the translation of rare words on every language pair."),
]


def test_summary_keeps_the_sentences_about_what_the_paper_keeps_returning_to():
    paper = Paper(key="k", title="LexCopy: Copying Rare Words from a Lexicon", abstract=RARE_ABSTRACT)
    tldr, summary = summarise(paper, RARE_PAGES)
    said = sentences(summary)
    # The sentences sharing no term with the rest of the paper are left out; those about its subject are kept.
    assert "weather" not in summary and "software packages" not in summary
    assert "4.1 BLEU" in summary and "mistranslate rare words" in summary
    # A discourse opener is cut, the sentence kept whole; the TL;DR is none of the summary's sentences.
    # The authors' "we" is told in the third person, as a digest tells of them.
    assert "They propose LexCopy, a translation method that copies rare words from a bilingual lexicon." in said
    assert "In this paper" not in summary and tldr not in said
    assert not re.search(r"\b(?:[Ww]e|[Oo]urs?|us)\b", summary + tldr)
    paper_text = third_person(" ".join(" ".join(p.body.split()) for p in RARE_PAGES)).lower()
    assert all(s.lower()[5:] in paper_text for s in said)  # whole sentences of the paper ("They" was "they")


def test_the_authors_first_person_is_told_in_the_third():
    assert third_person("We show that our model helps us; ours is faster. We-chat stays.") == \
        "They show that their model helps them; theirs is faster. We-chat stays."
    assert third_person("Western users swear by it") == "Western users swear by it"  # whole words only


def test_a_paper_without_an_abstract_is_summarised_from_its_opening_not_its_title():
    intro = ("The coin package provides a unified approach to conditional inference procedures commonly known as "
             "permutation tests. The theoretical basis for the design and implementation is the general framework "
             "for permutation tests given by Strasser and Weber (1999). Test procedures for nominal, ordinal and "
             "continuous data with or without censoring are all part of this framework.")
    pages = [Page(1, "coin: A Computational Framework for Conditional Inference\n\n1 Introduction\n" + intro
                  + "\n\n2 Permutation tests\nWe consider the test statistic of the general form below.\n")]
    paper = Paper(key="k", title="coin: A Computational Framework for Conditional Inference", abstract="")
    tldr, summary = summarise(paper, pages)
    assert tldr != paper.title and summary != paper.title
    assert "unified approach to conditional inference" in tldr + " " + summary
    assert "(1999)" not in summary


def test_a_sentence_about_the_document_is_never_the_tldr():
    pages = [Page(1, "A Study of Counts\n\nAbstract\nCount data are modelled with hurdle models in R. Hurdle models "
                     "capture excess zeros better than Poisson models on medical care data.\n\n1 Introduction\n"
                     "Count data often show excess zeros in economics and the social sciences. The remainder of "
                     "this paper is organized as follows in four sections of text.\n\n5 Conclusion\n"
                     "Hurdle models handle the excess zeros of count data well in every data set examined here.\n"
                     "Computational details\nThe results in this paper were obtained using R 4.0.0 with the "
                     "packages MASS and pscl.\n")]
    tldr, _ = summarise(Paper(key="k", title="A Study of Counts", abstract=""), pages)
    assert "were obtained using" not in tldr and "remainder of this paper" not in tldr


def test_cited_works_cut_from_a_sentence_leave_one_full_stop():
    from digest.writers.extractive_summary import _trimmed

    assert _trimmed("For a more detailed overview see Hothorn et al. (2006).") == \
        "For a more detailed overview see Hothorn et al."
    assert _trimmed("It waits … and then stops.") == "It waits … and then stops."


def test_section_questions_ask_only_about_sections_the_pdf_has():
    from digest.records import PaperStructure, Section
    from digest.writers.extractive import _own_sections
    from digest.writers.retrieval import Passage

    def passage(i, heading):
        return Passage(i, f"Text of the part under {heading} number {i}.", i, heading, (heading,))
    passages = [passage(1, "2 Formula module"), passage(2, "RX"), passage(3, "RX"), passage(4, "3 Penalized least squares")]
    read = PaperStructure(sections=[Section("Formula module", 1, 1, "2"), Section("Penalized least squares", 1, 4, "3")])
    assert [h for _, h in _own_sections(passages, set(), read)] == ["Formula module", "Penalized least squares"]
    # Without the PDF's tree, a heading of two letters is still no section to ask about.
    assert "RX" not in [h for _, h in _own_sections(passages, set())]
