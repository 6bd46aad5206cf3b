"""The built archive in a real headless Chromium, driven over the DevTools protocol.

The site is served by a local HTTP server on 127.0.0.1 (and opened from file:// too): the index
lists the issues, every internal link resolves, search finds a paper by a word of one answer,
nothing logs a JavaScript error, the Atom feed parses, and a title made of markup stays inert.
Skipped when Debian's `chromium` (or websocket-client) is not installed.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from factories import HOSTILE_TITLE, make_generation, make_issue, make_paper

from digest.archive.compare import write_compare
from digest.archive.site import build_archive
from digest.readers import save_pool

websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")
CHROMIUM = os.environ.get("DIGEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

UNIQUE_WORD = "quetzalcoatlus"
XSS_TITLE = '"><svg onload="window.__xss=1"></svg><script>window.__xss=2</script> Sparse & dense'
POOL_TITLE = '<img src=x onerror="window.__xss=3"> A pool pick for readers'

# Run in every page: what the tests look at, in one round trip.
PAGE_FACTS = """(() => ({
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  resources: Array.from(document.querySelectorAll('link[href]:not([rel=icon]), script[src]')).map(e => e.href || e.src),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
  lang: document.documentElement.lang,
  h1: Array.from(document.querySelectorAll('h1')).map(e => e.textContent),
  text: document.body.innerText,
  xss: window.__xss === undefined ? null : String(window.__xss),
  injected: document.querySelectorAll('script:not([src]), svg:not(#chart), img[src="x"], [onerror], [onload]').length,
  width: document.documentElement.scrollWidth,
}))()"""


class Browser:
    """A headless Chromium with one page, spoken to over the DevTools protocol on a websocket."""

    def __init__(self, profile: Path):
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-component-update", "--allow-file-access-from-files",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=60,
                                              suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        self.dialogs: list[str] = []
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a half-started browser
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _send(self, method: str, params: dict | None = None) -> int:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        return self.next_id

    def _receive(self) -> dict:
        msg = json.loads(self.ws.recv())
        if msg.get("method") == "Page.javascriptDialogOpening":
            # An alert() from injected markup would block the page: record it and dismiss it.
            self.dialogs.append(msg["params"].get("message", ""))
            self._send("Page.handleJavaScriptDialog", {"accept": False})
        if "method" in msg:
            self.events.append(msg)
        return msg

    def call(self, method: str, params: dict | None = None) -> dict:
        """Send a command and wait for its result."""
        wanted = self._send(method, params)
        while True:
            msg = self._receive()
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        result = self.call("Page.navigate", {"url": url})
        assert not result.get("errorText"), f"{url}: {result.get('errorText')}"
        while not any(e["method"] == "Page.loadEventFired" for e in self.events):
            self._receive()

    def follow(self, expression: str) -> None:
        """Run JavaScript that navigates (a click on a link) and wait for the new page's load event."""
        self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        try:
            self.evaluate(expression)
        except RuntimeError as e:  # the navigation won the race with the evaluation's answer: it happened
            if "navigated or closed" not in str(e):
                raise
        while not any(e["method"] == "Page.loadEventFired" for e in self.events):
            self._receive()  # each message waits at most the socket's 60 s: a page that never loads fails

    def wait_for(self, expression: str):
        """Poll a JavaScript expression until it is truthy and return its last value (falsy after 60 s)."""
        deadline = time.monotonic() + 60  # bounds a hang only: scripts answer in well under a second
        while not (value := self.evaluate(expression)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return value

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Uncaught exceptions, console.error calls and error log entries (failed loads, CSP) so far."""
        found = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                found.append(json.dumps(p.get("exceptionDetails", {}))[:300])
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                found.append(json.dumps(p.get("args", []))[:300])
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                found.append(f"{p['entry'].get('text')} {p['entry'].get('url', '')}")
        return found

    def viewport(self, width: int, height: int = 900) -> None:
        """Lay pages out at this viewport size (a phone when narrow) until reset."""
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})

    def screenshot(self, path: Path) -> None:
        """Save a PNG of what the viewport shows (for looking at the layout)."""
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


PUBLIC_URL = "https://digest.example.org"  # where `digest serve` would take subscriptions


def _second_variant(store, issue, model: str) -> None:
    """Another model's generation of every paper of an issue, worded differently, as `digest rerun` adds."""
    for e in issue.entries:
        g = make_generation(e.paper, model, issue.language, created="2026-11-25T08:00:00+00:00")
        g = replace(g, summary=f"{model} reads {e.paper.title} differently: the method helps on short inputs.",
                    tldr=f"{model}: a shorter take on {e.paper.title}.")
        store.save_generation(g, {})
        store.add_issue_generation(issue.id, g, model)


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    """The same archive built as an English site (with a subscription server) and as a Japanese one.

    Three issues (one in Japanese), hostile titles, a watched author, and a model comparison of two issues.
    """
    from digest.config import Config
    from digest.store import Store

    root = tmp_path_factory.mktemp("archive")
    cfg = Config(path=root / "digest.toml")
    cfg.store.archive_dir = str(root / "archive")
    cfg.selection.authors = ["Lovelace", "山田 太郎"]
    cfg.web.public_url = PUBLIC_URL
    store = Store(cfg.db_path)
    w47 = make_issue(store, week=0, n_papers=3, titles=[HOSTILE_TITLE, XSS_TITLE], unique_word=UNIQUE_WORD)
    w46 = make_issue(store, week=1, n_papers=2, language="ja", titles=["大規模言語モデルによる論文要約の評価"])
    w45 = make_issue(store, week=2, n_papers=2)
    for issue in (w47, w46, w45):
        _second_variant(store, issue, "gpt-4o-mini")
        write_compare(cfg, store, issue.id, now=datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    # A paper written up for readers' own issues only: the issue page lists it after its own (issue 21).
    pick = make_paper(90, title=POOL_TITLE)
    store.upsert_paper(pick)
    g = make_generation(pick, created="2026-11-16T08:00:00+00:00")
    store.save_generation(g, {})
    store.add_issue_generation(w47.id, g)
    save_pool(store, w47.id, [e.paper for e in w47.entries] + [pick])
    build_archive(cfg, store)
    ja = replace(cfg, output=replace(cfg.output, language="ja"), web=replace(cfg.web, public_url=""))
    build_archive(ja, store, cfg.archive_dir / "site-ja")
    store.close()
    return {"en": cfg.archive_dir / "site", "ja": cfg.archive_dir / "site-ja"}


@pytest.fixture(scope="module")
def site(sites) -> Path:
    """The English site."""
    return sites["en"]


@pytest.fixture(scope="module")
def servers(sites: dict[str, Path]):
    """Each built site over HTTP on 127.0.0.1."""
    running, urls = [], {}
    for lang, path in sites.items():
        httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(path))
        )
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        running.append(httpd)
        urls[lang] = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield urls
    for httpd in running:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(servers) -> str:
    """The English site's URL."""
    return servers["en"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_index_lists_every_issue(browser, server):
    browser.open(server + "index.html")
    facts = browser.evaluate(PAGE_FACTS)
    for issue_id in ("2026-W47", "2026-W46", "2026-W45"):
        assert server + f"issues/{issue_id}.html" in facts["links"]
        assert issue_id in facts["text"]
    text = facts["text"]
    assert text.index("2026-W47") < text.index("2026-W46") < text.index("2026-W45")  # newest first
    assert "3 papers" in text and "TL;DR of Paper 1" in text
    assert browser.errors() == []


def test_crawl_every_internal_link_no_404_no_errors_no_injection(browser, server):
    seen_pages: dict[str, dict] = {}
    fragments: list[tuple[str, str, str]] = []
    queue = [server + "index.html"]
    checked: dict[str, int] = {}
    while queue:
        url = queue.pop()
        if url in seen_pages:
            continue
        browser.open(url)
        facts = browser.evaluate(PAGE_FACTS)
        seen_pages[url] = facts
        assert facts["lang"] in ("en", "ja"), url
        assert len(facts["h1"]) == 1, f"{url}: one h1 per page"
        assert facts["xss"] is None and facts["injected"] == 0, f"markup from a title ran in {url}"
        for link in facts["links"] + facts["resources"]:
            parts = urllib.parse.urlsplit(link)
            if not link.startswith(server):
                # External links: only http(s) (never javascript:, data: or file:).
                assert parts.scheme in ("http", "https"), f"{url} links to {link}"
                continue
            target = urllib.parse.urlunsplit(parts._replace(fragment="", query=""))
            if target not in checked:
                checked[target] = _status(target)
            assert checked[target] == 200, f"{url} links to {target}: HTTP {checked[target]}"
            if parts.fragment:
                fragments.append((url, target, urllib.parse.unquote(parts.fragment)))
            if target.endswith(".html") and target not in seen_pages:
                queue.append(target)
    for source, target, fragment in fragments:
        assert fragment in seen_pages[target]["ids"], f"{source} links to a missing #{fragment} in {target}"
    assert browser.errors() == []
    assert browser.dialogs == []
    # Every kind of page was reached through links alone.
    reached = {urllib.parse.urlsplit(u).path.split("/")[1] for u in seen_pages}
    assert {"index.html", "issues", "papers", "categories", "authors", "search.html"} <= reached
    assert checked[server + "feed.xml"] == 200 and checked[server + "search-index.js"] == 200
    # The hostile titles are shown as text on the issue page and the paper page.
    issue = seen_pages[server + "issues/2026-W47.html"]["text"]
    assert "<script>alert(1)</script> <img src=x onerror=alert(2)>" in issue
    assert '"><svg onload="window.__xss=1"></svg>' in issue
    # The pool's paper: listed under the issue's own papers, its page reached from there.
    assert POOL_TITLE in issue[issue.index("Also written up this week for readers' own issues"):]
    assert POOL_TITLE in seen_pages[server + "papers/2611.10090.html"]["text"]
    assert seen_pages[server + "issues/2026-W46.html"]["lang"] == "ja"
    assert "今週の論文" in seen_pages[server + "issues/2026-W46.html"]["text"]


def test_search_finds_a_paper_by_a_word_of_one_answer(browser, server):
    browser.open(server + f"search.html?q={UNIQUE_WORD}")
    results = browser.evaluate(
        "Array.from(document.querySelectorAll('#search-results li')).map(li => ({"
        " href: li.querySelector('a.title').href, title: li.querySelector('a.title').textContent,"
        " mark: (li.querySelector('mark') || {}).textContent}))"
    )
    assert len(results) == 1
    assert results[0]["href"] == server + "papers/2611.10000.html"
    assert results[0]["title"] == HOSTILE_TITLE
    assert results[0]["mark"].lower() == UNIQUE_WORD
    assert browser.evaluate("document.getElementById('search-status').textContent") == "1 paper"
    assert browser.dialogs == [] and browser.evaluate("window.__xss === undefined")
    assert browser.errors() == []


def test_search_typing_japanese_and_hostile_queries(browser, server):
    browser.open(server + "search.html")
    # Typing runs the search without a reload (debounced).
    browser.evaluate(
        "(() => { const q = document.getElementById('q'); q.value = '要約';"
        " q.dispatchEvent(new Event('input')); })()"
    )
    titles = browser.wait_for(  # the debounced search answers after a moment
        "Array.from(document.querySelectorAll('#search-results a.title')).map(a => a.textContent)"
    )
    assert titles == ["大規模言語モデルによる論文要約の評価"]
    browser.open(server + "search.html?q=" + urllib.parse.quote('<svg onload="window.__xss=3">'))
    browser.open(server + "search.html?q=script")
    found = browser.evaluate("document.getElementById('search-results').innerText")
    assert "<script>alert(1)</script>" in found
    assert browser.evaluate("window.__xss === undefined") and browser.dialogs == []
    assert browser.errors() == []


def test_site_works_from_file_urls(browser, site):
    index = site.resolve().as_uri() + "/index.html"
    browser.open(index)
    facts = browser.evaluate(PAGE_FACTS)
    assert any(link.endswith("/issues/2026-W47.html") for link in facts["links"])
    browser.open(site.resolve().as_uri() + f"/search.html?q={UNIQUE_WORD}")
    count = browser.evaluate("document.querySelectorAll('#search-results li').length")
    assert count == 1
    browser.open(site.resolve().as_uri() + "/papers/2611.10000.html")
    assert browser.evaluate("getComputedStyle(document.body).marginTop") == "0px"  # the CSS loaded
    assert browser.errors() == []


def test_narrow_screen_has_no_horizontal_scroll(browser, server):
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": 375, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    try:
        for page in ("index.html", "issues/2026-W47.html", "papers/2611.10000.html", "search.html?q=paper",
                     "compare/2026-W47_test-model_vs_gpt-4o-mini_1.html", "compare/index.html", "subscribe.html"):
            browser.open(server + page)
            assert browser.evaluate("document.documentElement.scrollWidth") <= 375, page
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")


def test_atom_feed_parses_without_bozo(server):
    feed = feedparser.parse(server + "feed.xml")
    assert not feed.bozo, feed.get("bozo_exception")
    assert [e.link for e in feed.entries] == [
        server + f"issues/{i}.html" for i in ("2026-W47", "2026-W46", "2026-W45")
    ]
    for e in feed.entries:
        assert _status(e.link) == 200
    first = feed.entries[0]
    # feedparser sanitises content; the title markup must arrive as text, not as elements.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first.content[0].value
    assert "<script" not in first.content[0].value


def test_after_two_weekly_runs_the_archive_shows_both_issues(corpus, tmp_path, browser):
    """As a new user: two `digest run`s of different weeks (local PDFs, no LLM), then `digest archive build`."""
    from datetime import date

    from click.testing import CliRunner

    from digest.cli.main import cli
    from digest.config import load_config
    from digest.pipeline import run_week
    from digest.store import Store

    pdfs = corpus / "pdfs" / "arxiv"
    for week, names in (("w1", ["arxiv_2206.10883v3_multi-lexsum_cs.CL.pdf"]),
                        ("w2", ["arxiv_2501.10120v1_pasa_cs.IR.pdf", "arxiv_2201.09329v1_ulsa_cs.LG.pdf"])):
        (tmp_path / week).mkdir()
        for name in names:
            shutil.copy(pdfs / name, tmp_path / week / name)
    (tmp_path / "digest.toml").write_text('[llm]\nmodel = "extractive"\n')
    config = load_config(tmp_path / "digest.toml", env={})
    store = Store(config.db_path)
    run_week(config, store, sources=[f"dir:{tmp_path / 'w1'}"], today=date(2026, 11, 13))
    run_week(config, store, sources=[f"dir:{tmp_path / 'w2'}"], today=date(2026, 11, 20))
    store.close()
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "digest.toml"), "archive", "build"])
    assert result.exit_code == 0, result.output
    site = tmp_path / "archive" / "site"
    browser.open(site.as_uri() + "/index.html")
    facts = browser.evaluate(PAGE_FACTS)
    for issue_id in ("2026-W47", "2026-W46"):
        assert site.as_uri() + f"/issues/{issue_id}.html" in facts["links"]
    assert "Multi-LexSum" in facts["text"] and "PaSa" in facts["text"]
    for link in facts["links"]:
        path = Path(urllib.parse.unquote(urllib.parse.urlsplit(link).path))
        if link.startswith("file:"):
            assert path.is_file(), link
    browser.open(site.as_uri() + "/search.html?q=" + urllib.parse.quote("civil rights"))
    titles = browser.evaluate(
        "Array.from(document.querySelectorAll('#search-results a.title')).map(a => a.textContent)"
    )
    assert any("Multi-LexSum" in t for t in titles)
    assert browser.errors() == []


