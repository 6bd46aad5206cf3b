"""Benchmark: `digest ask` on aclsum stored as a fake archive, its retriever, its answers, and its index at scale.

- Retrieval: the 250 aclsum papers (train, val and test) are stored as an archive, each section a page
  (bench/quality.py's pages_from_sections), and indexed by digest.ask.index. For each paper and each gold
  aspect (challenge, approach, outcome) two questions: one naming the title ("What approach does <title>
  take?") and one without it, made from the gold summary ("Which paper proposes ...?"). paper-hit@5: the
  paper is among the first 5 distinct papers retrieved; evidence-hit@5: one of the first 5 passages holds
  a gold evidence sentence of that aspect (60% of its word 4-grams, so a sentence cut by a passage end counts).
- Answers: ask() through a chat model on tests/llm_server.py answering like tests/ask_model.py (or a real
  model with --base-url): ROUGE-L of the answer against the gold summary of the aspect asked, and the share
  of the answers' quotes verified on their pages.
- Scale: synthetic copies of the 250 papers stored up to 5,000 and 50,000 papers: index build time, p50/p95
  search latency of the title-free questions, and the time to index a week's 30 new papers on top.

    .venv/bin/python bench/ask.py                       # everything (about 15 minutes at 50,000)
    .venv/bin/python bench/ask.py --scales 5000         # quicker
    .venv/bin/python bench/ask.py --answers 0           # the retriever only
    .venv/bin/python bench/ask.py --db /tmp/b/digest.sqlite --reuse   # latency again on an archive grown before

Last line: `ask: paper-hit@5 title-free <x> (titled <y>) evidence-hit@5 <z> rougeL <r> verified <v>
p95@50000 <ms> ms incremental-30 <s> s: targets met|missed ...`
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from quality import ASPECTS, BenchPaper, pages_from_sections, rouge  # noqa: E402

from digest.ask.answer import ask  # noqa: E402
from digest.ask.index import ensure_index, index_paper, indexed_papers, search  # noqa: E402
from digest.config import Config, ModelConfig  # noqa: E402
from digest.records import Paper  # noqa: E402
from digest.store import Store  # noqa: E402
from digest.writers import retrieval  # noqa: E402

TARGETS = {"paper_hit_free": 0.9, "evidence_hit": 0.7, "p95_ms": 200.0, "incremental_s": 2.0}
_LEAD = re.compile(r"^(?:they|the authors|this paper|this work|we|it)\s+", re.I)
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass
class Item(BenchPaper):
    """An aclsum paper with its gold evidence sentences per aspect."""

    evidence_by_aspect: dict[str, list[str]] | None = None


def load_aclsum() -> list[Item]:
    """All 250 aclsum papers (train, val, test), pages from their sections as bench/quality.py makes them."""
    from aclsum import ACLSum  # the bench extra

    out = []
    for split in ("train", "val", "test"):
        for doc in ACLSum(split):
            parse = doc.get_fulltext_parse()
            paper = Paper(key=f"aclsum:{split}:{doc.id}", title=doc.title, abstract=parse.get("abstract") or "",
                          authors=[f"{a['first']} {a['last']}".strip() for a in parse.get("authors", [])])
            by_aspect = {a: list(doc.get_all_highlighted_sentences(a)) for a in ASPECTS}
            out.append(Item(paper, pages_from_sections(doc.title, parse["pdf_parse"]), dict(doc.summaries),
                            sorted({s for v in by_aspect.values() for s in v}), by_aspect))
    return out


@dataclass
class Question:
    key: str
    aspect: str
    text: str
    titled: bool


def questions(items: list[Item]) -> list[Question]:
    """Per paper and aspect: one question naming the title, one built from the gold summary without it."""
    titled = {"challenge": "What problem does {t} address?", "approach": "What approach does {t} take?",
              "outcome": "What does {t} find?"}
    out = []
    for b in items:
        for a in ASPECTS:
            gold = " ".join((b.gold.get(a) or "").split()).rstrip(".")
            if not gold:
                continue
            out.append(Question(b.paper.key, a, titled[a].format(t=b.paper.title), True))
            if a == "approach" and _LEAD.match(gold):
                free = "Which paper " + _LEAD.sub("", gold, count=1) + "?"
            elif a == "challenge":
                free = f"Which paper addresses this problem: {gold}?"
            else:
                free = f"Which paper finds that {gold[0].lower() + gold[1:]}?"
            out.append(Question(b.paper.key, a, free, False))
    return out


def _grams(text: str) -> list[tuple[str, ...]]:
    w = _WORDS.findall(text.lower())
    return [tuple(w[i:i + 4]) for i in range(max(0, len(w) - 3))]


def holds(passage: str, sentence: str) -> bool:
    """Whether a passage holds most of a sentence (word 4-grams, so tokenisation and a cut end do not matter)."""
    grams = _grams(sentence)
    if not grams:
        return False
    have = set(_grams(passage))
    return sum(g in have for g in grams) >= 0.6 * len(grams)


def store_items(store: Store, items: list[Item], suffix: str = "") -> list[str]:
    """Store papers with their pages as a digest run would (metadata, then page texts); returns the keys."""
    keys = []
    for b in items:
        p = Paper(key=b.paper.key + suffix, title=b.paper.title, abstract=b.paper.abstract,
                  authors=b.paper.authors, published="2025-01-01T00:00:00+00:00")
        store.upsert_paper(p)
        store.save_pages(p.key, None, b.pages, pdf_path=None, token_count=None)
        keys.append(p.key)
    return keys


def retrieval_scores(store: Store, items: list[Item]) -> dict[str, float]:
    """paper-hit@5 (titled and title-free) and evidence-hit@5, and the search latency of these questions."""
    evidence = {b.paper.key: {a: b.evidence_by_aspect.get(a, []) for a in ASPECTS} for b in items}
    hits = {True: [], False: []}
    ev = []
    for q in questions(items):
        found = search(store, q.text, k=30)
        papers = list(dict.fromkeys(h.paper_key for h in found))[:5]
        hits[q.titled].append(q.key in papers)
        if not q.titled:
            gold = evidence[q.key][q.aspect]
            if gold:
                ev.append(any(holds(h.text, s) for h in found[:5] for s in gold))
    return {"paper_hit_titled": statistics.mean(hits[True]), "paper_hit_free": statistics.mean(hits[False]),
            "evidence_hit": statistics.mean(ev) if ev else 0.0, "questions": len(hits[True]) + len(hits[False])}


def latency(store: Store, qs: list[Question]) -> tuple[float, float]:
    """p50 and p95 milliseconds of search() over these questions."""
    times = []
    for q in qs:
        t = time.perf_counter()
        search(store, q.text, k=20)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(0.95 * len(times)))]


def answer_scores(store: Store, config: Config, items: list[Item], n: int, model: str) -> dict[str, float]:
    """ROUGE-L of ask()'s answers to title-free approach questions, and the share of their quotes verified."""
    gold = {b.paper.key: b.gold for b in items}
    qs = [q for q in questions(items) if not q.titled and q.aspect == "approach"][:n]
    scores, quotes, verified, nothing = [], 0, 0, 0
    for q in qs:
        a = ask(config, store, q.text, model_id=model, language="en", papers=3)
        nothing += a.nothing_found
        scores.append(rouge(a.text, gold[q.key][q.aspect])["rougeL"])
        quotes += len(a.citations)
        verified += sum(c.verified for c in a.citations)
    return {"rougeL": statistics.mean(scores) if scores else 0.0, "verified": verified / quotes if quotes else 0.0,
            "answers": len(qs), "quotes": quotes, "nothing_found": nothing}


