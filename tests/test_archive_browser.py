"""The built archive in a real headless Chromium, driven over the DevTools protocol.

The site is served by a local HTTP server on 127.0.0.1 (and opened from file:// too): the index
lists the issues, every internal link resolves, search finds a paper by a word of one answer,
nothing logs a JavaScript error, the Atom feed parses, and a title made of markup stays inert.
Skipped when Debian's `chromium` (or websocket-client) is not installed.
"""

from __future__ import annotations

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
from pathlib import Path

import feedparser
import pytest
from factories import HOSTILE_TITLE, make_issue

from digest.archive.site import build_archive

websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")
CHROMIUM = os.environ.get("DIGEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

UNIQUE_WORD = "quetzalcoatlus"
XSS_TITLE = '"><svg onload="window.__xss=1"></svg><script>window.__xss=2</script> Sparse & dense'

# Run in every page: what the tests look at, in one round trip.
PAGE_FACTS = """(() => ({
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  resources: Array.from(document.querySelectorAll('link[href]:not([rel=icon]), script[src]')).map(e => e.href || e.src),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
  lang: document.documentElement.lang,
  h1: Array.from(document.querySelectorAll('h1')).map(e => e.textContent),
  text: document.body.innerText,
  xss: window.__xss === undefined ? null : String(window.__xss),
  injected: document.querySelectorAll('script:not([src]), svg, img[src="x"], [onerror], [onload]').length,
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

    def screenshot(self, path: Path, width: int, height: int = 900) -> None:
        """Save a PNG of the current page at a viewport width (for looking at the layout)."""
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        import base64
        path.write_bytes(base64.b64decode(data))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A built archive of three issues (one in Japanese), with hostile titles and a watched author."""
    from digest.config import Config
    from digest.store import Store

    root = tmp_path_factory.mktemp("archive")
    cfg = Config(path=root / "digest.toml")
    cfg.store.archive_dir = str(root / "archive")
    cfg.selection.authors = ["Lovelace", "山田 太郎"]
    store = Store(cfg.db_path)
    make_issue(store, week=0, n_papers=3, titles=[HOSTILE_TITLE, XSS_TITLE], unique_word=UNIQUE_WORD)
    make_issue(store, week=1, n_papers=2, language="ja", titles=["大規模言語モデルによる論文要約の評価"])
    make_issue(store, week=2, n_papers=2)
    build_archive(cfg, store)
    store.close()
    return cfg.archive_dir / "site"


@pytest.fixture(scope="module")
def server(site: Path):
    """The built site over HTTP on 127.0.0.1."""
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
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
    deadline = time.monotonic() + 10
    titles: list[str] = []
    while time.monotonic() < deadline and not titles:
        time.sleep(0.05)
        titles = browser.evaluate(
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
        for page in ("index.html", "issues/2026-W47.html", "papers/2611.10000.html", "search.html?q=paper"):
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
