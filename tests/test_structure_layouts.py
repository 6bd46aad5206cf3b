"""Layouts met on papers nobody tuned for (Journal of Statistical Software articles shipped as R package
vignettes, read from Debian's r-cran-* packages): every character reported bold, headings centred in the
body's own type, a running title that repeats a heading, an address where an abstract would be, TeX glyphs
without a Unicode map, and affiliations with TeX's spacing accents. Each PDF is laid out here."""

from __future__ import annotations

from pdfmaker import make_layout_pdf

from digest.pdf.clean import normalize_text
from digest.pdf.layout import restore_tex_glyphs
from digest.pdf.structure import read_structure

PAGE_WIDTH = 612


def lines(y0: float, n: int, *, bold: bool = False, size: float = 10, x: float = 72,
          text: str = "This is a line of body text that we use to fill the page with words") -> list:
    return [(x, y0 - 12 * i, size, text, bold) for i in range(n)]


def centred(y: float, text: str, size: float = 10) -> tuple:
    """A line in the middle of the page (Helvetica is about half its size wide per character)."""
    return (PAGE_WIDTH / 2 - len(text) * size * 0.26, y, size, text, False)


def front(title: str, byline: str, *middle: tuple[float, str]) -> list:
    """A first page: a title, a byline, the given (size, text) lines under it, then '1 Introduction' and text."""
    page = [(72, 740, 17, title, False), (72, 716, 12, byline, False)]
    page += [(72, 690 - 12 * i, size, text, False) for i, (size, text) in enumerate(middle)]
    return page + [(72, 640, 14, "1 Introduction", True)] + lines(620, 10)


def test_a_paper_whose_every_character_reads_bold_finds_headings_by_size(tmp_path):
    # Some TeX fonts report bold for every character: bold then tells no heading from the text, and a
    # sentence's last word alone on a line ('appendix.') must not open an appendix on page 1.
    page = [(72, 740, 17, "A Paper Set in Fonts That Say Bold", True), (72, 716, 12, "Ada Lovelace", True),
            (72, 700, 10, "Abstract", True), (72, 688, 10, "We study what a parser does with such fonts.", True),
            (72, 664, 14, "1. Introduction", True)] + lines(644, 6, bold=True) + [
        (72, 560, 10, "More details about the code used are provided in an", True), (72, 548, 10, "appendix.", True),
        (72, 520, 14, "2. The linear regression model", True)] + lines(500, 8, bold=True) + [
        (72, 390, 12, "2.1. Dealing with autocorrelation", True)] + lines(370, 6, bold=True)
    s = read_structure(make_layout_pdf(tmp_path / "bold.pdf", [page]))
    assert [(x.number, x.heading, x.kind) for x in s.sections] == [
        ("1", "Introduction", "body"), ("2", "The linear regression model", "body"),
        ("2.1", "Dealing with autocorrelation", "body")]


def test_numbered_headings_centred_in_the_body_type(tmp_path):
    pages = [[(72, 740, 14, "Quantile Regression in R", True), centred(716, "Roger Koenker"),
              centred(680, "1. Introduction")] + lines(660, 10) + [centred(520, "2. What is a vignette?")]
             + lines(500, 10) + [(72, 360, 10, "1. We list things in the text as well, flush left.", False)]
             + lines(340, 5)]
    s = read_structure(make_layout_pdf(tmp_path / "centred.pdf", pages))
    assert [(x.number, x.heading) for x in s.sections] == [("1", "Introduction"), ("2", "What is a vignette?")]


def test_a_heading_that_repeats_the_running_title_is_kept(tmp_path):
    running = "The Strucplot Framework"
    pages = [[(72, 740, 17, "The Strucplot Framework: Visualizing Tables", True), (72, 716, 12, "David Meyer", False),
              (72, 690, 14, "1. Introduction", True)] + lines(670, 20)]
    for n in range(2, 5):
        page = [(250, 770, 9, running, False)] + lines(740, 10)
        if n == 3:
            page += [(72, 600, 14, "2. The strucplot framework", True)] + lines(580, 5)
        pages.append(page)
    s = read_structure(make_layout_pdf(tmp_path / "running.pdf", pages))
    assert [(x.number, x.heading, x.page) for x in s.sections] == [
        ("1", "Introduction", 1), ("2", "The strucplot framework", 3)]


def test_an_address_line_before_the_first_heading_is_no_abstract(tmp_path):
    page = front("coin: A Computational Framework", "Torsten Hothorn, Kurt Hornik",
                 (10, "Department of Statistics, Some University"),
                 (10, "De Boelelaan 1081a, 1081 HV Amsterdam, The Netherlands"))
    s = read_structure(make_layout_pdf(tmp_path / "address.pdf", [page]))
    assert s.authors == ["Torsten Hothorn", "Kurt Hornik"] and s.abstract == ""
    assert [x.heading for x in s.sections] == ["Introduction"]


