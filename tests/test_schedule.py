"""The week's model calls on the critical path: every paper's outline before any paper's answers when slots
are short, and the overview made among the answers calls, not alone after them (issue 23).

The test server holds each reply until the test releases it, so the order is shown by what the server
received while replies were held, never by timing.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from factories import make_paper
from llm_server import is_overview_request
from rerun_helpers import add_chat_model
from weekfeed import grounded_responder

from digest.pipeline import SilentReporter, Spend, generate_papers, make_writer
from digest.records import Issue, IssueEntry, Page
from digest.writers.base import CallsCancelled, CallSlots
from digest.writers.overview import write_overview

HANG = 60  # seconds: only bounds a hang, every wait below ends within moments on any machine

PAGES = [
    "Grounded digests of research papers for busy readers. We propose a method that answers questions about a "
    "paper and quotes the passage each answer rests on. Our evaluation covers two hundred papers from the "
    "computation and language category of arXiv.",
    "Grounded answers were verified for ninety one percent of the questions that we asked the model. The "
    "extractive baseline verified every quote but answered only half of the questions well enough. Limitations "
    "remain for tables and equations, which the text extraction does not keep at all.",
]


def until(condition, what: str) -> None:
    """Poll a condition; the deadline only bounds a hang."""
    deadline = time.monotonic() + HANG
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.005)


def kind(schema: dict | None) -> str:
    props = (schema or {}).get("properties", {})
    if is_overview_request(schema):
        return "overview"
    return "outline" if "questions" in props else "answers" if "answers" in props else "other"


class HeldReplies:
    """A responder that records each request's kind and holds its reply until the test releases it."""

    def __init__(self, hold=lambda kind, n: True):
        self.inner = grounded_responder()
        self.hold = hold  # (kind, how many of that kind arrived before) -> hold this reply?
        self.cond = threading.Condition()
        self.arrived: list[str] = []
        self.released: set[int] = set()
        self.answered: list[int] = []

    def __call__(self, messages, schema):
        k = kind(schema)
        with self.cond:
            n = len(self.arrived)
            held = self.hold(k, self.arrived.count(k))
            self.arrived.append(k)
            self.cond.notify_all()
            if held and not self.cond.wait_for(lambda: n in self.released, timeout=HANG):
                raise RuntimeError(f"request {n} ({k}) was never released")
            self.answered.append(n)
        return self.inner(messages, schema)

    def release(self, n: int) -> None:
        with self.cond:
            self.released.add(n)
            self.cond.notify_all()

    def release_all(self) -> None:
        """Release every held reply, and hold none from now on."""
        with self.cond:
            self.hold = lambda kind, n: False
            self.released.update(range(len(self.arrived)))
            self.cond.notify_all()

    def arrivals(self) -> list[str]:
        with self.cond:
            return list(self.arrived)


def stored_papers(store, n: int):
    papers = []
    for i in range(1, n + 1):
        p = make_paper(i, title=f"Grounded digests of research papers, part {i}")
        store.upsert_paper(p)
        store.save_pages(p.key, p.version, [Page(k + 1, f"Part {i}. {body}") for k, body in enumerate(PAGES)],
                         pdf_path=None, token_count=None)
        papers.append(store.get_paper(p.key))
    return papers


def labelled_papers(store) -> int:
    """Stored generations whose answers all carry a support label."""
    rows = store.query("SELECT qa FROM generations")
    return sum(1 for r in rows if (qa := json.loads(r["qa"])) and all(q.get("support") for q in qa))


def start_generating(config, store, writer, papers, out: dict) -> threading.Thread:
    def run():
        try:
            out["gens"] = generate_papers(config, store, writer, papers, yes=True, dry_run=False,
                                          reporter=SilentReporter(), report=Spend(), issue_id="2026-W47")
        except BaseException as e:  # noqa: BLE001 - shown by the test's assertion
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.fixture
def setup(config, store, llm_server):
    # A held reply must not time out and come back as a retry: the client waits longer than any test does.
    add_chat_model(config, "test-model", llm_server, max_output_tokens=4096, timeout=10 * HANG)
    config.llm.concurrency = 2
    return stored_papers(store, 4)


