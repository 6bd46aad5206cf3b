"""Side by side: what each model wrote for an issue, what it cost, and where the models disagree."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError, NotFoundError
from digest.i18n import labels
from digest.records import Generation, Issue, Paper, Usage
from digest.render import make_env, pages_label
from digest.store import Store
from digest.text import CJK_RANGES

# Chinese, Japanese (kana and kanji) and Korean are compared character by character: no spaces
# separate their words, and a per-character LCS is what ROUGE-L does for them in practice.
_CJK = CJK_RANGES
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
MAX_TOKENS = 1000  # longer texts are cut: LCS is quadratic (summaries are a paragraph)


def tokenize(text: str) -> list[str]:
    """Lower-cased words, and single characters for CJK scripts."""
    return _TOKEN.findall((text or "").lower())[:MAX_TOKENS]


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 between two texts (symmetric; 0 when either is empty)."""
    ta, tb = tokenize(a), tokenize(b)
    if not ta or not tb:
        return 0.0
    lcs = lcs_length(ta, tb)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(ta), lcs / len(tb)
    return 2 * precision * recall / (precision + recall)


def cited_pages(g: Generation) -> set[int]:
    """Every page any answer of a generation cites."""
    return {p for q in g.qa for p in q.pages}


def jaccard(a: set, b: set) -> float | None:
    """|a ∩ b| / |a ∪ b|, or None when both are empty (nothing to agree on)."""
    union = a | b
    return len(a & b) / len(union) if union else None


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


@dataclass(kw_only=True)
class CallUsage(Usage):
    """What producing generations cost: from the call log when there is one, else from the generation."""

    calls: int = 0

    def __add__(self, other: CallUsage) -> CallUsage:
        return CallUsage(calls=self.calls + other.calls, **vars(Usage.__add__(self, other)))


def generation_usage(store: Store, g: Generation) -> CallUsage:
    """Calls, tokens, cost and latency behind one generation (every attempt counts: it was paid for)."""
    r = store.query(
        "SELECT count(*) AS calls, coalesce(sum(input_tokens), 0) AS i, coalesce(sum(cached_tokens), 0) AS c, "
        "coalesce(sum(output_tokens), 0) AS o, coalesce(sum(cost), 0) AS cost, "
        "coalesce(sum(latency_ms), 0) AS ms FROM llm_calls WHERE generation_key=?", (g.key,))[0]
    if r["calls"]:
        return CallUsage(calls=r["calls"], input_tokens=r["i"], cached_tokens=r["c"], output_tokens=r["o"],
                         cost=r["cost"], latency_ms=r["ms"])
    return CallUsage(**vars(g.usage))


@dataclass
class ModelStats:
    """Per model (variant) over the whole issue."""

    model: str
    papers: int = 0
    answers: int = 0
    verified: int = 0
    dropped: int = 0
    usage: CallUsage = field(default_factory=CallUsage)

    @property
    def verified_rate(self) -> float:
        """Share of the answers shown whose quote was found in the paper."""
        return self.verified / self.answers if self.answers else 0.0

    @property
    def latency_per_paper_ms(self) -> float:
        return self.usage.latency_ms / self.papers if self.papers else 0.0


@dataclass
class PaperComparison:
    """One paper: each model's generation, and how much the models agree on it."""

    paper: Paper
    position: int
    generations: dict[str, Generation | None]
    rouge_l: float | None = None  # mean pairwise ROUGE-L F1 of the summaries
    page_overlap: float | None = None  # mean pairwise Jaccard of the cited pages


@dataclass
class Comparison:
    """The issue compared across models, papers ordered least agreeing first."""

    issue: Issue
    models: list[str]
    stats: list[ModelStats]
    papers: list[PaperComparison]


