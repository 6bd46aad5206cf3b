"""Grounded answers to a question over the whole archive: retrieve passages, ask the model, check every quote."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from digest.ask.index import search
from digest.ask.records import AskAnswer, AskEstimate, AskPaper, Citation, Hit
from digest.config import Config
from digest.errors import ConfigError, NotFoundError
from digest.i18n import labels
from digest.llm.client import ChatModel, ChatRequest, get_model
from digest.llm.tokens import get_encoding
from digest.store import Store
from digest.writers.grounding import PageIndex
from digest.writers.prompts import PromptSet

ASK_OUTPUT_TOKENS = 1500
SCHEMA_TOKENS = 400  # the schema instruction the client adds to the prompt, at most
REPAIR_TOKENS = 80  # the note that asks for a repaired reply
MAX_CLAIMS = 8
PASSAGES_PER_PAPER = 3
DEFAULT_PAPERS = 5
MAX_QUESTION_CHARS = 1000
# The best passage must hold at least this share of the question's term weight (IDF) for the archive to be
# said to answer it; below, "nothing in the archive answers this" without a call.
MIN_COVERAGE = 0.3
# Extractive answers show passages; a passage of a paper must reach this share of the best one's BM25 score.
EXTRACTIVE_SHARE = 0.5

_DELIMITER = re.compile(r"<\s*(/?)\s*passages\s*>", re.IGNORECASE)
_MARK = re.compile(r"\[(\d{1,3})\]")

def nothing_found_text(language: str) -> str:
    """'Nothing in the archive answers this.' in the answer's language (English when it has no wording)."""
    return labels(language)["ask_nothing_found"]


ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "nothing_found": {"type": "boolean"},
        "answer": {"type": "string", "maxLength": 4000},
        "claims": {
            "type": "array", "maxItems": MAX_CLAIMS,
            "items": {
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "minimum": 1},
                    "passage": {"type": "integer", "minimum": 1},
                    "quote": {"type": "string", "maxLength": 600},
                },
                "required": ["n", "passage", "quote"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["nothing_found", "answer", "claims"],
    "additionalProperties": False,
}


@dataclass
class _Source:
    """A passage as the prompt shows it: numbered [P n], with its paper's title."""

    hit: Hit
    title: str

    @property
    def page(self) -> int:
        return self.hit.page

    @property
    def section(self) -> str:
        return self.hit.section

    @property
    def text(self) -> str:
        return _DELIMITER.sub(lambda m: f"‹{m.group(1)}passages›", self.hit.text)


@dataclass
class _Plan:
    question: str
    sources: list[_Source]
    papers: list[AskPaper]
    nothing_found: bool
    messages: list[dict] = field(default_factory=list)


def _check_question(question: str) -> str:
    q = " ".join(question.split())
    if not q:
        raise ConfigError("the question is empty", hint='ask something, e.g. digest ask "which papers use LitQA?"')
    if len(q) > MAX_QUESTION_CHARS:
        raise ConfigError(f"the question is {len(q)} characters long",
                          hint=f"keep it under {MAX_QUESTION_CHARS} characters")
    return q


def _retrieve(store: Store, question: str, *, papers: int, since: str | None, category: str | None,
              issue: str | None, paper_key: str | None) -> tuple[list[Hit], list[AskPaper], bool]:
    """The passages of the best `papers` papers (at most PASSAGES_PER_PAPER each), their papers, and whether
    the archive has nothing on the question."""
    if paper_key and not store.query("SELECT 1 FROM papers WHERE key=?", (paper_key,)):
        raise NotFoundError(f"no paper {paper_key} in the store", hint="see `digest papers list` for the keys")
    if issue and not store.query("SELECT 1 FROM issues WHERE id=?", (issue,)):
        raise NotFoundError(f"no issue {issue} in the store", hint="see `digest issues list` for the issue ids")
    papers = max(1, papers)
    hits = search(store, question, k=max(20, 6 * papers), since=since, category=category, issue=issue,
                  paper_key=paper_key)
    if not hits or max(h.coverage for h in hits) < MIN_COVERAGE:
        return [], [], True
    order: list[str] = []
    chosen: dict[str, list[Hit]] = {}
    for h in hits:
        if h.paper_key not in chosen:
            if len(order) == papers:
                continue
            order.append(h.paper_key)
            chosen[h.paper_key] = []
        if len(chosen[h.paper_key]) < PASSAGES_PER_PAPER:
            chosen[h.paper_key].append(h)
    rows = {r["key"]: r for r in store.query(
        f"SELECT key, title, arxiv_id, version FROM papers WHERE key IN ({','.join('?' * len(order))})",
        tuple(order))}
    out_papers = [AskPaper(key=k, title=rows[k]["title"], arxiv_id=rows[k]["arxiv_id"], version=rows[k]["version"],
                           pages=sorted({h.page for h in chosen[k]})) for k in order if k in rows]
    # Grouped by paper, best paper first, each paper's passages in reading order.
    passages = [h for k in order for h in sorted(chosen[k], key=lambda h: h.passage_id)]
    return passages, out_papers, False


