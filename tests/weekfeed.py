"""A week of papers served like arXiv: an RSS listing (2024+ format) and PDFs, for end-to-end tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

from llm_server import JA_SUMMARY, JA_TLDR, asked_language, distinct_picks, is_overview_request, overview_responder

TODAY = date(2026, 11, 20)  # the day tests run `digest run` on: the Friday of 2026-W47, after the listing below


@dataclass
class Item:
    """One listing entry and the PDF served for it."""

    arxiv_id: str
    version: int
    title: str
    abstract: str
    pdf: Path
    authors: list[str] = field(default_factory=lambda: ["Ada Lovelace", "Alan Turing"])
    categories: list[str] = field(default_factory=lambda: ["cs.CL"])
    announce: str = "new"


def rss_listing(items: list[Item], categories: str = "cs.CL") -> str:
    """An rss.arxiv.org listing in the 2024+ format, as in ../shared/corpus/arxiv_rss."""
    parts = []
    for it in items:
        cats = "".join(f"<category>{c}</category>" for c in it.categories)
        parts.append(
            f"""<item><title>{escape(it.title)}</title><link>https://arxiv.org/abs/{it.arxiv_id}</link>
<description>arXiv:{it.arxiv_id}v{it.version} Announce Type: {it.announce}
Abstract: {escape(it.abstract)}</description>
<guid isPermaLink="false">oai:arXiv.org:{it.arxiv_id}v{it.version}</guid>{cats}
<pubDate>Thu, 19 Nov 2026 00:00:00 -0500</pubDate><arxiv:announce_type>{it.announce}</arxiv:announce_type>
<dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
<dc:creator>{escape(", ".join(it.authors))}</dc:creator></item>""")
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" version="2.0">
<channel><title>{categories} updates on arXiv.org</title><link>http://rss.arxiv.org/rss/{categories}</link>
<description>{categories} updates on the arXiv.org e-print archive.</description>
<lastBuildDate>Thu, 19 Nov 2026 08:58:05 +0000</lastBuildDate>
{''.join(parts)}
</channel></rss>"""


def real_papers(corpus: Path) -> list[Item]:
    """Two real arXiv papers of the corpus: a cs.CL one and a cond-mat one (v2)."""
    return [
        Item("2304.02623", 1, "Beyond Summarization: Designing AI Support for Real-World Expository Writing Tasks",
             "Large language models have introduced exciting new opportunities for writing support.",
             corpus / "pdfs/arxiv/arxiv_2304.02623v1_beyond-summarization_cs.CL.pdf"),
        Item("1111.2011", 2, "Quantum criticality of hot random spin chains",
             "We study the infinite-temperature properties of an infinite sequence of random quantum spin chains.",
             corpus / "pdfs/arxiv/arxiv_1111.2011v2_quantum-criticality_cond-mat.pdf",
             categories=["cond-mat.str-el"]),
    ]


def serve_week(httpserver, config, items: list[Item], categories: str = "cs.CL") -> None:
    """Serve the listing and the PDFs, and point the config's arXiv endpoints at them."""
    httpserver.expect_request(f"/rss/{categories}").respond_with_data(
        rss_listing(items, categories), content_type="application/rss+xml")
    for it in items:
        httpserver.expect_request(f"/pdf/{it.arxiv_id}v{it.version}").respond_with_data(
            it.pdf.read_bytes(), content_type="application/pdf")
    config.arxiv.rss_url = httpserver.url_for("/rss/{categories}")
    config.arxiv.pdf_url = httpserver.url_for("/pdf/{id}")
    config.sources = [f"arxiv:{categories}"]


def serve_topic_week(tmp_path: Path, httpserver, config, topics: list[tuple[str, str]],
                     more: str = " This paper explains how, in detail, with results.") -> list[Item]:
    """One small PDF per (title, abstract), served as this week's listing 2611.00000, 2611.00001, ..."""
    from pdfmaker import make_pdf

    items = []
    for n, (title, abstract) in enumerate(topics):
        pdf = make_pdf(tmp_path / f"p{n}.pdf", [[title, "Abstract", abstract, "1 Introduction", abstract + more]])
        items.append(Item(f"2611.0000{n}", 1, title, abstract, pdf))
    serve_week(httpserver, config, items)
    return items


_PAGE = re.compile(r"^\[page (\d+)\]\n(.*?)(?=^\[page \d+\]|^</paper>)", re.M | re.S)
_SENT = re.compile(r"[^.!?]{40,300}[.!?]")


def paper_pages(messages: list[dict]) -> list[tuple[int, str]]:
    """The blocks of page text a prompt carried, each with its page number (a page may come in pieces)."""
    return [(int(n), text) for m in messages for n, text in _PAGE.findall(m.get("content") or "")]


def grounded_responder(made_up_for: str | None = None):
    """A stand-in model that answers from the paper: quotes are real sentences of the pages it was given.

    For a paper whose title contains `made_up_for`, the first answer's quote is invented.
    """
    def respond(messages: list[dict], schema: dict | None) -> dict:
        props = (schema or {}).get("properties", {})
        if is_overview_request(schema):
            return overview_responder(messages, schema)
        text = "\n".join(m.get("content") or "" for m in messages)
        title = re.search(r"- Title: (.*)", text)
        title = title.group(1) if title else "the paper"
        if "questions" in props:
            abstract = re.search(r"^\[abstract\]\n(.+)", text, re.M)
            abstract = abstract.group(1).strip() if abstract else f"what {title[:60]} is about."
            # Written from the paper's own first sentences, so the summary check passes as for a faithful model.
            # The summary goes on from the TL;DR's sentence, as a model's does, rather than open with it again.
            first = [" ".join(s.split()) for _, t in paper_pages(messages) for s in _SENT.findall(t)][:3]
            if asked_language(messages) == "ja":  # a model writes in the language it is asked for
                return {"kind": "empirical", "tldr": JA_TLDR, "summary": JA_SUMMARY, "questions": [
                    {"question": f"質問{i}: {title[:40]}の結果{i}は何か?", "search_terms": ["result", "method"]}
                    for i in range(1, 9)]}
            return {
                "kind": "empirical",
                "tldr": f"{title[:60]}: {first[0][:120]}" if first else f"In short: {abstract[:150]}",
                "summary": " ".join(first[1:] or first) or f"The paper studies {title[:60]}.",
                "questions": [{"question": f"Question {i} about {title[:40]}: what is result {i}?",
                               "search_terms": ["result", "method", "dataset"]} for i in range(1, 9)],
            }
        blocks = paper_pages(messages) or [(0, "")]
        # A sentence after the prompt's gap mark between passages is quoted without the mark, as a model would.
        sentences = [(n, " ".join(s.split("[…]")[-1].split())) for n, t in blocks for s in _SENT.findall(t)]
        answers = []
        ja = asked_language(messages) == "ja"
        for i, (page, sentence) in enumerate(distinct_picks(sentences, 8, step=3) or [(0, "")] * 8, 1):
            quote = " ".join(sentence.split()[:20])
            if made_up_for and made_up_for in title and i == 1:
                quote = "our quantum transformer solves every benchmark perfectly with zero training data"
            answer = (f"結果{i}: 論文は {quote[:80]} と報告しており、42.{i} ポイントである。" if ja
                      else f"Result {i}: the paper reports that {quote[:80]} with 42.{i} points.")
            answers.append({"question_index": i, "answer": answer, "pages": [page], "quote": quote})
        return {"answers": answers}
    return respond
