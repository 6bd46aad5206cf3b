"""The structure read off a PDF's layout (issue 20): header, abstract bounds and the section tree, on PDFs
laid out here, and against the hand-written gold for the corpus PDFs (skipped without the corpus)."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from pdfmaker import make_layout_pdf

from digest.pdf.structure import read_structure
from digest.records import PaperStructure, Section

ROOT = Path(__file__).resolve().parent.parent
GOLD = json.loads((ROOT / "bench" / "gold" / "understanding.json").read_text())["papers"]


def body(y0: float, n: int, x: float = 72, size: float = 10,
         text: str = "This is a line of body text that we use to fill the page with words") -> list:
    return [(x, y0 - 12 * i, size, text, False) for i in range(n)]


def header_page() -> list:
    """A title in large bold type, authors with superscript marks, affiliations, e-mail, abstract, section 1."""
    return [
        (72, 740, 18, "A Study of Things in Large", True), (72, 718, 18, "Document Collections", True),
        (72, 690, 11, "Jane Doe", False), (117, 694, 6, "1", False), (122, 690, 11, ", Richard Roe", False),
        (190, 694, 6, "2", False), (196, 690, 11, " and Ann Smith", False), (268, 694, 6, "1", False),
        (72, 672, 9, "1University of Somewhere, Springfield, USA", False),
        (72, 661, 9, "2Institute of Things, Berlin, Germany", False),
        (72, 648, 9, "jane@example.org", False),
        (72, 620, 12, "Abstract", True),
        (72, 604, 9, "We study things in large collections of documents and find that", False),
        (72, 593, 9, "they are many. Our method counts them quickly and the results", False),
        (72, 582, 9, "hold on three corpora.", False),
        (72, 555, 12, "1 Introduction", True),
    ] + body(538, 20)


def test_header_title_authors_without_marks_affiliations_and_exact_abstract(tmp_path):
    s = read_structure(make_layout_pdf(tmp_path / "p.pdf", [header_page()]))
    assert s.title == "A Study of Things in Large Document Collections"
    assert s.authors == ["Jane Doe", "Richard Roe", "Ann Smith"]
    assert s.affiliations == ["University of Somewhere, Springfield, USA", "Institute of Things, Berlin, Germany"]
    # From after 'Abstract' to before '1 Introduction': no author line, no introduction.
    assert s.abstract == ("We study things in large collections of documents and find that they are many. "
                          "Our method counts them quickly and the results hold on three corpora.")
    assert s.sections == [Section("Introduction", 1, 1, "1", "body")]


def test_acm_layout_all_caps_authors_and_an_abstract_without_the_word(tmp_path):
    page = [
        (72, 740, 16, "Reading Papers the Way Scholars Do", True),
        (72, 712, 9, "YAXIONG XIE and KYLE JAMIESON, Princeton University, USA", False),
        (72, 698, 9, "MARTI A. HEARST, University of California, Berkeley, USA", False),
        (72, 676, 8, "When seeking information in papers, readers struggle with the dense text and", False),
        (72, 666, 8, "the jargon. We introduce a reading tool and evaluate it with twelve readers.", False),
        (72, 646, 8, "CCS Concepts: Human-centered computing; Empirical studies in HCI.", False),
        (72, 620, 9, "1 INTRODUCTION", True),
    ] + body(604, 20, size=9)
    s = read_structure(make_layout_pdf(tmp_path / "acm.pdf", [page]))
    assert s.authors == ["Yaxiong Xie", "Kyle Jamieson", "Marti A. Hearst"]
    assert "Princeton University, USA" in s.affiliations
    assert s.abstract == ("When seeking information in papers, readers struggle with the dense text and the jargon. "
                          "We introduce a reading tool and evaluate it with twelve readers.")
    assert [(x.number, x.heading) for x in s.sections] == [("1", "INTRODUCTION")]


def test_one_author_per_line_with_email_and_place_under_each(tmp_path):
    page = [(72, 740, 18, "Citations With Personal Context", True)]
    for i, (name, mail) in enumerate([("Joseph Chee Chang", "joseph@example.org"), ("Amy X. Zhang", "amy@uw.edu")]):
        x = 72 + 200 * i
        page += [(x, 700, 12, name, False), (x, 688, 10, mail, False), (x, 676, 10, "Allen Institute for AI", False)]
    page += [(72, 640, 11, "ABSTRACT", True), (72, 624, 9, "Inline citations help researchers read.", False),
             (72, 600, 11, "1 INTRODUCTION", True)] + body(584, 10)
    s = read_structure(make_layout_pdf(tmp_path / "lines.pdf", [page]))
    assert s.authors == ["Joseph Chee Chang", "Amy X. Zhang"]
    assert s.abstract == "Inline citations help researchers read."


def test_section_tree_numbered_levels_pages_references_and_appendix(tmp_path):
    p2 = body(740, 5) + [
        (72, 670, 12, "2 Related Work", True),
        (72, 650, 10, "2.1 Earlier Counting", True),
        (72, 630, 10, "Model 89.3 90.1 91.2", True),  # a bold table row
        (72, 615, 10, "Figure 2: Counts per corpus", True),  # a figure label
        (72, 600, 10, "3 Things We Liked", False),  # numbered, but body type: a list item
        (72, 585, 12, "1 Gather the Things", True),  # a bold step that counts back: not a section
    ] + body(570, 10)
    p3 = body(740, 10) + [(72, 600, 12, "References", True),
                          (72, 585, 10, "[1] A. Author. 2020. Counting Things. In Proc. of Things.", False),
                          (72, 573, 12, "3 Counting Things Again", True)]  # a reference entry set bold is not it
    p4 = [(72, 740, 12, "A Extra Experiments", True)] + body(722, 10)
    s = read_structure(make_layout_pdf(tmp_path / "tree.pdf", [header_page(), p2, p3, p4]))
    got = [(x.number, x.heading, x.level, x.page, x.kind) for x in s.sections]
    assert got == [("1", "Introduction", 1, 1, "body"), ("2", "Related Work", 1, 2, "body"),
                   ("2.1", "Earlier Counting", 2, 2, "body"), (None, "References", 1, 3, "references"),
                   ("3", "Counting Things Again", 1, 3, "appendix"), ("A", "Extra Experiments", 1, 4, "appendix")]


def test_heading_on_two_lines_is_one_heading(tmp_path):
    p1 = header_page()
    p2 = body(740, 5) + [(72, 670, 12, "2 Study One: Discover Relevant", True), (84, 656, 12, "Citations", True)]
    p2 += body(640, 10)
    s = read_structure(make_layout_pdf(tmp_path / "two.pdf", [p1, p2]))
    assert [x.heading for x in s.sections] == ["Introduction", "Study One: Discover Relevant Citations"]


def test_header_only_reads_no_sections_and_a_printed_date(tmp_path):
    page = header_page()
    page.insert(8, (72, 640, 9, "Dated: April 3, 2012", False))
    s = read_structure(make_layout_pdf(tmp_path / "d.pdf", [page]), header_only=True)
    assert s.published == "2012-04-03" and s.sections == [] and s.authors


def test_worker_fills_structure_and_identify_gets_authors_from_the_page(tmp_path, config):
    from digest.pdf.pool import extract_pdf, identify_pdf

    pdf = make_layout_pdf(tmp_path / "w.pdf", [header_page(), body(740, 30)])
    ident = identify_pdf(pdf, config)
    assert ident.ok and ident.title == "A Study of Things in Large Document Collections"
    assert ident.authors == ["Jane Doe", "Richard Roe", "Ann Smith"]
    full = extract_pdf(pdf, config)
    assert full.ok and len(full.pages) == 2
    assert full.structure is not None and full.structure.sections[0].heading == "Introduction"


def test_metadata_authors_win_and_a_pdfium_failure_costs_only_the_structure(tmp_path, monkeypatch):
    from digest.pdf import worker

    pdf = make_layout_pdf(tmp_path / "m.pdf", [header_page()], author="Jane Q. Doe; Richard Roe")
    assert worker.extract_in_process(pdf, "identify").authors == ["Jane Q. Doe", "Richard Roe"]

    def broken(*a, **k):
        raise ValueError("pdfium cannot read this")

    monkeypatch.setattr(worker, "read_structure", broken)
    result = worker.extract_in_process(pdf, "full")
    assert result.ok and result.pages and result.structure is None


def test_local_pdf_paper_gets_header_abstract_and_date(tmp_path, config):
    from digest.pdf.pool import identify_pdf
    from digest.sources.pdf_folder import paper_from_pdf

    page = header_page()
    page.insert(8, (72, 640, 9, "Dated: April 3, 2012", False))
    pdf = make_layout_pdf(tmp_path / "local.pdf", [page])
    paper, warning = paper_from_pdf(pdf, identify_pdf(pdf, config), "dir:x", config)
    assert warning is None and paper.authors == ["Jane Doe", "Richard Roe", "Ann Smith"]
    assert paper.abstract.startswith("We study things") and paper.published == "2012-04-03T00:00:00+00:00"


def test_store_keeps_the_structure(store):
    from digest.records import Paper

    store.upsert_paper(Paper(key="file:abc", title="T", source="dir:x"))
    assert store.structure("file:abc") is None
    st = PaperStructure(title="T", authors=["Jane Doe"], affiliations=["U"], abstract="A.", published="2012-04-03",
                        sections=[Section("Introduction", 1, 1, "1"), Section("References", 1, 9, None, "references")])
    store.save_structure("file:abc", None, st)
    assert store.structure("file:abc") == st


def test_extract_json_prints_header_sections_and_pages(tmp_path, config):
    import click
    from click.testing import CliRunner

    from digest.cli.pdf import register

    @click.group()
    @click.pass_context
    def cli(ctx):
        ctx.obj = type("App", (), {"config": config})()

    register(cli)
    pdf = make_layout_pdf(tmp_path / "j.pdf", [header_page()])
    result = CliRunner().invoke(cli, ["extract", "--json", str(pdf)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert data["authors"] == ["Jane Doe", "Richard Roe", "Ann Smith"] and data["abstract"].endswith("three corpora.")
    assert data["sections"] == [{"heading": "Introduction", "level": 1, "page": 1, "number": "1", "kind": "body"}]
    assert data["pages"][0]["number"] == 1 and "body text" in data["pages"][0]["body"]


# ---- the corpus, against bench/gold/understanding.json ------------------------------------------------------

def _norm(text: str | None) -> str:
    t = unicodedata.normalize("NFKD", text or "")
    return " ".join(re.sub(r"[^\w\s]|_", " ", "".join(c for c in t if not unicodedata.combining(c)).casefold()).split())


@pytest.mark.parametrize("gold", GOLD, ids=[Path(g["file"]).stem[:40] for g in GOLD])
def test_corpus_structure_matches_gold(corpus, gold):
    path = corpus / "pdfs" / gold["file"]
    if not path.is_file():
        pytest.skip(f"{path.name} not in the corpus")
    s = read_structure(path)
    if gold["title"]:
        assert _norm(s.title) == _norm(gold["title"])
        assert {_norm(a) for a in s.authors} == {_norm(a) for a in gold["authors"]}
        words = _norm(s.abstract).split()
        first, last = _norm(gold["abstract_first"]).split(), _norm(gold["abstract_last"]).split()
        assert words[:len(first)] == first and words[-len(last):] == last
    else:
        assert not s.title and not s.authors
    top = [(_norm(x.heading), x.page) for x in s.sections if x.level == 1]
    found = sum(1 for h, p in gold["sections"] if (_norm(h), p) in top)
    assert found >= 0.9 * len(gold["sections"]), (gold["sections"], top)


def test_run_in_abstract_label_and_an_abstract_across_a_page_break(tmp_path):
    p1 = [(72, 740, 18, "Counting Things Across Pages", True), (72, 712, 11, "Jane Doe and Richard Roe", False),
          (72, 100, 10, "Abstract-We count things on one page and go", False),
          (72, 88, 10, "on counting them until the page ends and the", False)]
    p2 = [(72, 740, 10, "next page finishes the sentence.", False), (72, 720, 10, "Index Terms-counting, pages", False),
          (72, 700, 12, "I. INTRODUCTION", True)] + body(684, 10)
    s = read_structure(make_layout_pdf(tmp_path / "ieee.pdf", [p1, p2]))
    assert s.authors == ["Jane Doe", "Richard Roe"]
    assert s.abstract == ("We count things on one page and go on counting them until the page ends and the "
                          "next page finishes the sentence.")
    assert [(x.number, x.heading, x.page) for x in s.sections] == [("I", "INTRODUCTION", 2)]


def test_papers_show_lists_the_sections(tmp_path, config, store):
    import subprocess
    import sys

    from digest.records import Paper

    store.upsert_paper(Paper(key="file:abc", title="Counting Things", source="dir:x"))
    store.save_structure("file:abc", None, PaperStructure(
        title="Counting Things", sections=[Section("Introduction", 1, 1, "1"), Section("Earlier Counting", 2, 2, "1.1"),
                                           Section("References", 1, 9, None, "references")]))
    store.close()
    cfg = tmp_path / "digest.toml"
    cfg.write_text(f'[store]\narchive_dir = "{config.archive_dir}"\n')
    r = subprocess.run([sys.executable, "-m", "digest", "--config", str(cfg), "papers", "show", "file:abc"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "Sections:" in r.stdout
    assert "  1 Introduction  p. 1" in r.stdout and "    1.1 Earlier Counting  p. 2" in r.stdout
    assert "References [references]  p. 9" in r.stdout
