"""The call log (llm_calls): every attempt a model made, live or in a batch, with its usage as billed; a
request that succeeded before is served again from it instead of over HTTP.

A live reply is written as status 'received' the moment it arrives, before it is read or judged, and then
settled as 'ok' or 'error'. A process killed in between leaves a 'received' row: the next run judges it
as the live call would have and serves it, so a kill costs at most the reply whose write it interrupted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from digest.llm.calls import Attempt, ChatRequest, LLMResult, judge_reply
from digest.llm.support import Redactor, check_reply
from digest.records import Usage
from digest.store import Store, utcnow


@dataclass
class Logged:
    """What a row records about the request behind it."""

    request: ChatRequest
    request_hash: str


class CallLog:
    """One model's rows in llm_calls; without a store nothing is logged and nothing is found."""

    def __init__(self, store: Store | None, model_id: str, redact: Redactor):
        self.store, self.model_id, self.redact = store, model_id, redact

    def find(self, request_hash: str, validator: Any) -> LLMResult | None:
        """The latest successful reply to a request that still validates, or None."""
        if self.store is None:
            return None
        while True:
            rows = self.store.query(
                "SELECT id, status, response, finish_reason, input_tokens, cached_tokens, output_tokens, "
                "latency_ms, cost FROM llm_calls WHERE request_hash=? AND status IN ('ok', 'received') "
                "ORDER BY id DESC LIMIT 1",
                (request_hash,),
            )
            if not rows:
                return None
            r = rows[0]
            if r["status"] == "ok":
                data, problem = check_reply(r["response"] or "", validator)
                if problem:
                    return None
                break
            # Stored by a process that stopped before judging it: judged now, as the live call would have.
            data, problem = judge_reply(r["response"] or "", r["finish_reason"] or "stop", validator)
            self._settle(r["id"], problem)
            if problem is None:
                break
        # What the call was billed when it was made (live or batch price); from_cache says it is not spent again.
        usage = Usage(input_tokens=r["input_tokens"], cached_tokens=r["cached_tokens"],
                      output_tokens=r["output_tokens"], cost=r["cost"] or 0.0, latency_ms=r["latency_ms"])
        return LLMResult(data=data, text=r["response"], usage=usage, finish_reason=r["finish_reason"] or "stop",
                         call_id=r["id"], from_cache=True)

    def received(self, info: Logged, sent: list[dict], reply: tuple[str, str] | None, usage: Usage) -> int | None:
        """Store a live reply as it arrived (content, finish reason; usage as far as the server reported it)."""
        if self.store is None:
            return None
        content, finish_reason = reply or (None, None)
        return self._insert(info, sent, content, "received", None, 200, finish_reason, usage, None)

    def settle(self, row_id: int | None, a: Attempt, problem: str | None) -> None:
        """The judgement of a received reply (ok when `problem` is None) and its usage, priced."""
        if self.store is None or row_id is None:
            return
        u = a.usage
        self.store.execute(
            "UPDATE llm_calls SET status=?, error=?, input_tokens=?, cached_tokens=?, output_tokens=?, "
            "latency_ms=?, cost=? WHERE id=?",
            ("ok" if problem is None else "error", problem and self.redact.error(problem), u.input_tokens,
             u.cached_tokens, u.output_tokens, u.latency_ms, u.cost, row_id))

    def unreadable(self, row_id: int | None, error: str) -> None:
        """A received reply that could not be read (no choices): an error, as a failed exchange is."""
        if row_id is not None:
            self._settle(row_id, error)

    def _settle(self, row_id: int, problem: str | None) -> None:
        self.store.execute("UPDATE llm_calls SET status=?, error=? WHERE id=? AND status='received'",
                           ("ok" if problem is None else "error", problem and self.redact.error(problem), row_id))

    def attempt(self, info: Logged, a: Attempt, problem: str | None, batch_id: str | None = None) -> int | None:
        """Log a completion: ok when `problem` is None; returns the row id."""
        if self.store is None:
            return None
        return self._insert(info, a.sent, a.content, "ok" if problem is None else "error", problem, 200,
                            a.finish_reason, a.usage, batch_id)

    def failure(self, info: Logged, sent: list[dict], ms: int, status: int | None, error: str,
                batch_id: str | None = None) -> None:
        """Log an exchange that produced no completion (HTTP error, timeout, unreadable reply)."""
        if self.store is None:
            return
        self._insert(info, sent, None, "error", error, status, None, Usage(latency_ms=ms), batch_id)

    def _insert(self, info: Logged, sent: list[dict], response: str | None, status: str,
                error: str | None, http_status: int | None, finish_reason: str | None, u: Usage,
                batch_id: str | None) -> int:
        req = info.request
        cur = self.store.execute(
            "INSERT INTO llm_calls (ts, model, prompt_version, purpose, paper_key, generation_key, "
            "request_hash, messages, response, status, error, http_status, finish_reason, input_tokens, "
            "cached_tokens, output_tokens, latency_ms, cost, batch_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (utcnow(), self.model_id, req.prompt_version, req.purpose, req.paper_key,
             req.generation_key, info.request_hash,
             self.redact(json.dumps(sent, ensure_ascii=False, default=str)), self.redact(response),
             status, error and self.redact.error(error), http_status, finish_reason, u.input_tokens,
             u.cached_tokens, u.output_tokens, u.latency_ms, u.cost, batch_id),
        )
        return cur.lastrowid


