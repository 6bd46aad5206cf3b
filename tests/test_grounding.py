"""Quote verification and the vacuous-answer filter, on synthetic and real page texts."""

import pytest

from digest.records import Page
from digest.writers.grounding import PageIndex, is_vacuous, normalise

PAGES = [
    Page(1, "We propose summa-\nrization with ﬁne-tuning.\nResults: ROUGE-L of 45.2 on arXiv-summ, beating "
            "the “strong” baseline by 3.1 points."),
    Page(2, "The main limitation is cost: training takes 12 GPU-days.", refs="[1] A. Author. A paper. 2020."),
]


@pytest.mark.parametrize("quote, cited, verified, pages", [
    ("summarization with fine-tuning. Results: ROUGE-L of 45.2", [1], True, [1]),  # hyphen + ligature
    ('beating the "strong" baseline by 3.1 points', [1], True, [1]),  # curly vs straight quotes
    ("beating   the strong\nbaseline by 3.1 points", [1], True, [1]),  # whitespace
    ("The main limitation is cost: training takes 12 GPU-days", [1], True, [2]),  # wrong page cited
    ("summarization with fine-tuning ... ROUGE-L of 45.2 on arXiv-summ", [1], True, [1]),  # elision, in order
    ("We propose ... ROUGE-L of 45.2 on arXiv-summ", [1], False, [1]),  # a piece too short to check alone
    ("ROUGE-L of 45.2 on arXiv-summ ... We propose summarization", [1], False, [1]),  # elision out of order
    ("Results: ROUGE-L of 54.2 on arXiv-summ", [1], False, [1]),  # a changed number is not the paper
    ("We fine-tune a 70B model on 1M papers and win.", [1], False, [1]),  # made up
    ("45.2", [1], False, [1]),  # too short to mean anything
])
def test_quote_lookup(quote, cited, verified, pages):
    check = PageIndex(PAGES).find(quote, cited)
    assert check.verified is verified
    assert check.pages == pages


def test_quote_across_page_break():
    pages = [Page(1, "The model is trained on the"), Page(2, "full corpus of ten million abstracts.")]
    assert PageIndex(pages).find("trained on the full corpus of ten million abstracts", [1]).verified


def test_normalise_folds_compatibility_characters():
    assert normalise("Eﬃcient  ﬁne-tuning") == normalise("Efficient fine tuning")


@pytest.mark.parametrize("question, answer, why", [
    ("What dataset is used?", "The dataset used is described.", "restates"),
    ("What dataset is used?", "The paper does not mention it.", "does not answer"),
    ("Which baselines?", "n/a", "too short"),
    ("どのデータセットを使っていますか?", "論文には記載されていません。", "does not answer"),
])
def test_vacuous_answers_are_caught(question, answer, why):
    assert why in is_vacuous(question, answer)


@pytest.mark.parametrize("question, answer", [
    ("What dataset is used?", "arXiv-summ (200k papers) and PubMed, split 90/5/5."),
    ("どのデータセットを使っていますか?", "arXiv-summ(20万本)とPubMedを使用しています。"),
])
def test_specific_answers_pass(question, answer):
    assert is_vacuous(question, answer) is None


def test_real_paper_quote(corpus):
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(corpus / "pdfs/arxiv/arxiv_2304.02623v1_beyond-summarization_cs.CL.pdf")
    pages = [Page(i + 1, p.extract_text() or "") for i, p in enumerate(reader.pages)]
    index = PageIndex(pages)
    words = " ".join(pages[1].body.split()[40:60])  # twenty words from page 2, whitespace re-flowed
    assert index.find(words, [2]).verified
    assert not index.find(words.replace(words.split()[5], "zebra"), [2]).verified


REAL_PAGE = Page(3, (
    "Table 2 shows the results of the three systems on the test set. The results of the baseline are "
    "close to ours on short documents, but our method is better on long ones. Differences are not "
    "always significant: for the smallest split the confidence intervals overlap. We are not aware of "
    "a model that reaches this score without retrieval, and the significance tests in Appendix B confirm "
    "the gains on the two larger splits."))


@pytest.mark.parametrize("quote", [
    "the ... results ... are ... not ... significant",  # every word is on the page, in order
    "results of the three ... not significant",  # a short piece rides on a real one
    "the results of the three systems ... ours ... significance tests in Appendix B",
    "The results of the baseline are close to ... the significance tests in Appendix B confirm",  # gap too wide
    "sults of the three systems on the te ... baseline are close to ours on short",  # not on word boundaries
])
def test_quotes_stitched_from_scattered_words_are_not_verified(quote):
    assert not PageIndex([REAL_PAGE]).find(quote, [3]).verified


@pytest.mark.parametrize("quote", [
    "The results of the baseline are close to ours ... but our method is better on long ones",
    "Table 2 shows the results of the three systems on the test set",
])
def test_honest_quotes_and_short_elisions_still_verify(quote):
    assert PageIndex([REAL_PAGE]).find(quote, [3]).verified
