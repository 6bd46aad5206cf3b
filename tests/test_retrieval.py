"""Passages, sections, sentences and BM25 retrieval, on real arXiv PDFs and small synthetic papers."""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path

import pytest
from conftest import CORPUS
from pypdf import PdfReader

from digest.records import Page
from digest.text import sentences, stem, terms, tokenize
from digest.writers import retrieval
from digest.writers.retrieval import PassageIndex, find_sections, parse_heading, split_passages


@cache
def _real_pages(name: str) -> tuple[Page, ...]:
    """Page texts of a corpus PDF, extracted here with pypdf; what follows 'References' goes to refs."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    path = next((CORPUS / "pdfs").glob(f"*/*{name}*.pdf"))
    pages, in_refs = [], False
    for i, pg in enumerate(PdfReader(path).pages, 1):
        text = pg.extract_text() or ""
        body, refs = text, ""
        if in_refs:
            body, refs = "", text
        else:
            m = re.search(r"^\s*(?:references|bibliography)\s*$", text, re.I | re.M)
            if m:
                body, refs, in_refs = text[: m.start()], text[m.end():], True
        pages.append(Page(number=i, body=body, refs=refs))
    return tuple(pages)


def real_pages(corpus: Path, name: str) -> list[Page]:
    return list(_real_pages(name))


def flat(text: str) -> str:
    return " ".join(text.split())


# ---- sentences --------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("We follow Smith et al. (2020) here. The results in Fig. 3 show a 1.5% gain, i.e. a small one. "
     "See e.g. Table 2 for details.",
     ["We follow Smith et al. (2020) here.",
      "The results in Fig. 3 show a 1.5% gain, i.e. a small one.",
      "See e.g. Table 2 for details."]),
    ("This holds for J. Doe's model. Details are in Appendix A. We then test it.",
     ["This holds for J. Doe's model.", "Details are in Appendix A.", "We then test it."]),
    ("Is it good? Yes! It is.", ["Is it good?", "Yes!", "It is."]),
    ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
    ("The U.S. government funds approx. 5 projects (cf. Sec. 4.2 and Eq. 7). It grew in 2020. "
     "3D models followed.",
     ["The U.S. government funds approx. 5 projects (cf. Sec. 4.2 and Eq. 7).", "It grew in 2020.",
      "3D models followed."]),
    ("Line one of a sentence\nthat wraps. And a second\n  one without an end",
     ["Line one of a sentence that wraps.", "And a second one without an end"]),
    ("vs. baselines, accuracy rose by 2.5 pts. on average. we keep lowercase starts together.",
     ["vs. baselines, accuracy rose by 2.5 pts. on average. we keep lowercase starts together."]),
    ("", []),
])
def test_sentences(text, expected):
    assert sentences(text) == expected


def test_stem_and_tokenize():
    assert stem("models") == stem("modeling") == stem("modelling") == stem("model")
    assert stem("summarization") == stem("summarize") == stem("summarizing") == stem("summarized")
    assert stem("datasets") == stem("dataset")
    assert stem("analysis") == "analysis" and stem("corpus") == "corpus"
    # Ligatures and accents fold; stopwords and bare numbers go; a word broken at a line end joins.
    assert [w for _, w in terms("The eﬀective naïve informa- tion of 2020")] == ["effective", "naive", "information"]
    assert tokenize("Models summarized") == [stem("model"), stem("summarize")]


# ---- headings ---------------------------------------------------------------------------

@pytest.mark.parametrize("line, kind, level", [
    ("1 Introduction", "introduction", 1),
    ("I. INTRODUCTION", "introduction", 1),
    ("8.4 Limitations", "limitations", 2),
    ("4 Discussion and Conclusions", "conclusion", 1),
    ("Conclusions", "conclusion", 1),
    ("ABSTRACT", "abstract", 1),
    ("Materials and methods", "other", 1),
    ("A Implementation Details", "other", 1),
])
def test_headings(line, kind, level):
    h = parse_heading(line)
    assert h is not None and h.kind == kind and h.level == level


@pytest.mark.parametrize("line", [
    "1 Introduction 3",                      # a table-of-contents line
    "7 Conclusions 42",
    "A model of this kind is used in the",   # a wrapped sentence
    "1 Institute for Research in Biomedicine (IRB Barcelona), The Barcelona Institute",
    "summary to make quick judgements about the relevance of new",
    "Table 7: Selector Evaluation.",
    "2 shows the distribution",
])
def test_not_headings(line):
    assert parse_heading(line) is None


# ---- synthetic papers -------------------------------------------------------------------

SYNTHETIC = [
    Page(1, "A Tiny Paper on Tide Prediction\nAda Lovelace\nAbstract\n"
            "We predict tides with a small recurrent model. It beats the harmonic baseline.\n"
            "1 Introduction\n"
            + " ".join(f"Coastal towns need tide forecasts number {i}." for i in range(60))
            + "\nThe problem is that storms shift the tides."),
    Page(2, "2 Method\nOur recurrent model reads hourly gauge levels. It is trained on ten years.\n"
            "3 Results\nThe model reaches a mean error of 4.2 cm on the Brest gauge.\n"
            "Limitations\nThe model fails during hurricanes because gauges break.\n"
            "5 Conclusion\nSmall recurrent models forecast tides well.",
         refs="[1] Doe, J. Tides and moons. Journal of Oceans, 2001. Unobtainium harmonic ledger."),
    Page(3, "References\n[2] Roe, R. More tides. Unobtainium quarterly, 2003.\n"
            "A Appendix Details\nThe gauge data come from the national archive."),
]


def test_split_passages_synthetic():
    passages = split_passages(SYNTHETIC, target_words=40)
    assert [p.index for p in passages] == list(range(len(passages)))
    for p in passages:
        assert p.text and p.text in flat(SYNTHETIC[p.page - 1].body)
        assert len(p.text.split()) <= 60
    text = " ".join(p.text for p in passages)
    # Page.refs and a references section left in the body are never passages; the appendix after it is.
    assert "Unobtainium" not in text
    assert any("national archive" in p.text and p.page == 3 for p in passages)
    # The 60-sentence introduction was cut at sentence ends into several passages, all on page 1.
    intro = [p for p in passages if p.section == "1 Introduction"]
    assert len(intro) >= 5 and {p.page for p in intro} == {1}
    assert all(p.text.endswith(".") for p in intro)


def test_find_sections_synthetic():
    sections = find_sections(SYNTHETIC, target_words=40)
    assert [p.text for p in sections["abstract"]] == [
        "We predict tides with a small recurrent model. It beats the harmonic baseline."]
    assert sections["introduction"][0].text.startswith("Coastal towns")
    assert sections["introduction"][-1].text.endswith("storms shift the tides.")
    assert [p.text for p in sections["conclusion"]] == ["Small recurrent models forecast tides well."]
    # The same passage objects as split_passages: a caller can merge them with search hits by index.
    by_index = {p.index: p for p in split_passages(SYNTHETIC, target_words=40)}
    assert all(by_index[p.index] == p for ps in sections.values() for p in ps)


def test_title_starting_with_a_is_not_a_heading():
    pages = [Page(1, "A Survey of Tide Models\nAda Lovelace\n"
                     "Tides rise and fall twice a day. We survey forty models that predict them and compare "
                     "their errors on ten gauges around the Atlantic coast of Europe. Recurrent models win on short "
                     "horizons, while harmonic analysis still wins on long ones.\n"
                     "1 Introduction\nTides matter to ports.\n2 Models\nThere are many.\n"
                     "A Extra Tables\nMore numbers here.")]
    sections = find_sections(pages)
    assert sections["abstract"][0].text.startswith("Tides rise and fall")
    assert split_passages(pages)[-1].section == "A Extra Tables"


def test_inline_abstract_and_unnumbered_headings():
    pages = [Page(1, "Tide Models\nAbstract—We compare tide models. Recurrent ones win.\n"
                     "INTRODUCTION\nPorts need tides.\nCONCLUSIONS\nUse recurrent models.")]
    s = find_sections(pages)
    assert [p.text for p in s["abstract"]] == ["We compare tide models. Recurrent ones win."]
    assert [p.text for p in s["introduction"]] == ["Ports need tides."]
    assert [p.text for p in s["conclusion"]] == ["Use recurrent models."]


def test_find_sections_missing():
    pages = [Page(1, "Notes from a meeting\nWe talked about tides. Nobody wrote headings.")]
    assert find_sections(pages) == {"abstract": [], "introduction": [], "conclusion": []}
    assert find_sections([]) == {"abstract": [], "introduction": [], "conclusion": []}


def test_search_synthetic():
    index = PassageIndex(split_passages(SYNTHETIC, target_words=40))
    hits = index.search("What mean error does the model reach on the Brest gauge?", k=3)
    assert hits[0][0].page == 2 and "4.2 cm" in hits[0][0].text
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    # "limitations" finds the Limitations section although its text never says the word.
    top, _ = index.search("What are the limitations?", k=1)[0]
    assert top.section == "Limitations" and "hurricanes" in top.text
    assert index.search("the of and", k=3) == []
    assert index.search("zebra xylophone", k=3) == []
    assert PassageIndex([]).search("tides") == []


# ---- real papers ------------------------------------------------------------------------

PAPERS = ["2501.10120", "2206.10883", "1111.2011", "2407.01603", "acl2020", "nar_gkae252", "2302.07302"]


@pytest.mark.parametrize("name", PAPERS)
def test_passages_real(corpus, name):
    pages = real_pages(corpus, name)
    passages = split_passages(pages)
    assert len(passages) >= len([p for p in pages if p.body.strip()])
    refs = " ".join(flat(p.refs) for p in pages)
    for p in passages:
        # Every passage is text of its own page's body, so none comes from the references.
        assert p.text in flat(pages[p.page - 1].body)
        assert len(p.text.split()) <= 270
    words = [len(p.text.split()) for p in passages]
    assert 60 <= sum(words) / len(words) <= 200
    assert refs  # the loader did find a references section to keep out


def test_find_sections_real(corpus):
    s = find_sections(real_pages(corpus, "2501.10120"))
    assert s["abstract"][0].text.startswith("We introduce PaSa, an advanced Paper Search")
    assert {p.page for p in s["abstract"]} == {1}
    assert s["introduction"][0].text.startswith("Academic paper search lies at the core")
    assert s["conclusion"][0].page == 9 and s["conclusion"][0].text.startswith("In this paper, we introduce PaSa")
    assert all(p.section == "6 Conclusion" for p in s["conclusion"])

    # REVTeX: no "Abstract" heading; roman-numbered sections; "Discussion" stands for the conclusion.
    s = find_sections(real_pages(corpus, "1111.2011"))
    assert s["abstract"][0].text.startswith("Theoretical description of anisotropic systems")
    assert s["introduction"][0].section == "I. INTRODUCTION"
    assert s["conclusion"][0].section == "V. DISCUSSION" and s["conclusion"][0].page == 8

    # A 79-page review with a table of contents: its "1 Introduction 3" line is not the heading.
    s = find_sections(real_pages(corpus, "2407.01603"))
    assert s["abstract"][0].page == 1
    assert s["introduction"][0].page == 3 and s["conclusion"][0].section == "7 Conclusions"

    # Unnumbered headings in a two-column journal layout.
    s = find_sections(real_pages(corpus, "nar_gkae252"))
    assert s["abstract"][0].text.startswith("Local mutation rates in human")
    assert s["introduction"][0].section == "Introduction"
    assert s["conclusion"][0].section == "Discussion" and s["conclusion"][0].page == 11

    # The abstract on page 2 after a title page; "Discussion and Conclusions" as one heading.
    s = find_sections(real_pages(corpus, "2201.09329"))
    assert s["abstract"][0].page == 2 and s["abstract"][0].text.startswith("Applying AI power")
    assert s["conclusion"][0].section == "4 Discussion and Conclusions"


@pytest.mark.parametrize("name, question, page, answer", [
    ("2501.10120", "What F1 score does the Selector achieve?", 9, "F1 score of 85%"),
    ("2501.10120", "Which model are the Selector and Crawler based on?", 7, "Qwen2.5-7b"),
    ("acl2020", "How many papers are in S2ORC?", 1, "81.1M"),
    ("2206.10883", "How long does an expert take to write a typical summary?", 2, "1-4 hours"),
])
def test_search_real(corpus, name, question, page, answer):
    index = PassageIndex(split_passages(real_pages(corpus, name)))
    hits = index.search(question, k=3)
    assert any(p.page == page and answer in p.text for p, _ in hits), [(p.page, p.text[:80]) for p, _ in hits]


def test_search_standard_questions_real(corpus):
    """The extractive model's questions land in the sections that answer them."""
    index = PassageIndex(split_passages(real_pages(corpus, "eacl2023")))
    top, _ = index.search("What are the limitations?", k=1)[0]
    assert top.section == "Limitations"
    top, _ = index.search("What problem does this paper address?", k=1)[0]
    assert top.section in ("Abstract", "1 Introduction")
    index = PassageIndex(split_passages(real_pages(corpus, "2501.10120")))
    assert index.search("What are the main results?", k=1)[0][0].section == "5.3 Main results"


