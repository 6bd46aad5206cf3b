"""The PDF stage: download cache over a real local HTTP server, extraction of the real corpus (good and
malformed PDFs) in worker processes, time and memory limits, and the pure cleaning functions."""

from __future__ import annotations

import http.server
import io
import re
import threading
from pathlib import Path

import pytest
from conftest import CORPUS, corpus_files
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from digest.errors import FetchError
from digest.pdf.clean import clean_pages, find_arxiv_stamp
from digest.pdf.download import cached_pdf_path, fetch_pdf
from digest.pdf.pool import extract_many, extract_pdf, identify_many, identify_pdf
from digest.records import Paper

LIGATURES = "\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"
STAMP = re.compile(r"arXiv:\S+\s*\[[^\]]+\]\s*\d{1,2} [A-Z][a-z]{2} \d{4}")

# What each malformed corpus file must come back as (None: it opens and has text).
MALFORMED = {
    "broken_xref_js_openaction_pypdf-issue-297.pdf": None,  # strict=False recovers it
    "corrupt_startxref_qpdf-bad2.pdf": "damaged",
    "cyclic_page_tree_qpdf-pages-loop.pdf": "cyclic-page-tree",
    "deeply_nested_array_recursion_qpdf-issue-146.pdf": "too-deep",
    # The owner password is empty, so trying the empty password opens it.
    "encrypted_aes256_r6_userpw-asdfzxcv_pypdf.pdf": None,
    "encrypted_rc4_userpw-test_pypdf-encrypted-file.pdf": "encrypted",
    "not_a_pdf_no_header_qpdf-bad1.pdf": "not-a-pdf",
    "page_tree_too_deep_qpdf-deep-pages.pdf": "too-deep",
    "truncated_no_eof_qpdf-fuzz-69969.pdf": "truncated",
    "zero_byte_qpdf-fuzz-70245.pdf": "empty-file",
}
# The one-page excerpt has no references (1111.2011's REVTeX list has no heading but is found anyway).
NO_REFS_HEADING = {"arxiv_1903.10676_scibert_single-page-excerpt.pdf"}
GOOD = corpus_files("pdfs/arxiv") + corpus_files("pdfs/other")


# --- PDFs made here ---------------------------------------------------------------------------------

def make_pdf(path: Path, contents: list[bytes], *, title: str = "", author: str = "") -> Path:
    """A PDF with one page per raw content stream (Helvetica as /F1), flate-compressed."""
    w = PdfWriter()
    font = w._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica")}))
    for content in contents:
        page = w.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
        stream = DecodedStreamObject()
        stream.set_data(content)
        page[NameObject("/Contents")] = w._add_object(stream.flate_encode())
    if title or author:
        w.add_metadata({"/Title": title, "/Author": author})
    buf = io.BytesIO()
    w.write(buf)
    path.write_bytes(buf.getvalue())
    return path


def text_page(*lines: str) -> bytes:
    ops = " ".join(f"({ln}) '" for ln in lines)
    return f"BT /F1 10 Tf 12 TL 50 780 Td {ops} ET".encode("latin-1")


def small_pdf(path: Path, word: str = "hello") -> Path:
    return make_pdf(path, [text_page(f"A small {word} document", "with two lines")])


# --- extraction of the corpus -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def malformed_results():
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    from digest.config import Config
    return {p.name: r for p, r in extract_many(corpus_files("pdfs/malformed"), Config())}


@pytest.fixture(scope="module")
def good_results():
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    from digest.config import Config
    return {p.name: r for p, r in extract_many(GOOD, Config(), workers=2)}


