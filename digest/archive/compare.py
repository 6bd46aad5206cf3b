"""Side by side: what each model wrote for an issue, what it cost, and where the models disagree."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

from markupsafe import Markup

from digest.config import Config
from digest.errors import DigestError, NotFoundError
from digest.i18n import labels
from digest.llm.calllog import logged_usage, overview_key
from digest.records import Generation, Issue, Overview, Paper, Usage
from digest.render import count_papers, make_env, pages_label
from digest.resources import bundled_dir
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
    calls, u = logged_usage(store, [g.key])
    return CallUsage(calls=calls, **vars(u)) if calls else CallUsage(**vars(g.usage))


def overview_usage(store: Store, issue_id: str, variant: str, model_id: str) -> CallUsage:
    """The calls behind a variant's overview, counted as `digest run`, `rerun` and `cost` count them."""
    calls, u = logged_usage(store, [overview_key(issue_id, variant)])
    if not calls and variant == model_id:  # logged before overview keys named their variant
        calls, u = logged_usage(store, [overview_key(issue_id)], model=model_id)
    return CallUsage(calls=calls, **vars(u))


@dataclass
class ModelStats:
    """Per model (variant) over the whole issue."""

    model: str
    papers: int = 0
    answers: int = 0
    verified: int = 0
    dropped: int = 0
    excerpts: int = 0  # answers that are the paper's own words: no check of them can fail
    checked_verified: int = 0  # answers (not excerpts) whose quote was found in the paper
    supported: int = 0  # answers whose quote backs them (QA.support "supported")
    support_checked: int = 0  # answers whose support was judged (supported, partly or not)
    usage: CallUsage = field(default_factory=CallUsage)

    @property
    def verified_rate(self) -> float:
        """Share of the answers shown whose quote was found in the paper."""
        return self.verified / self.answers if self.answers else 0.0

    @property
    def verified_share(self) -> float | None:
        """Share of the checkable answers (not excerpts) whose quote was found; None (shown "—") when no
        answer could fail the check, as for the extractive model."""
        checkable = self.answers - self.excerpts
        return self.checked_verified / checkable if checkable > 0 else None

    @property
    def supported_share(self) -> float | None:
        """Share of the judged answers whose quote supports them; None ("—") when none was judged."""
        return self.supported / self.support_checked if self.support_checked else None

    @property
    def latency_per_paper_ms(self) -> float:
        return self.usage.latency_ms / self.papers if self.papers else 0.0


@dataclass
class PairScore:
    """How much two models agree on one paper."""

    a: str
    b: str
    rouge_l: float
    page_overlap: float | None


@dataclass
class PaperComparison:
    """One paper: each model's generation, and how much the models agree on it."""

    paper: Paper
    position: int
    generations: dict[str, Generation | None]
    rouge_l: float | None = None  # mean pairwise ROUGE-L F1 of the summaries
    page_overlap: float | None = None  # mean pairwise Jaccard of the cited pages
    pairs: list[PairScore] = field(default_factory=list)  # every pair of models that both wrote


@dataclass
class Comparison:
    """The issue compared across models, papers ordered least agreeing first."""

    issue: Issue
    models: list[str]
    stats: list[ModelStats]
    papers: list[PaperComparison]
    overviews: dict[str, Overview | None] = field(default_factory=dict)  # each variant's themes, if any


def compare_issue(store: Store, issue_id: str, models: list[str] | None = None) -> Comparison:
    """Load every requested variant of an issue and compute stats and agreement."""
    base = store.load_issue(issue_id)
    have = store.issue_models(base.id)
    # By default every variant, the one the issue shows first: the others are read against it.
    models = list(dict.fromkeys(models or sorted(have, key=lambda m: m != base.model)))
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
        pc = PaperComparison(paper=entry.paper, position=entry.position, generations=gens)
        written = [(m, g) for m, g in gens.items() if g is not None]
        pc.pairs = [PairScore(ma, mb, rouge_l(a.summary, b.summary), jaccard(cited_pages(a), cited_pages(b)))
                    for (ma, a), (mb, b) in combinations(written, 2)]
        if pc.pairs:
            pc.rouge_l = _mean([s.rouge_l for s in pc.pairs])
            pc.page_overlap = _mean([s.page_overlap for s in pc.pairs])
        papers.append(pc)
        for m, g in gens.items():
            if g is None:
                continue
            s, u = stats[m], generation_usage(store, g)
            s.papers += 1
            s.answers += len(g.qa)
            s.verified += g.n_verified
            s.excerpts += sum(q.excerpt for q in g.qa)
            s.checked_verified += sum(q.verified for q in g.qa if not q.excerpt)
            s.supported += sum(q.support == "supported" for q in g.qa if not q.excerpt)
            s.support_checked += sum(q.support in ("supported", "partly", "not") for q in g.qa if not q.excerpt)
            s.dropped += g.n_dropped
            s.usage += u
    for m in models:  # the week's overview is a call of the variant too (writing it needed its papers first)
        model_id = next((g.model for e in variants[m].entries if (g := e.generation) is not None), m)
        stats[m].usage += overview_usage(store, base.id, m, model_id)
    # Least agreement first: that is where a reader should look; papers with one variant go last.
    papers.sort(key=lambda p: (p.rouge_l is None, p.rouge_l if p.rouge_l is not None else 0.0, p.position))
    return Comparison(issue=base, models=models, stats=[stats[m] for m in models], papers=papers,
                      overviews={m: variants[m].overview for m in models})


# ---- the chart ----------------------------------------------------------------------------------------


@dataclass
class Bar:
    label: str
    value_text: str
    y: int
    width: float


