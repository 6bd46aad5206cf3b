"""The sources stage against real HTTP: corpus feeds and arXiv API answers served on 127.0.0.1."""

from __future__ import annotations

import re
import shutil
import zlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from conftest import FIXTURES, corpus_files
from werkzeug import Request, Response

from digest.errors import SourceError
from digest.pdf.clean import split_authors
from digest.records import url_key
from digest.sources.pdf_folder import papers_from_pdfs
from digest.sources.registry import (
    fetch_source,
    fetch_sources,
    merge_papers,
    papers_from_text,
    parse_feed_bytes,
    remember_feed_state,
)

FEEDS = FIXTURES / "feeds"
ATOM = "application/atom+xml"
CLOSED_PORT_API = "http://127.0.0.1:9/api/query"  # discard port: connection refused at once


@pytest.fixture
def cfg(config, httpserver):
    """The test config with every arXiv endpoint on the local server and recognisable URL templates."""
    config.arxiv.api_url = httpserver.url_for("/api/query")
    config.arxiv.rss_url = httpserver.url_for("/rss/{categories}")
    config.arxiv.abs_url = "https://mirror.example.org/abs/{id}"
    config.arxiv.pdf_url = "https://mirror.example.org/pdf/{id}"
    config.arxiv.api_page_size = 100
    config.limits.http_timeout = 5
    return config


def _api_requests(httpserver) -> list[dict[str, list[str]]]:
    return [parse_qs(req.query_string.decode()) for req, _ in httpserver.log if req.path == "/api/query"]


# ---- an arXiv API stand-in that answers id_list look-ups from the corpus entries ------------------

def _corpus_entries() -> dict[str, str]:
    entries: dict[str, str] = {}
    for f in corpus_files("arxiv_api"):
        for block in re.findall(r"<entry>.*?</entry>", f.read_text(encoding="utf-8"), re.DOTALL):
            m = re.search(r"<id>https?://arxiv\.org/abs/(.+?)(?:v\d+)?</id>", block)
            if m:
                entries.setdefault(m.group(1), block)
    return entries


def serve_id_lookups(httpserver) -> None:
    """Answer /api/query?id_list=... with the corpus entries of the IDs asked for (missing ones left out)."""
    entries = _corpus_entries()

    def handler(request: Request) -> Response:
        ids = [i for i in request.args.get("id_list", "").split(",") if i]
        found = [entries[re.sub(r"v\d+$", "", i)] for i in ids if re.sub(r"v\d+$", "", i) in entries]
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>\n"
            '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
            'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">\n'
            "<id>https://arxiv.org/api/test</id><title>arXiv Query</title><updated>2026-04-12T22:09:25Z</updated>\n"
            f"<opensearch:itemsPerPage>{len(ids)}</opensearch:itemsPerPage>"
            f"<opensearch:totalResults>{len(found)}</opensearch:totalResults>"
            "<opensearch:startIndex>0</opensearch:startIndex>\n" + "\n".join(found) + "\n</feed>\n"
        )
        return Response(body, content_type=ATOM)

    httpserver.expect_request("/api/query").respond_with_handler(handler)


# ---- every arXiv API answer in the corpus ----------------------------------------------------------

QUANTUM_TITLE = "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"

# file name -> (spec, HTTP status, page size, expectation)
API_CASES = {
    "api2016_id_list_1111.2011v2_single.xml": ("arxiv-query:id:1111.2011v2", 200, 10, dict(
        n=1, key="1111.2011", version=2, title=QUANTUM_TITLE, authors=["James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"],
        primary_category="cond-mat.str-el", categories=["cond-mat.str-el", "cond-mat.stat-mech"],
        doi="10.1103/PhysRevB.85.115117", published="2011-11-08T18:48:36+00:00",
        updated="2012-04-02T12:38:54+00:00", journal_ref="Phys. Rev. B 85, 115117 (2012)",
        comment="8 pages, 3 figures. Published version")),
    "api2016_search_and_checkerboard.xml": ("arxiv-query:au:del_maestro AND ti:checkerboard", 200, 10, dict(
        n=1, key="cond-mat/0603029", version=1, primary_category="cond-mat.str-el",
        pdf_url="https://mirror.example.org/pdf/cond-mat/0603029v1")),
    "api2016_search_andnot_10entries.xml": (
        "arxiv-query:au:del_maestro ANDNOT (ti:checkerboard OR ti:Pyrochlore)", 200, 10,
        dict(n=10, key="1201.4869", version=1, title="A Luttinger Liquid Core Inside Helium-4 Filled Nanopores")),
    "api2016_search_au_del_maestro_10entries.xml": ("arxiv-query:au:del_maestro", 200, 10, dict(
        n=10, key="1201.4869", authors=["Adrian Del Maestro"])),
    "api2026_id_list_0000.0000_empty_results.xml": ("arxiv-query:id:0000.0000", 200, 100, dict(
        n=0, empty_listing=True, warning="1 of 1 IDs not found on arXiv: 0000.0000")),
    "api2026_id_list_abc_error_http400.xml": ("arxiv-query:ti:abc", 400, 100, dict(
        error="arXiv API rejected the request: incorrect id format for abc")),
    "api2026_id_list_two_ids_one_missing.xml": ("arxiv-query:id:0808.05394,1707.08567", 200, 100, dict(
        n=1, key="1707.08567", warning="1 of 2 IDs not found on arXiv: 0808.05394")),
    "api2026_id_list_2104.12255v1_single.xml": ("arxiv-query:id:2104.12255v1", 200, 100, dict(
        n=1, key="2104.12255", version=1, title="0", authors=["Quan Thoi Minh Nguyen"], primary_category="cs.CR",
        abs_url="https://mirror.example.org/abs/2104.12255v1", doi=None, comment=None)),
    "api2026_id_list_quant-ph_0201082v1_oldstyle_id.xml": ("arxiv-query:id:quant-ph/0201082v1", 200, 100, dict(
        n=1, key="quant-ph/0201082", arxiv_id="quant-ph/0201082", version=1, categories=["quant-ph", "cs.PL"],
        pdf_url="https://mirror.example.org/pdf/quant-ph/0201082v1", comment="32 pages")),
    "api2026_id_list_astro-ph_0601001_oldstyle_id.xml": ("arxiv-query:id:astro-ph/0601001", 200, 100, dict(
        n=1, key="astro-ph/0601001", version=1, journal_ref="ActaAstron.56:1-50,2006", warnings=[])),
    "api2026_search_testing_10entries.xml": ("arxiv-query:testing", 200, 10, dict(
        n=10, key="2202.12139", doi="10.1109/ICSTW55395.2022.00035", primary_category="cs.SE")),
    "api2026_search_testing_100entries.xml": ("arxiv-query:testing", 200, 100, dict(n=100, key="2202.12139")),
}


