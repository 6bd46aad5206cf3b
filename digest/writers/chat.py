"""Per paper: TL;DR, summary and grounded Q&A from a chat model in two calls, checked against the paper."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

from digest.config import Config
from digest.errors import LLMError
from digest.i18n import labels
from digest.llm.client import ChatRequest, LLMResult, LLMTruncated, model_settings_fingerprint
from digest.llm.tokens import get_encoding
from digest.records import Generation, Page, Paper
from digest.store import Store, utcnow
from digest.writers.answer_check import check_answers
from digest.writers.base import CallSlots, Estimate, OnOutline, abstract_reason, add_usage, generation_key
from digest.writers.extractive import summarise_abstract
from digest.writers.grounding import summary_problems
from digest.writers.outline_check import (
    COPIED_OPENING,
    MIN_GOOD_QUESTIONS,
    OutlineCheck,
    check_outline,
    one_sentence,
    split_copied_opening,
)
from digest.writers.prompts import PromptSet
from digest.writers.retrieval import Passage, PassageIndex, find_sections, split_passages
from digest.writers.schemas import (
    ANSWERS_OUTPUT_TOKENS,
    MAX_QUESTIONS,
    MAX_SEARCH_TERMS,
    MIN_QUESTIONS,
    OUTLINE_OUTPUT_TOKENS,
    STEPS,
    TLDR_CHARS,
)
from digest.writers.stand_ins import stand_in_questions

log = logging.getLogger("digest")

_DELIMITER = re.compile(r"<\s*(/?)\s*paper\s*>", re.IGNORECASE)


@dataclass
class Block:
    """A labelled piece of paper text in the prompt: '[page 3]' or '[abstract]'."""

    label: str
    text: str

    def __post_init__(self):
        # The paper is data inside <paper>...</paper>: a PDF must not be able to close the delimiter.
        self.text = _DELIMITER.sub(lambda m: f"‹{m.group(1)}paper›", self.text)


@dataclass
class PaperText:
    """What the model is given about a paper: full text, a fitted part, or only the abstract."""

    mode: str  # full, partial, abstract
    blocks: list[Block]
    pages: list[Page]
    index: PassageIndex | None = None
    used: set[int] = field(default_factory=set)  # passage indexes already in the prompt
    reason: str = ""


def page_label(n: int) -> str:
    """The marker a page's text carries in the prompt, and that answers cite."""
    return f"page {n}"


