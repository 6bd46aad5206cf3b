"""What every writer shares: the Writer protocol, estimates, generation keys, usage, running many papers."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
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


def generate_many(papers: list[Paper], writer: Writer, *, concurrency: int,
                  on_done: Callable[[Paper, Generation], None] | None = None) -> dict[str, Generation]:
    """Generate for many papers at once (threads; the model's rate limiter paces them)."""
    out: dict[str, Generation] = {}
    workers = getattr(writer, "papers_in_flight", concurrency)
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    futures = {pool.submit(writer.generate, p): p for p in papers}
    try:
        for f in as_completed(futures):
            p = futures[f]
            g = f.result()
            out[p.key] = g
            if on_done:
                on_done(p, g)
    except BaseException:
        # Ctrl-C or a run-stopping error: start no further paper; the ones in flight finish or are
        # abandoned with the process, and every finished generation is already stored.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


def check_budget(estimated: float, max_cost: float, *, yes: bool, what: str = "") -> None:
    """Stop before spending more than `max_cost` USD unless the user said --yes."""
    if estimated > max_cost and not yes:
        raise BudgetError(f"estimated cost ${estimated:.2f}{f' ({what})' if what else ''} is above "
                          f"max_cost ${max_cost:.2f}", hint="pass --yes to spend it, raise llm.max_cost, or see --dry-run")