@pytest.mark.parametrize("path", corpus_files("arxiv_api"), ids=lambda p: p.name)
def test_arxiv_api_corpus(path, cfg, store, httpserver):
    assert path.name in API_CASES, f"no expectation written for corpus file {path.name}"
    spec, status, page_size, want = API_CASES[path.name]
    cfg.arxiv.api_page_size = page_size
    httpserver.expect_request("/api/query").respond_with_data(path.read_bytes(), status=status, content_type=ATOM)
    if "error" in want:
        with pytest.raises(SourceError) as exc:
            fetch_source(spec, cfg, store)
        assert want["error"] in str(exc.value) and exc.value.source == spec
        assert len(_api_requests(httpserver)) == 1  # a 400 is not retried
        return
    r = fetch_source(spec, cfg, store)
    assert len(r.papers) == want["n"]
    assert r.empty_listing == want.get("empty_listing", False)
    if "warning" in want:
        assert want["warning"] in r.warnings
    if "warnings" in want:
        assert r.warnings == want["warnings"]
    assert len(_api_requests(httpserver)) == 1  # one page is one request
    if r.papers:
        p = r.papers[0]
        for field_name, value in want.items():
            if field_name not in ("n", "empty_listing", "warning", "warnings", "error"):
                assert getattr(p, field_name) == value, field_name
        assert all(q.source == spec and q.title is not None and q.abs_url.startswith("https://mirror.example.org/abs/")
                   for q in r.papers)
        assert len({q.key for q in r.papers}) == len(r.papers)


def test_api_request_uses_configured_endpoint_page_size_and_newest_first(cfg, store, httpserver, corpus):
    cfg.arxiv.api_page_size = 10
    body = (corpus / "arxiv_api" / "api2016_search_au_del_maestro_10entries.xml").read_bytes()
    httpserver.expect_request("/api/query").respond_with_data(body, content_type=ATOM)
    fetch_source("arxiv-query:au:del_maestro", cfg, store)
    (args,) = _api_requests(httpserver)
    assert args["search_query"] == ["au:del_maestro"]
    assert args["max_results"] == ["10"] and args["start"] == ["0"]
    assert args["sortBy"] == ["submittedDate"] and args["sortOrder"] == ["descending"]


def test_api_since_stops_at_older_submissions(cfg, store, httpserver, corpus):
    cfg.arxiv.api_page_size = 10
    body = (corpus / "arxiv_api" / "api2026_search_testing_10entries.xml").read_bytes()
    httpserver.expect_request("/api/query").respond_with_data(body, content_type=ATOM)
    r = fetch_source("arxiv-query:testing", cfg, store, since=datetime(2022, 1, 1, tzinfo=UTC))
    # The answer claims newest-first order, so the first submission before `since` (2020-05-28,
    # third entry) ends the scan; later entries are not looked at.
    assert [p.key for p in r.papers] == ["2202.12139", "2405.13786"]


def test_api_error_entry_with_http_200_is_an_error_not_a_paper(cfg, store, httpserver, corpus):
    body = (corpus / "arxiv_api" / "api2026_id_list_abc_error_http400.xml").read_bytes()
    httpserver.expect_request("/api/query").respond_with_data(body, status=200, content_type=ATOM)
    with pytest.raises(SourceError, match="incorrect id format for abc"):
        fetch_source("arxiv-query:all:abc", cfg, store)


def test_api_server_errors_are_retried_then_reported(cfg, store, httpserver):
    httpserver.expect_request("/api/query").respond_with_data("busy", status=503)
    with pytest.raises(SourceError, match="HTTP 503 after retries"):
        fetch_source("arxiv-query:ti:summarization", cfg, store)
    assert len(_api_requests(httpserver)) == 4  # the package's 3 retries


def test_api_unreachable_is_a_source_error(cfg, store):
    cfg.arxiv.api_url = CLOSED_PORT_API
    with pytest.raises(SourceError, match="arXiv API unreachable"):
        fetch_source("arxiv-query:ti:summarization", cfg, store)


def test_bad_id_in_id_list_is_refused_before_asking(cfg, store, httpserver):
    with pytest.raises(SourceError, match="not an arXiv ID: 'abc'"):
        fetch_source("arxiv-query:id:2104.12255,abc", cfg, store)
    assert _api_requests(httpserver) == []


# ---- an arXiv API that answers with something else, cut off, short or endless ------------------------

def atom_page(ids: list[str], total: int, *, start: int = 0) -> str:
    """One arXiv API answer page holding `ids` (newest first, one day apart), claiming `total` results."""
    entries = "".join(
        f"<entry><id>http://arxiv.org/abs/{aid}v1</id><published>2026-11-{19 - (start + i) % 18:02d}T10:00:00Z"
        f"</published><updated>2026-11-19T10:00:00Z</updated><title>Paper {aid}</title>"
        f"<summary>About {aid}.</summary><author><name>Ada Lovelace</name></author>"
        f'<link href="http://arxiv.org/abs/{aid}v1" rel="alternate" type="text/html"/>'
        f'<arxiv:primary_category term="cs.CL"/><category term="cs.CL"/></entry>\n'
        for i, aid in enumerate(ids))
    return ("<?xml version='1.0' encoding='UTF-8'?>\n"
            '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
            'xmlns:arxiv="http://arxiv.org/schemas/atom"><id>https://arxiv.org/api/test</id><title>arXiv Query</title>'
            f"<opensearch:totalResults>{total}</opensearch:totalResults><opensearch:startIndex>{start}"
            f"</opensearch:startIndex><opensearch:itemsPerPage>{len(ids)}</opensearch:itemsPerPage>\n"
            f"{entries}</feed>\n")


