"""The extractive model's pieces: TL;DR and summary from the abstract, the abstract from the text."""

from digest.records import Page, Paper
from digest.writers.extractive import _one_line, abstract_from_pages, summarise_abstract

ABSTRACT = ("Large language models are hard to evaluate on long documents. Existing metrics miss "
            "unfaithful claims. We propose FaithScore, a metric that checks each claim against the source. "
            "On three benchmarks FaithScore correlates with human judgments at 0.71 Kendall tau, "
            "beating ROUGE by 0.3. Code is released.")


def test_tldr_is_the_sentence_that_says_what_the_paper_does():
    tldr, summary = summarise_abstract(Paper(key="k", title="t", abstract=ABSTRACT))
    assert tldr == "We propose FaithScore, a metric that checks each claim against the source."
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
