"""The week's overview: a few themes across an issue's papers, each naming the papers it draws on.

A chat model writes them in one call over the issue's TL;DRs and summaries (prompts/overview.j2, a JSON
schema, the model's call log and costs). The extractive model has no LLM: it groups the papers by the key
terms they share and labels each group as exactly that. An overview that cannot be written never fails
the issue: the issue goes out without one, and the outcome's note says why.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from digest.config import Config
from digest.errors import DigestError
from digest.i18n import labels
from digest.llm.calllog import overview_key
from digest.llm.client import ChatRequest
from digest.llm.tokens import count_message_tokens
from digest.records import Generation, Issue, IssueEntry, Overview, Paper, Theme, Usage
from digest.store import utcnow
from digest.text import CJK_RE, stem, terms, tokenize
from digest.wording import plural
from digest.writers.backing import NOT, lexical_support
from digest.writers.base import CallsCancelled, Estimate
from digest.writers.chat import ChatWriter
from digest.writers.outline_check import language_problem
from digest.writers.prompts import PromptSet

TEMPLATE = "overview.j2"
MIN_THEMES, MAX_THEMES = 3, 5
OVERVIEW_OUTPUT_TOKENS = 1500  # five themes of a short paragraph each, with room for Japanese
SUMMARY_CHARS = 1200  # per paper: ten summaries stay a small prompt
PROMPT_TOKENS, TOKENS_PER_PAPER = 600, 450  # the estimate before the papers are written: task, TL;DR, summary

OVERVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "themes": {
            "type": "array", "minItems": 1, "maxItems": MAX_THEMES,
            "items": {
                "type": "object",
                "properties": {
                    "title": {"type": "string", "maxLength": 120},
                    "text": {"type": "string", "maxLength": 1200},
                    "papers": {"type": "array", "maxItems": 12, "items": {"type": "integer"}},
                },
                "required": ["title", "text", "papers"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["themes"],
    "additionalProperties": False,
}

_CITED = re.compile(r"\[(\d{1,3})\]")


@dataclass
class OverviewOutcome:
    """An overview, or None and why; `calls` and `spent` are what writing it cost now (the log's replies are free)."""

    overview: Overview | None
    note: str = ""
    calls: int = 0
    spent: Usage = field(default_factory=Usage)


def write_overview(config: Config, issue: Issue, writer, *, language: str, yes: bool = False,
                   already: float = 0.0) -> OverviewOutcome:
    """The overview of the issue's entries as they stand (`issue.model` is the variant it belongs to).

    A chat writer makes one model call, which counts against llm.max_cost with `already` (what the run
    has spent or planned); any other writer groups the papers by shared key terms.
    """
    if not issue.entries:
        return OverviewOutcome(None, "the overview was not written: the issue has no papers")
    if isinstance(writer, ChatWriter):
        return chat_overview(config, issue, writer, language=language, yes=yes, already=already)
    return term_overview(issue, language)


# ---- a chat model -----------------------------------------------------------------------------------


def overview_papers(issue: Issue) -> list[dict]:
    """What the prompt shows of each paper, numbered as the issue numbers it."""
    out = []
    for n, e in enumerate(issue.entries, 1):
        g = e.generation
        summary = (g.summary if g else "") or e.paper.abstract or ""
        if len(summary) > SUMMARY_CHARS:
            summary = summary[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
        out.append({"number": n, "title": " ".join(e.paper.title.split()), "tldr": (g.tldr if g else "") or "",
                    "summary": " ".join(summary.split())})
    return out


def prompt_version(prompts: PromptSet) -> str:
    """The overview template's own version: editing it does not redo every paper's generation."""
    source, _, _ = prompts.env.loader.get_source(prompts.env, TEMPLATE)
    return "overview-" + hashlib.sha256(source.encode()).hexdigest()[:12]


def overview_request(config: Config, issue: Issue, writer: ChatWriter, language: str) -> ChatRequest:
    """The one call of an issue's overview."""
    papers = overview_papers(issue)
    n = len(papers)
    low = min(MIN_THEMES, n)
    prompt = writer.prompts.render(
        TEMPLATE, title=config.output.title, language=language, language_name=labels(language)["language_name"],
        papers=papers, min_themes=low, max_themes=max(low, min(MAX_THEMES, n)))
    return ChatRequest("overview", [{"role": "user", "content": prompt}], OVERVIEW_SCHEMA, "issue_overview",
                       OVERVIEW_OUTPUT_TOKENS, generation_key=overview_key(issue.id, issue.model),
                       prompt_version=prompt_version(writer.prompts))


class EarlyOverview:
    """The overview call made as soon as every paper's TL;DR and summary are in, while answers are still being
    written (generate_many's on_outline), instead of alone after the last answer.

    It reads only the papers' titles, abstracts, TL;DRs and summaries, which a paper's outline settles; its
    reply waits in the call log, where write_overview finds it for the finished issue (same request, no new
    call). A paper whose answers call then fails falls back to its abstract: the finished issue's request
    differs, and write_overview makes it anew (the early call was spent for nothing). It is not made when
    the papers already failed exceed llm.max_failed_share (the issue will be a draft, which has no overview).
    """

    def __init__(self, config: Config, writer: ChatWriter, papers: list[Paper], *, issue_id: str, model: str,
                 yes: bool, already: Callable[[], float]):
        self.config, self.writer, self.papers = config, writer, papers
        self.issue_id, self.model, self.yes, self.already = issue_id, model, yes, already
        self.heads: dict[str, Generation] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.decided = False
        self.outcome: OverviewOutcome | None = None
        self.error: BaseException | None = None
        self.inputs: tuple | None = None  # what the early call was written from

    def outline_in(self, paper: Paper, g: Generation) -> None:
        """A paper's TL;DR and summary are settled: once every paper's are, write the overview in a thread."""
        with self.lock:
            self.heads[paper.key] = g
            if self.decided or any(p.key not in self.heads for p in self.papers):
                return
            self.decided = True
            failed = sum(self.heads[p.key].status == "fallback" for p in self.papers)
            if failed / len(self.papers) > self.config.llm.max_failed_share:
                return
            issue = Issue(id=self.issue_id, week_start="", week_end="", language=self.writer.language,
                          model=self.model, created="",
                          entries=[IssueEntry(p, self.heads[p.key], i) for i, p in enumerate(self.papers, 1)])
            self.inputs = _inputs(issue)
            self.thread = threading.Thread(target=self._write, args=(issue,), name="early-overview", daemon=True)
            self.thread.start()

    def _write(self, issue: Issue) -> None:
        try:
            self.outcome = write_overview(self.config, issue, self.writer, language=self.writer.language,
                                          yes=self.yes, already=self.already())
        except CallsCancelled:  # the run stopped before the call was made
            pass
        except BaseException as e:  # noqa: BLE001 - raised again by wait(), in the run's thread
            self.error = e

    def wait(self) -> OverviewOutcome | None:
        """Wait for the early call (its deadline bounds it); the outcome, or None when none was made."""
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise self.error
        return self.outcome

    def result_for(self, issue: Issue) -> OverviewOutcome | None:
        """The early outcome when it was written from exactly what the finished issue shows (else None): the
        same themes write_overview would give, and a failed or refused early call is not made a second time."""
        if self.outcome is None or self.inputs != _inputs(issue):
            return None
        return self.outcome

    @property
    def spent(self) -> float:
        """USD the early call spent (0 before it is done, or when its reply came from the call log)."""
        return self.outcome.spent.cost if self.outcome else 0.0


def _inputs(issue: Issue) -> tuple:
    """Everything an overview of the issue is written from."""
    return issue.id, issue.model, issue.language, overview_papers(issue)


def estimate_overview(config: Config, writer, papers: list[Paper]) -> Estimate:
    """The overview's call for --dry-run and the budget: none without a chat model, or when already in the log."""
    if not isinstance(writer, ChatWriter) or not papers:
        return Estimate()
    gens = [writer.existing(p) for p in papers]
    if all(gens):  # the papers are written: the request is known, and may have been made before
        issue = Issue(id="", week_start="", week_end="", language=writer.language, model=writer.model_id,
                      created="", entries=[IssueEntry(p, g, i) for i, (p, g) in enumerate(zip(papers, gens), 1)])
        req = overview_request(config, issue, writer, writer.language)
        if writer.model.logged_reply(req) is not None:
            return Estimate(mode="cached")
        tokens = count_message_tokens(req.messages, writer.model_id, writer.settings.encoding)
    else:
        tokens = PROMPT_TOKENS + TOKENS_PER_PAPER * len(papers)
    out = OVERVIEW_OUTPUT_TOKENS // 2
    return Estimate(calls=1, input_tokens=tokens, output_tokens=out, cost=writer.model.estimate_cost(tokens, out),
                    mode="overview")


def chat_overview(config: Config, issue: Issue, writer: ChatWriter, *, language: str, yes: bool,
                  already: float) -> OverviewOutcome:
    """One model call over the TL;DRs and summaries; themes naming no paper of the issue are dropped."""
    model = writer.model
    try:
        req = overview_request(config, issue, writer, language)
        tokens = count_message_tokens(req.messages, writer.model_id, writer.settings.encoding)
        estimate = model.estimate_cost(tokens, OVERVIEW_OUTPUT_TOKENS // 2)
        if not yes and already + estimate > config.llm.max_cost and model.logged_reply(req) is None:
            return OverviewOutcome(None, f"the overview was not written: its estimated ${estimate:.4f} would take "
                                         f"the run above llm.max_cost ${config.llm.max_cost:.2f} (pass --yes)")
        started = time.monotonic()
        result = writer.call(req)
    except DigestError as e:  # the papers are written: the issue goes out without an overview
        return OverviewOutcome(None, f"the overview was not written: {e.message}")
    spent = Usage() if result.from_cache else result.usage
    outcome = OverviewOutcome(None, calls=0 if result.from_cache else 1, spent=spent)
    themes, dropped = check_themes(result.data.get("themes", []), len(issue.entries))
    themes, unsupported = supported_themes(themes, overview_papers(issue), language)
    if not themes:
        why = "its themes were not backed by the papers they name" if unsupported else \
            "none of its themes named a paper of the issue"
        outcome.note = f"the overview was left out: {why}"
        return outcome
    notes = []
    if dropped:
        notes.append(f"{plural(dropped, 'theme')} of the overview named no paper of the issue and "
                     f"{'was' if dropped == 1 else 'were'} left out")
    if unsupported:
        notes.append(f"{plural(len(unsupported), 'theme')} of the overview left out, not backed by the papers "
                     f"{'it names' if len(unsupported) == 1 else 'they name'} ({'; '.join(unsupported)})")
    outcome.note = "; ".join(notes)
    usage = Usage(**{**vars(result.usage), "latency_ms": int((time.monotonic() - started) * 1000)})
    outcome.overview = Overview(issue_id=issue.id, model=issue.model, language=language, themes=themes,
                                method="llm", usage=usage, created=utcnow())
    return outcome


def check_themes(items: list[dict], n_papers: int) -> tuple[list[Theme], int]:
    """Themes whose papers are in the issue (numbers in range, also those cited as [n] in the text)."""
    themes: list[Theme] = []
    dropped = 0
    for item in items:
        title, text = " ".join(str(item.get("title", "")).split()), " ".join(str(item.get("text", "")).split())
        named = [p for p in item.get("papers", []) if isinstance(p, int) and not isinstance(p, bool)]
        named += [int(m) for m in _CITED.findall(text)]
        papers = sorted({p for p in named if 1 <= p <= n_papers})
        if not papers or not title or not text or len(themes) == MAX_THEMES:
            dropped += 1
            continue
        themes.append(Theme(title=title, text=text, papers=papers))
    return themes, dropped


MIN_THEME_SHARED = 0.5  # share of a theme's content words that the papers it names must use


def theme_problem(theme: Theme, papers: list[dict], language: str) -> str | None:
    """Why a theme's paragraph is not backed by the titles, TL;DRs and summaries of the papers it names
    (the answers' lexical support check applied to it, and most of its words theirs), or None when it is.

    A 1.5B model wrote "Both papers argue that expository writing requires ..." for two papers that argue
    no such thing; the overview has no quotes, so the papers' own write-ups are what it must rest on.
    """
    problem = language_problem(theme.text, language, "theme") or language_problem(theme.title, language, "theme")
    if problem:
        return problem
    named = [p for p in papers if p["number"] in theme.papers]
    source = " ".join(f"{p['title']}. {p['tldr']} {p['summary']}" for p in named)
    # The bracketed paper numbers are references, not claims.
    text = _CITED.sub(" ", theme.text)
    support = lexical_support(text, source, [], quote_verified=True)
    if support.label == NOT:
        return support.reason.replace("the answer", "the theme").replace("its quote or on its page", "its papers")
    words = {w for w in tokenize(text) if not CJK_RE.search(w)}
    if len(words) >= 4:
        shared = len(words & set(tokenize(source))) / len(words)
        if shared < MIN_THEME_SHARED:
            return f"only {shared:.0%} of its words are in its papers' summaries"
    return None


def supported_themes(themes: list[Theme], papers: list[dict], language: str) -> tuple[list[Theme], list[str]]:
    """The themes their papers back, and for each left out its title and why."""
    kept, left_out = [], []
    for t in themes:
        problem = theme_problem(t, papers, language)
        if problem:
            left_out.append(f"“{t.title}”: {problem}")
        else:
            kept.append(t)
    return kept, left_out


# ---- no LLM: grouping by shared key terms ------------------------------------------------------------

# Words every paper of the field uses: they say nothing about what a group of papers shares.
_GENERIC = frozenset(stem(w) for w in (
    "paper", "papers", "propose", "proposed", "method", "methods", "approach", "approaches", "result", "results",
    "show", "shows", "present", "study", "studies", "work", "works", "new", "novel", "based", "task", "tasks",
    "performance", "improve", "improves", "improvement", "existing", "problem", "problems", "introduce",
    "demonstrate", "experiment", "experiments", "achieve", "achieves", "state", "art", "different", "provide",
    "large", "high", "model", "models", "first", "two", "three", "find", "findings", "significant",
    "significantly", "various", "across", "several", "given", "important", "way", "make", "many", "more",
    "most", "able", "prior", "current", "recent", "evaluate", "evaluation", "challenge", "challenges", "real",
    "world", "relevant", "key", "include", "includes", "including", "lead", "leads", "despite", "open", "set",
    "create", "cover", "covers", "develop", "developed", "require", "requires", "suggest", "suggests",
    "understand", "understanding", "powerful", "hundreds", "quality", "scale", "leverage", "feature", "features",
    "process", "source", "sources", "often", "help", "helps", "need", "needs", "support", "designed", "design",
    "information", "read", "reading", "general", "specific", "common", "potential", "effective", "effectively",
    "powered", "comprehensive", "enable", "enables", "allow", "allows", "associated", "related", "respective",
    "respectively", "particular", "particularly", "certain", "similar", "simple", "possible", "consider",
    "considered", "usually", "typically", "addition", "additional", "order", "case", "cases", "example",
    "examples", "following", "follows", "section", "sections", "discussed", "introduction", "illustrate",
    "illustrated", "illustrations",
    # the vocabulary of any research paper, whatever its field
    "data", "dataset", "datasets", "publication", "publications", "published", "publish", "scientific", "science",
    "research", "researcher", "researchers", "literature", "article", "articles", "analysis", "analyze", "analyse",
    "framework", "system", "systems", "tool", "tools", "technique", "techniques", "application", "applications",
    "domain", "domains", "number", "use", "user", "users", "human", "humans", "better", "best", "well", "also",
    "available", "publicly", "shown", "using", "used", "obtain", "obtained", "describe", "described", "term",
    "terms", "type", "types", "level", "levels", "aim", "goal", "focus", "focuses", "approachable", "future",
    "explore", "explores", "investigate", "investigates", "field", "fields", "area", "areas", "step", "steps",
    # what a file name or a repository puts into a title
    "arxiv", "pdf", "doi", "http", "https", "www", "org", "com", "preprint", "version", "draft", "final",
))
# A title that is a file name ("arxiv_2201.09329v1_ulsa_cs.LG"): its words name no topic.
_FILE_NAME = re.compile(r"^[^\s]*[_./\\][^\s]*$|\.pdf$", re.I)
MAX_LABEL_TERMS = 3
SALIENT_TERMS = 8


def _paper_text(issue: Issue, i: int) -> tuple[str, str]:
    """(title, the rest) of entry i: title, abstract, TL;DR and summary."""
    e = issue.entries[i]
    g = e.generation
    return e.paper.title, " ".join(filter(None, [e.paper.abstract, g.tldr if g else "", g.summary if g else ""]))


def _surface(stem_: str, forms: Counter, originals: list[str]) -> str:
    """The word a stem is shown as: its most frequent form, with the capitals the papers give it."""
    word = forms.most_common(1)[0][0] if forms else stem_
    cased: Counter = Counter()
    for text in originals:
        cased.update(re.findall(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE))
    if any(w.islower() for w in cased):
        # 'Speech' at the start of titles is 'speech'; 'RAG' and 'BERT' keep their capitals.
        cased = Counter({w: k for w, k in cased.items() if not (w[:1].isupper() and w[1:].islower())})
    return cased.most_common(1)[0][0] if cased else word


def term_groups(docs: list[tuple[str, str]], max_groups: int = MAX_THEMES) -> list[tuple[list[str], list[int]]]:
    """Greedy groups of papers sharing salient terms: ([label terms], [0-based papers]), best group first.

    A term's weight in a paper is TF-IDF (the title counts twice); a paper is grouped only by its few most
    salient terms among those two to half of the papers share. Each round takes the term with the most weight
    over the papers not yet grouped, shared by two or more of them, and labels the group with it and the
    other salient terms all its papers share.
    """
    n = len(docs)
    counts: list[Counter] = []
    forms: dict[str, Counter] = {}
    for title, rest in docs:
        c: Counter = Counter()
        title_terms = [] if _FILE_NAME.search(title.strip()) else terms(title)
        for s, w in title_terms * 2 + terms(rest):
            if s in _GENERIC or len(s) < 3 or any(ch.isdigit() for ch in s):
                continue
            c[s] += 1
            forms.setdefault(s, Counter())[w] += 1
        counts.append(c)
    df = Counter(s for c in counts for s in c)
    # A term in most papers of the issue says nothing about the ones it groups.
    shared = {s for s, k in df.items() if 2 <= k <= max(2, n // 2)}
    weight = []
    for c in counts:
        tfidf = {s: (1 + math.log(k)) * math.log(1 + n / df[s]) for s, k in c.items() if s in shared}
        # Only a paper's salient shared terms (its top TF-IDF ones) group it: not a word it uses in passing.
        salient = sorted(tfidf, key=lambda s: (-tfidf[s], s))[:SALIENT_TERMS]
        weight.append({s: tfidf[s] for s in salient})
    left = set(range(n))
    groups: list[tuple[list[str], list[int]]] = []
    while len(groups) < max_groups:
        score: Counter = Counter()
        for i in left:
            score.update(weight[i])
        candidates = [(v, s) for s, v in score.items() if sum(1 for i in left if s in weight[i]) >= 2]
        if not candidates:
            break
        _, best = max(candidates, key=lambda vs: (vs[0], vs[1]))
        members = sorted(i for i in left if best in weight[i])
        common = [s for s in shared if s != best and all(s in weight[i] for i in members)]
        common.sort(key=lambda s: (-sum(weight[i][s] for i in members), s))
        label_stems = [best, *common[:MAX_LABEL_TERMS - 1]]
        originals = [" ".join(docs[i]) for i in members]
        groups.append(([_surface(s, forms.get(s, Counter()), originals) for s in label_stems], members))
        left -= set(members)
    return groups


def term_overview(issue: Issue, language: str) -> OverviewOutcome:
    """Themes without an LLM: the papers grouped by key terms they share, labelled as such."""
    lab = labels(language)
    groups = term_groups([_paper_text(issue, i) for i in range(len(issue.entries))])
    if not groups:
        return OverviewOutcome(None, "no overview: no key term is shared by two or more papers of the issue")
    themes = []
    for words, members in groups:
        quoted = lab["overview_term_sep"].join(lab["overview_term_quote"].format(term=w) for w in words)
        numbers = lab["overview_number_sep"].join(f"[{i + 1}]" for i in members)
        themes.append(Theme(title=lab["overview_terms_title"].format(terms=quoted),
                            text=lab["overview_terms_text"].format(numbers=numbers, terms=quoted),
                            papers=[i + 1 for i in members]))
    return OverviewOutcome(Overview(issue_id=issue.id, model=issue.model, language=language, themes=themes,
                                    method="terms", created=utcnow()))