def ids_from(n: int, count: int) -> list[str]:
    return [f"2611.{n + i:05d}" for i in range(count)]


HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>Sign in - Campus Proxy</title></head><body><form></form></body></html>"


@pytest.mark.parametrize("body,what", [
    (HTML_PAGE, "an HTML page ('Sign in - Campus Proxy')"),
    (bytes(range(256)) * 4, "1,024 bytes that are not XML"),
    (b"", "an empty body"),
    (b"<?xml version='1.0'?><rss version='2.0'><channel></channel></rss>", "an XML document whose root is <rss>"),
])
def test_api_answer_that_is_not_an_atom_feed_is_a_source_error(body, what, cfg, store, httpserver, caplog):
    httpserver.expect_request("/api/query").respond_with_data(body, status=200, content_type="text/html")
    with pytest.raises(SourceError) as exc:
        fetch_source("arxiv-query:ti:summarization", cfg, store)
    assert exc.value.source == "arxiv-query:ti:summarization"
    assert f"answered HTTP 200 with {what}" in exc.value.detail and "not an Atom feed" in exc.value.detail
    assert cfg.arxiv.api_url in exc.value.detail and "; check arxiv.api_url" in exc.value.detail
    assert "\n" not in str(exc.value)
    assert not [r for r in caplog.records if r.name.startswith("arxiv")]  # no raw "Malformed feed" line
    assert len(_api_requests(httpserver)) == 1  # not retried: the same page would come back


def test_api_answer_declaring_entities_is_refused(cfg, store, httpserver):
    body = (b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b'<feed xmlns="http://www.w3.org/2005/Atom"><title>&b;</title></feed>')
    httpserver.expect_request("/api/query").respond_with_data(body, content_type=ATOM)
    with pytest.raises(SourceError, match="declares XML entities"):
        fetch_source("arxiv-query:ti:summarization", cfg, store)


def test_html_answer_to_a_list_look_up_is_a_failed_look_up_not_missing_ids(cfg, store, httpserver, tmp_path):
    httpserver.expect_request("/api/query").respond_with_data(HTML_PAGE, content_type="text/html")
    lst = tmp_path / "list.md"
    lst.write_text("\n".join(ids_from(30000, 9)), encoding="utf-8")
    r = fetch_source(f"list:{lst}", cfg, store)
    assert [p.title for p in r.papers] == ids_from(30000, 9)  # kept as the list gave them
    (warning,) = r.warnings
    assert warning.startswith("arXiv metadata look-up failed for 9 papers (arXiv API (")
    assert "an HTML page" in warning and "not found" not in warning


def test_api_page_cut_off_keeps_its_whole_entries_and_says_so(cfg, store, httpserver):
    cfg.arxiv.api_page_size = 3

    def handler(request: Request) -> Response:
        start = int(request.args["start"])
        body = atom_page(ids_from(10000 + start, 3), 9, start=start)
        if start == 3:  # the second page ends in the middle of its second entry
            body = body[:body.index("<entry>", body.index("</entry>")) + 60]
        return Response(body, content_type=ATOM)

    httpserver.expect_request("/api/query").respond_with_handler(handler)
    r = fetch_source("arxiv-query:ti:summarization", cfg, store, since=datetime(2026, 1, 1, tzinfo=UTC))
    assert [p.key for p in r.papers] == ids_from(10000, 4)
    (warning,) = r.warnings
    assert warning.startswith("the arXiv API answer broke off on page 2 (")
    assert "4 results read (1 of them from that page), the rest left out; results are incomplete" in warning
    assert len(_api_requests(httpserver)) == 2  # no page after the broken one


def test_api_first_page_cut_off_before_an_entry_is_a_source_error(cfg, store, httpserver):
    body = atom_page(ids_from(10000, 3), 3)
    httpserver.expect_request("/api/query").respond_with_data(body[:body.index("</entry>")], content_type=ATOM)
    with pytest.raises(SourceError, match=r"answer broke off before its first whole entry \(.*line"):
        fetch_source("arxiv-query:ti:summarization", cfg, store)


def test_api_short_pages_stop_at_the_page_cap_with_a_line_saying_what_was_cut(cfg, store, httpserver):
    cfg.arxiv.api_page_size, cfg.arxiv.api_max_pages = 50, 3

    def handler(request: Request) -> Response:  # 2 results a page, whatever was asked, of 10,000
        start = int(request.args["start"])
        return Response(atom_page(ids_from(10000 + start, 2), 10000, start=start), content_type=ATOM)

    httpserver.expect_request("/api/query").respond_with_handler(handler)
    r = fetch_source("arxiv-query:all:learning", cfg, store, since=datetime(2026, 1, 1, tzinfo=UTC))
    assert len(r.papers) == 6 and len(_api_requests(httpserver)) == 3
    assert r.warnings == ["stopped after 3 pages of the arXiv API answer (arxiv.api_max_pages = 3): 6 of 10,000 "
                          "results read, newest first; the 9,994 older ones left out (narrow the query, or raise "
                          "arxiv.api_max_pages)"]


def test_api_paging_stops_when_the_total_is_reached_or_a_page_repeats(cfg, store, httpserver):
    cfg.arxiv.api_page_size = 5
    since = datetime(2026, 1, 1, tzinfo=UTC)

    def seven(request: Request) -> Response:
        start = int(request.args["start"])
        return Response(atom_page(ids_from(10000 + start, min(5, 7 - start)), 7, start=start), content_type=ATOM)

    httpserver.expect_request("/api/query").respond_with_handler(seven)
    r = fetch_source("arxiv-query:all:learning", cfg, store, since=since)
    assert [p.key for p in r.papers] == ids_from(10000, 7) and r.warnings == []
    assert [a["start"] for a in _api_requests(httpserver)] == [["0"], ["5"]]

    httpserver.clear()  # a server that ignores `start` answers the first page again and again
    httpserver.expect_request("/api/query").respond_with_data(atom_page(ids_from(20000, 5), 500), content_type=ATOM)
    r = fetch_source("arxiv-query:all:learning", cfg, store, since=since)
    assert [p.key for p in r.papers] == ids_from(20000, 5)
    assert r.warnings == ["the arXiv API answered page 2 with page 1 again: stopped after 5 results; "
                          "results may be incomplete"]
    assert len(_api_requests(httpserver)) == 2


