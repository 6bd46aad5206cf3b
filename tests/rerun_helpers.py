"""Shared by the rerun, compare and batch tests: real PDFs behind a local server, a first issue, chat models.

The chat model is tests/llm_server.py with a responder that reads the paper out of the prompt, the way a
model would: its answers quote real sentences of the cited pages, so quote checking has real work to do.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from conftest import CORPUS, make_config
from llm_server import JA_SUMMARY, JA_TLDR, asked_language, distinct_picks, is_overview_request, overview_responder
from pdfmaker import make_pdf
from weekfeed import paper_pages

from digest.config import Config, ModelConfig
from digest.pipeline import FetchReport, SilentReporter, make_writer, publish_issue, store_page_texts
from digest.records import Issue, IssueEntry, Paper
from digest.store import Store
from digest.writers.base import generate_many

PDFS = {  # arXiv id -> corpus file (None: written by pdfmaker), version: short papers, so parsing stays fast
    "1111.2011": ("arxiv_1111.2011v2_quantum-criticality_cond-mat.pdf", 2),
    "1903.10676": ("arxiv_1903.10676_scibert_single-page-excerpt.pdf", 1),
    "2611.00042": (None, 1),
}
OWN_PAGES = [
    ["Grounded digests of research papers.", "We propose a method that answers questions about a paper",
     "and quotes the passage each answer rests on, so that a reader can check it.",
     "Our evaluation covers two hundred papers from the computation and language category."],
    ["Results.", "Grounded answers were verified for ninety one percent of the questions we asked.",
     "The extractive baseline verified every quote but answered only half of the questions well.",
     "Limitations remain for tables and equations, which the text extraction does not keep."],
]
ISSUE_ID = "2026-W47"

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def page_blocks(messages: list[dict]) -> dict[int, str]:
    """The page texts a prompt carries, by page number (the first block of each page)."""
    pages: dict[int, str] = {}
    for n, text in paper_pages(messages):
        pages.setdefault(n, text)
    return pages


def quotable(text: str) -> list[str]:
    """Sentences of 8 to 40 words, as the prompt asks quotes to be."""
    flat = " ".join(text.split())
    return [s for s in _SENTENCE.split(flat) if 8 <= len(s.split()) <= 40]


def make_responder(tag: str, *, broken: set[str] | None = None):
    """A responder writing like a model named `tag`; papers whose title contains a `broken` word get junk."""

    def respond(messages: list[dict], schema: dict | None):
        prompt = "\n".join(m.get("content") or "" for m in messages)
        if broken and any(word in prompt for word in broken):
            return "I cannot answer in JSON today."
        if is_overview_request(schema):
            return overview_responder(messages, schema)
        pages = page_blocks(messages) or {1: prompt[-2000:]}
        props = (schema or {}).get("properties", {})
        if "answers" in props:
            n_questions = int(re.findall(r"Answer all (\d+) questions", prompt)[-1])
            answers = []
            numbers = sorted(pages)
            ja = asked_language(messages) == "ja"
            every = [(n, q) for n in numbers for q in (quotable(pages[n]) or [" ".join(pages[n].split()[:12])])]
            if len(every) < n_questions:  # a short paper: halves of its long sentences, so no quote is given twice
                every = [(n, " ".join(half)) for n, q in every for w in [q.split()]
                         for half in ([w[:len(w) // 2], w[len(w) // 2:]] if len(w) >= 12 else [w])]
            for i, (page, quote) in enumerate(distinct_picks(every, n_questions), 1):
                answer = f"{tag} 回答{i}: 論文は {quote[:80]} と述べている。" if ja else f"{tag} answer {i}: {quote[:80]}"
                answers.append({"question_index": i, "answer": answer, "pages": [page], "quote": quote})
            return {"answers": answers}
        first = sorted(pages)[0]
        sents = quotable(" ".join(pages[n] for n in sorted(pages))) or ["No sentences."]
        pick = sents[1::2] if tag.endswith("B") else sents[::2]
        if asked_language(messages) == "ja":  # a model writes in the language it is asked for
            return {"kind": "empirical", "tldr": f"{tag} {JA_TLDR}", "summary": f"{tag} {JA_SUMMARY}", "questions": [
                {"question": f"{tag} 質問{i}: {first}ページの結果は何か?", "search_terms": ["method"]}
                for i in range(1, 9)]}
        return {
            "kind": "empirical",
            "tldr": f"{tag} TL;DR: {pick[0]}",
            "summary": f"{tag} summary. " + " ".join(pick[:4]),
            "questions": [{"question": f"{tag} question {i} about page {first}?", "search_terms": ["method"]}
                          for i in range(1, 9)],
        }

    return respond


def add_chat_model(config: Config, model_id: str, server, **settings) -> None:
    """Configure `model_id` to be served by an LLMServer on 127.0.0.1 (settings override the defaults)."""
    defaults = dict(base_url=server.base_url, api_key_env="", context_window=128_000, max_output_tokens=8000,
                    price_input=1.0, price_cached_input=0.5, price_output=4.0, timeout=30)
    config.models[model_id] = ModelConfig(**{**defaults, **settings})
    config.llm.max_retries = 1


def _own_pdf() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return make_pdf(Path(tmp) / "own.pdf", OWN_PAGES, title="Grounded digests").read_bytes()


def serve_pdfs(httpserver, corpus: Path) -> list[Paper]:
    """Papers whose PDFs pytest-httpserver serves (straight from the corpus)."""
    papers = []
    for aid, (name, version) in PDFS.items():
        if name is None:
            data = _own_pdf()
        else:
            data = (corpus / "pdfs" / "arxiv" / name).read_bytes()
        httpserver.expect_request(f"/pdf/{aid}v{version}").respond_with_data(data, content_type="application/pdf")
        papers.append(Paper(
            key=aid, arxiv_id=aid, version=version, title=f"Paper {aid} from the corpus",
            authors=["A. Author", "B. Author"], abstract=f"We study {aid}. Our method improves results.",
            categories=["cs.CL"], primary_category="cs.CL", published="2026-11-16T00:00:00+00:00",
            abs_url=f"https://arxiv.org/abs/{aid}v{version}", pdf_url=httpserver.url_for(f"/pdf/{aid}v{version}"),
            announce_type="new",
        ))
    return papers


def first_issue(config: Config, store: Store, papers: list[Paper], model: str = "extractive") -> Issue:
    """What `digest run` leaves behind: papers, page texts from the downloaded PDFs, generations, issue."""
    for p in papers:
        store.upsert_paper(p)
    rep = FetchReport(week=ISSUE_ID)
    store_page_texts(config, store, papers, rep, SilentReporter())
    assert not rep.failures, rep.failures
    stored = [store.get_paper(p.key) for p in papers]
    writer = make_writer(config, store, model, "en")
    gens = generate_many(stored, writer, concurrency=2)
    issue = Issue(id=ISSUE_ID, week_start="2026-11-16", week_end="2026-11-22", language="en", model=model,
                  created="2026-11-20T08:00:00+00:00")
    for i, p in enumerate(stored, 1):
        issue.entries.append(IssueEntry(paper=p, generation=gens[p.key], position=i))
    return publish_issue(config, store, issue, gens)


def drop_pdf_cache(config: Config) -> None:
    """Delete every cached PDF: from now on a download or a parse could not go unnoticed."""
    shutil.rmtree(config.cache_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def first_issue_archive(tmp_path_factory, make_httpserver) -> Path:
    """The archive folder (store, Markdown) of a first issue, built once per session with the extractive model.

    Downloading and parsing the corpus PDFs is the slow part of every rerun, batch and compare test; each
    test gets its own copy of the result (see `issue`), so no test sees another's changes.
    """
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    config = make_config(tmp_path_factory.mktemp("first-issue"))
    store = Store(config.db_path)
    make_httpserver.clear()  # built during some test's setup, before its `httpserver` fixture clears the server
    try:
        issue = first_issue(config, store, serve_pdfs(make_httpserver, CORPUS))
        assert len(make_httpserver.log) == len(issue.entries)  # each PDF was downloaded once
    finally:
        store.close()
        make_httpserver.clear()
    drop_pdf_cache(config)  # from now on a download or a parse could not go unnoticed
    return config.archive_dir


@pytest.fixture
def issue(first_issue_archive, config, store, httpserver) -> Issue:
    """This test's copy of the first issue: its own store and Markdown; no PDF cache, an empty server log."""
    for item in first_issue_archive.iterdir():
        if item.name.startswith(config.db_path.name):  # the database (and its -wal/-shm) is copied below
            continue
        copy = shutil.copytree if item.is_dir() else shutil.copy2
        copy(item, config.archive_dir / item.name)
    template = sqlite3.connect(first_issue_archive / config.db_path.name)
    try:
        with store.lock:
            template.backup(store.db)  # into the test's open store: the same bytes as the first issue left
    finally:
        template.close()
    store.execute("UPDATE papers SET pdf_path=replace(pdf_path, ?, ?)",
                  (str(first_issue_archive), str(config.archive_dir)))
    assert httpserver.log == [] and not config.cache_dir.exists()
    return store.load_issue(ISSUE_ID)
