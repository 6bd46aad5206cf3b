"""`digest fetch` end to end against a local arXiv listing + API + PDFs, including kill -9 and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from weekfeed import Item, rss_listing
from werkzeug.wrappers import Response

PDFS = [
    ("2304.02623", 1, "arxiv_2304.02623v1_beyond-summarization_cs.CL.pdf"),
    ("1111.2011", 2, "arxiv_1111.2011v2_quantum-criticality_cond-mat.pdf"),
    ("2501.10120", 1, "arxiv_2501.10120v1_pasa_cs.IR.pdf"),
    ("2302.07302", 1, "arxiv_2302.07302v1_citesee_cs.HC.pdf"),
    ("2201.09329", 1, "arxiv_2201.09329v1_ulsa_cs.LG.pdf"),
    ("2206.10883", 3, "arxiv_2206.10883v3_multi-lexsum_cs.CL.pdf"),
]


@pytest.fixture
def arxiv_mirror(corpus, httpserver, tmp_path):
    """A local stand-in for arXiv: the listing, the API (for a list: source) and the PDFs.

    While `release` (the fixture's last item) is cleared, the second PDF asked for is held until it is set:
    a test kills the fetch part-way on any machine, not within a guessed time.
    """
    items = [Item(aid, v, f"Paper {aid}", f"Abstract of {aid} about summarization.", corpus / "pdfs/arxiv" / f)
             for aid, v, f in PDFS]
    served: list[str] = []
    requested: list[str] = []
    lock = threading.Lock()
    release = threading.Event()
    release.set()

    def pdf_handler(request):
        name = request.path.rsplit("/", 1)[1]
        item = next(i for i in items if f"{i.arxiv_id}v{i.version}" == name)
        with lock:
            requested.append(name)
            second = len(requested) == 2
        if second:
            release.wait(60)  # bounds a hang only
        with lock:
            served.append(name)
        return Response(item.pdf.read_bytes(), content_type="application/pdf")

    httpserver.expect_request("/rss/cs.CL").respond_with_data(rss_listing(items), content_type="application/rss+xml")
    for it in items:
        httpserver.expect_request(f"/pdf/{it.arxiv_id}v{it.version}").respond_with_handler(pdf_handler)
    api = (corpus / "arxiv_api/api2016_id_list_1111.2011v2_single.xml").read_bytes()
    httpserver.expect_request("/api/query").respond_with_data(api, content_type="application/atom+xml")
    reading_list = tmp_path / "reading-list.md"
    reading_list.write_text("Papers I liked:\n- https://arxiv.org/abs/1111.2011v2\n", encoding="utf-8")
    cfg = tmp_path / "digest.toml"
    cfg.write_text(
        f'sources = ["arxiv:cs.CL"]\n'
        f'[selection]\nmax_papers = 20\ninterests = "summarization"\nliked = ["list:{reading_list}"]\n'
        f'[arxiv]\nrss_url = "{httpserver.url_for("/rss/{categories}")}"\n'
        f'pdf_url = "{httpserver.url_for("/pdf/{id}")}"\napi_url = "{httpserver.url_for("/api/query")}"\n'
        f'api_delay_seconds = 0\n[store]\narchive_dir = "{tmp_path / "archive"}"\n', encoding="utf-8")
    return cfg, served, items, requested, release


def digest_cmd(cfg, *args):
    return [sys.executable, "-m", "digest", "--config", str(cfg), *args]


@pytest.mark.timeout(180)
def test_fetch_killed_and_restarted_downloads_nothing_twice(arxiv_mirror, tmp_path):
    cfg, served, items, requested, release = arxiv_mirror
    release.clear()
    log = open(tmp_path / "first-run.log", "w")  # noqa: SIM115 - the child writes to it while we poll
    proc = subprocess.Popen(digest_cmd(cfg, "fetch"), stdout=log, stderr=log)
    deadline = time.monotonic() + 120  # bounds a hang only
    while time.monotonic() < deadline and len(requested) < 2:  # downloads run one after another
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # while the second PDF is held on its way
    proc.wait()
    first = list(served)
    release.set()  # the held reply goes to a closed socket
    cache = tmp_path / "archive" / "cache"
    assert 0 < len(list(cache.glob("*.pdf"))) < len(items), (tmp_path / "first-run.log").read_text()
    by_name = {f"{i.arxiv_id}v{i.version}.pdf": i.pdf.read_bytes() for i in items}
    for cached in cache.glob("*.pdf"):  # a file that counts as cached is always whole
        assert cached.read_bytes() == by_name[cached.name]

    completed_before = {n for n in first if (cache / f"{n}.pdf").exists()}

    result = subprocess.run(digest_cmd(cfg, "fetch"), capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stderr
    again = served[len(first):]
    assert not completed_before & set(again), "a PDF downloaded before the kill was downloaded again"
    assert sorted(set(served)) == sorted(f"{i.arxiv_id}v{i.version}" for i in items)

    from digest.store import Store
    store = Store(tmp_path / "archive" / "digest.sqlite")
    for it in items:
        p = store.get_paper(it.arxiv_id)
        assert p.text_status == "ok" and p.page_count and store.pages(p.key), it.arxiv_id
    assert "selected" in result.stdout and "pages extracted" in result.stdout

    # A third run: the feed is the same and every text is stored, so nothing is downloaded.
    n = len(served)
    subprocess.run(digest_cmd(cfg, "fetch"), capture_output=True, text=True, timeout=60, check=True)
    assert len(served) == n


def test_fetch_explain_and_papers_commands(arxiv_mirror):
    cfg, served, items, *_ = arxiv_mirror
    out = subprocess.run(digest_cmd(cfg, "fetch", "--explain"), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "BM25" in out.stdout or "similarity" in out.stdout
    listing = subprocess.run(digest_cmd(cfg, "papers", "list"), capture_output=True, text=True, timeout=120)
    assert "2304.02623v1" in listing.stdout
    show = subprocess.run(digest_cmd(cfg, "papers", "show", "2206.10883"), capture_output=True, text=True,
                          timeout=120)
    assert show.returncode == 0 and "pages" in show.stdout and "tokens" in show.stdout
    missing = subprocess.run(digest_cmd(cfg, "papers", "show", "9999.99999"), capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command,body", [
    ("fetch", b"<!DOCTYPE html><html><head><title>Proxy</title></head></html>"),
    ("fetch", bytes(range(256))),
    ("run", b"<!DOCTYPE html><html><head><title>Proxy</title></head></html>"),
])
def test_an_api_answering_garbage_fails_loud(command, body, httpserver, tmp_path):
    # `fetch` said "empty listing" and exited 0, with the arxiv package's raw "Malformed feed" log line;
    # `run` said "no new papers for <week>".
    httpserver.expect_request("/api/query").respond_with_data(body, content_type="text/html")
    cfg = tmp_path / "digest.toml"
    cfg.write_text(f'sources = ["arxiv-query:ti:summarization"]\n[llm]\nmodel = "extractive"\n'
                   f'[arxiv]\napi_url = "{httpserver.url_for("/api/query")}"\n'
                   f'api_delay_seconds = 0\n[store]\narchive_dir = "{tmp_path / "archive"}"\n', encoding="utf-8")
    r = subprocess.run(digest_cmd(cfg, command), capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "400"})  # so that the terminal does not wrap the line
    assert r.returncode == 1, r.stdout + r.stderr  # every source failed (docs/exit-codes.md)
    output = r.stdout + r.stderr
    assert "Malformed feed" not in output and "Traceback" not in output and "empty listing" not in output
    assert "no new papers" not in output
    lines = [ln for ln in output.splitlines() if "not an Atom feed" in ln]
    assert len(lines) == 1, output
    assert "arxiv-query:ti:summarization" in lines[0] and "check arxiv.api_url" in lines[0]