def test_api_first_page_empty_while_counting_results_says_so(cfg, store, httpserver):
    httpserver.expect_request("/api/query").respond_with_data(atom_page([], 500), content_type=ATOM)
    r = fetch_source("arxiv-query:all:learning", cfg, store)
    assert r.papers == [] and r.warnings == [
        "the arXiv API answered page 1 with no entries though it counts 500 results; results are incomplete "
        "(try again later)"]


def test_the_packages_own_warnings_become_the_sources_not_raw_log_lines(cfg, store, httpserver):
    body = atom_page(ids_from(10000, 2), 2).replace("<published>2026-11-18T10:00:00Z</published>", "", 1)
    httpserver.expect_request("/api/query").respond_with_data(body, content_type=ATOM)
    r = fetch_source("arxiv-query:all:learning", cfg, store)
    assert [p.key for p in r.papers] == ["2611.10000"]
    assert "arXiv API answer: Skipping entry http://arxiv.org/abs/2611.10001v1 missing <published>" in r.warnings


def test_a_long_reading_list_is_cut_at_the_id_cap_and_a_feed_keeps_its_own_metadata(cfg, store, httpserver, tmp_path):
    cfg.arxiv.api_page_size, cfg.arxiv.api_max_ids = 5, 10

    def handler(request: Request) -> Response:
        ids = [re.sub(r"v\d+$", "", i) for i in request.args["id_list"].split(",")]
        return Response(atom_page(ids, len(ids)), content_type=ATOM)

    httpserver.expect_request("/api/query").respond_with_handler(handler)
    lst = tmp_path / "list.md"
    lst.write_text("\n".join(ids_from(30000, 25)), encoding="utf-8")
    r = fetch_source(f"list:{lst}", cfg, store)
    assert [p.title for p in r.papers] == [f"Paper {i}" for i in ids_from(30000, 10)]
    assert r.warnings == ["25 papers listed; the first 10 in the file taken, the other 15 left out "
                          "(arxiv.api_max_ids, the most looked up on the API)"]
    assert len(_api_requests(httpserver)) == 2

    # A feed's items have titles of their own: past the cap they are kept, without the API's metadata.
    items = "".join(f"<item><title>Feed title {i}</title><link>https://arxiv.org/abs/{i}</link></item>"
                    for i in ids_from(50000, 12))
    feed = tmp_path / "feed.xml"
    feed.write_text(f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{items}</channel></rss>",
                    encoding="utf-8")
    r = fetch_source(str(feed), cfg, store)
    assert [p.title for p in r.papers] == [f"Paper {i}" for i in ids_from(50000, 10)] + [
        "Feed title 2611.50010", "Feed title 2611.50011"]
    assert r.warnings == ["arXiv metadata looked up for the first 10 of 12 papers (arxiv.api_max_ids = 10); "
                          "the other 2 keep what the source gave"]
    assert len(_api_requests(httpserver)) == 4


def test_many_missing_ids_are_counted_and_a_few_named(cfg, store, httpserver):
    httpserver.expect_request("/api/query").respond_with_data(atom_page([], 0), content_type=ATOM)
    r = fetch_source("arxiv-query:id:" + ",".join(ids_from(40000, 12)), cfg, store)
    assert r.papers == [] and r.empty_listing
    assert r.warnings == ["12 of 12 IDs not found on arXiv: " + ", ".join(ids_from(40000, 10)) + " and 2 more"]


# ---- every feed in the corpus, served over HTTP ------------------------------------------------------

ILL = "ill-formed feed: "
# file name -> expectation; "error" means the source fails as a whole.
FEED_CASES = {
    "feed-rs_rss1.0_rdf_biorxiv_preprint_feed.xml": dict(n=0, warnings=["1 of 1 items skipped: no arXiv or PDF link"]),
    "feedparser_encoding_bozo_bogus_encoding.xml": dict(
        n=0, empty=True, warnings=[ILL + "CharacterEncodingOverride: document declared as bogus, but parsed as utf-8; 0 entries read"]),
    "feedparser_encoding_bozo_invalid-bytes-with-bom.xml": dict(error="unclosed token"),
    "feedparser_encoding_bozo_linenoise.xml": dict(n=0, warnings=[
        ILL + "CharacterEncodingOverride: document declared as utf-8, but parsed as iso-8859-2; 1 entries read",
        "1 of 1 items skipped: no arXiv or PDF link"]),
    "feedparser_encoding_utf-16le-bom.xml": dict(n=0, empty=True, warnings=[]),
    "feedparser_illformed_aaa_illformed.xml": dict(error="unclosed token"),
    "feedparser_illformed_http_high_bit_date.xml": dict(n=0, empty=True, warnings=[]),
    "feedparser_illformed_rdf_channel_empty_textinput.xml": dict(n=0, warnings=[
        ILL + "SAXParseException: XML or text declaration not at start of entity; 1 entries read",
        "1 of 1 items skipped: no arXiv or PDF link"]),
    "feedparser_illformed_rss_empty_document.xml": dict(error="no element found"),
    "feedparser_illformed_rss_incomplete_cdata.xml": dict(n=0, warnings=[
        ILL + "SAXParseException: XML or text declaration not at start of entity; 1 entries read",
        "1 of 1 items skipped: no arXiv or PDF link"]),
    "feedparser_illformed_undeclared_namespace.xml": dict(error="unbound prefix"),
    "rss2_new-format_2026-09-24_cs.LG+cs.AI+cs.CL+stat.ML_4items.xml": dict(n=4, warnings=[]),
}