def chart(stats: list[ModelStats], width: int = 360) -> dict:
    """Geometry of the inline SVG: cost bars above verified-rate bars, each model's name above its bar.

    Names sit on their own line so the chart stays narrow: scaled to a phone's width its text is still
    readable, and a long model name never pushes a bar off the page.
    """
    row_h, label_h, title_h, gap = 34, 14, 22, 14
    bar_max = width - 70  # room on the right for the value
    max_cost = max((s.usage.cost for s in stats), default=0.0) or 1.0
    cost_top = title_h
    rate_title = cost_top + len(stats) * row_h + gap
    rate_top = rate_title + title_h
    cost_bars = [Bar(s.model, f"${s.usage.cost:.4f}", cost_top + i * row_h, bar_max * s.usage.cost / max_cost)
                 for i, s in enumerate(stats)]
    rate_bars = [Bar(s.model, "—" if s.verified_share is None else f"{s.verified_share:.0%}", rate_top + i * row_h,
                     bar_max * (s.verified_share or 0.0))
                 for i, s in enumerate(stats)]
    return {"width": width, "height": rate_top + len(stats) * row_h, "label_h": label_h,
            "bar_h": row_h - label_h - 6, "cost_title_y": 15, "rate_title_y": rate_title + 15,
            "cost": cost_bars, "rate": rate_bars}


# ---- rendering ----------------------------------------------------------------------------------------


def _context(cmp: Comparison, title: str, created: str = "") -> dict:
    lab = labels(cmp.issue.language)
    return dict(cmp=cmp, issue=cmp.issue, title=title, L=lab, chart=chart(cmp.stats), created=created,
                count_papers=count_papers,
                pages=lambda ps: pages_label(ps, lab), pct=lambda v: "—" if v is None else f"{v:.0%}",
                num=lambda v: "—" if v is None else f"{v:.2f}",
                site_css=Markup((bundled_dir("templates") / "site" / "static" / "style.css").read_text("utf-8")))


def render_compare_html(cmp: Comparison, *, title: str, created: str = "") -> str:
    """The compare page as one self-contained HTML file in the site's style (no scripts, no external resources)."""
    return make_env(autoescape=True).get_template("compare.html.j2").render(**_context(cmp, title, created))


def render_compare_markdown(cmp: Comparison, *, title: str, created: str = "") -> str:
    """The comparison as Markdown."""
    text = make_env().get_template("compare.md.j2").render(**_context(cmp, title, created))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# ---- the reports kept in archive/compare/ ---------------------------------------------------------------

REPORTS_FILE = "reports.json"  # what each report compared, so the index and the site can list them


@dataclass
class CompareReport:
    """One written comparison: its file stem in archive/compare/, the issue, the models and when."""

    stem: str
    issue_id: str
    models: list[str]
    created: str
    paper_keys: list[str] = field(default_factory=list)


def list_reports(folder: Path) -> list[CompareReport]:
    """Every report still on disk, newest first (an unreadable list counts as none)."""
    try:
        rows = json.loads((folder / REPORTS_FILE).read_text(encoding="utf-8"))
        reports = [CompareReport(**row) for row in rows]
    except (OSError, ValueError, TypeError):
        return []
    reports = [r for r in reports if (folder / f"{r.stem}.html").is_file()]
    return sorted(reports, key=lambda r: (r.created, r.stem), reverse=True)


def reports_by_issue(reports: list[CompareReport]) -> dict[str, list[CompareReport]]:
    """Reports per issue id, newest first, only the newest of each set of models."""
    out: dict[str, list[CompareReport]] = {}
    for r in reports:
        same = out.setdefault(r.issue_id, [])
        if all(o.models != r.models for o in same):
            same.append(r)
    return out


def _report_stem(folder: Path, issue_id: str, models: list[str]) -> str:
    # Both models in the name, and a sequence number: a later comparison never replaces an earlier one.
    base = f"{issue_id}_" + "_vs_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", m).strip("-.") or "model" for m in models)
    n = 1
    while (folder / f"{base}_{n}.html").exists() or (folder / f"{base}_{n}.md").exists():
        n += 1
    return f"{base}_{n}"


def render_reports_index(reports: list[CompareReport], *, title: str, language: str) -> str:
    """archive/compare/index.html: every kept report, newest first."""
    return make_env(autoescape=True).get_template("compare_index.html.j2").render(
        reports=reports, title=title, L=labels(language), lang=language, count_papers=count_papers,
        site_css=Markup((bundled_dir("templates") / "site" / "static" / "style.css").read_text("utf-8")))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_compare(config: Config, store: Store, issue_id: str, models: list[str] | None = None, *,
                  now: datetime | None = None) -> tuple[Comparison, Path, Path]:
    """Write a new archive/compare/<issue>_<A>_vs_<B>_<n>.html and .md, and the index of every report."""
    cmp = compare_issue(store, issue_id, models)
    folder = config.archive_dir / "compare"
    folder.mkdir(parents=True, exist_ok=True)
    created = (now or datetime.now(UTC)).replace(microsecond=0).isoformat()
    stem = _report_stem(folder, cmp.issue.id, cmp.models)
    html_path, md_path = folder / f"{stem}.html", folder / f"{stem}.md"
    _write(html_path, render_compare_html(cmp, title=config.output.title, created=created))
    _write(md_path, render_compare_markdown(cmp, title=config.output.title, created=created))
    reports = [CompareReport(stem, cmp.issue.id, cmp.models, created, [p.paper.key for p in cmp.papers]),
               *list_reports(folder)]
    _write(folder / REPORTS_FILE, json.dumps([vars(r) for r in sorted(reports, key=lambda r: r.stem)],
                                             ensure_ascii=False, indent=1) + "\n")
    _write(folder / "index.html", render_reports_index(list_reports(folder), title=config.output.title,
                                                       language=config.output.language))
    return cmp, html_path, md_path