# The pages a reader sees, per site language: (name, path). The Japanese issue is 2026-W46.
SHOT_PAGES = {
    "en": [("index", "index.html"), ("issue", "issues/2026-W45.html"), ("paper", "papers/2611.10200.html"),
           ("search", "search.html?q=grounded"), ("compare", "compare/2026-W45_test-model_vs_gpt-4o-mini_1.html"),
           ("subscribe", "subscribe.html"), ("search-none", "search.html?q=zqxjvw"),
           ("category", "categories/cs.CL.html")],
    "ja": [("index", "index.html"), ("issue", "issues/2026-W46.html"), ("paper", "papers/2611.10100.html"),
           ("search", "search.html?q=" + urllib.parse.quote("要約")),
           ("compare", "compare/2026-W46_test-model_vs_gpt-4o-mini_1.html"), ("subscribe", "subscribe.html"),
           ("search-none", "search.html?q=zqxjvw"), ("category", "categories/cs.CL.html")],
}


@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_pages_fit_the_screen_without_errors_and_screenshots(browser, servers, tmp_path, lang, width):
    """Every kind of page at a desktop and a phone width: no sideways scrolling, no console error.

    The screenshots go to $DIGEST_SCREENSHOTS (e.g. /work/screens) for a person to look at.
    """
    shots = Path(os.environ.get("DIGEST_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    browser.viewport(width, 900 if width > 500 else 812)
    try:
        for name, page in SHOT_PAGES[lang]:
            browser.events.clear()
            browser.open(servers[lang] + page)
            facts = browser.evaluate(PAGE_FACTS)
            assert facts["width"] <= width, f"{lang} {page} is {facts['width']} px wide at {width} px"
            assert browser.errors() == [], f"{lang} {page}"
            assert len(facts["h1"]) == 1, page
            browser.screenshot(shots / f"site-{name}-{lang}-{width}.png")
            assert (shots / f"site-{name}-{lang}-{width}.png").stat().st_size > 5_000  # something was drawn
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")


@pytest.mark.parametrize(("lang", "said"), [("en", "No paper matches “zqxjvw”"), ("ja", "「zqxjvw」に一致する論文はありません")])
def test_search_says_when_nothing_is_found(browser, servers, lang, said):
    browser.open(servers[lang] + "search.html?q=zqxjvw")
    status = browser.evaluate("document.getElementById('search-status').textContent")
    assert said in status
    assert browser.evaluate("document.querySelectorAll('#search-results li').length") == 0
    # Typing a word that is found replaces the message with the count.
    browser.evaluate("(() => { const q = document.getElementById('q'); q.value = 'grounded';"
                     " q.dispatchEvent(new Event('input')); })()")
    status = browser.wait_for("(() => { const s = document.getElementById('search-status').textContent;"
                              f" return s.includes({json.dumps(said)}) ? '' : s; }})()")
    assert said not in status and status.endswith("papers") or "本の論文" in status
    assert browser.errors() == []


def test_issue_page_folds_answers_under_each_summary(browser, server):
    browser.open(server + "issues/2026-W47.html")
    boxes = browser.evaluate(
        "Array.from(document.querySelectorAll('article.paper')).map(a => ({"
        " summary: !!a.querySelector('.tldr') && a.querySelector('details.qa-box') !== null"
        "   && a.querySelector('.tldr').compareDocumentPosition(a.querySelector('details.qa-box')) === 4,"
        " open: a.querySelector('details.qa-box').open,"
        " height: a.querySelector('details.qa-box').getBoundingClientRect().height}))"
    )
    assert len(boxes) == 3
    assert all(b["summary"] and not b["open"] and b["height"] < 60 for b in boxes), boxes
    browser.evaluate("document.querySelector('details.qa-box > summary').click()")
    assert browser.evaluate("document.querySelector('details.qa-box').getBoundingClientRect().height") > 300
    # The models of the issue are compared in a report linked from the issue page.
    href = browser.evaluate("document.querySelector('a[href*=\"compare/\"]').href")
    assert href == server + "compare/2026-W47_test-model_vs_gpt-4o-mini_1.html"
    assert browser.errors() == []


def test_paper_page_shows_the_issue_variant_first_with_plain_labels(browser, server):
    browser.open(server + "papers/2611.10001.html")
    heads = browser.evaluate("Array.from(document.querySelectorAll('.generation h3')).map(h => h.textContent)")
    assert heads[0].startswith("test-model") and "shown in 2026-W47" in heads[0]
    assert heads[1].startswith("gpt-4o-mini")  # newer, but not what the issue shows
    labels = browser.evaluate("Array.from(document.querySelectorAll('.generation > p.muted')).map(p => p.textContent)")
    assert labels == ["English · 2026-11-16", "English · 2026-11-25"]  # no prompt or version hashes
    cats = browser.evaluate("Array.from(document.querySelectorAll('dd.cats a')).map(a => a.textContent)")
    assert cats == ["Computation and Language cs.CL", "Machine Learning cs.LG"]
    compare = browser.evaluate("document.querySelector('a[href*=\"compare/\"]').href")
    assert compare.endswith("compare/2026-W47_test-model_vs_gpt-4o-mini_1.html#paper-2611-10001")
    browser.open(compare)
    assert browser.evaluate("document.getElementById('paper-2611-10001') !== null")
    scores = browser.evaluate("document.querySelector('#paper-2611-10001 .agree').textContent")
    assert "ROUGE-L test-model vs gpt-4o-mini:" in scores and "pages test-model vs gpt-4o-mini: 1.00" in scores
    assert browser.errors() == []


def test_subscribe_link_leads_to_a_form_or_to_the_feed(browser, servers):
    browser.open(servers["en"] + "index.html")
    # Read the page only once the click's navigation has loaded: polling during it loses the page.
    browser.follow("document.querySelector('header.site a.subscribe').click()")
    assert browser.evaluate("location.pathname").endswith("/subscribe.html")
    form = browser.evaluate("(() => { const f = document.querySelector('form.subscribe-form');"
                            " return f && {action: f.action, method: f.method,"
                            " fields: Array.from(f.elements).map(e => e.name).filter(Boolean)}; })()")
    assert form == {"action": PUBLIC_URL + "/subscribe", "method": "post", "fields": ["email", "name"]}
    # Without a subscription server the Japanese copy offers the feed, and no form that would go nowhere.
    browser.open(servers["ja"] + "subscribe.html")
    assert browser.evaluate("document.querySelector('form.subscribe-form')") is None
    text = browser.evaluate("document.body.innerText")
    assert "Atomフィードをフィードリーダーに登録すると" in text and "購読する" in text
    assert browser.errors() == []
