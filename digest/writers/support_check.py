"""Labelling a run's answers by support: the lexical check on every answer, then (when configured) one judge
call per paper that labels all its answers at once, within what is left of the run's budget."""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from digest.config import Config
from digest.errors import LLMError
from digest.i18n import labels
from digest.llm.client import ChatModel, ChatRequest, get_model
from digest.llm.tokens import count_message_tokens
from digest.records import Generation, Page, Paper
from digest.store import Store
from digest.wording import plural
from digest.writers.backing import CHECKED, PARTLY, label_answers, worse
from digest.writers.base import Estimate
from digest.writers.extractive import MODEL_ID as EXTRACTIVE
from digest.writers.prompts import PromptSet

log = logging.getLogger("digest")

JUDGE_TEMPLATE = "support.j2"
OUTPUT_TOKENS_PER_ANSWER = 60  # index, label and a short reason
PLANNED_INPUT_TOKENS = 600 + 10 * 150  # the instructions, and ten questions with answers and quotes
PLANNED_ANSWERS = 10
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "labels": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "label": {"type": "string", "enum": ["supported", "partly", "not"]},
                    "reason": {"type": "string"},
                },
                "required": ["index", "label", "reason"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["labels"],
    "additionalProperties": False,
}


@dataclass
class SupportReport:
    """What the support check did in a run: answers labelled, papers judged, and why any were not."""

    labelled: int = 0
    judged: int = 0  # papers whose answers a judge call labelled
    notes: list[str] = field(default_factory=list)


class SupportJudge:
    """One call per paper asking a model whether each answer's quote supports it."""

    def __init__(self, model: ChatModel, prompts: PromptSet):
        self.model, self.prompts = model, prompts
        source, _, _ = prompts.env.loader.get_source(prompts.env, JUDGE_TEMPLATE)
        self.version = "support-" + hashlib.sha256(source.encode()).hexdigest()[:12]

    def to_judge(self, g: Generation) -> list[int]:
        """Positions of the answers a judge has not yet labelled (excerpts need no judge)."""
        return [i for i, q in enumerate(g.qa) if not q.judged and not q.excerpt and q.quote.strip()]

    def request(self, paper: Paper, g: Generation, positions: list[int]) -> ChatRequest:
        """The judge call for these answers of a generation."""
        items = [dict(index=n, question=g.qa[i].question, answer=g.qa[i].answer, quote=g.qa[i].quote)
                 for n, i in enumerate(positions, 1)]
        text = self.prompts.render(JUDGE_TEMPLATE, items=items, title=paper.title,
                                   language_name=labels(g.language)["language_name"])
        return ChatRequest("support", [{"role": "user", "content": text}], JUDGE_SCHEMA, "answer_support",
                           max_tokens=200 + OUTPUT_TOKENS_PER_ANSWER * len(items), paper_key=paper.key,
                           generation_key=g.key, prompt_version=self.version)

    def cost(self, req: ChatRequest) -> float:
        """USD this call would take now (nothing when the call log already holds its reply)."""
        if self.model.logged_reply(req) is not None:
            return 0.0
        tokens = count_message_tokens(req.messages, self.model.model_id, self.model.encoding)
        return self.model.estimate_cost(tokens, req.max_tokens or 0)

    def apply(self, g: Generation, positions: list[int], data: dict) -> None:
        """Merge the judge's labels into the answers: the weaker of the lexical and the judge's label wins."""
        given = {}
        for item in data.get("labels", []):
            n = item.get("index")
            if isinstance(n, int) and 1 <= n <= len(positions) and n not in given and item.get("label") in CHECKED:
                given[n] = item
        for n, i in enumerate(positions, 1):
            item = given.get(n)
            if item is None:
                continue  # left out by the judge: the lexical label stands, and a later run asks again
            q = g.qa[i]
            q.support = worse(q.support, item["label"])
            why = (item.get("reason") or "").strip()
            if item["label"] in (PARTLY, "not") and why:
                q.support_reason = "; ".join(filter(None, [q.support_reason, f"judge: {why}"]))
            q.judged = True


def plan_judge(config: Config, store: Store, model_id: str,
               estimates: list[tuple[Paper, Estimate]]) -> list[tuple[Paper, Estimate]]:
    """The estimates with the judge's call added for every paper to be generated (when the judge is on)."""
    judge_model = config.llm.support_model or model_id
    if not config.llm.support_judge or judge_model == EXTRACTIVE or model_id == EXTRACTIVE:
        return estimates
    model = get_model(judge_model, config, store, check_key=False)
    out_tokens = 200 + OUTPUT_TOKENS_PER_ANSWER * PLANNED_ANSWERS
    cost = model.estimate_cost(PLANNED_INPUT_TOKENS, out_tokens)
    planned = []
    for paper, e in estimates:
        if e.calls:  # a generation to be written: its answers will be judged once
            e = Estimate(calls=e.calls + 1, input_tokens=e.input_tokens + PLANNED_INPUT_TOKENS,
                         cached_tokens=e.cached_tokens, output_tokens=e.output_tokens + out_tokens,
                         cost=e.cost + cost, latency_ms=e.latency_ms, mode=e.mode)
        planned.append((paper, e))
    return planned


