"""The editor's issue re-ranked by a model (selection.rerank_model; off by default): one call a week over the
titles and abstracts of the top candidates, each paper given a one-line reason.

The call is made, logged and priced as the writers' calls are (the model's call log: the same request
made again is served from it at no cost) and counts against llm.max_cost. A reply that cannot be used (the
call failed, the reply is invalid, it names a paper that was not a candidate) leaves the BM25 order as it
was and says why: a re-rank never fails a run and never brings in a paper the filters left out.
"""

from __future__ import annotations

import hashlib
import re

from digest.config import Config
from digest.errors import ConfigError, DigestError
from digest.llm.client import ChatRequest, LLMResult, get_model
from digest.llm.tokens import count_message_tokens
from digest.records import Usage
from digest.select import Candidate, reorder, watched_author
from digest.store import Store
from digest.wording import plural
from digest.writers.base import Estimate
from digest.writers.prompts import PromptSet

TEMPLATE = "rerank.j2"
SHORTLIST_FACTOR = 2  # the model sees the top 2 x max_papers: enough to change the issue, a short prompt
ABSTRACT_CHARS = 700
REASON_CHARS = 200
OUTPUT_TOKENS_PER_PAPER = 80  # a key and a sentence, as JSON
_ARXIV_PREFIX = re.compile(r"^(?:arxiv:\s*)", re.IGNORECASE)
_VERSION = re.compile(r"v\d+$")