@pytest.mark.parametrize("path", corpus_files("pdfs/malformed"), ids=lambda p: p.name)
def test_malformed_pdf_gives_its_reason(path, malformed_results):
    assert path.name in MALFORMED, "a new malformed corpus file needs its expected reason here"
    result = malformed_results[path.name]
    expected = MALFORMED[path.name]
    if expected is None:
        assert result.ok and result.error is None
        assert "".join(p.body for p in result.pages).strip()
    else:
        assert (result.ok, result.error, result.pages) == (False, expected, [])


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_corpus_pdf_extracts_clean(path, good_results):
    result = good_results[path.name]
    assert result.ok, result.error
    assert [p.number for p in result.pages] == list(range(1, len(PdfReader(path).pages) + 1))
    assert sum(len(p.body) for p in result.pages) > 10_000 or "single-page" in path.name
    text = "\n".join(p.body + "\n" + p.refs for p in result.pages)
    assert not any(c in text for c in LIGATURES)
    assert not STAMP.search(text), "the arXiv margin stamp must be gone"
    if path.name not in NO_REFS_HEADING:
        assert any(p.refs for p in result.pages), "the references section was not found"
        first_ref = next(p for p in result.pages if p.refs)
        assert first_ref.number > 1  # not a table of contents on page 1
        assert re.search(r"\b(19|20)\d\d\b", first_ref.refs)  # citations have years
    m = re.match(r"arxiv_(\d{4}\.\d{4,5}v\d+)_", path.name)
    assert result.arxiv_id == (m.group(1) if m else None)


def test_long_document_has_all_79_pages_and_appendix_back_in_body(good_results):
    review = good_results["arxiv_2407.01603v3_llm-agents-chemistry-review_cs.LG_79pages.pdf"]
    assert len(review.pages) == 79
    lexsum = good_results["arxiv_2206.10883v3_multi-lexsum_cs.CL.pdf"]
    refs_pages = [p.number for p in lexsum.pages if p.refs]
    appendix = next(p for p in lexsum.pages if "A Multi-LexSum release" in p.body)
    assert appendix.number >= refs_pages[-1] and "A Multi-LexSum release" not in appendix.refs


def test_hyphenation_and_spaced_title_survive(good_results):
    nar = good_results["nar_gkae252_nucleic-acids-research_two-column_CC-BY-4.0.pdf"]
    body = "\n".join(p.body for p in nar.pages)
    assert "methylation" in body and "methyla-\n" not in body
    assert nar.title.startswith("Mutation rate heterogeneity")  # metadata beats the spaced-out page text


def test_running_headers_are_dropped(good_results):
    citesee = good_results["arxiv_2302.07302v1_citesee_cs.HC.pdf"]
    assert not any("CHI ’23, April 23–28, 2023, Hamburg, Germany" in p.body for p in citesee.pages[1:])


def test_identify_reads_stamp_and_title(corpus, config):
    result = identify_pdf(corpus / "pdfs/arxiv/arxiv_2206.10883v3_multi-lexsum_cs.CL.pdf", config)
    assert result.ok and (result.arxiv_id, result.category) == ("2206.10883v3", "cs.CL") and result.pages == []
    assert result.title == "Multi-LexSum: Real-World Summaries of Civil Rights Lawsuits at Multiple Granularities"
    acl = identify_pdf(corpus / "pdfs/other/acl2020_2020.acl-main.447_s2orc_two-column.pdf", config)
    assert acl.title == "S2ORC: The Semantic Scholar Open Research Corpus"
    assert acl.authors[:2] == ["Kyle Lo", "Lucy Lu Wang"] and (acl.arxiv_id, acl.category) == (None, None)


# Titles of corpus PDFs without a metadata title: the largest type on page 1 (so not the journal
# banner above it, nor the rotated stamp, nor the big logo at the foot of PaSa's page), small caps whole.
LARGEST_FONT_TITLES = {
    "arxiv_1111.2011v2_quantum-criticality_cond-mat.pdf":
        "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit",
    "arxiv_2201.09329v1_ulsa_cs.LG.pdf":
        "ULSA: Unified Language of Synthesis Actions for Representation of Synthesis Protocols",
    "arxiv_2501.10120v1_pasa_cs.IR.pdf": "PaSa: An LLM Agent for Comprehensive Academic Paper Search",
    "eacl2023_2023.eacl-main.121_longeval_two-column.pdf":
        "LONGEVAL: Guidelines for Human Evaluation of Faithfulness in Long-form Summarization",
}


