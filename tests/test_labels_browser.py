"""Issue 20's label and language checks on a real run's issue, read in headless Chromium.

One week of three papers (two readable PDFs, one that is not a PDF) is written by the built-in extractive
model and by a chat model (tests/llm_server.py; its first answer quotes what the paper does not say), in
English and in Japanese. Each issue is rendered as Markdown, as an email (text and HTML) and as the archive
site's issue page and a paper's page; the HTML is opened in Chromium and read from the rendered DOM:

- the Q&A are described the same way in every output of a model kind (excerpts with their pages for the
  extractive model, never "verified" or a claim that quotes are checked; a chat model's unchecked quote
  flagged in every output that shows it, and never "excerpts");
- every visible text is tagged with the language it is written in: the page's language for labels and
  notes (so no English note under a Japanese heading), `lang="en"` for the paper's own English words;
- no English label of digest.i18n appears in a Japanese output.

Skipped when Chromium (or websocket-client) is not installed, as tests/test_archive_browser.py is.
"""

from __future__ import annotations

import re

import pytest
from pdfmaker import make_pdf
from rerun_helpers import add_chat_model
from test_archive_browser import CHROMIUM, Browser
from weekfeed import TODAY, Item, grounded_responder, serve_week

from digest.archive.site import build_archive
from digest.i18n import labels
from digest.mail.message import render_parts
from digest.pipeline import run_week

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

CLAIMS = ["Claim Alignment for Faithful Summaries of Long Papers",
          "Abstract",
          "Long documents remain hard to summarise faithfully with current neural models.",
          "We propose ClaimAlign, a method that aligns each summary claim with the source sentences.",
          "On three benchmarks ClaimAlign improves faithfulness by 12 points over strong baselines.",
          "1 Introduction",
          "Summaries of long papers often state claims that the paper never makes anywhere.",
          "In this paper we propose ClaimAlign, which checks every claim of a summary against the source text.",
          "2 Claim Alignment",
          "We split each summary into atomic claims and align every claim with the source sentences."]
CLAIMS_2 = ["3 Experiments",
            "We evaluate on the arXiv-summ dataset of twenty thousand annotated papers from four fields.",
            "ClaimAlign is compared against ROUGE and BERTScore baselines on every field of the dataset.",
            "4 Limitations",
            "ClaimAlign is limited to English sources and cannot check claims about figures or tables.",
            "5 Conclusion",
            "Our experiments show that ClaimAlign agrees with human judgments far more often than ROUGE.",
            "In future work we plan to extend ClaimAlign to claims about tables and figures."]
ROUTES = ["Routing Questions to the Right Section of a Paper",
          "Abstract",
          "Question answering over scientific papers often retrieves passages from the wrong section.",
          "We present SectionRoute, a retriever that prefers the section a question is about.",
          "SectionRoute raises the share of on-topic answers from 59 to 91 percent on our corpus.",
          "1 Introduction",
          "Readers ask about limitations, data and future work, and each lives in its own section.",
          "2 Method",
          "Our method maps each question to a topic and each topic to the headings that discuss it."]
ROUTES_2 = ["3 Results",
            "Experiments show that SectionRoute answers limitation questions from the Limitations section.",
            "4 Conclusion",
            "We show that section structure is a strong signal for retrieval in long scientific papers.",
            "Future work will extend SectionRoute to papers whose sections have no headings at all."]

# Read in the page: every visible text with the language its element is tagged with (all answers unfolded).
DOM_TEXTS = """(() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || el.closest('script, style, noscript, template') || !el.checkVisibility()) continue;
    const text = node.textContent.replace(/\\s+/g, ' ').trim();
    if (!text) continue;
    const tagged = el.closest('[lang]');
    out.push({text: text, lang: tagged ? tagged.lang : '', where: el.tagName.toLowerCase() + '.' + el.className});
  }
  return {lang: document.documentElement.lang, texts: out, text: document.body.innerText};
})()"""

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_PROSE = re.compile(r"[A-Za-z]{2,}(?:[ ,;:'’()-]+[A-Za-z]{2,}){3,}")  # four Latin words in a row


def written_in(text: str) -> str | None:
    """'ja' when a tenth of the letters are kana or kanji (the product's rule), 'en' for English prose, None
    for what has no language of its own (numbers, dates, a name, 'PDF', 'TL;DR')."""
    letters = [c for c in text if c.isalpha()]
    if letters and len(_CJK.findall(text)) >= 0.1 * len(letters):
        return "ja"
    return "en" if _PROSE.search(text) else None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def _outputs(kind: str, lang: str, tmp_path, httpserver, config, store, llm_server,
             responder=None) -> tuple[object, dict]:
    """One week written by `kind` in `lang`: its Markdown, email text and HTML, and the site's issue page."""
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"this is not a PDF at all")
    serve_week(httpserver, config, [
        Item("2611.00011", 1, CLAIMS[0], " ".join(CLAIMS[2:5]), make_pdf(tmp_path / "a.pdf", [CLAIMS, CLAIMS_2])),
        Item("2611.00012", 1, ROUTES[0], " ".join(ROUTES[2:5]), make_pdf(tmp_path / "b.pdf", [ROUTES, ROUTES_2])),
        Item("2611.00013", 1, "Reading Papers Whose PDF Cannot Be Opened",
             "We study what a digest should say about a paper whose PDF cannot be read at all.", broken)])
    config.selection.interests = ""
    config.selection.categories = []
    config.output.language = lang  # the site's own labels, as a Japanese archive is configured
    if kind == "chat":
        llm_server.responder = responder or grounded_responder(made_up_for="Claim Alignment")
        add_chat_model(config, "test-model", llm_server, max_output_tokens=4096)
        config.llm.model = "test-model"
    rep = run_week(config, store, yes=True, language=lang, today=TODAY)
    assert rep.issue.model == ("extractive" if kind == "extractive" else "test-model")
    text, html = render_parts(config, rep.issue, "https://digest.example.org/unsubscribe?t=x")
    email = tmp_path / "email.html"
    email.write_text(html, encoding="utf-8")
    build_archive(config, store)
    return rep.issue, {
        "markdown": (config.archive_dir / f"{rep.issue.id}.md").read_text(encoding="utf-8"),
        "email text": text,
        "email html": email,
        "site": config.archive_dir / "site" / "issues" / f"{rep.issue.id}.html",
        "paper page": next((config.archive_dir / "site" / "papers").glob("*2611.00011*.html")),
    }


