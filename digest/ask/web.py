"""The Ask page of `digest serve`: readers ask the archive a question and get a grounded, linked answer.

GET /ask shows the form (`?q=` fills it in, `?paper=KEY` scopes it to one paper) and never spends: link
scanners and mail previews follow the "Ask about this paper" links. POST /ask answers. Each client address
has a token bucket of `ask.per_client_per_minute` questions, and every question first reserves its most
possible cost in the store's ledger (digest.ask.spend) against `ask.max_usd_per_day`, so no number of
concurrent questions can spend past the day's cap.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask, Response, request
from markupsafe import Markup, escape

from digest.ask.answer import MAX_QUESTION_CHARS, ask, estimate_cost
from digest.ask.index import ensure_index
from digest.ask.records import AskAnswer
from digest.ask.spend import reserve, settle, utc_now
from digest.config import Config
from digest.errors import DigestError, NotFoundError
from digest.i18n import labels
from digest.llm.client import get_model
from digest.records import Paper
from digest.render import safe_url, text_language
from digest.store import Store
from digest.text import slugify

_MARKER = re.compile(r"\[(\d{1,3})\]")

PageFn = Callable[..., Response]  # digest.mail.web's page(template, status, **ctx): same look and headers


class TokenBucket:
    """Per-client token buckets: a burst of `per_minute` questions, then one every 60/per_minute seconds."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when counted)
        self.lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when the client may ask now (a token is taken), else the seconds until it may."""
        now = self.clock()
        with self.lock:
            tokens, then = self.buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self.buckets[client] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self.buckets[client] = (tokens - 1.0, now)
            if len(self.buckets) > 10_000:  # forget the buckets full again by now rather than grow without bound
                full = [k for k, (t, at) in self.buckets.items() if t + (now - at) * self.rate >= self.capacity]
                for k in full:
                    del self.buckets[k]
            return 0.0


@dataclass
class AskCounts:
    """What the Ask page did since the server started (for the log and for tests)."""

    answered: int = 0
    refused_rate: int = 0
    refused_budget: int = 0
    failed: int = 0
    indexed: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)  # catch-up done
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, what: str) -> None:
        """Count one outcome."""
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)


def register(app: Flask, config: Config, store: Store, page: PageFn, *,
             now: Callable[[], datetime] = utc_now, clock: Callable[[], float] = time.monotonic,
             catch_up: bool = True) -> AskCounts:
    """Add GET/POST /ask to `digest serve`'s app; `now` (UTC day of the cost cap) and `clock` are injectable.

    With `catch_up`, papers stored before the passage index existed (or while an indexing run was killed) are
    indexed in a background thread: the server answers at once, from the papers indexed so far.
    """
    L = labels(config.output.language)
    bucket = TokenBucket(config.ask.per_client_per_minute, clock)
    counts = AskCounts()
    app.extensions["digest_ask"] = counts
    site = config.archive_dir / "site"

    def index_missing() -> None:
        try:
            n = ensure_index(store)
            if n:
                app.logger.info("ask: indexed %d papers missing from the passage index", n)
        except Exception:  # noqa: BLE001 - a background thread has no caller to raise to: the log says it
            app.logger.exception("ask: catching up the passage index failed; `digest ask` repairs it")
        finally:
            counts.indexed.set()

    if catch_up:
        threading.Thread(target=index_missing, name="ask-index-catch-up", daemon=True).start()
    else:
        counts.indexed.set()

    def scoped_paper(key: str) -> Paper | None:
        try:
            return store.get_paper(key) if key else None
        except NotFoundError:
            return None

    def form(status: int = 200, *, question: str = "", paper: Paper | None = None, error: str = "",
             answer: dict | None = None, headers: dict[str, str] | None = None) -> Response:
        r = page("ask", status, question=question, paper=paper, error=error, answer=answer,
                 max_chars=MAX_QUESTION_CHARS, paper_link=_paper_link(site, paper) if paper else None,
                 text_lang=lambda text: text_language(text, config.output.language))
        r.headers.update(headers or {})
        return r

    @app.get("/ask")
    def ask_form() -> Response:
        key = request.args.get("paper", "").strip()
        paper = scoped_paper(key)
        if key and paper is None:
            return form(404, question=request.args.get("q", "")[:MAX_QUESTION_CHARS], error=L["web_ask_no_paper"])
        return form(question=request.args.get("q", "")[:MAX_QUESTION_CHARS], paper=paper)

    @app.post("/ask")
    def ask_post() -> Response:
        question = " ".join(request.form.get("q", "").split())
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            # Another site's page submitting here would spend this digest's budget through its visitors.
            return form(403, question=question[:MAX_QUESTION_CHARS], error=L["web_ask_cross_site"])
        key = request.form.get("paper", "").strip()
        paper = scoped_paper(key)
        if key and paper is None:
            return form(404, question=question[:MAX_QUESTION_CHARS], error=L["web_ask_no_paper"])
        if not question:
            return form(400, paper=paper, error=L["web_ask_empty"])
        if len(question) > MAX_QUESTION_CHARS:
            return form(400, question=question[:MAX_QUESTION_CHARS], paper=paper,
                        error=L["web_ask_too_long"].format(n=MAX_QUESTION_CHARS))
        wait = bucket.take(request.remote_addr or "")
        if wait:
            counts.add("refused_rate")
            return form(429, question=question, paper=paper, headers={"Retry-After": str(int(wait) + 1)},
                        error=L["web_ask_rate_limited"].format(n=config.ask.per_client_per_minute))
        model = config.llm.model
        language = config.output.language
        paper_key = paper.key if paper else None
        try:
            if model != "extractive":
                get_model(model, config, store)  # a missing API key fails here, before anything is reserved
            most = estimate_cost(config, store, question, model_id=model, language=language,
                                 paper_key=paper_key).max_cost
        except DigestError as e:
            counts.add("failed")
            app.logger.warning("ask: estimating a question failed: %s", e)
            return form(503, question=question, paper=paper, error=L["web_ask_failed"])
        held = reserve(store, most, config.ask.max_usd_per_day, now=now())
        if held is None:
            counts.add("refused_budget")
            if most > config.ask.max_usd_per_day:
                app.logger.warning("ask: one question may cost $%.4f, more than ask.max_usd_per_day ($%.4f)",
                                   most, config.ask.max_usd_per_day)
            return form(503, question=question, paper=paper, error=L["web_ask_budget_spent"],
                        headers={"Retry-After": str(_seconds_to_midnight(now()))})
        try:
            answer = ask(config, store, question, model_id=model, language=language, paper_key=paper_key)
        except DigestError as e:
            # What its calls spent before the failure is not known apart from other questions': the whole
            # reservation stays spent, so the cap can only be undershot.
            settle(store, held, held.amount, now=now())
            counts.add("failed")
            app.logger.warning("ask: answering a question failed: %s", e)
            return form(503, question=question, paper=paper, error=L["web_ask_failed"])
        except BaseException:
            settle(store, held, held.amount, now=now())
            raise
        settle(store, held, answer.cost, now=now())
        counts.add("answered")
        return form(question=question, paper=paper, answer=answer_view(answer, store, site))

    return counts


def answer_view(answer: AskAnswer, store: Store, site: Path) -> dict:
    """What the Ask page shows of an answer: text with linked [n] markers and its sources by paper, or the
    passages by paper (extractive), or that nothing in the archive answers the question."""
    extractive = answer.model == "extractive"
    if answer.nothing_found:
        return {"nothing_found": True, "extractive": extractive, "paragraphs": [], "papers": [], "dropped": 0,
                "model": answer.model}
    papers: dict[str, dict] = {}

    def paper_entry(key: str, title: str) -> dict:
        if key not in papers:
            try:
                p: Paper | None = store.get_paper(key) if key else None
            except NotFoundError:
                p = None
            papers[key] = {"key": key, "title": title or (p.title if p else key), "link": _paper_link(site, p),
                           "pdf": safe_url(p.pdf_url) if p else "", "citations": [], "passages": []}
        return papers[key]

    for ap in answer.papers:  # the papers used, best first
        paper_entry(ap.key, ap.title)
    for c in answer.citations:
        entry = paper_entry(c.paper_key, c.title)
        entry["citations"].append({"n": c.n, "page": c.page, "quote": c.quote, "verified": c.verified,
                                   "note": c.note, "pdf_page": _pdf_page(entry["pdf"], c.page)})
    if extractive:
        for h in answer.passages:
            entry = paper_entry(h.paper_key, "")
            entry["passages"].append({"page": h.page, "section": h.section, "text": h.text,
                                      "pdf_page": _pdf_page(entry["pdf"], h.page)})
    cited = {c.n for c in answer.citations}
    return {
        "paragraphs": [] if extractive else [
            _linked(p, cited) for p in re.split(r"\n\s*\n", answer.text.strip()) if p.strip()],
        "papers": [e for e in papers.values() if e["citations"] or e["passages"]],
        "extractive": extractive, "nothing_found": False, "dropped": answer.dropped, "model": answer.model,
    }


def _pdf_page(pdf: str, page: int) -> str:
    """A link to one page of the PDF (the #page fragment PDF viewers honour), '' without a PDF or page."""
    return f"{pdf}#page={page}" if pdf and page > 0 else ""


def _linked(paragraph: str, cited: set[int]) -> Markup:
    """A paragraph, escaped, whose [n] markers link to their citation below."""
    out, at = [], 0
    for m in _MARKER.finditer(paragraph):
        out.append(escape(paragraph[at:m.start()]))
        n = int(m.group(1))
        out.append(Markup('<a href="#cite-{0}">[{0}]</a>').format(n) if n in cited else escape(m.group(0)))
        at = m.end()
    out.append(escape(paragraph[at:]))
    return Markup("").join(out)


def _paper_link(site: Path, paper: Paper | None) -> str:
    """The paper's page on the archive site `digest serve` serves, else its abstract page, else ''."""
    if paper is None:
        return ""
    slug = slugify(paper.key)
    if (site / "papers" / f"{slug}.html").is_file():
        return f"/papers/{slug}.html"
    return safe_url(paper.abs_url)


def _seconds_to_midnight(now: datetime) -> int:
    """Seconds until the next UTC day, when the cost cap starts afresh."""
    now = now.astimezone(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()))