def _pages(store: Store, paper: Paper) -> list[Page]:
    pages = store.pages(paper.key) if paper.text_status == "ok" else []
    return pages or [Page(0, paper.abstract or "")]


class SupportCheck:
    """A run's support check: each paper's answers labelled (lexically) as the paper is written, then the judge
    calls over them all, when every paper's spend is known and so what is left of the budget."""

    def __init__(self, config: Config, store: Store):
        self.config, self.store = config, store
        self.report = SupportReport()
        self.seen: set[str] = set()
        self.changed: set[str] = set()  # labelled, not yet stored

    def label(self, paper: Paper, g: Generation) -> None:
        """Label a finished generation's answers by their words and numbers (the same labels whenever it runs)."""
        if paper.key in self.seen:
            return
        self.seen.add(paper.key)
        if g.status != "fallback" and label_answers(g, _pages(self.store, paper)):
            self.report.labelled += sum(1 for q in g.qa if q.support)
            self.changed.add(paper.key)
            if not self.config.llm.support_judge:  # stored once: a judge would change it again
                self.store.save_answers(g)
                self.changed.discard(paper.key)

    def finish(self, papers: list[Paper], gens: dict[str, Generation], *, spent: float) -> SupportReport:
        """Label what is left, judge per paper when llm.support_judge is on and the budget (llm.max_cost less
        `spent`) allows, and store what changed."""
        by_key = {p.key: p for p in papers}
        for key, g in gens.items():
            if key in by_key:
                self.label(by_key[key], g)
        if self.config.llm.support_judge:
            self.changed |= _judge(self.config, self.store, by_key, gens, spent=spent, rep=self.report)
        for key in sorted(self.changed):
            self.store.save_answers(gens[key])
        self.changed.clear()
        return self.report


def check_support(config: Config, store: Store, papers: list[Paper], gens: dict[str, Generation], *,
                  spent: float) -> SupportReport:
    """Label every answer of these generations (lexical), then judge them per paper when llm.support_judge
    is on and the run's budget (llm.max_cost less `spent`) allows; stores what changed."""
    return SupportCheck(config, store).finish(papers, gens, spent=spent)


def _judge(config: Config, store: Store, papers: dict[str, Paper], gens: dict[str, Generation], *,
           spent: float, rep: SupportReport) -> set[str]:
    todo = [g for k, g in gens.items() if k in papers and g.status != "fallback" and g.model != EXTRACTIVE]
    model_id = config.llm.support_model or next((g.model for g in todo), "")
    if not todo or not model_id:
        return set()
    if model_id == EXTRACTIVE:
        rep.notes.append("support judge skipped: llm.support_model must name a chat model")
        return set()
    try:
        judge = SupportJudge(get_model(model_id, config, store), PromptSet(config.llm.prompts_dir or None))
    except LLMError as e:
        rep.notes.append(f"support judge skipped: {e.message}")
        return set()
    planned, left, skipped = [], config.llm.max_cost - spent, []
    for g in sorted(todo, key=lambda g: papers[g.paper_key].versioned_id):
        positions = judge.to_judge(g)
        if not positions:
            continue
        req = judge.request(papers[g.paper_key], g, positions)
        cost = judge.cost(req)
        if cost > left:
            skipped.append(papers[g.paper_key].versioned_id)
            continue
        left -= cost
        planned.append((g, positions, req))
    if skipped:
        rep.notes.append(f"support judge skipped for {plural(len(skipped), 'paper')} to stay within llm.max_cost "
                         f"${config.llm.max_cost:.2f}: {', '.join(skipped)}")

    def one(item):
        g, positions, req = item
        try:
            return g, positions, judge.model.complete(req).data
        except LLMError as e:
            log.info("%s: support judge failed: %s", g.paper_key, e)
            return g, positions, e

    changed = set()
    with ThreadPoolExecutor(max_workers=max(1, config.llm.concurrency)) as pool:
        for g, positions, result in pool.map(one, planned):
            if isinstance(result, LLMError):
                rep.notes.append(f"support judge failed for {papers[g.paper_key].versioned_id}: {result.message}")
                continue
            judge.apply(g, positions, result)
            rep.judged += 1
            changed.add(g.paper_key)
    return changed