def grow(store: Store, items: list[Item], target: int, have: int) -> float:
    """Store and index synthetic copies of the papers until the archive holds `target`; returns seconds
    spent indexing (storing the page texts is not counted)."""
    spent = 0.0
    copy = have // len(items)
    while have < target:
        batch = items[:min(len(items), target - have)]
        keys = store_items(store, batch, suffix=f"#copy{copy}")
        t = time.perf_counter()
        for k in keys:
            index_paper(store, k)
        spent += time.perf_counter() - t
        have += len(batch)
        copy += 1
    return spent


def incremental(store: Store, items: list[Item], tag: str) -> float:
    """Seconds to index a week's 30 new papers on top of the archive (their pages stored first, as a run does)."""
    retrieval._segments_of.cache_clear()  # new papers: nothing of them is split yet
    keys = store_items(store, items[:30], suffix=f"#week-{tag}")
    t = time.perf_counter()
    for k in keys:
        index_paper(store, k)
    return time.perf_counter() - t


def catch_up_check(store: Store) -> tuple[float, float]:
    """Seconds of ensure_index (what `digest ask` does before each question) once texts were stored since it
    last ran (a scan of the archive's pages), and then with none stored (one counter read)."""
    t = time.perf_counter()
    ensure_index(store)
    scan = time.perf_counter() - t
    t = time.perf_counter()
    ensure_index(store)
    return scan, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="5000,50000", help="archive sizes for build time and latency ('' for none)")
    ap.add_argument("--answers", type=int, default=60, help="title-free approach questions answered by the model")
    ap.add_argument("--model", default="stand-in", help="model id; with --base-url a real OpenAI-compatible server")
    ap.add_argument("--base-url", default="", help="the model's server; default: tests/llm_server.py (stand-in)")
    ap.add_argument("--db", default="", help="store path (default: a temporary folder)")
    ap.add_argument("--reuse", action="store_true",
                    help="--db holds an archive this bench grew before: measure only its latency and incremental "
                         "indexing at the size it has (retrieval scores need the 250 papers alone)")
    args = ap.parse_args()

    items = load_aclsum()
    folder = Path(args.db).parent if args.db else Path(tempfile.mkdtemp(prefix="bench-ask-"))
    config = Config(path=folder / "digest.toml")
    config.store.archive_dir = str(folder)
    store = Store(args.db or folder / "digest.sqlite")
    if args.reuse:
        size = indexed_papers(store)
        p50, p95 = latency(store, [q for q in questions(items) if not q.titled])
        inc = incremental(store, items, "reuse")
        print(f"{size} papers (reused): search p50 {p50:.1f} ms p95 {p95:.1f} ms; 30 papers indexed in {inc:.2f} s")
        print(f"ask: p95@{size} {p95:.1f} ms incremental-30 {inc:.2f} s (retrieval and answers not measured)")
        return
    print(f"aclsum: {len(items)} papers stored as an archive in {folder}", flush=True)
    store_items(store, items)
    t = time.perf_counter()
    for b in items:
        index_paper(store, b.paper.key)
    print(f"indexed {len(items)} papers in {time.perf_counter() - t:.2f} s", flush=True)

    r = retrieval_scores(store, items)
    print(f"retrieval over {r['questions']} questions: paper-hit@5 title-free {r['paper_hit_free']:.3f}, "
          f"titled {r['paper_hit_titled']:.3f}; evidence-hit@5 (title-free) {r['evidence_hit']:.3f}", flush=True)

    ans = {"rougeL": float("nan"), "verified": float("nan")}
    if args.answers:
        server = None
        base = args.base_url
        if not base:
            from ask_model import AskModel
            from llm_server import LLMServer
            server = LLMServer(responder=AskModel()).start()
            base = server.base_url
        config.models[args.model] = ModelConfig(base_url=base, api_key_env="DIGEST_BENCH_KEY", timeout=300)
        try:
            ans = answer_scores(store, config, items, args.answers, args.model)
        finally:
            if server:
                server.stop()
        print(f"answers ({args.model}, {ans['answers']} questions): ROUGE-L {ans['rougeL']:.3f}, "
              f"{ans['quotes']} quotes, verified {ans['verified']:.3f}, nothing found {ans['nothing_found']}",
              flush=True)

    have, p95_last, inc_last, last_scale = len(items), None, None, None
    free = [q for q in questions(items) if not q.titled]
    for scale in [int(s) for s in args.scales.split(",") if s.strip()]:
        spent = grow(store, items, scale, have)
        have = scale
        p50, p95 = latency(store, free)
        inc = incremental(store, items, str(scale))
        have += 30
        scan, skip = catch_up_check(store)
        print(f"{scale} papers: indexing {spent:.1f} s ({spent / max(1, scale - len(items)) * 1000:.1f} ms a paper),"
              f" search p50 {p50:.1f} ms p95 {p95:.1f} ms over {len(free)} questions; 30 new papers indexed in "
              f"{inc:.2f} s; `digest ask`'s index check {scan * 1000:.0f} ms after new texts, {skip * 1000:.1f} ms "
              "when none", flush=True)
        p95_last, inc_last, last_scale = p95, inc, scale

    met = (r["paper_hit_free"] >= TARGETS["paper_hit_free"] and r["evidence_hit"] >= TARGETS["evidence_hit"]
           and last_scale is not None and last_scale >= 50_000 and p95_last < TARGETS["p95_ms"]
           and inc_last < TARGETS["incremental_s"])
    scale_part = (f"p95@{last_scale} {p95_last:.1f} ms incremental-30 {inc_last:.2f} s" if last_scale
                  else "no scale run")
    print(f"ask: paper-hit@5 title-free {r['paper_hit_free']:.3f} (titled {r['paper_hit_titled']:.3f}) "
          f"evidence-hit@5 {r['evidence_hit']:.3f} rougeL {ans['rougeL']:.3f} verified {ans['verified']:.3f} "
          f"{scale_part}: targets {'met' if met else 'missed or not measured'} (paper-hit >= 0.9, evidence-hit >= 0.7, "
          f"p95 < 200 ms at 50,000, 30 papers < 2 s)")


if __name__ == "__main__":
    main()