def test_every_outline_is_requested_before_any_answers_call_when_slots_are_short(setup, config, store,
                                                                                 llm_server):
    held = HeldReplies()
    llm_server.responder = held
    writer = make_writer(config, store, "test-model", "en")
    out: dict = {}
    t = start_generating(config, store, writer, setup, out)
    # Two outlines in flight, the other two papers' outlines waiting for a slot.
    until(lambda: held.arrivals() == ["outline", "outline"] and len(writer.slots.waiting) == 2,
          "two outlines in flight and two waiting")
    # Each freed slot goes to a waiting outline (2 calls ahead) before the paper's answers call (1).
    held.release(0)
    until(lambda: len(held.arrivals()) == 3, "the next request")
    held.release(1)
    until(lambda: len(held.arrivals()) == 4, "the next request")
    assert held.arrivals() == ["outline"] * 4
    n = 2
    while t.is_alive():  # the rest as it comes: four answers calls and the overview
        until(lambda n=n: len(held.arrivals()) > n or not t.is_alive(), "the next request")
        held.release(n)
        n += 1
    t.join(HANG)
    assert not t.is_alive() and "error" not in out, out.get("error")
    assert held.arrivals().count("outline") == 4 and held.arrivals().count("answers") == 4
    assert all(g.status == "ok" for g in out["gens"].values())


def test_the_overview_is_requested_while_an_answers_call_is_still_out(setup, config, store, llm_server):
    """The last answers reply is held until the overview request arrives: it must arrive without it."""
    held = HeldReplies(hold=lambda k, before: k == "answers" and before == 3)  # the 4th answers call
    llm_server.responder = held
    writer = make_writer(config, store, "test-model", "en")
    out: dict = {}
    t = start_generating(config, store, writer, setup, out)
    until(lambda: held.arrivals().count("answers") == 4, "the four answers calls")
    last_answers = len(held.arrivals()) - 1 - held.arrivals()[::-1].index("answers")
    until(lambda: "overview" in held.arrivals(), "the overview request while the last answers reply is held")
    assert last_answers not in held.answered  # the overview came in while the last answers call was out
    assert held.arrivals().count("answers") == 4  # ... and was not retried
    # The support check labels each paper's answers as the paper is written, not in one pass after the last.
    until(lambda: labelled_papers(store) == 3, "the three finished papers' answers labelled and stored")
    held.release(last_answers)
    t.join(HANG)
    assert not t.is_alive() and "error" not in out, out.get("error")

    # The finished issue's overview is that same request, found in the call log: no second call.
    gens = out["gens"]
    issue = Issue(id="2026-W47", week_start="", week_end="", language="en", model="test-model", created="",
                  entries=[IssueEntry(p, gens[p.key], i) for i, p in enumerate(setup, 1)])
    outcome = write_overview(config, issue, writer, language="en", yes=True)
    assert outcome.overview is not None and outcome.overview.themes, outcome.note
    assert outcome.calls == 0
    assert held.arrivals().count("overview") == 1
    assert store.query("SELECT count(*) AS n FROM llm_calls WHERE purpose='overview'")[0]["n"] == 1


def test_no_early_overview_when_most_papers_already_failed(setup, config, store, llm_server):
    """A paper whose outline fails falls back to its abstract; with most failed the issue is a draft, which
    has no overview: none is requested early either."""
    good = grounded_responder()

    def three_fail(messages, schema):  # not JSON, and again when asked to repair it: the paper falls back
        text = "\n".join(m.get("content") or "" for m in messages)
        if kind(schema) == "outline" and "part 4" not in text:
            return "I cannot summarise this paper."
        return good(messages, schema)

    llm_server.responder = three_fail
    writer = make_writer(config, store, "test-model", "en")
    out: dict = {}
    start_generating(config, store, writer, setup, out).join(HANG)
    assert "error" not in out, out.get("error")
    assert sum(g.status == "fallback" for g in out["gens"].values()) == 3
    assert not any(is_overview_request(r["response_format"]["json_schema"]["schema"])
                   for r in llm_server.chat_requests())


# ---- the slots alone ---------------------------------------------------------------------------------


class WatchedSlots(CallSlots):
    """Slots whose waiting calls can be counted, so a test goes on once a thread really waits."""

    def waiting_count(self) -> int:
        with self.cond:
            return len(self.waiting)


def run_in_order(slots: WatchedSlots, calls: list[tuple[str, int]]) -> list[str]:
    """Fill every slot with a held call, queue `calls` (name, chain) one after another, then free the slots:
    the order in which the queued calls got a slot."""
    order: list[str] = []
    release = threading.Event()

    def take(name: str, chain: int, hold: bool = False):
        with slots.slot(chain):
            order.append(name)
            if hold:
                release.wait(HANG)

    threads = []
    for i in range(slots.free):
        threads.append(threading.Thread(target=take, args=(f"held {i}", 2, True)))
        threads[-1].start()
    until(lambda: slots.free == 0, "every slot taken")
    for name, chain in calls:
        threads.append(threading.Thread(target=take, args=(name, chain)))
        threads[-1].start()
        until(lambda name=name: slots.waiting_count() == len(threads) - len(order) and name not in order,
              f"{name} waiting")
    release.set()
    for th in threads:
        th.join(HANG)
    return [name for name in order if not name.startswith("held")]