def rerank_schema(n: int) -> dict:
    """The reply: the papers' keys best first, each with a one-line reason."""
    return {
        "type": "object",
        "properties": {
            "ranking": {
                "type": "array", "minItems": 1, "maxItems": n,
                "items": {
                    "type": "object",
                    "properties": {"key": {"type": "string", "maxLength": 64},
                                   "reason": {"type": "string", "maxLength": REASON_CHARS}},
                    "required": ["key", "reason"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["ranking"],
        "additionalProperties": False,
    }


def shortlist(candidates: list[Candidate], limit: int, authors: list[str]) -> tuple[list[Candidate], list[Candidate]]:
    """(watched, movable): the top SHORTLIST_FACTOR x limit ranked candidates, split into the watch list's
    papers, which stay first as the owner asked, and the ones the model may order."""
    top = [c for c in candidates if c.rank is not None][:SHORTLIST_FACTOR * limit]
    watched = 0
    while watched < len(top) and watched_author(top[watched].paper, authors):  # the ranked list starts with them
        watched += 1
    return top[:watched], top[watched:]


def _abstract(text: str) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= ABSTRACT_CHARS else flat[:ABSTRACT_CHARS].rsplit(" ", 1)[0] + " …"


def prompt_version(prompts: PromptSet) -> str:
    """The re-rank template's own version."""
    source, _, _ = prompts.env.loader.get_source(prompts.env, TEMPLATE)
    return "rerank-" + hashlib.sha256(source.encode()).hexdigest()[:12]


def rerank_request(config: Config, prompts: PromptSet, papers: list[Candidate], week: str) -> ChatRequest:
    """The week's one re-rank call."""
    shown = [{"key": c.paper.key, "title": " ".join(c.paper.title.split()), "abstract": _abstract(c.paper.abstract)}
             for c in papers]
    prompt = prompts.render(TEMPLATE, title=config.output.title, max_papers=config.selection.max_papers,
                            interests=(config.selection.interests or "").strip(), papers=shown)
    return ChatRequest("rerank", [{"role": "user", "content": prompt}], rerank_schema(len(papers)), "rerank",
                       OUTPUT_TOKENS_PER_PAPER * len(papers) + 100, generation_key=f"rerank:{week}",
                       prompt_version=prompt_version(prompts))


def read_ranking(data: dict, keys: list[str]) -> tuple[list[tuple[str, str]] | None, str]:
    """The reply's (key, reason) pairs in its order, or None and why it cannot be used.

    A key may come back as 'arXiv:2611.00001v2'; one that is no candidate's makes the whole reply
    untrustworthy. A key given twice counts once; keys left out are not an error (they follow in BM25 order).
    """
    known = set(keys)
    out: list[tuple[str, str]] = []
    unknown: list[str] = []
    for item in data.get("ranking", []):
        raw = str(item.get("key", "")).strip().strip("[]").strip()
        key = _ARXIV_PREFIX.sub("", raw)
        key = key if key in known else _VERSION.sub("", key)
        if key not in known:
            unknown.append(raw)
        elif key not in {k for k, _ in out}:
            out.append((key, " ".join(str(item.get("reason", "")).split())[:REASON_CHARS]))
    if unknown:
        named = ", ".join(repr(k[:40]) for k in unknown[:3])
        return None, f"it named {plural(len(unknown), 'paper')} that {'is' if len(unknown) == 1 else 'are'} no candidate ({named})"
    if not out:
        return None, "it ranked no paper"
    return out, ""


class Rerank:
    """One week's re-rank of the editor's selection: `apply` re-orders it; `estimate`, `usage`, `calls` and
    `note` say what it cost (or would) and what it did. With selection.rerank_model empty it does nothing."""

    def __init__(self, config: Config, store: Store, *, yes: bool = False, dry_run: bool = False,
                 reporter=None):
        self.config, self.store, self.yes, self.dry_run = config, store, yes, dry_run
        self.reporter = reporter  # told what the re-rank did (a pipeline.Reporter), when given
        self.model_id = (config.selection.rerank_model or "").strip()
        self.estimate = Estimate()
        self.usage = Usage()
        self.calls = 0
        self.note = ""
        self.model = None
        if not self.model_id:
            return
        if self.model_id == "extractive":
            raise ConfigError("selection.rerank_model = \"extractive\": the extractive model makes no LLM calls",
                              hint="name a chat model from [models.*], or leave rerank_model empty")
        # Built now, so a model that is not configured or has no key is said before minutes of fetching.
        self.model = get_model(self.model_id, config, store, check_key=not dry_run)

    def apply(self, candidates: list[Candidate], week: str, warnings: list[str]) -> list[Candidate]:
        """The candidates in the model's order (the BM25 order when it is off or its reply cannot be used).

        Why a reply was not used is added to `warnings`; the run goes on with the BM25 order.
        """
        if self.model is None:
            return candidates
        limit = self.config.selection.max_papers
        watched, movable = shortlist(candidates, limit, self.config.selection.authors)
        if len(movable) < 2:
            self.note = "the re-rank was not asked: fewer than two candidates to order"
            return candidates
        req = rerank_request(self.config, PromptSet(self.config.llm.prompts_dir or None), movable, week)
        logged = self.model.logged_reply(req)
        tokens = count_message_tokens(req.messages, self.model_id, self.model.settings.encoding)
        out = OUTPUT_TOKENS_PER_PAPER * len(movable) // 2
        cost = self.model.estimate_cost(tokens, out)
        self.estimate = Estimate(mode="cached") if logged else Estimate(
            calls=1, input_tokens=tokens, output_tokens=out, cost=cost, mode="rerank")
        if logged is None and self.dry_run:
            return candidates
        if logged is None and not self.yes and cost > self.config.llm.max_cost:
            return self._keep(candidates, warnings, f"its estimated ${cost:.4f} is above llm.max_cost "
                                                    f"${self.config.llm.max_cost:.2f} (pass --yes)")
        result = logged or self._call(req, warnings)
        if result is None:
            return candidates
        ranking, problem = read_ranking(result.data, [c.paper.key for c in movable])
        if ranking is None:
            return self._keep(candidates, warnings, f"the reply could not be used: {problem}")
        named = {k for k, _ in ranking}
        order = [c.paper.key for c in watched] + [k for k, _ in ranking] + \
                [c.paper.key for c in movable if c.paper.key not in named]
        was = {c.paper.key: c.rank for c in movable}
        why = {k: f"re-ranked by {self.model_id} (BM25 rank {was[k]})" + (f": {reason}" if reason else "")
               for k, reason in ranking}
        left = len(movable) - len(named)
        self.note = (f"re-ranked the top {len(movable)} candidates with {self.model_id}"
                     + (f"; {left} it left out follow in BM25 order" if left else ""))
        ranked = reorder(candidates, order, limit, why)
        if self.reporter is not None:  # the run's report: what the model chose for the issue, and why
            reasons = dict(ranking)
            self.reporter.note("\n".join([self.note + ":", *(
                f"  {c.rank}. {c.paper.versioned_id} (BM25 rank {was[c.paper.key]})"
                + (f": {reasons[c.paper.key]}" if reasons[c.paper.key] else "")
                for c in ranked if c.selected and c.paper.key in reasons)]))
        return ranked

    def _call(self, req: ChatRequest, warnings: list[str]) -> LLMResult | None:
        last_id = self.store.last_llm_call_id()
        try:
            result = self.model.complete(req)
        except DigestError as e:
            self._keep([], warnings, f"the call failed: {e.message}")
            result = None
        # What the call log says was spent: a failed or repaired call was paid for too.
        spent = self.store.llm_spend_after(last_id)
        self.calls += spent["calls"]
        self.usage += Usage(input_tokens=spent["input_tokens"], output_tokens=spent["output_tokens"],
                            cost=spent["cost"])
        return result

    def _keep(self, candidates: list[Candidate], warnings: list[str], why: str) -> list[Candidate]:
        self.note = f"re-rank by {self.model_id} not used, the selection keeps the BM25 order: {why}"
        warnings.append(self.note)
        return candidates
