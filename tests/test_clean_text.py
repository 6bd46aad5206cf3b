"""Clean sentences (issue 20): no sentence cut at a page break, no citation digit glued to a word, no
formula fragment taken as a sentence, headings/captions/footnotes/tables kept out of the prose, real
hyphens kept, the references told apart from the appendices after them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdfmaker import make_layout_pdf, make_pdf

from digest.pdf.blocks import set_apart
from digest.pdf.clean import clean_pages, text_defects
from digest.pdf.marks import page_marks, read_marks, strip_marks
from digest.pdf.sentences import paper_sentences
from digest.pdf.worker import extract_in_process
from digest.records import Page
from digest.text import is_formula_fragment
from digest.writers.grounding import PageIndex

# ---- hyphenation: the paper is its own dictionary -------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    # Two whole words of the paper keep the hyphen; a syllable break is joined.
    ("We train a physics-\nguided network. The physics of guided modes.", "physics-guided network"),
    ("Automatic summa-\nrization is hard.", "summarization is hard"),
    # The joined form seen elsewhere wins, in both directions.
    ("A physics-\nguided net. A physicsguided net.", "physicsguided net. A"),
    ("Our frame-\nwork works. The framework is new.", "framework works"),
    ("We found some-\nthing new. Some thing is here.", "something new"),
    ("A large-\nscale study, and a large-scale one.", "large-scale study"),
    ("GPT-\n4 is used.", "GPT-4 is used"),
    ("state-of-the-\nart results", "state-of-the-art results"),
])
def test_hyphenation(raw, expected):
    assert expected in clean_pages([raw])[0].body.replace("\n", " ")


# ---- superscript marks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, marks, expected", [
    ("As Goldt1 showed, it works.", [("Goldt", "1")], "As Goldt showed, it works."),
    ("strong generalisation 11 on unseen data", [("generalisation", "11")], "strong generalisation on unseen data"),
    ("prior papers40–44 did this", [("papers", "40–44")], "prior papers did this"),
    ("a novel interface—Paper Plain1—with four", [("interface—Paper", "1"), ("Plain", "1")],
     "a novel interface—Paper Plain—with four"),
    ("assist in the CRLC's mission.2\n1 Introduction", [], "assist in the CRLC's mission.\n1 Introduction"),
    ("the composition,3 planning", [("composition,", "3")], "the composition, planning"),
    # Real numbers stay, with or without marks found elsewhere on the page.
    ("GPT4 and L2 in 2023, p < 0.05, see Table 2. Fig.2 shows x2.", [("Goldt", "1")],
     "GPT4 and L2 in 2023, p < 0.05, see Table 2. Fig.2 shows x2."),
    ("Version 3.2 of the tool,2 and of Llama2", [], "Version 3.2 of the tool,2 and of Llama2"),
    # A mark whose context is not in pypdf's text is left alone rather than guessed at.
    ("Goldt 1 is a model", [("Smith", "1")], "Goldt 1 is a model"),
])
def test_strip_marks(text, marks, expected):
    assert strip_marks(text, marks) == expected


def test_marks_are_read_off_small_raised_glyphs(tmp_path):
    """A small raised '1' after a name is a mark; 'GPT4' in body type and an exponent after 'x' are not."""
    runs = [(50, 700, 10, "The result of Goldt", False), (142, 704, 6, "1", False),
            (146, 700, 10, "shows that GPT4 works,", False),  # no space drawn after the mark
            (50, 686, 10, "and the error falls as x", False), (160, 690, 6, "2", False),
            (166, 686, 10, "grows, as in earlier work.", False),
            (50, 672, 10, "We thank the reviewers for their help.", False), (230, 676, 6, "3", False)]
    path = make_layout_pdf(tmp_path / "marks.pdf", [runs])
    marks = read_marks(path)
    assert marks is not None and ("Goldt", "1") in marks[0] and ("help.", "3") in marks[0]
    assert not any(m == "4" or c.endswith("x") for c, m in marks[0])
    text = " ".join(p.body for p in extract_in_process(path, "full").pages)
    assert "Goldt shows" in text
    assert "GPT4" in text and "help." in text and "help.3" not in text


def test_marks_cost_nothing_when_pdfium_cannot_read(tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\nnot really")
    assert read_marks(bad) is None


def test_page_marks_on_a_page_without_marks(tmp_path):
    import pypdfium2 as pdfium

    path = make_pdf(tmp_path / "plain.pdf", [["Plain text with GPT4 and 2023 in it."]])
    doc = pdfium.PdfDocument(str(path))
    try:
        tp = doc[0].get_textpage()
        assert page_marks(tp) == []
    finally:
        doc.close()


# ---- headings, captions, footnotes, tables: paragraphs of their own -------------------------------------

BODY_END = "the team used the extension internally during the five months of development."


@pytest.mark.parametrize("lines, sentence", [
    # A heading in capitals that wraps: its second line is heading, not the paragraph's first word.
    ([BODY_END, "5 STUDY 1: DISCOVER RELEVANT", "CITATIONS", "One of CiteSee's core functions is to highlight",
      "citations to relevant prior work."],
     "One of CiteSee's core functions is to highlight citations to relevant prior work."),
    # A caption between two halves of a sentence: the sentence is whole, the caption is not in it.
    (["We show that the model trained on the full corpus", "Figure 3: Accuracy per epoch on the test set.",
      "works well in practice on every benchmark."],
     "We show that the model trained on the full corpus works well in practice on every benchmark."),
    # Table rows inside a paragraph.
    (["Multi-LexSum is distinct in that its summaries are much lengthier", "Dataset Samples Docs Words",
      "XSUM 226,677 1 454.5", "SciTLDR 3,229 1 5847.7", "than existing datasets."],
     "Multi-LexSum is distinct in that its summaries are much lengthier than existing datasets."),
])
def test_blocks_are_kept_out_of_sentences(lines, sentence):
    body = "\n".join(set_apart(lines))
    sents = [s.text for s in paper_sentences([Page(1, body)])]
    assert sentence in sents, sents
    assert not any(s.startswith("CITATIONS") or "Figure 3" in s or "XSUM" in s for s in sents)


def test_a_caption_stays_on_its_page_as_its_own_sentence_when_asked():
    body = "\n".join(set_apart(["We show that the model", "Figure 3: Accuracy per epoch.", "works."]))
    assert "Figure 3: Accuracy per epoch." in body
    sents = [s.text for s in paper_sentences([Page(1, body)], asides=True)]
    assert "Figure 3: Accuracy per epoch." in sents and "We show that the model works." in sents


def test_a_footnote_at_the_foot_of_a_page_is_set_apart():
    lines = ["We release the code and the data for research use", "in the hope that others build on it.",
             "1https://github.com/example/code"]
    sents = [s.text for s in paper_sentences([Page(1, "\n".join(set_apart(lines)))])]
    assert sents == ["We release the code and the data for research use in the hope that others build on it."]


def test_prose_that_starts_with_table_is_not_a_caption():
    # 'Table 4 shows' is prose; 'Table 4: ...' is a caption.
    body = "\n".join(set_apart(["Results are strong.", "Table 4 shows the accuracy of every model on", "the test set."]))
    assert [s.text for s in paper_sentences([Page(1, body)])] == [
        "Results are strong.", "Table 4 shows the accuracy of every model on the test set."]


# ---- sentences across page breaks ------------------------------------------------------------------------

def test_a_sentence_cut_by_a_page_break_is_joined_and_starts_on_its_first_page():
    pages = clean_pages([
        "Introduction text ends here. We demonstrate that incorporating geospatial",
        "rules improves performance. The next sentence starts here.",
    ])
    sents = paper_sentences(pages)
    assert [(s.page, s.text) for s in sents][-2:] == [
        (1, "We demonstrate that incorporating geospatial rules improves performance."),
        (2, "The next sentence starts here.")]
    # The stored pages stay per page.
    assert pages[0].body.endswith("geospatial") and pages[1].body.startswith("rules")


def test_a_word_broken_at_the_page_end_is_made_whole():
    sents = paper_sentences([Page(1, "We study the effect of geo-"), Page(2, "spatial rules on accuracy.")])
    assert [s.text for s in sents] == ["We study the effect of geospatial rules on accuracy."]


def test_a_heading_ends_a_paragraph_even_without_a_full_stop():
    sents = paper_sentences([Page(1, "Results are shown in the last table of the appendix\n\n6 Conclusion\n\n"
                                     "We conclude here.")])
    assert [s.text for s in sents] == ["Results are shown in the last table of the appendix", "We conclude here."]


def test_a_quote_across_a_page_break_verifies_and_cites_both_pages():
    pages = clean_pages(["Intro. The model is trained on the\n1https://example.org/corpus",
                         "full corpus of ten million abstracts. More."])
    check = PageIndex(pages).find("The model is trained on the full corpus of ten million abstracts", [1])
    assert check.verified and check.pages == [1, 2]


# ---- formula fragments -----------------------------------------------------------------------------------

@pytest.mark.parametrize("sentence, fragment", [
    ("G∗ i", True), ("ε∗ g", True), ("x = Wh + b", True), ("(3)", True), ("Table 2.", True),
    ("0.873 0.912 0.85 0.77", True),
    ("The loss L = ∑ i ℓ ( f ( x i ) , y i ) is minimized.", True),
    ("We use p < 0.05 throughout.", False), ("It works.", False),
    ("We evaluate on GPT-4 and Llama 2 in 2023.", False),
    ("In this paper, we propose a new method for summarization of long documents.", False),
    ("研究の目的は", False),
])
def test_formula_fragments(sentence, fragment):
    assert is_formula_fragment(sentence) is fragment


# ---- references and appendices ---------------------------------------------------------------------------

REFS = ["References", "[1] A. Author. A paper title. In Proceedings of ACL, 2020.",
        "[2] B. Author. Another title. arXiv preprint arXiv:2001.00001, 2020.",
        "[3] C. Author. Third title. Journal of Things, vol. 3, pp. 1-9, 2019."]
PROSE = ["This appendix gives the details of the annotation study that the main text",
         "summarises. Annotators were shown each summary beside its source document and",
         "asked to mark every claim that the source does not support. Each item was seen",
         "by three annotators, and disagreements were settled by a fourth who read the",
         "source in full. We paid annotators above the local minimum wage and they could",
         "stop at any time. The interface showed one claim at a time so that annotators",
         "were not anchored by their earlier answers. Every annotator first completed",
         "a short tutorial with feedback on five practice items before starting."]


@pytest.mark.parametrize("heading", ["A Annotation details", "APPENDIX", "7 Supplementary Material",
                                     "A ANNOTATION STUDY", "Annotation Study Details"])
def test_an_appendix_after_the_references_is_body(heading):
    pages = clean_pages(["Body text.\n" + "\n".join(REFS), "\n".join([heading, *PROSE]), "\n".join(PROSE)])
    assert "Proceedings of ACL" in pages[0].refs and "Proceedings" not in pages[0].body
    assert "annotation study" in pages[1].body and not pages[1].refs and not pages[2].refs


def test_references_running_over_pages_stay_references():
    more = [f"[{k}] D. Author{k}. Title number {k}. In Proceedings of EMNLP, 20{10 + k}." for k in range(4, 40)]
    pages = clean_pages(["Body text.\n" + "\n".join(REFS), "\n".join(more[:18]), "\n".join(more[18:])])
    assert not pages[1].body and not pages[2].body and "Title number 39" in pages[2].refs


# ---- the measure -----------------------------------------------------------------------------------------

def test_text_defects_counts_what_a_reader_must_not_see():
    pages = [Page(1, "As Goldt1 showed, models overfit. The CRLC's mission.2 We demonstrate that geospatial"),
             Page(2, "rules help a lot.\n\nG∗ i")]
    d = text_defects(pages)
    assert d["marker_glued"] == 1  # 'Goldt1' is not counted: 'Goldt' is not a word the paper uses alone
    assert d["formula_fragments"] == 1 and d["page_break_runs"] == 1 and d["page_break_cuts"] == 0
    pages = [Page(1, "Goldt1 showed it. Goldt is right. The team followed the mission.2 Of course it did."),
             Page(2, "Next page starts.")]
    assert text_defects(pages)["marker_glued"] == 2


# ---- the corpus ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, absent, present", [
    ("2206.10883", ["mission.2", "Shen†", "library,6"], ["CRLC’s mission."]),
    ("2203.00130", ["Paper Plain1"], ["Paper Plain"]),
    ("2302.07302", ["CITATIONS One of"], ["One of CiteSee’s core functionalities"]),
    ("2304.02623", ["composition,3", "writing.1"], []),
])
def test_corpus_sentences_are_clean(corpus, name, absent, present):
    path = next((Path(corpus) / "pdfs").glob(f"*/*{name}*.pdf"))
    pages = extract_in_process(path, "full").pages
    text = " ".join(s.text for s in paper_sentences(pages))
    for bad in absent:
        assert bad not in text
    for good in present:
        assert good in text
    d = text_defects(pages)
    # What is left are tables a page starts with, read as prose; a regression shows here.
    assert d["marker_glued"] * 10 <= d["pages"] and d["page_break_cuts"] * 10 <= d["pages"]


def test_a_publisher_notice_and_a_named_heading_are_kept_out_of_the_prose():
    lines = ["Allen Institute for AI, Seattle, WA, USA", "ABSTRACT", "We study reading tools for papers.",
             "Permission to make digital or hard copies of all or part of this work for personal or",
             "classroom use is granted without fee. Request permissions from permissions@acm.org.",
             "CHI '23, April 23-28, 2023, Hamburg, Germany", "https://doi.org/10.1145/3544548.3580847",
             "and we show that they help readers find related work."]
    sents = [s.text for s in paper_sentences([Page(1, "\n".join(set_apart(lines)))])]
    assert sents == ["Allen Institute for AI, Seattle, WA, USA",
                     "We study reading tools for papers.", "and we show that they help readers find related work."]


def test_numbered_references_without_a_heading_style_stay_references():
    # REVTeX: '16 C. R. Laumann, ...' looks like a numbered heading; the entries after it are references.
    refs = ["References", "15 A. V. Chubukov, S. Sachdev and J. Ye, Phys. Rev. B 49,", "11919 (1994).",
            "16 C. R. Laumann, S. A. Parameswaran and S. L. Sondhi,", "Phys. Rev. B 80 144415 (2009).",
            "17 K. Byczuk and D. Vollhardt, Phys. Rev. B 77, 235106", "(2008).",
            "18 P. Anders, E. Gull, L. Pollet, M. Troyer and P. Werner,", "New J. Phys. 13, 075013 (2011).",
            "19 A. M. Polyakov, Gauge Fields and Strings, CRC Press", "(1987).",
            "20 A. Del Maestro, J. M. Murray and Z. Tesanovic, unpublished."]
    pages = clean_pages(["Body text ends here.\n" + "\n".join(refs)])
    assert pages[0].body == "Body text ends here." and "Laumann" in pages[0].refs


def test_a_heading_that_stops_on_with_goes_on_to_its_next_line():
    lines = ["We end the section here.", "F Partial summary annotation with", "PubMed and SQuALITY",
             "We annotate half of each summary."]
    assert set_apart(lines) == ["We end the section here.", "", "F Partial summary annotation with PubMed and SQuALITY",
                                "", "We annotate half of each summary."]


@pytest.mark.parametrize("foot", ["3https://github.com/example/code", "3 https://github.com/example/code",
                                  "3The code is released under the MIT licence.", "∗Equal contribution."])
def test_a_footnote_never_joins_a_sentence_cut_by_the_page_break(foot):
    pages = clean_pages(["Intro ends. We demonstrate that incorporating geospatial\n" + foot,
                         "rules improves performance. More text follows."])
    sents = [s.text for s in paper_sentences(pages)]
    assert sents[:2] == ["Intro ends.", "We demonstrate that incorporating geospatial rules improves performance."]


def test_a_line_break_after_an_ly_adverb_keeps_the_authors_hyphen():
    """'automatically-\\ndetected' is a compound the author wrote; 'automati-\\ncally' is a syllable break."""
    from digest.pdf.clean import join_hyphenated
    from digest.pdf.header import join_lines

    assert join_hyphenated("with automatically-\ndetected mentions", set(), set()) == \
        "with automatically-detected mentions"
    assert join_hyphenated("was automati-\ncally found", set(), set()) == "was automatically found"
    assert join_lines(["annotated with automatically\ufffe", "detected mentions"]) == \
        "annotated with automatically-detected mentions"
    assert join_lines(["summa\ufffe", "rization of text"]) == "summarization of text"
    assert join_lines(["exceeds PaSa\ufffe", "GPT-4o by 30%"]) == "exceeds PaSa-GPT-4o by 30%"
