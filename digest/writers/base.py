"""What every writer shares: the Writer protocol, estimates, generation keys, usage, running many papers and
the slots their model calls take turns in."""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from digest.errors import BudgetError
from digest.records import Generation, Paper, Usage


class Writer(Protocol):
    """What generate_many needs of a model: the built-in extractive one or a chat model."""

    model_id: str

    def generate(self, paper: Paper) -> Generation: ...

    def existing(self, paper: Paper) -> Generation | None: ...

    def estimate(self, paper: Paper) -> Estimate: ...

    def preflight(self) -> None: ...


@dataclass(kw_only=True)
class Estimate(Usage):
    """Planned calls, tokens and cost for one paper (zero when its generation already exists)."""

    calls: int = 0
    mode: str = ""


def generation_key(paper: Paper, model_id: str, prompt_version: str, settings: dict, language: str) -> str:
    """The cache key of a generation: paper version, text state, prompt version, model and settings."""
    payload = json.dumps(
        [paper.key, paper.version, paper.text_status, prompt_version, model_id, settings, language],
        sort_keys=True, ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def abstract_reason(paper: Paper) -> str:
    """Why a paper has no page texts, in a few words."""
    if paper.text_status == "failed":
        return f"PDF unreadable: {paper.text_error or 'unknown error'}"
    return "no PDF text available"


def add_usage(g: Generation, results: list, started: float) -> None:
    """Sum the usage of the calls behind a generation, as billed (calls resumed from the log included)."""
    total = sum((r.usage for r in results), Usage())
    total.cost = round(total.cost, 6)
    total.latency_ms = int((time.monotonic() - started) * 1000)  # the generation's wall time, not the calls'
    g.usage = total


class CallsCancelled(Exception):
    """The run stopped: a model call still waiting for a slot is not made."""


class CallSlots:
    """At most n model calls in flight. A freed slot goes to the waiting call with the longest chain of calls
    still ahead of it, its own included (critical path first; the earliest waiting among equals).

    A paper's outline (outline, then answers: 2) goes before any paper's answers call (1), so every paper's
    first call is made while the slots are full and no round runs half empty at the end: 12 papers x 2 calls
    on 8 slots take 3 rounds, where answers-first took 4. The week's overview (1 call, waiting on every
    outline) is then made among the answers calls instead of alone after them.

    One slot runs one call at a time in any order, so the order cannot shorten the run: there the shortest
    chain goes first, finishing a paper before starting the next, which keeps its text in a local server's
    prompt cache for the answers call (llama.cpp with one slot keeps only the last prompt) and stores each
    paper's generation as early as possible.
    """

    def __init__(self, n: int):
        self.free = max(1, n)
        self.deepest_first = self.free > 1
        self.waiting: list[tuple[int, int]] = []  # a heap of (priority, ticket): -calls ahead, or calls ahead
        self.tickets = itertools.count()
        self.closed = False
        self.cond = threading.Condition()

    @contextmanager
    def slot(self, chain: int = 1) -> Iterator[None]:
        """Hold one slot for a call with `chain` calls ahead of its result, its own included."""
        with self.cond:
            ticket = (-chain if self.deepest_first else chain, next(self.tickets))
            heapq.heappush(self.waiting, ticket)
            try:
                while not self.closed and (self.free == 0 or self.waiting[0] != ticket):
                    self.cond.wait()
            except BaseException:
                self._leave(ticket)
                raise
            if self.closed:
                self._leave(ticket)
                raise CallsCancelled("the run stopped before this call was made")
            heapq.heappop(self.waiting)
            self.free -= 1
            if self.free and self.waiting:
                self.cond.notify_all()  # another slot is free: the next in line goes too
        try:
            yield
        finally:
            with self.cond:
                self.free += 1
                self.cond.notify_all()

    def _leave(self, ticket: tuple[int, int]) -> None:
        self.waiting.remove(ticket)
        heapq.heapify(self.waiting)
        self.cond.notify_all()

    def close(self) -> None:
        """Make no call that is still waiting or asks later (they raise CallsCancelled); calls in flight finish."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def reopen(self) -> None:
        """Take calls again after close()."""
        with self.cond:
            self.closed = False


OnOutline = Callable[[Paper, Generation], None]


def generate_many(papers: list[Paper], writer: Writer, *, concurrency: int,
                  on_done: Callable[[Paper, Generation], None] | None = None,
                  on_outline: OnOutline | None = None) -> dict[str, Generation]:
    """Generate for many papers at once (threads; the model's rate limiter paces them).

    `on_outline(paper, g)` hears each paper's TL;DR and summary as soon as they are settled (a writer with
    `reports_outlines` says so before its answers are written), and again with the finished generation,
    from which it tells whether they changed (a paper whose answers call failed falls back to its abstract).
    """
    out: dict[str, Generation] = {}
    workers = getattr(writer, "papers_in_flight", concurrency)
    slots: CallSlots | None = getattr(writer, "slots", None)
    if slots is not None:
        slots.reopen()
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(papers))))
    early = on_outline if getattr(writer, "reports_outlines", False) else None
    futures = {(pool.submit(writer.generate, p, on_outline=early) if early else pool.submit(writer.generate, p)): p
               for p in papers}
    try:
        for f in as_completed(futures):
            p = futures[f]
            g = f.result()
            out[p.key] = g
            if on_outline:
                on_outline(p, g)
            if on_done:
                on_done(p, g)
    except BaseException:
        # Ctrl-C or a run-stopping error: start no further paper and no further call; the calls in flight
        # finish or are abandoned with the process, and every finished generation is already stored.
        if slots is not None:
            slots.close()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


def check_budget(estimated: float, max_cost: float, *, yes: bool, what: str = "") -> None:
    """Stop before spending more than `max_cost` USD unless the user said --yes."""
    if estimated > max_cost and not yes:
        raise BudgetError(f"estimated cost ${estimated:.2f}{f' ({what})' if what else ''} is above "
                          f"max_cost ${max_cost:.2f}", hint="pass --yes to spend it, raise llm.max_cost, or see --dry-run")