def test_identify_many_corpus_titles_and_categories(corpus, config):
    results = {p.name: r for p, r in identify_many(GOOD, config, workers=2)}
    assert set(results) == {p.name for p in GOOD}
    for name, result in results.items():
        assert result.ok and result.pages == [], name
        m = re.match(r"arxiv_(\d{4}\.\d{4,5}v\d+)_", name)
        assert result.arxiv_id == (m.group(1) if m else None), name
    for name, title in LARGEST_FONT_TITLES.items():
        assert results[name].title == title
    # The category is the stamp's: the file names end in it, 1111.2011 is cond-mat.str-el.
    assert {n: r.category for n, r in results.items() if r.arxiv_id} == {
        "arxiv_1111.2011v2_quantum-criticality_cond-mat.pdf": "cond-mat.str-el",
        "arxiv_2201.09329v1_ulsa_cs.LG.pdf": "cs.LG",
        "arxiv_2203.00130v1_paper-plain_cs.HC.pdf": "cs.HC",
        "arxiv_2206.10883v3_multi-lexsum_cs.CL.pdf": "cs.CL",
        "arxiv_2302.07302v1_citesee_cs.HC.pdf": "cs.HC",
        "arxiv_2304.02623v1_beyond-summarization_cs.CL.pdf": "cs.CL",
        "arxiv_2407.01603v3_llm-agents-chemistry-review_cs.LG_79pages.pdf": "cs.LG",
        "arxiv_2501.10120v1_pasa_cs.IR.pdf": "cs.IR",
    }
    # Metadata beats the page: NAR's big type comes out letter-spaced ('Mutation r at e').
    assert results["nar_gkae252_nucleic-acids-research_two-column_CC-BY-4.0.pdf"].title.startswith(
        "Mutation rate heterogeneity")


def test_identify_title_from_largest_upright_type(tmp_path, config):
    pdf = make_pdf(tmp_path / "t.pdf", [
        b"BT /F1 9 Tf 50 760 Td (Lecture Notes of a Made Up Series) Tj ET "
        b"BT /F1 20 Tf 50 700 Td (S) Tj /F1 15 Tf (MALL) Tj /F1 20 Tf (-C) Tj /F1 15 Tf (APS) Tj "
        b"/F1 20 Tf (: A Title in Big Type) Tj ET "
        b"BT /F1 9 Tf 50 670 Td (Jane Doe and Richard Roe) Tj ET "
        b"BT /F1 30 Tf 0 1 -1 0 30 420 Tm (arXiv:2101.00001v2 [math.AG] 3 Jan 2021) Tj ET "
        b"BT /F1 40 Tf 50 60 Td (Big Logo Text) Tj ET"])
    result = identify_pdf(pdf, config)
    assert result.title == "SMALL-CAPS: A Title in Big Type"
    # The names printed under the title are the authors when the metadata names none (issue 20).
    assert (result.arxiv_id, result.category, result.authors) == ("2101.00001v2", "math.AG",
                                                                  ["Jane Doe", "Richard Roe"])


def test_identify_uses_metadata_and_is_safe_on_bad_files(tmp_path, config):
    pdf = make_pdf(tmp_path / "m.pdf", [text_page("Body only")], title="A Made Up Title",
                   author="Doe, Jane and Roe, Richard")
    result = identify_pdf(pdf, config)
    assert (result.title, result.authors) == ("A Made Up Title", ["Jane Doe", "Richard Roe"])
    (tmp_path / "bad.pdf").write_bytes(b"<html>not a pdf</html>")
    assert identify_pdf(tmp_path / "bad.pdf", config).error == "not-a-pdf"


def test_pdf_without_text_layer_is_no_text(tmp_path, config):
    w = PdfWriter()
    w.add_blank_page(612, 792)
    w.add_blank_page(612, 792)
    w.write(tmp_path / "scan.pdf")
    result = extract_pdf(tmp_path / "scan.pdf", config)
    assert (result.ok, result.error) == (False, "no-text")