@pytest.mark.parametrize("path", corpus_files("feeds_odd") + corpus_files("arxiv_rss"), ids=lambda p: p.name)
def test_feed_corpus(path, cfg, store, httpserver):
    assert path.name in FEED_CASES, f"no expectation written for corpus file {path.name}"
    want = FEED_CASES[path.name]
    httpserver.expect_request("/feed.xml").respond_with_data(path.read_bytes(), content_type="application/xml")
    spec = "rss:" + httpserver.url_for("/feed.xml")
    if "error" in want:
        with pytest.raises(SourceError) as exc:
            fetch_source(spec, cfg, store)
        assert exc.value.source == spec and want["error"] in str(exc.value)
        assert "nothing could be read" in str(exc.value)
        return
    r = fetch_source(spec, cfg, store)
    assert len(r.papers) == want["n"]
    assert r.warnings == want["warnings"]
    assert r.empty_listing == want.get("empty", False)
    assert not r.not_modified


def test_arxiv_listing_fields(cfg, store, httpserver, corpus):
    body = (corpus / "arxiv_rss" / "rss2_new-format_2026-09-24_cs.LG+cs.AI+cs.CL+stat.ML_4items.xml").read_bytes()
    httpserver.expect_request("/rss/cs.LG+cs.AI+cs.CL+stat.ML").respond_with_data(body, content_type="application/rss+xml")
    r = fetch_source("arxiv:cs.LG+cs.AI+cs.CL+stat.ML", cfg, store,
                     since=datetime(2026, 12, 1, tzinfo=UTC))  # a daily listing ignores `since`
    assert [(p.key, p.version, p.announce_type) for p in r.papers] == [
        ("2609.26811", 1, "new"), ("2609.26820", 1, "new"), ("2205.06398", 2, "cross"), ("2009.13987", 3, "replace")]
    a, b, c, d = r.papers
    assert a.title == "The Drift Contract: Spectral Updates for Depth-Robust Local Learning"
    assert a.authors == ["Fabien Polly"]
    assert a.abstract.startswith("Local learning trains each layer") and "Announce Type" not in a.abstract
    assert a.license == "http://creativecommons.org/licenses/by-nc-sa/4.0/"
    assert a.published == a.updated == "2026-09-24T04:00:00+00:00"
    assert a.abs_url == "https://mirror.example.org/abs/2609.26811v1"
    assert a.pdf_url == "https://mirror.example.org/pdf/2609.26811v1"
    assert b.authors == ["Naser Mansour", "Sidahmed Benabderrahmane", "Ameer Rahwan"]
    assert b.categories == ["cs.LG", "cs.AI"] and b.primary_category == "cs.LG"
    assert c.doi == "10.1093/bioinformatics/btac431"
    assert c.categories == ["stat.ME", "stat.AP", "stat.ML"] and c.primary_category == "stat.ME"
    assert c.published is None and c.updated == "2026-09-24T04:00:00+00:00"  # an old paper's v2
    assert d.is_update and d.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert _api_requests(httpserver) == []  # a listing carries its metadata: no API look-up


def test_conditional_get_remembers_validators_and_honours_304(cfg, store, httpserver, corpus):
    body = (corpus / "arxiv_rss" / "rss2_new-format_2026-09-24_cs.LG+cs.AI+cs.CL+stat.ML_4items.xml").read_bytes()
    etag = '"listing-2026-09-24"'
    httpserver.expect_request("/rss/cs.LG", headers={"If-None-Match": etag}).respond_with_data("", status=304)
    httpserver.expect_request("/rss/cs.LG").respond_with_data(
        body, headers={"ETag": etag, "Last-Modified": "Thu, 24 Sep 2026 08:58:05 GMT"})
    first = fetch_source("arxiv:cs.LG", cfg, store)
    assert len(first.papers) == 4 and not first.not_modified
    url = cfg.arxiv.rss_url.format(categories="cs.LG")
    assert store.feed_state(url) == {}  # not before the caller has stored the papers
    remember_feed_state(store, first)
    state = store.feed_state(url)
    assert state["etag"] == etag and state["last_modified"] == "Thu, 24 Sep 2026 08:58:05 GMT"
    second = fetch_source("arxiv:cs.LG", cfg, store)
    assert second.not_modified and second.papers == [] and second.warnings == []
    remember_feed_state(store, second)
    assert store.feed_state(url)["last_status"] == 304 and store.feed_state(url)["etag"] == etag
    sent = [req.headers.get("If-None-Match") for req, _ in httpserver.log]
    assert sent == [None, etag]
    # A look without validators (conditional=False) reads the whole listing again.
    assert len(fetch_source("arxiv:cs.LG", cfg, store, conditional=False).papers) == 4


def test_weekend_listing_is_empty_not_an_error(cfg, store, httpserver):
    httpserver.expect_request("/rss/cs.CL").respond_with_data((FEEDS / "arxiv_rss_weekend_empty.xml").read_bytes())
    r = fetch_source("arxiv:cs.CL", cfg, store)
    assert r.empty_listing and r.papers == [] and r.warnings == []


def test_http_error_names_source_and_status(cfg, store, httpserver):
    httpserver.expect_request("/rss/cs.XX").respond_with_data("no such category", status=404)
    with pytest.raises(SourceError) as exc:
        fetch_source("arxiv:cs.XX", cfg, store)
    assert exc.value.source == "arxiv:cs.XX" and "HTTP 404" in str(exc.value)


@pytest.mark.parametrize("spec,message", [
    ("foo:bar", "unknown source kind 'foo'"),
    ("arxiv:cs.CL; DROP", "not arXiv categories"),
    ("arxiv:", "nothing after the kind"),
    ("list:does-not-exist.md", "cannot read"),
    ("dir:no-such-folder", "is not a folder"),
    ("missing-feed.xml", "cannot read"),
])
def test_bad_specs(spec, message, cfg, store):
    with pytest.raises(SourceError) as exc:
        fetch_source(spec, cfg, store)
    assert message in str(exc.value) and exc.value.source == spec
    if message.startswith("unknown"):
        assert "arxiv-query:" in exc.value.hint and "dir:" in exc.value.hint