def test_an_acronym_line_under_a_name_is_a_place_not_an_author(tmp_path):
    page = [(72, 740, 17, "Fitting Linear Mixed-Effects Models", True), (72, 716, 12, "Douglas Bates", False),
            (72, 704, 12, "University of Wisconsin-Madison", False), (72, 692, 12, "Martin Maechler", False),
            (72, 680, 12, "ETH Zurich", False), (72, 650, 11, "Abstract", True),
            (72, 636, 9, "Maximum likelihood estimates of the parameters in linear mixed-effects models.", False),
            (72, 610, 14, "1. Introduction", True)] + lines(590, 10)
    s = read_structure(make_layout_pdf(tmp_path / "acronym.pdf", [page]))
    assert s.authors == ["Douglas Bates", "Martin Maechler"]


def test_tex_glyphs_without_a_unicode_map_read_as_the_letters_they_print():
    # T1 encoding: 0x1C fi, 0x1D fl, 0x10/0x11 the double quotes; OT1: 0x0B ff. A form feed between
    # paragraphs touches no letter and stays a control character (removed).
    raw = "a (slightly) modi\x1ced version of the generalized \x1ductuation test, \x10dating\x11, e\x0bect\n\x0c\nnext"
    assert restore_tex_glyphs("modi\x1ced") == "modified"
    assert normalize_text(raw) == "a (slightly) modified version of the generalized fluctuation test, “dating”, effect\n\nnext"


def test_affiliations_keep_their_accents_and_hyphens():
    from digest.pdf.header import _clean_place

    assert _clean_place("Universit¨at Innsbruck") == "Universität Innsbruck"
    assert _clean_place("Institut fur Medizininformatik, Biometrie und Epidemiologie ¨") == \
        "Institut fur Medizininformatik, Biometrie und Epidemiologie"
    # pdfium's U+FFFE: a hyphen before a capital, a soft one before a small letter.
    assert _clean_place("Ludwig-Maximilians\ufffeUniversität München") == "Ludwig-Maximilians-Universität München"
    assert _clean_place("WU Wirtschafts\ufffeuniversität Wien") == "WU Wirtschaftsuniversität Wien"


def test_authors_in_one_row_are_read_when_their_surnames_appear_again(tmp_path):
    row = "Achim Zeileis Friedrich Leisch Kurt Hornik Christian Kleiber"
    first = [(72, 740, 17, "strucchange: Testing for Structural Change", False), (72, 716, 12, row, False),
             (72, 690, 9, "Abstract", False),
             (72, 676, 9, "This is a modified version of Zeileis, Leisch, Hornik, and Kleiber (2002) on change.", False),
             (72, 640, 14, "1. Introduction", True)] + lines(620, 10)
    second = [(200, 770, 9, "Achim Zeileis, Friedrich Leisch, Kurt Hornik, Christian Kleiber", False)] + lines(740, 10)
    s = read_structure(make_layout_pdf(tmp_path / "row.pdf", [first, second]))
    assert s.authors == ["Achim Zeileis", "Friedrich Leisch", "Kurt Hornik", "Christian Kleiber"]
    # The same row with its surnames nowhere else is a subtitle, not four people.
    first[1] = (72, 716, 12, "Structural Change Linear Regression Models Tested Twice Today", False)
    s = read_structure(make_layout_pdf(tmp_path / "subtitle.pdf", [first]))
    assert s.authors == []


def test_a_one_word_title_and_authors_joined_by_a_capital_and(tmp_path):
    page = [(200, 740, 17, "Concordance", False), (180, 712, 12, "TORSTEN HOTHORN, FRANK BRETZ, AND ALAN GENZ", False),
            (72, 680, 14, "1 The concordance statistic", False)] + lines(660, 10)
    s = read_structure(make_layout_pdf(tmp_path / "one.pdf", [page]))
    assert s.title == "Concordance" and s.authors == ["Torsten Hothorn", "Frank Bretz", "Alan Genz"]


def test_an_abstract_ends_at_a_row_of_barred_keywords_and_drops_its_compile_stamp(tmp_path):
    page = [(72, 740, 22, "Rcpp Attributes", True), (72, 716, 8, "Dirk Eddelbuettel and Romain Francois", True),
            (72, 700, 6, "This version was compiled on January 11, 2022", False),
            (72, 684, 7, "Rcpp attributes provide a high-level syntax for declaring C++ functions as callable", True),
            (72, 674, 7, "from R and automatically generating the code required to invoke them.", True),
            (72, 660, 7, "Rcpp | attributes | R | C++", False),
            (72, 630, 9, "1 Introduction", True)] + lines(610, 10, bold=True, size=8.6)
    s = read_structure(make_layout_pdf(tmp_path / "pinp.pdf", [page]))
    assert s.abstract == ("Rcpp attributes provide a high-level syntax for declaring C++ functions as callable "
                          "from R and automatically generating the code required to invoke them.")


def test_a_row_of_names_read_as_one_long_name_is_split_when_the_surnames_recur(tmp_path):
    page = front("An Introduction to glmnet", "Trevor Hastie Junyang Qian Kenneth Tay", (10, "Abstract"),
                 (9, "Glmnet fits lasso paths; see Hastie, Qian and Tay for the package this note describes."))
    s = read_structure(make_layout_pdf(tmp_path / "glmnet.pdf", [page]))
    assert s.authors == ["Trevor Hastie", "Junyang Qian", "Kenneth Tay"]