def _plan(config: Config, store: Store, question: str, *, language: str, papers: int, since: str | None,
          category: str | None, issue: str | None, paper_key: str | None) -> _Plan:
    question = _check_question(question)
    hits, ask_papers, nothing = _retrieve(store, question, papers=papers, since=since, category=category,
                                          issue=issue, paper_key=paper_key)
    titles = {p.key: p.title for p in ask_papers}
    sources = [_Source(h, titles.get(h.paper_key, h.paper_key)) for h in hits]
    plan = _Plan(question, sources, ask_papers, nothing)
    if not nothing:
        prompts = PromptSet(config.llm.prompts_dir or None)
        text = prompts.render("ask.j2", question=question, passages=sources, language=language,
                              language_name=labels(language)["language_name"], title=config.output.title,
                              drop_unverified=config.llm.unverified == "drop", max_claims=MAX_CLAIMS)
        plan.messages = [{"role": "user", "content": text}]
    return plan


def _estimate(config: Config, model: ChatModel, plan: _Plan) -> AskEstimate:
    if plan.nothing_found:
        return AskEstimate()
    settings = config.model(model.model_id)
    encoder = get_encoding(model.model_id, settings.encoding)
    inp = sum(encoder.count(m["content"]) for m in plan.messages) + SCHEMA_TOKENS
    return AskEstimate(input_tokens=inp, output_tokens=_reply_limit(settings) // 2,
                       cost=model.estimate_cost(inp, _reply_limit(settings) // 2),
                       max_cost=_most(model, inp, _reply_limit(settings), settings.max_output_tokens))


def _reply_limit(settings) -> int:
    return min(settings.max_output_tokens, ASK_OUTPUT_TOKENS)


def _most(model: ChatModel, inp: int, limit: int, ceiling: int) -> float:
    """The most one question can spend: ChatModel.complete may follow a cut reply with one at the model's
    whole output ceiling and an invalid reply with one repair (the bad reply and a note added to the input),
    so up to three calls, every reply as long as allowed."""
    cost = model.estimate_cost
    if ceiling < limit * 1.25:  # no second try with more room: the call and its repair
        return cost(inp, limit) + cost(inp + limit + REPAIR_TOKENS, limit)
    cut_then_repair = cost(inp, limit) + cost(inp, ceiling) + cost(inp + ceiling + REPAIR_TOKENS, ceiling)
    repair_then_cut = cost(inp, limit) + cost(inp + limit + REPAIR_TOKENS, limit) + cost(
        inp + limit + REPAIR_TOKENS, ceiling)
    return max(cut_then_repair, repair_then_cut)


def estimate_cost(config: Config, store: Store, question: str, *, model_id: str, language: str = "en",
                  papers: int = DEFAULT_PAPERS, since: str | None = None, category: str | None = None,
                  issue: str | None = None, paper_key: str | None = None) -> AskEstimate:
    """What asking would cost, without a call: tokens, the likely cost and the most it can cost (USD)."""
    if model_id == "extractive":
        return AskEstimate()
    model = get_model(model_id, config, store, check_key=False)
    plan = _plan(config, store, question, language=language, papers=papers, since=since, category=category,
                 issue=issue, paper_key=paper_key)
    return _estimate(config, model, plan)


def ask(config: Config, store: Store, question: str, *, model_id: str | None = None, language: str | None = None,
        papers: int = DEFAULT_PAPERS, since: str | None = None, category: str | None = None,
        issue: str | None = None, paper_key: str | None = None, dry_run: bool = False) -> AskAnswer:
    """Answer a question from the archive: cited and checked (chat model), passages (extractive), or honestly
    nothing found."""
    model_id = model_id or config.llm.model
    language = language or config.output.language
    plan = _plan(config, store, question, language=language, papers=papers, since=since, category=category,
                 issue=issue, paper_key=paper_key)
    answer = AskAnswer(question=plan.question, text="", citations=[], papers=plan.papers,
                       passages=[s.hit for s in plan.sources], model=model_id, language=language, dry_run=dry_run)
    if model_id == "extractive":
        answer.estimate = AskEstimate()
        return _extractive(answer, plan)
    model = get_model(model_id, config, store, check_key=not dry_run)
    answer.estimate = _estimate(config, model, plan)
    if plan.nothing_found:
        answer.nothing_found, answer.text = True, nothing_found_text(language)
        return answer
    if dry_run:
        return answer
    req = ChatRequest(purpose="ask", messages=plan.messages, schema=ANSWER_SCHEMA, schema_name="ask_answer",
                      max_tokens=_reply_limit(config.model(model_id)))
    result = model.complete(req)
    answer.cost = 0.0 if result.from_cache else result.usage.cost
    return _grounded(config, store, answer, plan, result.data)


def _extractive(answer: AskAnswer, plan: _Plan) -> AskAnswer:
    """The best passages themselves, grouped by paper and labelled as passages: no claim is made."""
    if plan.nothing_found:
        answer.nothing_found, answer.text = True, nothing_found_text(answer.language)
        return answer
    best = max(s.hit.score for s in plan.sources)
    best_of_paper: dict[str, float] = {}
    for s in plan.sources:
        best_of_paper[s.hit.paper_key] = max(best_of_paper.get(s.hit.paper_key, 0.0), s.hit.score)
    # Every paper found shows its best passage; its others only when they are near the best of all.
    kept = [s for s in plan.sources
            if s.hit.score >= EXTRACTIVE_SHARE * best or s.hit.score == best_of_paper[s.hit.paper_key]]
    answer.passages = [s.hit for s in kept]
    lines = [labels(answer.language)["ask_passages_note"]]
    for p in plan.papers:
        mine = [s for s in kept if s.hit.paper_key == p.key]
        p.pages = sorted({s.page for s in mine})
        lines.append(f"\n{p.title}")
        lines += [f"  p. {s.page}: {s.hit.text}" for s in mine]
    answer.text = "\n".join(lines)
    return answer


def _grounded(config: Config, store: Store, answer: AskAnswer, plan: _Plan, data: dict) -> AskAnswer:
    """Check every claim's quote on its paper's pages; mark or drop the ones not found (llm.unverified)."""
    text = " ".join(str(data.get("answer") or "").split())
    claims = data.get("claims") or []
    if data.get("nothing_found") or not text:
        answer.nothing_found, answer.text = True, nothing_found_text(answer.language)
        return answer
    drop = config.llm.unverified == "drop"
    page_index: dict[str, PageIndex] = {}
    citations: dict[int, Citation] = {}
    for c in claims:
        n, at, quote = c.get("n"), c.get("passage"), " ".join(str(c.get("quote") or "").split())
        if not isinstance(n, int) or n in citations:
            continue
        if not isinstance(at, int) or not 1 <= at <= len(plan.sources):
            citations[n] = Citation(n, "", "", 0, quote, False, "cites no passage that was given")
            continue
        src = plan.sources[at - 1]
        key = src.hit.paper_key
        if key not in page_index:
            page_index[key] = PageIndex(store.pages(key))
        check = page_index[key].find(quote, [src.page])
        page = check.pages[0] if check.verified and check.pages else src.page
        citations[n] = Citation(n, key, src.title, page, check.trimmed or quote, check.verified, check.reason)
    answer.text, answer.citations, answer.dropped = _settle_marks(text, citations, drop)
    if not answer.citations and drop:
        answer.nothing_found, answer.text = True, nothing_found_text(answer.language)
    cited = {c.paper_key for c in answer.citations if c.paper_key}
    pages: dict[str, set[int]] = {}
    for c in answer.citations:
        pages.setdefault(c.paper_key, set()).add(c.page)
    answer.papers = [p for p in plan.papers if p.key in cited]
    for p in answer.papers:
        p.pages = sorted(pages[p.key])
    return answer


def _settle_marks(text: str, citations: dict[int, Citation], drop: bool) -> tuple[str, list[Citation], int]:
    """The answer with its [n] marks renumbered in order of use; with `drop`, a sentence resting only on
    unverified quotes is left out. A mark with no claim behind it is removed: nothing stands uncited."""
    sentences = re.split(r"(?<=[.!?])\s+|(?<=[。!?])", text)
    kept_sentences, order, dropped = [], {}, set()
    for s in sentences:
        if not s:
            continue
        marks = [int(m) for m in _MARK.findall(s)]
        known = [m for m in marks if m in citations]
        good = [m for m in known if citations[m].verified]
        if drop and known and not good:
            dropped.update(known)
            continue
        use = good if drop else known
        for m in use:
            order.setdefault(m, len(order) + 1)
        s = _MARK.sub(lambda x: f"[{order[int(x.group(1))]}]" if int(x.group(1)) in order else "", s)
        kept_sentences.append(re.sub(r"\s+([.,;:!?。])", r"\1", s).strip())
    out = []
    for old, new in sorted(order.items(), key=lambda kv: kv[1]):
        c = citations[old]
        c.n = new
        out.append(c)
    dropped |= {n for n, c in citations.items() if drop and not c.verified and n not in order}
    joiner = "" if any(re.search(r"[。!?]$", s) for s in kept_sentences) else " "
    return joiner.join(kept_sentences).strip(), out, len(dropped)