def test_missing_file_is_reported_not_raised(tmp_path, config):
    assert extract_pdf(tmp_path / "nope.pdf", config).error == "error:FileNotFoundError"


# --- limits ---------------------------------------------------------------------------------------

def test_slow_pdf_is_killed_and_the_batch_goes_on(tmp_path, config):
    # ~5 million text operators: pypdf needs about a minute for this page.
    slow = make_pdf(tmp_path / "slow.pdf", [b"BT /F1 12 Tf 72 700 Td " + b"(ab) Tj " * 5_000_000 + b"ET"])
    fast = [small_pdf(tmp_path / f"fast{i}.pdf", f"word{i}") for i in range(3)]
    config.limits.pdf_parse_timeout = 2.0
    results = dict(extract_many([slow, *fast], config, workers=1))
    assert results[slow].error == "timeout" and not results[slow].ok
    for i, p in enumerate(fast):
        assert results[p].ok, results[p].error
        assert f"A small word{i} document" in results[p].pages[0].body


def test_slow_pdf_with_two_workers_does_not_hold_up_the_other(tmp_path, config):
    slow = make_pdf(tmp_path / "slow.pdf", [b"BT /F1 12 Tf 72 700 Td " + b"(ab) Tj " * 5_000_000 + b"ET"])
    fast = small_pdf(tmp_path / "fast.pdf")
    config.limits.pdf_parse_timeout = 4.0  # room for the second worker to start on a busy machine
    order = [p for p, _ in extract_many([slow, fast], config, workers=2)]
    assert order == [fast, slow]


def test_memory_hungry_pdf_hits_the_memory_limit(tmp_path, config):
    # One 70 MB string that flate squeezes into ~70 KB; parsing it needs several hundred MB.
    bomb = make_pdf(tmp_path / "bomb.pdf", [b"BT /F1 12 Tf 72 700 Td (" + b"a" * 70_000_000 + b") Tj ET"])
    after = small_pdf(tmp_path / "after.pdf")
    config.limits.pdf_parse_memory_mb = 200
    config.limits.pdf_parse_timeout = 60
    results = dict(extract_many([bomb, after], config, workers=1))
    assert results[bomb].error == "memory"
    assert results[after].ok  # a fresh worker took over


def test_stopping_early_leaves_no_worker_behind(tmp_path, config):
    paths = [small_pdf(tmp_path / f"p{i}.pdf") for i in range(4)]
    gen = extract_many(paths, config, workers=2)
    first_path, first = next(gen)
    assert first.ok
    gen.close()  # the consumer gives up: the finally block must reap the workers
    assert extract_pdf(paths[0], config).ok


# --- download cache -------------------------------------------------------------------------------