class PaperPlan:
    """A paper's requests in order: the outline, then the answers built from the outline's reply.

    ChatWriter.generate makes them live and digest.batch sends them through the Batch API: one plan, so a
    batch line is the live request by construction.
    """

    def __init__(self, writer: ChatWriter, paper: Paper, budget: int | None = None):
        self.writer, self.paper = writer, paper
        self.budget = budget or writer.budget()
        self.text = writer.paper_text(paper, self.budget)

    def shrink(self) -> PaperPlan:
        """The same paper in half the budget: less input leaves the model more room to reply."""
        return PaperPlan(self.writer, self.paper, self.budget // 2)

    def outline(self) -> ChatRequest:
        """Step 1: system, then paper and task 1 in one user message."""
        return self._request("outline", self.writer.outline_messages(self.paper, self.text))

    def answers(self, outline: LLMResult, *, concise: bool = False) -> ChatRequest:
        """Step 2: step 1 and its reply, then the questions to answer (with passages for them when cut)."""
        w, questions = self.writer, self.questions(outline)
        extra = w.extra_passages(self.text, questions, self.budget)
        msgs = w.answers_messages(self.outline().messages, outline.text, self.text, questions, extra,
                                  concise=concise)
        return self._request("answers", msgs)

    def missing_answers(self, asked: ChatRequest, reply: LLMResult, missing: list[int]) -> ChatRequest:
        """Step 2 again for the questions its reply left out: the reply stays in, the request names them."""
        task = self.writer.prompts.render("missing.j2", missing=missing)
        return self._request("answers", [*asked.messages, {"role": "assistant", "content": reply.text},
                                         {"role": "user", "content": task}])

    def check(self, outline: LLMResult) -> OutlineCheck:
        """What is wrong with an outline reply beyond its schema (empty when nothing is).

        A TL;DR of several sentences, or one the length bound cut, is first kept to its first sentence
        (in the reply's data, so every later step sees the same one).
        """
        outline.data["tldr"] = one_sentence(outline.data.get("tldr", ""), TLDR_CHARS)
        return check_outline(outline.data, self.writer.language, self.paper.title)

    def repair_outline(self, outline: LLMResult, check: OutlineCheck) -> ChatRequest:
        """Step 1 again, told what was wrong: the reply stays in, so the prefix up to it is shared."""
        w = self.writer
        questions = [q.get("question", "") for q in outline.data.get("questions", [])]
        # The repeated questions shown side by side: told only "question 5 repeats an earlier question", a
        # small model was seen to send the same reply back.
        repeats = [dict(number=i, text=questions[i - 1], earlier=j, earlier_text=questions[j - 1])
                   for i, j in sorted(check.repeated.items())]
        task = w.prompts.render("outline_repair.j2", **w.common, problems=check.problems, repeats=repeats,
                                title_tldr=any("title" in p for p in check.text_problems),
                                paper_title=" ".join(self.paper.title.split()),
                                min_questions=MIN_QUESTIONS, max_questions=MAX_QUESTIONS)
        return self._request("outline", [*self.outline().messages, {"role": "assistant", "content": outline.text},
                                         {"role": "user", "content": task}])

    @staticmethod
    def questions(outline: LLMResult) -> list[dict]:
        """The questions of an outline reply that step 2 answers."""
        return outline.data["questions"][:MAX_QUESTIONS]

    def _request(self, purpose: str, messages: list[dict]) -> ChatRequest:
        schema, name, max_tokens = STEPS[purpose]
        return ChatRequest(purpose, messages, schema, name, max_tokens, paper_key=self.paper.key,
                           generation_key=self.writer.key(self.paper), prompt_version=self.writer.prompts.version)


# Papers waiting for a slot each hold a thread and their fitted text: a week (llm.max_papers) fits many times.
PAPERS_IN_FLIGHT = 64
CALLS_AFTER = {"outline": 1}  # calls a paper still makes once a call of this purpose is answered


class ChatWriter:
    """Generations from a chat model: outline call, then answers call sharing the same prefix."""

    reports_outlines = True  # generate() hands on_outline the TL;DR and summary before the answers call

    def __init__(self, config: Config, store: Store, model, prompts: PromptSet, language: str):
        self.config, self.store, self.model, self.prompts = config, store, model, prompts
        self.language = language
        self.model_id = model.model_id
        self.settings = config.model(self.model_id)
        self.fingerprint = model_settings_fingerprint(self.settings)
        self.encoder = get_encoding(self.model_id, self.settings.encoding)
        # `concurrency` counts calls, not papers: every paper of a week is under way at once, so the slots
        # see every paper's next call and give each freed slot to the longest chain (CallSlots).
        self.slots = CallSlots(config.llm.concurrency)
        self.papers_in_flight = max(PAPERS_IN_FLIGHT, 4 * config.llm.concurrency)
        self._fitted: dict[tuple, PaperText] = {}
        lab = labels(language)
        self.common = dict(language=language, language_name=lab["language_name"],
                           title=config.output.title)

    # ---- keys and cache ----------------------------------------------------------------

    def key(self, paper: Paper) -> str:
        return generation_key(paper, self.model_id, self.prompts.version, self.fingerprint, self.language)

    def existing(self, paper: Paper) -> Generation | None:
        """The stored generation for this paper, model, prompts and settings (fallbacks are retried)."""
        g = self.store.get_generation(self.key(paper))
        return g if g and g.status != "fallback" else None

    # ---- context fitting ---------------------------------------------------------------

    def budget(self) -> int:
        """Tokens of paper text that fit: the window less both replies and the prompt around it."""
        s = self.settings
        reserve = min(s.max_output_tokens, ANSWERS_OUTPUT_TOKENS) + OUTLINE_OUTPUT_TOKENS + 1500
        return max(1000, s.context_window - reserve)

    def paper_text(self, paper: Paper, budget: int | None = None) -> PaperText:
        """Fit the paper to the budget: whole when it fits, else abstract/intro/conclusion.

        Kept per paper and budget: the estimate and the generation of a run need the same one.
        """
        budget = budget or self.budget()
        key = (paper.key, paper.version, paper.text_status, budget)
        if key not in self._fitted:
            self._fitted[key] = self._fit(paper, budget)
        pt = self._fitted[key]
        return PaperText(pt.mode, pt.blocks, pt.pages, pt.index, set(pt.used), pt.reason)

    def _fit(self, paper: Paper, budget: int) -> PaperText:
        pages = self.store.pages(paper.key) if paper.text_status == "ok" else []
        if not pages or not any(p.body.strip() for p in pages):
            text = paper.abstract or paper.title
            return PaperText("abstract", [Block("abstract", text)], [Page(0, text)],
                             reason=abstract_reason(paper))
        total = sum(self.encoder.count(p.body) for p in pages)
        if total <= budget:
            return PaperText("full", [Block(page_label(p.number), p.body) for p in pages if p.body.strip()],
                             pages)
        passages = split_passages(pages)
        index = PassageIndex(passages)
        sections = find_sections(pages)
        # In order of priority: a long introduction must not crowd out the conclusion.
        chosen: list[Passage] = []
        for name in ("abstract", "conclusion", "introduction"):
            chosen.extend(sections.get(name, []))
        if not chosen:  # no recognisable headings: the opening and the closing of the paper
            chosen = passages[:8] + passages[-4:]
        # These may take 40% of the budget; the rest is for the passages chosen per question.
        picked: dict[int, Passage] = {}
        used = 0
        for p in chosen:
            n = self.encoder.count(p.text)
            if p.index not in picked and used + n <= budget * 0.4:
                picked[p.index] = p
                used += n
        pt = PaperText("partial", passage_blocks(sorted(picked.values(), key=lambda p: p.index)), pages,
                       index=index)
        pt.used = set(picked)
        return pt

    def extra_passages(self, pt: PaperText, questions: list[dict], budget: int) -> list[Block]:
        """The passages most relevant to each question, in reading order, within the budget left."""
        if pt.mode != "partial" or pt.index is None:
            return []
        room = budget - sum(self.encoder.count(b.text) for b in pt.blocks)
        per_question = max(200, room // max(1, len(questions)))
        picked: dict[int, Passage] = {}
        total = 0
        for q in questions:
            query = q["question"] + " " + " ".join(q.get("search_terms", [])[:MAX_SEARCH_TERMS])
            spent = 0
            for passage, _score in pt.index.search(query, k=8):
                if passage.index in pt.used or passage.index in picked:
                    continue
                n = self.encoder.count(passage.text)
                # Every question gets its best passage if the room allows, more within its share.
                if (spent and spent + n > per_question) or total + n > room:
                    break
                picked[passage.index] = passage
                spent += n
                total += n
        return passage_blocks(sorted(picked.values(), key=lambda p: p.index))

    # ---- messages ----------------------------------------------------------------------

    def outline_messages(self, paper: Paper, pt: PaperText) -> list[dict]:
        """System, then the paper and task 1 in one user message: the prefix the answers call repeats.

        One user message, not two: chat templates such as Gemma's and Mistral's refuse two messages of the
        same role in a row (HTTP 400 "Conversation roles must alternate"). The paper comes first, so every
        call of a paper (outline, answers, repairs) shares the prompt-cache prefix up to the end of the paper.
        """
        r = self.prompts.render
        paper_text = r("paper.j2", paper=paper, mode=pt.mode, blocks=pt.blocks, reason=pt.reason)
        task = r("outline.j2", **self.common, min_questions=MIN_QUESTIONS, max_questions=MAX_QUESTIONS,
                 tldr_words=30, summary_sentences="4 to 6")
        return [
            {"role": "system", "content": r("system.j2", **self.common)},
            {"role": "user", "content": paper_text + "\n\n" + task},
        ]

    def answers_messages(self, outline_msgs: list[dict], outline_text: str, pt: PaperText,
                         questions: list[dict], extra: list[Block], *, concise: bool = False) -> list[dict]:
        """The outline call's messages and reply, then task 2 (with extra passages when the paper was cut).

        The model answers the questions it wrote; the digest's stand-ins for its repeats are named by number,
        and only then: listing every question was seen to make a small model quote its own list back."""
        stand_ins = [(n, " ".join(q["question"].split())) for n, q in enumerate(questions, 1) if q.get("stand_in")]
        task = self.prompts.render("answers.j2", **self.common, extra_blocks=extra, mode=pt.mode,
                                   stand_ins=stand_ins, n_questions=len(questions), concise=concise)
        return outline_msgs + [{"role": "assistant", "content": outline_text},
                               {"role": "user", "content": task}]

    # ---- the two calls -----------------------------------------------------------------

    def preflight(self) -> None:
        """Check the model's endpoint, key and name before the run spends time (ChatModel.preflight)."""
        self.model.preflight()

    def estimate(self, paper: Paper) -> Estimate:
        """Tokens and cost this paper will take (0 when already generated)."""
        if self.existing(paper):
            return Estimate(mode="cached")
        plan = self.plan(paper)
        prefix = sum(self.encoder.count(m["content"]) for m in plan.outline().messages)
        extra = int((plan.budget - prefix) * 0.5) if plan.text.mode == "partial" else 0
        inp = prefix + (prefix + OUTLINE_OUTPUT_TOKENS // 2 + 600 + extra)
        out = OUTLINE_OUTPUT_TOKENS // 2 + ANSWERS_OUTPUT_TOKENS // 2
        cost = self.model.estimate_cost(inp, out, cached_tokens=prefix)
        return Estimate(calls=2, input_tokens=inp, cached_tokens=prefix, output_tokens=out, cost=cost,
                        mode=plan.text.mode)

    def plan(self, paper: Paper) -> PaperPlan:
        """The requests this paper takes, live or through the Batch API."""
        return PaperPlan(self, paper)

    def generate(self, paper: Paper, on_outline: OnOutline | None = None) -> Generation:
        """Generate (or return the stored) TL;DR, summary and checked Q&A for one paper; `on_outline` is told
        the TL;DR and summary as soon as the outline settles them, before the answers call."""
        found = self.existing(paper)
        if found:
            return found
        key = self.key(paper)
        started = time.monotonic()
        results: list[LLMResult] = []
        try:
            plan = self.plan(paper)
            try:
                outline = self.call(plan.outline())
            except LLMTruncated:
                smaller = plan.shrink()  # once: less input leaves the model more room
                if smaller.outline().messages == plan.outline().messages:
                    raise  # the paper already fits in half: the same request would be cut the same way
                plan = smaller
                outline = self.call(plan.outline())
            results.append(outline)
            outline, check = self._checked_outline(plan, outline, results)
            usable = len(plan.questions(outline)) - len(check.bad_questions)
            if usable < MIN_GOOD_QUESTIONS:
                log.info("%s: outline unusable after a repair: %s", paper.versioned_id, check.summary())
                return self.fallback(paper, key, f"the model's outline failed its checks ({check.summary()})",
                                     results, started)
            stood_in = stand_in_questions(outline.data["questions"], check, self._passages(plan.text),
                                          self.language) if check.repeated else []
            tldr, summary, note, drops = self._tldr_summary(paper, plan.text, outline, check)
            if stood_in:
                note = "; ".join(filter(None, [note, f"questions asked by the digest: {', '.join(map(str, stood_in))}"]))
            status = "ok" if plan.text.mode != "abstract" else "abstract-only"
            if on_outline:
                on_outline(paper, Generation(key=key, paper_key=paper.key, version=paper.version,
                                             model=self.model_id, prompt_version=self.prompts.version,
                                             language=self.language, tldr=tldr, summary=summary, status=status))
            asked = plan.answers(outline)
            try:
                answers = self.call(asked)
            except LLMTruncated:
                # The third and last call: the same questions, asked for shorter answers and quotes.
                asked = plan.answers(outline, concise=True)
                answers = self.call(asked)
            results.append(answers)
            answer_list = self._complete_answers(plan, outline, asked, answers, results, set(check.bad_questions))
        except LLMError as e:
            if e.status in (401, 403, 404):  # a wrong key or model name: every paper would fail the same way
                raise
            log.info("%s: %s; using the abstract", paper.versioned_id, e)
            return self.fallback(paper, key, f"the model failed ({e.message})", results, started)
        pt, questions = plan.text, plan.questions(outline)
        qa, dropped, answer_drops = check_answers(questions, answer_list, pt.pages,
                                                  drop_unverified=self.config.llm.unverified == "drop",
                                                  skip=set(check.bad_questions), language=self.language)
        drops.update(answer_drops)
        g = Generation(
            key=key, paper_key=paper.key, version=paper.version, model=self.model_id,
            prompt_version=self.prompts.version, language=self.language,
            tldr=tldr, summary=summary, qa=qa,
            status=status, note=note, n_dropped=dropped, drops=drops, created=utcnow(),
        )
        add_usage(g, results, started)
        self.store.save_generation(g, self.fingerprint)
        return g

    def _tldr_summary(self, paper: Paper, pt: PaperText, outline: LLMResult,
                      check: OutlineCheck) -> tuple[str, str, str | None, dict[str, int]]:
        """The TL;DR and summary the reader gets of a checked outline, the generation's note, and the drops so far.

        Settled by the outline alone (the answers change none of it), so the week's overview can be written
        from them while the answers are still being written.
        """
        tldr, summary, note = outline.data["tldr"].strip(), outline.data["summary"].strip(), pt.reason or None
        if check.text_problems == [COPIED_OPENING] and split_copied_opening(summary):
            # Still a copy after the repair (a small model sends the same reply back): the summary's opening
            # is the TL;DR, once, and the summary goes on from there; nothing of the model's is lost.
            tldr, summary = split_copied_opening(summary)
            check.text_problems = []
        off, numbers = summary_problems(tldr, summary,
                                        "\n".join([paper.title, paper.abstract, *(p.body for p in pt.pages)]))
        drops: dict[str, int] = {}
        if check.text_problems:  # still wrong after the repair: the reader gets the abstract's, and is told
            off = "; ".join(filter(None, [*check.text_problems, off]))
            drops["TL;DR and summary that failed the outline check"] = 1
        if off:  # no quote backs a summary: one that is not about this paper (an obeyed injection) is not shown
            tldr, summary = summarise_abstract(paper)
            note = "; ".join(filter(None, [note, f"TL;DR and summary taken from the abstract: {off}"]))
        elif numbers:  # a derived number the check did not foresee is not worth the model's summary: marked
            note = "; ".join(filter(None, [note, *numbers]))
        if check.bad_questions:
            left_out = OutlineCheck(bad_questions=check.bad_questions).summary()
            note = "; ".join(filter(None, [note, f"questions left out: {left_out}"]))
        return tldr, summary, note, drops

    def _complete_answers(self, plan: PaperPlan, outline: LLMResult, asked: ChatRequest, answers: LLMResult,
                          results: list[LLMResult], rejected: set[int]) -> list[dict]:
        """The reply's answers, plus one repair call for the questions it left out (3 of 9 is not accepted);
        questions the outline check rejected are not asked for again."""
        given = list(answers.data["answers"])
        n = len(plan.questions(outline))
        answered = {a.get("question_index") for a in given}
        missing = [i for i in range(1, n + 1) if i not in answered and i not in rejected]
        if not missing:
            return given
        try:
            more = self.call(plan.missing_answers(asked, answers, missing))
        except LLMError as e:  # what was answered stands; the rest is counted as dropped
            log.info("%s: the missing answers %s were not given: %s", plan.paper.versioned_id, missing, e)
            return given
        results.append(more)
        return given + [a for a in more.data["answers"] if a.get("question_index") in missing]

    def _checked_outline(self, plan: PaperPlan, outline: LLMResult,
                         results: list[LLMResult]) -> tuple[LLMResult, OutlineCheck]:
        """The outline, asked once to be repaired when it fails its checks; and what is still wrong with it."""
        check = plan.check(outline)
        if not check:
            return outline, check
        log.info("%s: the outline needs a repair: %s", plan.paper.versioned_id, check.summary())
        try:
            fixed = self.call(plan.repair_outline(outline, check))
        except LLMError as e:  # the first reply stands, with its faults handled by the caller
            log.info("%s: the outline repair failed: %s", plan.paper.versioned_id, e)
            return outline, check
        results.append(fixed)
        again = plan.check(fixed)
        worse = len(again.problems) > len(check.problems)
        return (outline, check) if worse else (fixed, again)

    @staticmethod
    def _passages(pt: PaperText) -> list[Passage]:
        """The paper's passages: the index's when the paper was cut to fit, else split from its pages."""
        return pt.index.passages if pt.index else split_passages(pt.pages)

    def call(self, req: ChatRequest) -> LLMResult:
        """One model call in a free slot (the longest chain of calls still ahead gets the next one)."""
        with self.slots.slot(chain=1 + CALLS_AFTER.get(req.purpose, 0)):
            return self.model.complete(req)

    def fallback(self, paper: Paper, key: str, reason: str, results: list, started: float) -> Generation:
        """An abstract-only entry with a note, so the run completes; retried on the next run."""
        tldr, summary = summarise_abstract(paper)
        g = Generation(key=key, paper_key=paper.key, version=paper.version, model=self.model_id,
                       prompt_version=self.prompts.version, language=self.language, tldr=tldr,
                       summary=summary, status="fallback", note=reason, created=utcnow())
        add_usage(g, results, started)
        self.store.save_generation(g, self.fingerprint)
        return g


def passage_blocks(passages: list[Passage]) -> list[Block]:
    """Consecutive passages of one page become one block under one page marker; a passage under another
    section heading than the one before it says which ('[section: 4 Results]'), so a model given pieces of
    a paper knows where each comes from (a limitation from the limitations, not from related work)."""
    groups: list[tuple[int, list[str]]] = []
    last, section = None, None
    for p in passages:
        mark = f"[section: {p.section}]\n" if p.section and p.section != section else ""
        section = p.section or section
        if groups and groups[-1][0] == p.page:
            # Text left out between two passages is marked, so nobody quotes across the gap.
            groups[-1][1].append(mark + (p.text if last is not None and p.index == last + 1 else "[…] " + p.text))
        else:
            groups.append((p.page, [mark + p.text]))
        last = p.index
    return [Block(page_label(page), "\n".join(texts)) for page, texts in groups]