def test_a_paper_is_segmented_once_for_passages_and_sections(monkeypatch):
    """Passages and sections asked for again (from fresh Page objects) reuse one segmentation."""
    calls = []
    paragraphs = retrieval._paragraphs
    monkeypatch.setattr(retrieval, "_paragraphs", lambda pages: calls.append(1) or paragraphs(pages))
    body = "Abstract\nWe study caching of segmented papers in one run.\n\n1 Introduction\n" + "Words here. " * 50

    def pages() -> list[Page]:
        return [Page(1, body), Page(2, "2 Conclusion\nIt works, once. " + "More words. " * 30)]

    passages = split_passages(pages())
    sections = find_sections(pages())
    assert find_sections(pages()) == sections and split_passages(pages()) == passages
    assert sections["introduction"] and sections["conclusion"]
    assert len(calls) == 1
    split_passages([Page(1, body + " changed")])
    assert len(calls) == 2  # other text: segmented anew


# ---- the section a question is about ------------------------------------------------------------

SECTIONED = [
    Page(1, "A Paper\n\nAbstract\nWe study retrieval of passages by the section a question is about. "
            "It matters for grounded answers.\n\n1 Introduction\nQuestions about limitations should be answered "
            "from the limitations section, not from anywhere else in the paper at all."),
    Page(2, "2 Related Work\nPrior systems were limited to short documents and failed on long ones, a known "
            "limitation of earlier retrieval work.\n\n3 Experiments\nWe evaluate on the LongQA dataset of 2,000 "
            "questions collected from arXiv papers and annotated by experts."),
    Page(3, "4 Limitations\nOur method is limited to English papers and cannot read tables or figures yet.\n\n"
            "5 Conclusion\nIn future work we plan to extend the method to other languages and to figures."),
    Page(4, "References\n[1] A. Author. A paper. 2020.\n\nA Prompts\nDo not add any site limitations to your "
            "query, and list the limitations of every result as you see them."),
]