# ---- other feeds: links to arXiv and to PDFs ---------------------------------------------------------

def test_blog_feed_links_become_papers_with_api_metadata(cfg, store, httpserver, corpus):
    serve_id_lookups(httpserver)
    httpserver.expect_request("/blog.xml").respond_with_data((FEEDS / "blog_rss2.xml").read_bytes())
    spec = "rss:" + httpserver.url_for("/blog.xml")
    r = fetch_source(spec, cfg, store, since=datetime(2026, 9, 1, tzinfo=UTC))
    assert [p.key for p in r.papers] == ["2104.12255", "quant-ph/0201082", "1707.08567",
                                         url_key("https://reports.example.org/files/tr-42.pdf")]
    zero, quantum, proceedings, report = r.papers
    assert zero.title == "0" and zero.authors == ["Quan Thoi Minh Nguyen"] and zero.version == 1
    assert zero.primary_category == "cs.CR" and zero.source == spec
    assert quantum.version == 1 and quantum.title.startswith("Quantum Computers and Quantum Computer Languages")
    assert proceedings.title.startswith("Proceedings of Workshop AEW10")
    assert report.title == "A technical report" and report.pdf_url == "https://reports.example.org/files/tr-42.pdf"
    assert report.authors == ["Ada Lovelace", "Charles Babbage"] and report.arxiv_id is None
    assert report.abs_url == "https://reports.example.org/tr-42"
    assert r.warnings == ["1 of 6 items skipped: no arXiv or PDF link",
                          "1 of 6 items published before 2026-09-01 left out (see --since)"]  # the 2012 item
    (args,) = _api_requests(httpserver)  # one batched look-up
    assert args["id_list"] == ["2104.12255v1,quant-ph/0201082v1,1707.08567v1"]


def test_blog_feed_without_api_keeps_feed_metadata(cfg, store):
    cfg.arxiv.api_url = CLOSED_PORT_API
    r = fetch_source(str(FEEDS / "blog_rss2.xml"), cfg, store)  # a bare local path, no `since`
    assert len(r.papers) == 5 and r.papers[-1].key == "1111.2011" and r.papers[-1].version == 2
    assert r.papers[0].title == "Zero is the funniest number in cryptography"
    assert any(w.startswith("arXiv metadata look-up failed for 4 papers") for w in r.warnings)


def test_atom_feed_html_link_and_pdf_by_type(cfg, store):
    cfg.arxiv.api_url = CLOSED_PORT_API
    r = fetch_source("rss:file://" + str(FEEDS / "blog_atom.xml"), cfg, store)
    jupiters, memo = r.papers
    assert jupiters.key == "astro-ph/0601001" and jupiters.version is None
    assert jupiters.pdf_url == "https://mirror.example.org/pdf/astro-ph/0601001"
    assert memo.key == url_key("https://lab.example.org/memos/7/download") and memo.authors == ["Grace Hopper"]
    assert memo.published == "2026-09-24T09:00:00+00:00"


def test_old_arxiv_rdf_format(cfg, store):
    body = (FEEDS / "arxiv_rdf_old_format.xml").read_bytes()
    r = parse_feed_bytes(body, "old", cfg)
    (p,) = r.papers
    assert (p.key, p.version, p.title) == ("2104.12255", 1, "0")  # "0. (arXiv:2104.12255v1 [cs.CR])"
    assert p.authors == ["Quan Thoi Minh Nguyen"] and p.categories == ["cs.CR"]
    assert p.abstract == "What is the funniest number in cryptography? 0."


# ---- list: ------------------------------------------------------------------------------------------

def test_list_ids_in_order_deduplicated_with_metadata(cfg, store, httpserver, corpus):
    serve_id_lookups(httpserver)
    r = fetch_source(f"list:{FEEDS / 'reading_list.md'}", cfg, store)
    assert [(p.key, p.version) for p in r.papers] == [
        ("2104.12255", 1), ("quant-ph/0201082", 1), ("astro-ph/0601001", 1), ("1707.08567", 1),
        (url_key("https://reports.example.org/files/tr-42.pdf"), None), ("1111.2011", 2)]
    assert r.papers[0].title == "0"
    assert r.papers[5].title == QUANTUM_TITLE and r.papers[5].doi == "10.1103/PhysRevB.85.115117"
    assert r.papers[4].title == "tr-42.pdf" and r.papers[4].pdf_url == "https://reports.example.org/files/tr-42.pdf"
    assert r.warnings == []
    (args,) = _api_requests(httpserver)
    assert args["id_list"] == ["2104.12255v1,quant-ph/0201082,astro-ph/0601001v1,1707.08567v1,1111.2011v2"]


def test_list_without_api_keeps_ids_as_titles(cfg, store, tmp_path):
    cfg.arxiv.api_url = CLOSED_PORT_API
    lst = tmp_path / "liked.txt"
    lst.write_text("arXiv:2104.12255 and arxiv.org/pdf/math.GT/0309136v2\n", encoding="utf-8")
    r = fetch_source("list:" + str(lst), cfg, store)
    assert [(p.key, p.title) for p in r.papers] == [("2104.12255", "2104.12255"), ("math.GT/0309136", "math.GT/0309136v2")]
    assert len(r.warnings) == 1 and "arXiv API unreachable" in r.warnings[0]


@pytest.mark.parametrize("text,keys", [
    ("see https://arxiv.org/abs/2104.12255v1.", ["2104.12255"]),
    ("[pdf](https://arxiv.org/pdf/2104.12255v2.pdf)", ["2104.12255"]),
    ("(arXiv: 1707.08567)", ["1707.08567"]),
    ("hf: https://huggingface.co/papers/2305.14314", ["2305.14314"]),
    ("old: hep-th/9901001v3 and cond-mat/0603029", ["hep-th/9901001", "cond-mat/0603029"]),
    ("not IDs: 2023.1234, 1399.99999, 0800.1234, 0703.1234, 1501.1234, 3.14159, foo/1234567", []),
    ("doi 10.1101/2023.12.16.571984v1", []),
    ("https://example.org/a/paper.pdf and https://example.org/a/paper.pdf", [url_key("https://example.org/a/paper.pdf")]),
    ("get https://example.org/get.pdf?id=7&dl=1. Done", [url_key("https://example.org/get.pdf?id=7&dl=1")]),
    ("ftp://example.org/a.pdf file:///etc/a.pdf", []),
])
def test_papers_from_text(text, keys, cfg):
    assert [p.key for p in papers_from_text(text, "list:x", cfg)] == keys