def compare_issue(store: Store, issue_id: str, models: list[str] | None = None) -> Comparison:
    """Load every requested variant of an issue and compute stats and agreement."""
    base = store.load_issue(issue_id)
    have = store.issue_models(base.id)
    models = list(dict.fromkeys(models or have))
    missing = [m for m in models if m not in have]
    if missing:
        raise NotFoundError(
            f"issue {base.id} has no variant {', '.join(missing)} (it has: {', '.join(have) or 'none'})",
            hint=f"generate it with `digest rerun {base.id} --model {missing[0]}`")
    if len(models) < 2:
        raise DigestError((f"issue {base.id} has only {models[0]} as a variant: nothing to compare" if models
                           else f"issue {base.id} has no variant to compare"),
                          hint=f"add one with `digest rerun {base.id} --model OTHER`")
    variants = {m: store.load_issue(base.id, model=m) for m in models}
    stats = {m: ModelStats(model=m) for m in models}
    papers: list[PaperComparison] = []
    for i, entry in enumerate(base.entries):
        gens = {m: variants[m].entries[i].generation for m in models}
        present = [g for g in gens.values() if g is not None]
        pc = PaperComparison(paper=entry.paper, position=entry.position, generations=gens)
        if len(present) >= 2:
            pairs = list(combinations(present, 2))
            pc.rouge_l = _mean([rouge_l(a.summary, b.summary) for a, b in pairs])
            pc.page_overlap = _mean([jaccard(cited_pages(a), cited_pages(b)) for a, b in pairs])
        papers.append(pc)
        for m, g in gens.items():
            if g is None:
                continue
            s, u = stats[m], generation_usage(store, g)
            s.papers += 1
            s.answers += len(g.qa)
            s.verified += g.n_verified
            s.dropped += g.n_dropped
            s.usage += u
    # Least agreement first: that is where a reader should look; papers with one variant go last.
    papers.sort(key=lambda p: (p.rouge_l is None, p.rouge_l if p.rouge_l is not None else 0.0, p.position))
    return Comparison(issue=base, models=models, stats=[stats[m] for m in models], papers=papers)


# ---- the chart ----------------------------------------------------------------------------------------


@dataclass
class Bar:
    label: str
    value_text: str
    y: int
    width: float


def chart(stats: list[ModelStats], width: int = 600) -> dict:
    """Geometry of the inline SVG: a panel of cost bars above a panel of verified-rate bars, one bar per model."""
    label_w, row_h, title_h, gap = 170, 22, 24, 16
    bar_max = width - label_w - 80  # room on the right for the value
    max_cost = max((s.usage.cost for s in stats), default=0.0) or 1.0
    cost_top = title_h
    rate_title = cost_top + len(stats) * row_h + gap
    rate_top = rate_title + title_h
    cost_bars = [Bar(s.model, f"${s.usage.cost:.4f}", cost_top + i * row_h, bar_max * s.usage.cost / max_cost)
                 for i, s in enumerate(stats)]
    rate_bars = [Bar(s.model, f"{s.verified_rate:.0%}", rate_top + i * row_h, bar_max * s.verified_rate)
                 for i, s in enumerate(stats)]
    return {"width": width, "height": rate_top + len(stats) * row_h + 6, "label_w": label_w, "row_h": row_h,
            "cost_title_y": 16, "rate_title_y": rate_title + 16, "cost": cost_bars, "rate": rate_bars}


# ---- rendering ----------------------------------------------------------------------------------------


def _context(cmp: Comparison, title: str) -> dict:
    lab = labels(cmp.issue.language)
    return dict(cmp=cmp, issue=cmp.issue, title=title, L=lab, chart=chart(cmp.stats),
                pages=lambda ps: pages_label(ps, lab), pct=lambda v: "—" if v is None else f"{v:.0%}",
                num=lambda v: "—" if v is None else f"{v:.2f}")


def render_compare_html(cmp: Comparison, *, title: str) -> str:
    """The compare page as one self-contained HTML file (no scripts, no external resources)."""
    return make_env(autoescape=True).get_template("compare.html.j2").render(**_context(cmp, title))


def render_compare_markdown(cmp: Comparison, *, title: str) -> str:
    """The comparison as Markdown."""
    text = make_env().get_template("compare.md.j2").render(**_context(cmp, title))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_compare(config: Config, store: Store, issue_id: str, models: list[str] | None = None
                  ) -> tuple[Comparison, Path, Path]:
    """Write archive/compare/<issue>.html and .md; returns the comparison and both paths."""
    cmp = compare_issue(store, issue_id, models)
    folder = config.archive_dir / "compare"
    html_path, md_path = folder / f"{cmp.issue.id}.html", folder / f"{cmp.issue.id}.md"
    _write(html_path, render_compare_html(cmp, title=config.output.title))
    _write(md_path, render_compare_markdown(cmp, title=config.output.title))
    return cmp, html_path, md_path