@pytest.mark.parametrize("question, topic", [
    ("What are the limitations?", "limitations"), ("What future work do the authors suggest?", "future"),
    ("What data or benchmarks does it use?", "data"), ("What is it compared against?", "compared"),
    ("How does the proposed method work?", "method"), ("What does the paper propose?", "proposal"),
    ("What are the main results?", "findings"), ("What problem does the paper address?", "problem"),
    ("限界や制約は何ですか?", "limitations"), ("著者はどのような今後の課題を挙げていますか?", "future"),
    ("Who funded it?", None),
])
def test_question_topic(question, topic):
    assert retrieval.question_topic(question) == topic


def test_passages_know_their_heading_path_and_the_appendix():
    passages = split_passages(SECTIONED)
    prompt = next(p for p in passages if "site limitations" in p.text)
    assert prompt.appendix and prompt.path == ("A Prompts",)
    limits = next(p for p in passages if "limited to English" in p.text)
    assert not limits.appendix and limits.path == ("4 Limitations",)
    assert retrieval.in_topic(limits, "limitations") and not retrieval.in_topic(limits, "data")
    related = next(p for p in passages if "Prior systems" in p.text)
    assert not retrieval.in_topic(related, "limitations")  # related work speaks of others' limits
    assert retrieval.in_topic(related, "related")


