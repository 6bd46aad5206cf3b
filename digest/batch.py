"""Bulk generation through the OpenAI Batch API: half the price, on the provider's machines, resumable.

A paper takes two calls in sequence (outline, then answers that repeat the outline), so a job runs in
two phases. Submitting sends every outline request as one batch (split when too big). `collect` stores
each result in llm_calls under the request hash the live path computes, then submits the answers built
from those stored outlines; the next `collect` stores those and finishes the job by running the normal
generation, which finds every call in the log and makes no HTTP call. Requests that failed or expired
are simply absent from the log, so that last step makes them live, with the usual retries.

Crash safety: one batch_requests row per request with its status; a result and its status change are
committed together, so a collect interrupted midway, run again, stores the rest and nothing twice.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import openai

from digest import readers, select
from digest.config import Config
from digest.errors import ConfigError, DigestError, LLMError, NotFoundError
from digest.llm.client import ChatRequest, get_model
from digest.pipeline import Reporter, SilentReporter, fetch_week, issue_week, make_writer, parse_since, publish_issue
from digest.records import Generation, Issue, IssueEntry, Paper
from digest.rerun import pool_extra, prompts_tag, variant_name
from digest.store import Store, utcnow
from digest.writers.base import check_budget, generate_many
from digest.writers.chat import ChatWriter
from digest.writers.rerank import Rerank
from digest.writers.schemas import STEPS
from digest.writers.support_check import check_support

log = logging.getLogger("digest")

ENDPOINT = "/v1/chat/completions"
WINDOW = "24h"
RUNNING = ("validating", "in_progress", "finalizing", "cancelling")
ENDED = ("completed", "failed", "expired", "cancelled")
# Ours, after the provider's: results stored; next phase submitted (or the job finished).
COLLECTED, ADVANCED = "collected", "advanced"
MAX_REQUESTS = 50_000  # OpenAI's limits per batch input file
MAX_BYTES = 190 * 2**20  # (200 MB, with room to spare)
BATCH_PRICE = 0.5  # the Batch API bills half the live price


@dataclass
class Planned:
    """One request of a batch: its line in the input file and what we need to log its result."""

    custom_id: str
    body: dict
    record: dict  # the ChatRequest's fields, and the messages sent when they differ


@dataclass
class SubmitReport:
    """What submitting (or advancing) a job did."""

    batch_ids: list[str] = field(default_factory=list)
    phase: str = ""
    requests: int = 0
    papers: int = 0
    estimated_cost: float = 0.0  # the batches at batch prices plus `live_cost`
    live_cost: float = 0.0  # what the job spends (or plans to) outside the batches: the week's re-rank
    finished: bool = False  # nothing needed a batch: the job was completed on the spot
    dry_run: bool = False
    issues: list[str] = field(default_factory=list)


@dataclass
class BatchRow:
    """One batch as `digest batch status` shows it."""

    id: str
    model: str
    phase: str
    status: str
    created: str
    pending: int
    done: int
    failed: int
    issues: list[str]


@dataclass
class CollectReport:
    """What collecting one batch did."""

    batch_id: str
    status: str
    stored: int = 0
    failed: int = 0
    next: SubmitReport | None = None


# ---- jobs -----------------------------------------------------------------------------------------------


def _chat_model(config: Config, store: Store, model_id: str):
    if model_id == "extractive":
        raise ConfigError("the extractive model makes no LLM calls: there is nothing to batch",
                          hint="run it without --batch")
    return get_model(model_id, config, store)


def _writers(config: Config, store: Store, job: dict) -> dict[str, ChatWriter]:
    """One writer per output language of the job, sharing one model."""
    writers = {}
    for lang in sorted({it["language"] for it in job["items"]}):
        w = make_writer(config, store, job["model"], lang, job.get("prompts_dir"))
        if not isinstance(w, ChatWriter):
            raise ConfigError(f"model {job['model']} cannot be batched")
        writers[lang] = w
    return writers


def _paper(store: Store, item: dict) -> Paper:
    """The paper as the job saw it: current metadata and text, the version the issue shows."""
    p = store.get_paper(item["paper"])
    p.version = item["version"] if item["version"] is not None else p.version
    return p


def _plan(config: Config, store: Store, job: dict, phase: str) -> tuple[list[Planned], int]:
    """The requests of one phase not already answered in the call log; and how many papers still need work."""
    writers = _writers(config, store, job)
    planned: dict[str, Planned] = {}
    papers = 0
    for item in job["items"]:
        writer, paper = writers[item["language"]], _paper(store, item)
        if writer.existing(paper) is not None:
            continue
        papers += 1
        model, plan = writer.model, writer.plan(paper)
        req = plan.outline()
        if phase == "answers":
            outline = model.logged_reply(req)
            if outline is None or plan.check(outline):  # failed, or needs the repair the live path makes
                continue
            req = plan.answers(outline)
        if model.logged_reply(req) is not None:
            continue
        h = model.request_hash(req.messages, req.schema)
        if h in planned:  # the same paper in two issues of the job: one request
            continue
        body = model.batch_request_body(req)
        record = asdict(req)
        if body["messages"] != req.messages:
            record["sent"] = body["messages"]
        planned[h] = Planned(custom_id=f"{phase}-{h[:40]}", body=body, record=record)
    return list(planned.values()), papers


def _chunks(planned: list[Planned]) -> list[list[tuple[Planned, bytes]]]:
    """Split the requests into input files within the provider's limits."""
    chunks: list[list[tuple[Planned, bytes]]] = [[]]
    size = 0
    for p in planned:
        line = (json.dumps({"custom_id": p.custom_id, "method": "POST", "url": ENDPOINT, "body": p.body},
                           ensure_ascii=False) + "\n").encode("utf-8")
        if chunks[-1] and (len(chunks[-1]) >= MAX_REQUESTS or size + len(line) > MAX_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append((p, line))
        size += len(line)
    return chunks if chunks[0] else []


def _api_error(model_id: str, what: str, e: Exception) -> LLMError:
    if isinstance(e, openai.NotFoundError):
        return LLMError(model_id, f"{what}: the server has no Batch API ({e.status_code})",
                        hint="OpenAI has one; for other servers run without --batch")
    if isinstance(e, openai.APIStatusError):
        return LLMError(model_id, f"{what}: HTTP {e.status_code}: {e.message}"[:500], status=e.status_code,
                        retry=e.status_code == 429 or e.status_code >= 500)
    return LLMError(model_id, f"{what}: {type(e).__name__}: {e}"[:500], retry=True,
                    hint="check the connection and run the same command again")


def _submit(store: Store, model, job: dict, phase: str, planned: list[Planned], parent: str | None
            ) -> list[str]:
    """Upload the requests, create the batches and record them (with one row per request)."""
    group = uuid.uuid4().hex[:12]
    ids = []
    for chunk in _chunks(planned):
        data = b"".join(line for _, line in chunk)
        try:
            f = model.client.files.create(file=(f"digest-{phase}-{group}.jsonl", data), purpose="batch")
            b = model.client.batches.create(input_file_id=f.id, endpoint=ENDPOINT, completion_window=WINDOW,
                                            metadata={"app": "paper-digest", "phase": phase, "group": group})
        except openai.OpenAIError as e:
            raise _api_error(model.model_id, "submitting a batch", e) from None
        meta = {**job, "phase": phase, "group": group, "parent": parent}
        with store.transaction() as db:
            db.execute("INSERT INTO batches (id, model, created, status, input_file_id, meta) VALUES (?,?,?,?,?,?)",
                       (b.id, model.model_id, utcnow(), b.status or "validating", f.id,
                        json.dumps(meta, ensure_ascii=False)))
            db.executemany("INSERT INTO batch_requests (batch_id, custom_id, request) VALUES (?,?,?)",
                           [(b.id, p.custom_id, json.dumps(p.record, ensure_ascii=False)) for p, _ in chunk])
        ids.append(b.id)
        log.info("batch %s: %d %s requests", b.id, len(chunk), phase)
    return ids


def advance(config: Config, store: Store, job: dict, phase: str, *, parent: str | None = None,
            reporter: Reporter | None = None) -> SubmitReport:
    """Submit the first phase from `phase` on that still has requests; with none left, finish the job."""
    rep = SubmitReport(issues=sorted({it["issue"] for it in job["items"] if it.get("issue")}))
    phases = ("outline", "answers")
    for ph in phases[phases.index(phase):]:
        planned, rep.papers = _plan(config, store, job, ph)
        if planned:
            model = _chat_model(config, store, job["model"])
            rep.batch_ids = _submit(store, model, job, ph, planned, parent)
            rep.phase, rep.requests = ph, len(planned)
            return rep
    finish_job(config, store, job, reporter=reporter)
    rep.finished = True
    return rep


def finish_job(config: Config, store: Store, job: dict, *, reporter: Reporter | None = None) -> dict[str, Generation]:
    """Generate every paper of the job the normal way (stored calls cost nothing) and attach or publish it."""
    reporter = reporter or SilentReporter()
    writers = _writers(config, store, job)
    gens_by_lang: dict[str, dict[str, Generation]] = {}
    reporter.start(f"generating ({job['model']})", len(job["items"]))
    for lang, writer in writers.items():
        papers = {it["paper"]: _paper(store, it) for it in job["items"] if it["language"] == lang}
        gens_by_lang[lang] = generate_many(list(papers.values()), writer, concurrency=config.llm.concurrency,
                                           on_done=lambda p, g: reporter.advance())
        # As `digest run` does; the batch's own calls were checked against llm.max_cost when it was submitted.
        for note in check_support(config, store, list(papers.values()), gens_by_lang[lang], spent=0.0).notes:
            reporter.note(note)
    if job["kind"] == "run":
        return _publish_week(config, store, job, gens_by_lang)
    gens = {}
    for it in job["items"]:
        g = gens_by_lang[it["language"]].get(it["paper"])
        if g is not None:
            store.add_issue_generation(it["issue"], g, it["variant"])
            gens[f"{it['issue']}/{it['paper']}"] = g
    return gens


def _publish_week(config: Config, store: Store, job: dict, gens_by_lang: dict) -> dict[str, Generation]:
    """The week's issue of `digest run --batch`, stored and written as `digest run` does, and its pool kept for
    readers' own issues (items marked "pool" were written up for them, not for the editor's issue)."""

    week = job["week"]
    gens = gens_by_lang[week["language"]]
    papers = [_paper(store, it) for it in job["items"]]
    # As select decided it when the batch was submitted: which papers are new versions of published ones.
    updates = {c.paper.key for c in select.load_selection(store, week["id"]) if c.is_update} & {p.key for p in papers}
    issue = Issue(id=week["id"], week_start=week["start"], week_end=week["end"], language=week["language"],
                  model=job["model"], created=utcnow())
    editors = [p for p, it in zip(papers, job["items"]) if not it.get("pool")]
    for i, p in enumerate(editors, 1):
        issue.entries.append(IssueEntry(paper=p, generation=gens.get(p.key), position=i, is_update=p.key in updates))
    publish_issue(config, store, issue, gens)
    readers.save_pool(store, week["id"], papers, updates)  # each reader's issue is chosen from these
    return gens


def _estimate(config: Config, store: Store, job: dict) -> float:
    writers = _writers(config, store, job)
    return BATCH_PRICE * sum(writers[it["language"]].estimate(_paper(store, it)).cost for it in job["items"])


def _start(config: Config, store: Store, job: dict, *, yes: bool, dry_run: bool,
           reporter: Reporter | None, before: float = 0.0) -> SubmitReport:
    """Submit a job's first phase (or only plan it); `before` is what the job spent or plans to spend live."""
    cost = _estimate(config, store, job) + before
    if dry_run:
        planned, papers = _plan(config, store, job, "outline")
        return SubmitReport(phase="outline", requests=len(planned), papers=papers, estimated_cost=cost,
                            live_cost=before, dry_run=True, issues=sorted({it["issue"] for it in job["items"] if it.get("issue")}))
    check_budget(cost, config.llm.max_cost, yes=yes,
                 what="at batch prices" + (", with the week's re-rank at its live price" if before else ""))
    rep = advance(config, store, job, "outline", reporter=reporter)
    rep.estimated_cost, rep.live_cost = cost, before
    return rep


def submit_rerun(config: Config, store: Store, issue_ids: list[str], model_id: str, *,
                 prompts_dir: str | None = None, language: str | None = None, yes: bool = False,
                 dry_run: bool = False, reporter: Reporter | None = None) -> SubmitReport:
    """Rerun issues through the Batch API; `digest batch collect` later stores the results."""

    _chat_model(config, store, model_id)
    items = []
    for issue_id in issue_ids:
        issue = store.load_issue(issue_id)
        lang = language or issue.language
        writer = make_writer(config, store, model_id, lang, prompts_dir)
        variant = variant_name(model_id, lang, issue.language, prompts_tag(config, writer, prompts_dir))
        extra, _ = pool_extra(store, issue)  # readers' own issues keep their papers in the new variant
        items += [{"issue": issue.id, "paper": p.key, "version": p.version, "language": lang, "variant": variant}
                  for p in [e.paper for e in issue.entries] + extra]
    job = {"kind": "rerun", "model": model_id, "prompts_dir": prompts_dir, "items": items}
    return _start(config, store, job, yes=yes, dry_run=dry_run, reporter=reporter)


def submit_week(config: Config, store: Store, *, since: datetime | None = None, sources: list[str] | None = None,
                model: str | None = None, language: str | None = None, yes: bool = False, dry_run: bool = False,
                reporter: Reporter | None = None, today=None) -> tuple[Any, SubmitReport]:
    """`digest run --batch`: fetch and select this week's papers, then generate them through the Batch API.

    The week's pool (the editor's issue plus what readers' interests rank high, chosen by fetch_week as for
    `digest run`) goes into the job; the week's re-rank, when configured, is one live call made first.
    """

    model_id = model or config.llm.model
    _chat_model(config, store, model_id)
    language = language or config.output.language
    since = since or parse_since(None, today)
    week, start, end = issue_week(since, today)
    rerank = Rerank(config, store, yes=yes, dry_run=dry_run, reporter=reporter)
    fetched = fetch_week(config, store, since=since, sources=sources, week=week, reporter=reporter, rerank=rerank)
    items = [{"issue": None, "paper": p.key, "version": store.get_paper(p.key).version, "language": language}
             for p in fetched.selected]
    items += [{"issue": None, "paper": p.key, "version": store.get_paper(p.key).version, "language": language,
               "pool": True} for p in fetched.pool]
    job = {"kind": "run", "model": model_id, "prompts_dir": None, "items": items,
           "week": {"id": week, "start": start.isoformat(), "end": end.isoformat(), "language": language}}
    before = rerank.estimate.cost if dry_run else rerank.usage.cost
    return fetched, _start(config, store, job, yes=yes, dry_run=dry_run, reporter=reporter, before=before)


# ---- status and collect --------------------------------------------------------------------------------


def _row_meta(row) -> dict:
    return json.loads(row["meta"] or "{}")


def _refresh(config: Config, store: Store, row) -> Any | None:
    """Ask the provider for a batch's state and remember it; None when we are already past that."""
    if row["status"] in (COLLECTED, ADVANCED):
        return None
    model = _chat_model(config, store, row["model"])
    try:
        b = model.client.batches.retrieve(row["id"])
    except openai.OpenAIError as e:
        raise _api_error(model.model_id, f"checking batch {row['id']}", e) from None
    store.execute("UPDATE batches SET status=?, output_file_id=?, error_file_id=? WHERE id=?",
                  (b.status, b.output_file_id, b.error_file_id, row["id"]))
    return b


def batch_status(config: Config, store: Store, *, refresh: bool = True) -> list[BatchRow]:
    """Every recorded batch, newest first, with the provider's current state when `refresh`."""
    rows = store.query("SELECT * FROM batches ORDER BY created DESC, id")
    if refresh:
        for r in rows:
            if r["status"] not in (COLLECTED, ADVANCED):
                _refresh(config, store, r)
        rows = store.query("SELECT * FROM batches ORDER BY created DESC, id")
    out = []
    for r in rows:
        counts = {c["status"]: c["n"] for c in store.query(
            "SELECT status, count(*) AS n FROM batch_requests WHERE batch_id=? GROUP BY status", (r["id"],))}
        meta = _row_meta(r)
        issues = sorted({it["issue"] for it in meta.get("items", []) if it.get("issue")}) or (
            [meta["week"]["id"]] if meta.get("week") else [])
        out.append(BatchRow(id=r["id"], model=r["model"], phase=meta.get("phase", ""), status=r["status"],
                            created=r["created"], pending=counts.get("pending", 0), done=counts.get("done", 0),
                            failed=counts.get("failed", 0), issues=issues))
    return out


def _result_lines(model, file_id: str | None) -> list[dict]:
    if not file_id:
        return []
    try:
        text = model.client.files.content(file_id).text
    except openai.OpenAIError as e:
        raise _api_error(model.model_id, f"downloading batch results {file_id}", e) from None
    lines = []
    for line in text.splitlines():
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError:
                log.warning("batch result file %s: a line is not JSON; its request goes live", file_id)
    return lines


def _line_error(line: dict) -> str | None:
    """Why a result line carries no usable reply, or None."""
    resp = line.get("response") or {}
    if resp.get("status_code") == 200 and isinstance(resp.get("body"), dict):
        return None
    err = line.get("error") or (resp.get("body") or {}).get("error") or {}
    if isinstance(err, dict):
        return f"batch: {err.get('code') or resp.get('status_code') or 'error'}: {err.get('message', '')}".strip()
    return f"batch: {err}"


def _request_of(record: dict) -> ChatRequest:
    """The request a batch_requests row holds; rows submitted before requests were stored whole lack the schema."""
    schema, name, max_tokens = STEPS[record["purpose"]]
    return ChatRequest(**{"schema": schema, "schema_name": name, "max_tokens": max_tokens, **record})


def collect_batch(config: Config, store: Store, batch_id: str, *, reporter: Reporter | None = None
                  ) -> CollectReport:
    """Store what a finished batch returned (resumably), then move its job on when its group is complete."""
    reporter = reporter or SilentReporter()
    rows = store.query("SELECT * FROM batches WHERE id=?", (batch_id,))
    if not rows:
        raise NotFoundError(f"no batch {batch_id!r} in the store", hint="see `digest batch status`")
    row = rows[0]
    rep = CollectReport(batch_id=batch_id, status=row["status"])
    if row["status"] not in (COLLECTED, ADVANCED):
        b = _refresh(config, store, row)
        rep.status = b.status
        if b.status not in ENDED:
            return rep
        model = _chat_model(config, store, row["model"])
        pending = {r["custom_id"]: json.loads(r["request"]) for r in store.query(
            "SELECT custom_id, request FROM batch_requests WHERE batch_id=? AND status='pending'", (batch_id,))}
        lines = _result_lines(model, b.output_file_id) + _result_lines(model, b.error_file_id)
        reporter.start(f"batch {batch_id[-8:]}", len(pending))
        for line in lines:
            record = pending.pop(line.get("custom_id"), None)
            if record is None:  # stored by an earlier collect, or not ours
                continue
            error = _line_error(line)
            sent = record.pop("sent", record["messages"])
            with store.transaction() as db:
                problem = model.record_batch_reply(
                    _request_of(record), sent, None if error else line["response"]["body"], batch_id=batch_id,
                    error=error, price_factor=BATCH_PRICE)
                # The messages now live in llm_calls: keep only what identifies the request.
                slim = {k: record[k] for k in ("purpose", "paper_key", "generation_key")}
                db.execute("UPDATE batch_requests SET status=?, request=? WHERE batch_id=? AND custom_id=?",
                           ("done" if problem is None else "failed", json.dumps(slim), batch_id,
                            line["custom_id"]))
            if problem is None:
                rep.stored += 1
            else:
                rep.failed += 1
                log.info("batch %s: %s %s failed (%s); it will be made live", batch_id,
                         record["purpose"], record["paper_key"], problem)
            reporter.advance()
        # Expired, cancelled or lost requests: nothing came back; the live path will make them.
        with store.transaction() as db:
            db.executemany("UPDATE batch_requests SET status='failed' WHERE batch_id=? AND custom_id=?",
                           [(batch_id, cid) for cid in pending])
            db.execute("UPDATE batches SET status=? WHERE id=?", (COLLECTED, batch_id))
        rep.failed += len(pending)
    rep.next = _advance_group(config, store, _row_meta(row), reporter)
    return rep


def _advance_group(config: Config, store: Store, meta: dict, reporter: Reporter) -> SubmitReport | None:
    """Once every batch of a phase is collected: submit the next phase (once) or finish the job."""
    group = meta.get("group")
    siblings = store.query("SELECT id, status FROM batches WHERE json_extract(meta, '$.group')=?", (group,))
    if any(s["status"] not in (COLLECTED, ADVANCED) for s in siblings):
        return None
    if all(s["status"] == ADVANCED for s in siblings):
        return None
    job = {k: v for k, v in meta.items() if k not in ("phase", "group", "parent")}
    children = store.query("SELECT id FROM batches WHERE json_extract(meta, '$.parent')=?", (group,))
    nxt = None
    if not children:  # a crash after submitting the next phase must not submit it twice
        following = "answers" if meta.get("phase") == "outline" else None
        if following:
            nxt = advance(config, store, job, following, parent=group, reporter=reporter)
        else:
            finish_job(config, store, job, reporter=reporter)
            nxt = SubmitReport(finished=True, issues=sorted({it["issue"] for it in job["items"] if it.get("issue")}))
    with store.transaction() as db:
        db.executemany("UPDATE batches SET status=? WHERE id=?", [(ADVANCED, s["id"]) for s in siblings])
    return nxt


def collect_all(config: Config, store: Store, batch_id: str | None = None, *,
                reporter: Reporter | None = None) -> list[CollectReport]:
    """Collect one batch, or every batch not yet moved on (oldest first, so phases follow each other)."""
    # Two collects at once could both submit a job's answers phase.
    busy = DigestError("another `digest batch collect` is running on this store", hint="wait for it to finish")
    with store.exclusive("batch-collect", busy):
        if batch_id:
            return [collect_batch(config, store, batch_id, reporter=reporter)]
        ids = [r["id"] for r in store.query(
            "SELECT id FROM batches WHERE status != ? ORDER BY created, rowid", (ADVANCED,))]
        return [collect_batch(config, store, i, reporter=reporter) for i in ids]