def overview_key(issue_id: str, variant: str = "") -> str:
    """The generation_key a variant's overview calls are logged under (`digest cost` and `compare` count them).

    The variant is in the key because variants of one model (another language, other prompts) share its
    model id; stores from before it have the bare 'overview:<issue>'.
    """
    return f"overview:{issue_id}:{variant}" if variant else f"overview:{issue_id}"


def llm_cost_report(store: Store, issue_id: str | None = None) -> list[dict]:
    """Calls, tokens and cost per model (only one issue's when issue_id is given: its papers, the rest of
    its week's pool, written up for readers, and its overview and re-rank).

    Each dict: model, calls (HTTP attempts), ok, failed, input_tokens, cached_tokens, output_tokens, cost,
    papers, and issue_id when asked for one. Replies served from the call log are not calls and cost nothing.
    """
    where, params = "", ()
    if issue_id is not None:
        # The week's overview and re-rank are no paper's: their calls carry generation_key
        # 'overview:<issue>[:<variant>]' and 'rerank:<issue>'.
        where = ("WHERE c.paper_key IN (SELECT paper_key FROM issue_papers WHERE issue_id=? "
                 "UNION SELECT paper_key FROM issue_pool WHERE issue_id=?) "
                 "OR c.generation_key = 'overview:' || ? "
                 "OR substr(c.generation_key, 1, length(?) + 10) = 'overview:' || ? || ':' "
                 "OR c.generation_key = 'rerank:' || ?")
        params = (issue_id, issue_id, issue_id, issue_id, issue_id, issue_id)
    rows = store.query(
        "SELECT c.model AS model, count(*) AS calls, sum(c.status='ok') AS ok, "
        "sum(c.status='error') AS failed, sum(c.input_tokens) AS input_tokens, "
        "sum(c.cached_tokens) AS cached_tokens, sum(c.output_tokens) AS output_tokens, "
        "sum(c.cost) AS cost, count(DISTINCT c.paper_key) AS papers "
        f"FROM llm_calls c {where} GROUP BY c.model ORDER BY c.model",
        params,
    )
    report = []
    for r in rows:
        d = dict(r)
        d["cost"] = round(d["cost"] or 0.0, 6)
        if issue_id is not None:
            d["issue_id"] = issue_id
        report.append(d)
    return report


def logged_usage(store: Store, generation_keys: list[str], *, model: str | None = None) -> tuple[int, Usage]:
    """The one count of what producing something took: every logged attempt under these generation keys
    (a retry was paid for; a reply served again from the log is no new row), with its tokens, cost and time."""
    if not generation_keys:
        return 0, Usage()
    marks = ",".join("?" * len(generation_keys))
    only_model = " AND model=?" if model is not None else ""
    r = store.query(
        "SELECT count(*) AS calls, coalesce(sum(input_tokens), 0) AS i, coalesce(sum(cached_tokens), 0) AS c, "
        "coalesce(sum(output_tokens), 0) AS o, coalesce(sum(cost), 0) AS cost, coalesce(sum(latency_ms), 0) AS ms "
        f"FROM llm_calls WHERE generation_key IN ({marks}){only_model}",
        (*generation_keys, *([model] if model is not None else [])))[0]
    return r["calls"], Usage(input_tokens=r["i"], cached_tokens=r["c"], output_tokens=r["o"], cost=r["cost"],
                             latency_ms=r["ms"])