def test_search_prefers_the_section_asked_about_and_never_the_appendix_first():
    index = PassageIndex(split_passages(SECTIONED))
    assert index.search("What are the limitations?", k=1)[0][0].section == "4 Limitations"
    assert index.search("What future work do the authors suggest?", k=1)[0][0].section == "5 Conclusion"
    assert index.search("What data or benchmarks does it use?", k=1)[0][0].section == "3 Experiments"
    with_headings = retrieval.with_headings(split_passages(SECTIONED))
    assert [h for h, _ in with_headings if h][:3] == ["Abstract", "1 Introduction", "2 Related Work"]
    assert with_headings[0][0] == ""  # the title block has no heading


def test_on_topic_finds_the_section_of_a_quote():
    passages = split_passages(SECTIONED)
    limit = "Our method is limited to English papers and cannot read tables or figures yet."
    prompt = "Do not add any site limitations to your query, and list the limitations of every result as you see them."
    assert retrieval.on_topic("What are the limitations?", limit, [3], passages) is True
    assert retrieval.on_topic("What are the limitations?", prompt, [4], passages) is False
    assert retrieval.on_topic("What does the section “Limitations” describe?", limit, [3], passages) is True
    assert retrieval.on_topic("Who funded it?", limit, [3], passages) is None
    assert retrieval.on_topic("What are the limitations?", "Not in the paper at all.", [3], passages) is None


def test_the_pdf_section_tree_marks_an_appendix_the_text_did_not(config):
    from digest.records import PaperStructure, Section

    pages = SECTIONED[:3] + [Page(4, "Examples\nThe limitations of every example below are listed in full here.")]
    passages = split_passages(pages)
    assert not any(p.appendix for p in passages)
    tree = PaperStructure(sections=[Section("Examples", 1, 4, None, "appendix")])
    marked = retrieval.mark_appendix(passages, tree)
    assert [p.page for p in marked if p.appendix] == [4]
    assert retrieval.mark_appendix(passages, None) == passages