class _PdfServer:
    """A local HTTP server whose behaviour per path is set by the test (full, cut off, html)."""

    def __init__(self, body: bytes):
        self.body = body
        self.modes: list[str] = []  # consumed one per request; "full" when empty
        self.requests = 0
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests += 1
                mode = outer.modes.pop(0) if outer.modes else "full"
                if mode == "html":
                    page = b"<html><body>PDF is being generated</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/pdf")
                if mode != "no-length":
                    self.send_header("Content-Length", str(len(outer.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if mode in ("cut", "stall"):
                    self.wfile.write(outer.body[: len(outer.body) // 2])
                    self.wfile.flush()
                    if mode == "stall":  # hang mid-body until the test lets go (the client is killed meanwhile)
                        outer.release.wait(30)
                    self.connection.shutdown(2)  # drop the connection mid-body
                    return
                self.wfile.write(outer.body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pdf_server(tmp_path):
    body = small_pdf(tmp_path / "served.pdf").read_bytes() + b"%" + b"x" * 200_000 + b"\n"
    server = _PdfServer(body)
    yield server
    server.close()


def _cache_files(config) -> list[Path]:
    return sorted(config.cache_dir.iterdir()) if config.cache_dir.is_dir() else []


def test_interrupted_download_leaves_nothing_then_next_fetch_completes(pdf_server, config):
    paper = Paper(key="2206.10883", title="t", arxiv_id="2206.10883", version=3,
                  pdf_url=pdf_server.url("2206.10883v3"))
    pdf_server.modes = ["cut"]
    with pytest.raises(FetchError):
        fetch_pdf(paper, config)
    assert _cache_files(config) == []  # neither the PDF nor a .part- leftover
    path, from_cache = fetch_pdf(paper, config)
    assert (path, from_cache) == (config.cache_dir / "2206.10883v3.pdf", False)
    assert path.read_bytes() == pdf_server.body
    assert fetch_pdf(paper, config) == (path, True)
    assert pdf_server.requests == 2
    assert extract_pdf(path, config).ok


@pytest.mark.parametrize("mode", ["full", "no-length"])
def test_size_cap(pdf_server, config, mode):
    config.limits.pdf_max_mb = 0.05  # 52 KB, the body is over 200 KB
    pdf_server.modes = [mode]
    paper = Paper(key="url:x", title="t", pdf_url=pdf_server.url("big.pdf"))
    with pytest.raises(FetchError, match="too large"):
        fetch_pdf(paper, config)
    assert _cache_files(config) == []


def test_html_instead_of_pdf_is_not_cached(pdf_server, config):
    pdf_server.modes = ["html"]
    paper = Paper(key="url:y", title="t", pdf_url=pdf_server.url("paper.pdf"))
    with pytest.raises(FetchError, match="did not send a PDF"):
        fetch_pdf(paper, config)
    assert _cache_files(config) == []
    path, from_cache = fetch_pdf(paper, config)
    assert not from_cache and path.read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/paper.pdf", "data:,hello"])
def test_only_http_urls_are_fetched(config, url):
    with pytest.raises(FetchError, match="only http"):
        fetch_pdf(Paper(key="url:z", title="t", pdf_url=url), config)
    assert _cache_files(config) == []


def test_local_pdf_is_used_in_place(tmp_path, config):
    local = small_pdf(tmp_path / "mine.pdf")
    assert fetch_pdf(Paper(key="file:1", title="t", local_pdf=str(local)), config) == (local, True)
    with pytest.raises(FetchError, match="not found"):
        fetch_pdf(Paper(key="file:2", title="t", local_pdf=str(tmp_path / "gone.pdf")), config)


def test_cache_keys(config):
    new = Paper(key="2206.10883", title="t", arxiv_id="2206.10883", version=3)
    old = Paper(key="quant-ph/0201082", title="t", arxiv_id="quant-ph/0201082", version=1)
    bare = Paper(key="2206.10883", title="t", arxiv_id="2206.10883")
    by_url = Paper(key="url:a", title="t", pdf_url="https://example.org/a.pdf")
    assert cached_pdf_path(new, config) == config.cache_dir / "2206.10883v3.pdf"
    assert cached_pdf_path(old, config) == config.cache_dir / "quant-ph_0201082v1.pdf"
    assert cached_pdf_path(bare, config).name == "2206.10883.pdf"
    assert re.fullmatch(r"[0-9a-f]{64}\.pdf", cached_pdf_path(by_url, config).name)
    with pytest.raises(FetchError):
        cached_pdf_path(Paper(key="k", title="t"), config)


def test_arxiv_paper_without_pdf_url_uses_configured_template(pdf_server, config):
    config.arxiv.pdf_url = pdf_server.url("pdf/{id}")
    paper = Paper(key="2304.02623", title="t", arxiv_id="2304.02623", version=1)
    path, from_cache = fetch_pdf(paper, config)
    assert path.name == "2304.02623v1.pdf" and not from_cache


# --- cleaning -------------------------------------------------------------------------------------

def bodies(raw: list[str]) -> list[str]:
    return [p.body for p in clean_pages(raw)]


def test_hyphenation_at_line_ends():
    text = ("The summa-\nrization task. We study summarization.\n"
            "A state-of-the-\nart model. A large-\nscale test of large-scale data.\n"
            "We used GPT-\n4 and a pre-\ntrained encoder with self-\nattention.")
    out = bodies([text])[0]
    assert "The summarization task." in out
    assert "state-of-the-art model" in out
    assert "A large-scale test" in out
    assert "GPT-4" in out
    assert "pretrained encoder" in out  # unknown to the document: a lowercase continuation is a syllable break
    assert "self-attention" in out


def test_ligatures_accents_and_whitespace():
    out = bodies(["The ﬁrst ﬂow is e\ufb03cient.\n\n\n\nNew   paragraph\t here.  \nTeˇsanovi´c wrote it."])[0]
    assert out == "The first flow is efficient.\n\nNew paragraph here.\nTešanović wrote it."


def test_running_headers_footers_and_page_numbers_are_dropped():
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    pages = [f"Journal of Examples, Vol. 3, 2024 {100 + i}\nThe {w} section starts.\nIt says {w} twice.\n"
             f"Then it ends.\n{i}" for i, w in enumerate(words, 1)]
    out = bodies(pages)
    assert out[0] == "The alpha section starts.\nIt says alpha twice.\nThen it ends."
    assert all("Journal of Examples" not in b for b in out)


def test_margin_stamp_removed_as_line_or_vertical():
    stamp = "arXiv:2206.10883v3  [cs.CL]  12 Oct 2022"
    vertical = "\n".join(stamp.replace(" ", ""))
    out = bodies([f"Title of paper\n{stamp}\nFirst sentence.", f"{vertical}\nSecond page."])
    assert out == ["Title of paper\nFirst sentence.", "Second page."]
    assert find_arxiv_stamp(stamp) == ("2206.10883v3", "cs.CL")
    assert find_arxiv_stamp(vertical) == ("2206.10883v3", "cs.CL")
    assert find_arxiv_stamp("arXiv:quant-ph/0201082v1 [quant-ph] 14 Jan 2002") == ("quant-ph/0201082v1", "quant-ph")
    old = find_arxiv_stamp("arXiv:cond-mat/0601001v1 [ cond-mat.str-el ] 1 Jan 2006")
    assert (old.id, old.category) == ("cond-mat/0601001v1", "cond-mat.str-el")
    assert find_arxiv_stamp("as shown in arXiv:2005.14165") is None  # a citation is not a stamp


def test_references_split_and_appendix_back_to_body():
    pages = clean_pages([
        "1 Introduction\nWe cite arXiv:2005.14165 here.",
        "Conclusion text.\n7 References\n[1] A. Author. 2020. A paper. arXiv:2005.14165.",
        "[2] B. Author. 2021. Another.\nA Additional Results\nMore tables.\nB Prompt Templates\nThe prompts.",
    ])
    assert [p.number for p in pages] == [1, 2, 3]
    assert pages[0].refs == "" and "arXiv:2005.14165" in pages[0].body
    assert pages[1].body == "Conclusion text."
    assert pages[1].refs.startswith("7 References\n[1] A. Author") and "arXiv:2005.14165" in pages[1].refs
    assert pages[2].refs == "[2] B. Author. 2021. Another."
    assert pages[2].body.startswith("A Additional Results")


def test_heading_less_numbered_references_are_found():
    body = [f"Body line {i} about nodes and lattices." for i in range(30)]
    refs = ["1 D. C. Johnston, Adv. Phys. 59, 803 (2010).", "2 D. Jerome and H. J. Schulz, Adv. Phys. 31, 299",
            "(1982).", "3 A. Georges, Rev. Mod. Phys. 68, 13 (1996)."]
    toc = ["1 Introduction 3", "2 Method 4", "3 Results 9"]  # numbered too, but in the first half
    pages = clean_pages(["\n".join(toc + body[:15]), "\n".join(body[15:] + refs)])
    assert pages[0].refs == ""
    assert pages[1].refs.startswith("1 D. C. Johnston") and "Body line 29" in pages[1].body


@pytest.mark.parametrize("heading", ["References", "REFERENCES", "Bibliography", "参考文献", "6. References"])
def test_reference_headings(heading):
    pages = clean_pages(["Body.", f"End of body.\n{heading}\n[1] Someone. 2020."])
    assert pages[1].body == "End of body." and pages[1].refs.endswith("[1] Someone. 2020.")


def test_no_heading_means_no_refs_and_empty_input():
    assert clean_pages([]) == []
    pages = clean_pages(["Text that mentions references in passing.", ""])
    assert [(p.number, p.refs) for p in pages] == [(1, ""), (2, "")]
    assert pages[1].body == ""


# --- CLI ------------------------------------------------------------------------------------------

def test_extract_command(tmp_path, config):
    import click
    from click.testing import CliRunner

    from digest.cli.pdf import register
    from digest.errors import DigestError

    class Obj:
        def __init__(self, config):
            self.config = config

    @click.group()
    @click.pass_context
    def cli(ctx):
        ctx.obj = Obj(config)

    register(cli)
    good = make_pdf(tmp_path / "good.pdf", [text_page("Hello there"), text_page("References", "[1] X. 2020.")],
                    title="Good Paper")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"")
    result = CliRunner().invoke(cli, ["extract", "--text", "--refs", str(good)])
    assert result.exit_code == 0, result.output
    assert "ok, 2 pages (1 with references)" in result.output and "title: Good Paper" in result.output
    assert "Hello there" in result.output and "[1] X. 2020." in result.output
    result = CliRunner().invoke(cli, ["extract", str(good), str(bad)])
    assert f"{bad}: FAILED (empty-file)" in result.output
    assert isinstance(result.exception, DigestError)


def test_worker_killed_from_outside_costs_one_pdf(tmp_path, config):
    import os
    import signal
    import time

    slow = make_pdf(tmp_path / "slow.pdf", [b"BT /F1 12 Tf 72 700 Td " + b"(ab) Tj " * 5_000_000 + b"ET"])
    fast = small_pdf(tmp_path / "fast.pdf")
    config.limits.pdf_parse_timeout = 120

    def our_workers() -> list[int]:
        pids = []
        for d in Path("/proc").iterdir():
            try:
                stat = (d / "stat").read_text()
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if b"digest.pdf.worker" in cmd and int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                pids.append(int(d.name))
        return pids

    def cpu_seconds(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill_soon():
        # Starting a worker costs well under a second of CPU; past 2 s it is busy with the slow PDF.
        for _ in range(600):
            time.sleep(0.1)
            pids = our_workers()
            if pids and cpu_seconds(pids[0]) > 2.0:
                os.kill(pids[0], signal.SIGTERM)
                return

    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to find the worker")
    killer = threading.Thread(target=kill_soon)
    killer.start()
    results = dict(extract_many([slow, fast], config, workers=1))
    killer.join()
    assert results[slow].error == f"error:WorkerDied({-signal.SIGTERM})"
    assert results[fast].ok


_PARENT_SCRIPT = """
import sys
from pathlib import Path
from digest.config import Config
cfg = Config()
cfg.limits.pdf_parse_timeout = 600
from digest.pdf.pool import extract_many
for _ in extract_many([Path(sys.argv[1])], cfg, workers=1):
    pass
"""


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def test_worker_dies_with_its_parent_killed_with_sigkill(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to find the worker")
    slow = make_pdf(tmp_path / "slow.pdf", [b"BT /F1 12 Tf 72 700 Td " + b"(ab) Tj " * 5_000_000 + b"ET"])
    parent = subprocess.Popen([sys.executable, "-c", _PARENT_SCRIPT, str(slow)], stdin=subprocess.DEVNULL)
    try:
        worker = None
        for _ in range(600):  # the worker imports pypdf, then works on the page for about a minute
            time.sleep(0.1)
            for d in Path("/proc").iterdir():
                fields = _proc_stat(int(d.name)) if d.name.isdigit() else None
                if fields and int(fields[1]) == parent.pid:
                    ticks = int(fields[11]) + int(fields[12])
                    if ticks / os.sysconf("SC_CLK_TCK") > 1.5:  # busy on the PDF, past its imports
                        worker = int(d.name)
            if worker:
                break
        assert worker, "the worker never got busy"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        for _ in range(100):
            fields = _proc_stat(worker)
            if fields is None or fields[0] in ("Z", "X"):  # gone, or dead and awaiting a reaper
                break
            time.sleep(0.1)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail("the worker outlived its parent by 10 s")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


_KILLED_FETCH = """
import sys
from digest.config import Config
from digest.pdf.download import fetch_pdf
from digest.records import Paper
config = Config()
config.store.archive_dir = sys.argv[1]
fetch_pdf(Paper(key=sys.argv[2], title="t", arxiv_id=sys.argv[2], version=1, pdf_url=sys.argv[3]), config)
"""


def _killed_download(pdf_server, config, arxiv_id: str) -> Path:
    """The partial file that a process killed mid-download leaves in the cache, named by the product itself."""
    import os
    import subprocess
    import sys
    import time

    before = set(_cache_files(config))
    pdf_server.modes.append("stall")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_FETCH, str(config.archive_dir), arxiv_id,
                             pdf_server.url(f"{arxiv_id}v1")])
    try:
        deadline = time.monotonic() + 120  # bounds a hang only: a loaded machine starts Python slowly
        while not (new := set(_cache_files(config)) - before) or not any(p.stat().st_size for p in new):
            assert proc.poll() is None and time.monotonic() < deadline, "the download never started"
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    [part] = new
    assert arxiv_id in part.name and part.suffix != ".pdf"  # a temporary name, never taken as cached
    os.utime(part, (time.time(), time.time()))  # the kernel stamps real time; the sweep reads Python's clock
    return part


def test_stale_partial_downloads_are_swept(pdf_server, config):
    import os
    import time

    stale = _killed_download(pdf_server, config, "2601.00001")
    fresh = _killed_download(pdf_server, config, "2601.00002")
    now = time.time()  # file times come from the kernel's clock: set both, for runs under a moved clock
    os.utime(stale, (now - 3 * 24 * 3600, now - 3 * 24 * 3600))
    os.utime(fresh, (now - 60, now - 60))
    pdf_server.release.set()
    # Fetching a third paper sweeps the other papers' leftovers too (they may never be fetched again).
    path, _ = fetch_pdf(Paper(key="url:s", title="t", pdf_url=pdf_server.url("s.pdf")), config)
    assert not stale.exists() and fresh.exists()  # a fresh one may be another download in progress
    assert set(_cache_files(config)) == {fresh, path}


def test_results_come_back_under_the_paths_given(tmp_path, config):
    a = small_pdf(tmp_path / "a.pdf")
    b = str(small_pdf(tmp_path / "b.pdf"))
    results = dict(extract_many([a, b], config))
    assert set(results) == {a, b} and all(r.ok for r in results.values())


def test_a_trickling_download_is_stopped_by_the_overall_deadline(tmp_path, config):
    """httpx times out per read; a server sending a little every half second must still be cut off."""
    import socket
    import threading

    from digest.errors import FetchError
    from digest.http import download_to_file, make_client

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def trickle():
        conn, _ = srv.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: 100000\r\n\r\n%PDF-")
        while not stop.is_set():
            try:
                conn.sendall(b"x" * 10)
            except OSError:
                break
            stop.wait(0.2)
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    dest = tmp_path / "slow.pdf"
    try:
        with make_client(5) as client, pytest.raises(FetchError, match="longer than"):
            download_to_file(client, f"http://127.0.0.1:{srv.getsockname()[1]}/slow.pdf", dest,
                             max_bytes=10**6, timeout=1.0)
    finally:
        stop.set()
        srv.close()
    assert not dest.exists()