def test_seed_reading_lists(cfg, corpus):
    seeds = corpus.parent / "seeds"
    if not seeds.is_dir():
        pytest.skip("../shared/seeds is not present")
    counts = {p.name[:3]: papers_from_text(p.read_text(encoding="utf-8"), "list:seed", cfg)
              for p in sorted(seeds.glob("00[0-3]_*.txt"))}
    # 000, 001 and 003 are prose reading lists with no IDs or links; 002 links 40 arXiv papers and 2 PDFs.
    assert {k: len(v) for k, v in counts.items()} == {"000": 0, "001": 0, "002": 42, "003": 0}
    first = counts["002"][:3]
    assert [p.key for p in first][0::2] == ["1706.03762", "1810.04805"] and first[1].arxiv_id is None


# ---- dir: -------------------------------------------------------------------------------------------

def _pdf_folder(corpus: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "pdfs"
    (folder / "sub").mkdir(parents=True)
    arxiv = corpus / "pdfs" / "arxiv"
    shutil.copy(arxiv / "arxiv_1111.2011v2_quantum-criticality_cond-mat.pdf", folder / "a.pdf")
    shutil.copy(arxiv / "arxiv_2304.02623v1_beyond-summarization_cs.CL.pdf", folder / "B.PDF")
    shutil.copy(arxiv / "arxiv_1903.10676_scibert_single-page-excerpt.pdf", folder / "c.pdf")
    shutil.copy(corpus / "pdfs" / "malformed" / "not_a_pdf_no_header_qpdf-bad1.pdf", folder / "broken.pdf")
    (folder / "notes.txt").write_text("not a pdf")
    shutil.copy(arxiv / "arxiv_2304.02623v1_beyond-summarization_cs.CL.pdf", folder / "sub" / "dup.pdf")
    return folder


def test_dir_identifies_pdfs_and_reports_broken_ones(cfg, store, httpserver, corpus, tmp_path):
    serve_id_lookups(httpserver)
    folder = _pdf_folder(corpus, tmp_path)
    r = fetch_source(f"dir:{folder}", cfg, store)
    by_name = {Path(p.local_pdf).name: p for p in r.papers}
    assert sorted(by_name) == ["B.PDF", "a.pdf", "c.pdf"]  # not recursive, *.pdf in any case
    a, b, c = (by_name[n] for n in ("a.pdf", "B.PDF", "c.pdf"))
    assert (a.key, a.version, a.title) == ("1111.2011", 2, QUANTUM_TITLE)
    assert a.authors == ["James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"]  # from the API
    assert a.local_pdf == str((folder / "a.pdf").resolve())
    assert (b.key, b.version, b.primary_category) == ("2304.02623", 1, "cs.CL")
    assert b.title == "Beyond Summarization: Designing AI Support for Real-World Expository Writing Tasks"
    assert c.key.startswith("file:") and len(c.key) == 5 + 16 and c.arxiv_id is None
    assert "broken.pdf: left out, the PDF cannot be read (not-a-pdf)" in r.warnings
    assert "1 of 2 IDs not found on arXiv: 2304.02623v1" in r.warnings
    recursive = fetch_source(f"dir:{folder}/**", cfg, store)
    assert len(recursive.papers) == 3  # sub/dup.pdf is the same paper as B.PDF


def test_dir_paper_from_stamp_and_metadata(cfg, corpus):
    review = corpus / "pdfs" / "arxiv" / "arxiv_2407.01603v3_llm-agents-chemistry-review_cs.LG_79pages.pdf"
    empty = corpus / "pdfs" / "malformed" / "zero_byte_qpdf-fuzz-70245.pdf"
    (p,), warnings = papers_from_pdfs([review, empty], "dir:x", cfg)  # one batch, in the order given
    assert (p.key, p.version, p.primary_category, p.categories) == ("2407.01603", 3, "cs.LG", ["cs.LG"])
    assert p.title == "A Review of Large Language Models and Autonomous Agents in Chemistry"
    assert p.authors == ["Mayk Caldas Ramos", "Christopher J Collison", "Andrew D White"]
    assert warnings == ["zero_byte_qpdf-fuzz-70245.pdf: left out, the PDF cannot be read (empty-file)"]


def _slow_pdf(path: Path) -> Path:
    """A one-page PDF with 5 million text operators: pypdf works on its page for seconds."""
    body = zlib.compress(b"BT /F1 12 Tf 72 700 Td " + b"(ab) Tj " * 5_000_000 + b"ET")
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def test_dir_pdf_that_hangs_the_parser_is_cut_off_and_reported(cfg, store, tmp_path):
    # The PDF is parsed in a killable worker, never in this process: the source answers within the limit.
    # Alone in its folder: a readable PDF beside it would need the same 1 s, which a busy machine can miss.
    folder = tmp_path / "pdfs"
    folder.mkdir()
    _slow_pdf(folder / "slow.pdf")
    cfg.arxiv.api_url = CLOSED_PORT_API
    cfg.limits.pdf_parse_timeout = 1.0  # pypdf needs seconds for slow.pdf, however fast the machine
    r = fetch_source(f"dir:{folder}", cfg, store)
    assert r.papers == [] and r.warnings == ["slow.pdf: left out, the PDF cannot be read (timeout)"]


def test_split_authors():
    assert split_authors("Pritam Dey, Zhengwu Zhang, David B. Dunson") == ["Pritam Dey", "Zhengwu Zhang", "David B. Dunson"]
    assert split_authors("Kyle Lo ; Lucy Lu Wang") == ["Kyle Lo", "Lucy Lu Wang"]
    assert split_authors(" LAPALU, N., SIMON, A., Plaumann, P.-L. ") == ["N. LAPALU", "A. SIMON", "P.-L. Plaumann"]
    assert split_authors("") == []
    # BibTeX: ' and ' separates names only outside braces; a braced name is one author, its braces dropped.
    assert split_authors("Smith, John and {Barnes and Noble Research}") == ["John Smith", "Barnes and Noble Research"]
    assert split_authors("Ada Lovelace and {Research and Development Lab}") == [
        "Ada Lovelace", "Research and Development Lab"]
    assert split_authors("{Barnes and Noble Research}") == ["Barnes and Noble Research"]
    assert split_authors("Dey, Pritam and Zhang, Zhengwu") == ["Pritam Dey", "Zhengwu Zhang"]
    assert split_authors("Pritam Dey, Zhengwu Zhang and David Dunson") == ["Pritam Dey", "Zhengwu Zhang", "David Dunson"]
    assert split_authors("Grace {Hopper") == ["Grace {Hopper"]  # unbalanced: nothing is masked


def test_feed_author_with_a_braced_and_is_one_author(cfg):
    body = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            b'<entry><title>A paper</title><link href="https://arxiv.org/abs/2104.12255v1"/><id>x</id>'
            b'<author><name>Smith, John and {Barnes and Noble Research}</name></author></entry></feed>')
    (p,) = parse_feed_bytes(body, "bib-authors", cfg).papers
    assert p.authors == ["John Smith", "Barnes and Noble Research"]