def _vocabulary(body: str, lang: str) -> dict[str, bool]:
    """Which ways of describing the Q&A a rendered output uses."""
    lab = labels(lang)
    verified = re.escape(lab["verified"]).replace(r"\{n\}", r"\d+").replace(r"\{total\}", r"\d+")
    return {
        "excerpts": lab["excerpts"] in body,
        "quotes checked": ("checked against the PDF" if lang == "en" else "照合しています") in body,
        "flagged": lab["unverified"] in body,
        "verified count": bool(re.search(verified, body)),
        "not checked": "not checked" in body.lower() or "未検証" in body,
    }


def _read(browser, issue, outputs: dict, lang: str) -> dict[str, str]:
    """Each output's text as a reader sees it (the HTML ones from Chromium's DOM), after checking that every
    visible text in the HTML is tagged with the language it is written in."""
    bodies = {"markdown": outputs["markdown"], "email text": outputs["email text"]}
    names = {", ".join(e.paper.authors) for e in issue.entries}  # names are in no language of their own
    mistagged = []
    for name in ("email html", "site", "paper page"):
        browser.open(outputs[name].resolve().as_uri())
        page = browser.evaluate(DOM_TEXTS)
        assert page["lang"] == lang, name
        bodies[name] = page["text"]
        for t in page["texts"]:
            said = None if t["text"] in names else written_in(t["text"])
            if said and said != t["lang"].split("-")[0]:
                mistagged.append((name, t["where"], t["lang"], t["text"][:90]))
    assert not mistagged, "text tagged with another language than its own:\n" + "\n".join(map(str, mistagged))
    return bodies


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("kind", ["extractive", "chat"])
def test_labels_and_languages_hold_in_every_output_read_in_chromium(kind, lang, browser, tmp_path, httpserver,
                                                                     config, store, llm_server):
    issue, outputs = _outputs(kind, lang, tmp_path, httpserver, config, store, llm_server)
    lab = labels(lang)
    bodies = _read(browser, issue, outputs, lang)

    vocab = {name: _vocabulary(body, lang) for name, body in bodies.items()}
    for name, v in vocab.items():
        assert not v["not checked"], name
        if kind == "extractive":  # excerpts, with nothing to check: never a verified count or a checked claim
            assert v["excerpts"] and not v["quotes checked"] and not v["flagged"] and not v["verified count"], \
                (name, v)
        else:  # quotes are checked, the one the paper lacks is flagged, and no answer is called an excerpt
            assert (v["quotes checked"] or name == "paper page") and v["flagged"] and not v["excerpts"], (name, v)
    counts = {name: re.findall(re.escape(lab["verified"]).replace(r"\{n\}", r"(\d+)").replace(r"\{total\}", r"(\d+)"),
                               body) for name, body in bodies.items()}
    # Where a count is shown it is the same: the issue's outputs alike, the paper's page as its issue shows it.
    page = counts.pop("paper page")
    assert len({tuple(c) for c in counts.values() if c}) <= 1, counts
    assert page[:1] == counts["site"][:1], (page, counts)

    note = lab["abstract_only"].split("{")[0].strip()  # the unreadable PDF's note, in the issue's language
    for name, body in bodies.items():
        assert note in body or name == "paper page", name  # a paper's own page has its own notes only
    if lang == "ja":
        english = [v for k, v in labels("en").items() if len(v) > 12 and "{" not in v and labels("ja")[k] != v]
        for name, body in bodies.items():
            found = [e for e in english if e in body]
            assert not found, (name, found)


def test_a_model_answering_in_english_in_a_japanese_run_shows_no_english_under_japanese_headings(
        browser, tmp_path, httpserver, config, store, llm_server):
    """Questions and answers are checked for the issue's language like the TL;DR: English ones never go out."""
    grounded = grounded_responder()

    def english_answers(messages, schema):  # for one paper, so the issue passes the quality gate and goes out
        reply = grounded(messages, schema)
        for a in reply.get("answers", []) if ROUTES[0] in str(messages) else []:
            a["answer"] = f"The paper reports that {a['quote'][:80]} on every benchmark it tried."
        return reply

    issue, outputs = _outputs("chat", "ja", tmp_path, httpserver, config, store, llm_server, english_answers)
    bodies = _read(browser, issue, outputs, "ja")  # nothing English is tagged ja
    for name, body in bodies.items():
        assert "The paper reports that" not in body, name
    assert sum(e.generation.drops.get("answers not in the issue's language", 0) for e in issue.entries) >= 8