QUEUED = [("answers A", 1), ("outline B", 2), ("answers C", 1), ("outline D", 2)]


def test_a_freed_slot_goes_to_the_longest_chain_then_to_the_earliest():
    assert run_in_order(WatchedSlots(2), QUEUED) == ["outline B", "outline D", "answers A", "answers C"]


def test_with_one_slot_a_paper_is_finished_before_the_next_is_started():
    """One slot: the order cannot shorten the run, and the answers call right after its outline finds the
    paper in a local server's prompt cache."""
    assert run_in_order(WatchedSlots(1), QUEUED) == ["answers A", "answers C", "outline B", "outline D"]


def test_closed_slots_make_no_waiting_call():
    slots = WatchedSlots(1)
    release = threading.Event()
    outcome: list[str] = []

    def hold():
        with slots.slot(2):
            release.wait(HANG)
            outcome.append("in flight finished")

    def waiting():
        try:
            with slots.slot(2):
                outcome.append("made")
        except CallsCancelled:
            outcome.append("cancelled")

    a = threading.Thread(target=hold)
    a.start()
    until(lambda: slots.free == 0, "the first call in its slot")
    b = threading.Thread(target=waiting)
    b.start()
    until(lambda: slots.waiting_count() == 1, "the second call waiting")
    slots.close()
    b.join(HANG)
    release.set()
    a.join(HANG)
    assert outcome == ["cancelled", "in flight finished"]
    with pytest.raises(CallsCancelled), slots.slot(1):
        pass
    slots.reopen()
    with slots.slot(1):
        pass


def test_a_failed_early_overview_is_not_asked_again_for_the_finished_issue(tmp_path, httpserver, config, store,
                                                                           llm_server):
    """The issue's overview is the early call's outcome when written from the same papers: a refused overview
    costs one failed call, as when it was made after the papers, not two."""
    from pdfmaker import make_pdf
    from weekfeed import TODAY, Item, serve_week

    from digest.pipeline import run_week

    pdf = make_pdf(tmp_path / "grounded.pdf", [PAGES[0].split(". "), PAGES[1].split(". ")])
    serve_week(httpserver, config, [Item("2611.00077", 1, "Grounded digests of research papers",
                                         "We answer questions about papers and quote the passage each answer "
                                         "rests on.", pdf)])
    config.selection.interests = ""
    config.selection.categories = []
    good = grounded_responder()

    def no_overview(messages, schema):
        if is_overview_request(schema):
            raise RuntimeError("overloaded")  # the test server answers 500
        return good(messages, schema)

    llm_server.responder = no_overview
    add_chat_model(config, "test-model", llm_server, max_output_tokens=4096)
    config.llm.model = "test-model"
    config.llm.max_retries = 0
    rep = run_week(config, store, yes=True, today=TODAY)
    assert rep.issue.status == "published" and rep.issue.overview is None
    assert "the overview was not written" in rep.overview_note
    asked = [r for r in llm_server.chat_requests() if is_overview_request(r["response_format"]["json_schema"]["schema"])]
    assert len(asked) == 1


def test_a_run_stopping_error_makes_no_further_call(setup, config, store, llm_server):
    """A rejected key stops the run: calls waiting for a slot are not made, nor the next call of a paper whose
    call was in flight (it finishes, and is in the call log for the next run)."""
    from llm_server import Step

    from digest.errors import LLMError
    from digest.writers.base import generate_many

    held = HeldReplies()
    llm_server.responder = held
    llm_server.push(Step(status=401, body={"error": {"message": "Incorrect API key provided", "type": "x"}}))
    writer = make_writer(config, store, "test-model", "en")
    started: list[str] = []
    finished: list[str] = []
    generate = writer.generate

    def watched(paper, **kw):
        started.append(paper.key)  # papers not yet started when the run stops are never started
        try:
            return generate(paper, **kw)
        finally:
            finished.append(paper.key)

    writer.generate = watched
    with pytest.raises(LLMError):
        generate_many(setup, writer, concurrency=2)
    until(lambda: held.arrivals()[:1] == ["outline"], "the other outline in flight")
    # The outline in flight, and one that the slot freed by the refusal may have started before the run stopped.
    held.release_all()
    until(lambda: len(finished) == len(started) or "answers" in held.arrivals(), "every started paper done")
    assert "answers" not in held.arrivals()  # a paper whose call was in flight makes no next call
    assert len(llm_server.chat_requests()) <= 3  # and the papers still waiting for a slot make none