# ---- several sources ---------------------------------------------------------------------------------

def test_one_bad_source_does_not_stop_the_others(cfg, store, httpserver, corpus):
    cfg.arxiv.api_url = CLOSED_PORT_API
    listing = (corpus / "arxiv_rss" / "rss2_new-format_2026-09-24_cs.LG+cs.AI+cs.CL+stat.ML_4items.xml").read_bytes()
    httpserver.expect_request("/rss/cs.LG").respond_with_data(listing)
    httpserver.expect_request("/bad.xml").respond_with_data(
        (corpus / "feeds_odd" / "feedparser_illformed_aaa_illformed.xml").read_bytes())
    specs = ["rss:" + httpserver.url_for("/bad.xml"), "arxiv:cs.LG", "foo:bar", f"list:{FEEDS / 'reading_list.md'}"]
    seen = []
    results, errors = fetch_sources(specs, cfg, store, on_source=lambda spec, r: seen.append((spec, type(r).__name__)))
    assert [r.source for r in results] == ["arxiv:cs.LG", specs[3]]
    assert [e.source for e in errors] == [specs[0], "foo:bar"]
    assert seen == [(specs[0], "SourceError"), ("arxiv:cs.LG", "SourceResult"), ("foo:bar", "SourceError"),
                    (specs[3], "SourceResult")]
    assert len(results[0].papers) == 4 and len(results[1].papers) == 6


def test_duplicates_across_sources_keep_the_highest_version(cfg, store, httpserver, corpus, tmp_path):
    cfg.arxiv.api_url = CLOSED_PORT_API
    listing = (corpus / "arxiv_rss" / "rss2_new-format_2026-09-24_cs.LG+cs.AI+cs.CL+stat.ML_4items.xml").read_bytes()
    httpserver.expect_request("/rss/cs.LG").respond_with_data(listing)
    lst = tmp_path / "list.md"
    lst.write_text("- https://arxiv.org/abs/2009.13987v2\n- https://arxiv.org/abs/2609.26811\n", encoding="utf-8")
    results, errors = fetch_sources([f"list:{lst}", "arxiv:cs.LG"], cfg, store)
    assert errors == []
    first, second = results
    assert [p.key for p in first.papers] == ["2009.13987", "2609.26811"]
    assert [p.key for p in second.papers] == ["2609.26820", "2205.06398"]
    polytope, drift = first.papers
    assert polytope.version == 3 and polytope.title == "Random Polytope Descriptors"
    assert polytope.announce_type == "replace" and polytope.abstract.startswith("We introduce")
    assert drift.version == 1 and drift.title.startswith("The Drift Contract")


def test_merge_prefers_version_then_fills_gaps():
    from digest.records import Paper
    old = Paper(key="1", arxiv_id="1", version=1, title="T", abstract="abs", doi="10.1/x")
    new = Paper(key="1", arxiv_id="1", version=2, title="T2")
    m = merge_papers(old, new)
    assert (m.version, m.title, m.abstract, m.doi) == (2, "T2", "abs", "10.1/x")


# ---- digest sources check ---------------------------------------------------------------------------

def test_cli_sources_check(cfg, store, httpserver, corpus):
    import click
    from click.testing import CliRunner

    from digest.cli.sources import register

    cfg.arxiv.api_url = CLOSED_PORT_API
    cfg.sources = [str(FEEDS / "arxiv_rdf_old_format.xml")]
    listing = (corpus / "arxiv_rss" / "rss2_new-format_2026-09-24_cs.LG+cs.AI+cs.CL+stat.ML_4items.xml").read_bytes()
    httpserver.expect_request("/rss/cs.LG").respond_with_data(listing, headers={"ETag": '"e1"'})

    app = type("App", (), {"config": cfg, "store": store})()

    @click.group()
    @click.pass_context
    def cli(ctx):
        ctx.obj = app

    register(cli)
    runner = CliRunner()
    r = runner.invoke(cli, ["sources", "check"])  # the configured source
    assert r.exit_code == 0, r.output
    assert "2104.12255" in r.output and "Quan Thoi Minh Nguyen" in r.output
    r = runner.invoke(cli, ["sources", "check", "--no-papers", "arxiv:cs.LG", "foo:[bold]x"])
    assert r.exit_code == 3  # one of two failed: partial (tests/test_exit_codes.py runs the real process)
    assert "unknown source kind" in r.output and "foo:[bold]x" in r.output  # user text is not markup
    assert "Random Polytope" not in r.output
    assert store.feed_state(cfg.arxiv.rss_url.format(categories="cs.LG")) == {}  # nothing remembered
    r = runner.invoke(cli, ["sources", "check", "--help"])
    assert "arxiv-query:" in r.output and "dir:papers/" in r.output
