"""Benchmark: a week's LLM phase (20 papers and the overview) against a local OpenAI-compatible server with
1 s latency per call, measured against the ideal schedule of the calls it actually made.

Each run goes through the pipeline's own generate_papers (critical-path slots, the overview made as soon as
every outline is in, support labels as papers arrive), then write_overview for the finished issue, as
`digest run` does. The makespan is from the first call's start to the last call's end. The ideal is a lower
bound on any schedule of the same calls on `llm.concurrency` slots, from the call log (every attempt, its
latency, paper and purpose):

- the longest chain: a paper's calls one after another; the overview after the slowest paper's outline calls;
- the load: all calls' time over the slots;
- the pigeonhole bound: of the k*slots+1 longest calls, one slot makes k+1, so at least the k+1 shortest of
  them one after another (with equal latencies, ceil(calls / slots) rounds).

Also the share of runs, and of papers, with repair calls (an outline repair, the missing answers, a shorter
retry: a chain of 3 calls or more). Run by hand (it starts its own server process):

    nice -n 5 .venv/bin/python bench/generate.py [--papers 20] [--latency 1.0] [--runs 3] [--sequential]

Last line: `generate: makespan <x>x the ideal (median of <n> runs, <lo>-<hi>), ...`
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from digest.config import Config, ModelConfig  # noqa: E402
from digest.pdf.pool import extract_many  # noqa: E402
from digest.pipeline import SilentReporter, Spend, generate_papers, make_writer  # noqa: E402
from digest.records import Issue, IssueEntry, Paper  # noqa: E402
from digest.store import Store  # noqa: E402
from digest.writers.overview import write_overview  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "pdfs"
ISSUE = "2026-W47"
# The server runs in a process of its own, so its work does not compete with ours for the GIL.
SERVE = """
import sys, time
sys.path.insert(0, {tests!r})
from llm_server import LLMServer
from weekfeed import grounded_responder
server = LLMServer(latency={latency}, responder=grounded_responder()).start()
print(server.base_url, flush=True)
sys.stdin.read()
"""


def load_papers(store: Store, config: Config, n: int) -> list[Paper]:
    """n papers whose page texts come from the corpus PDFs (reused under new IDs when n > PDFs)."""
    pdfs = sorted((CORPUS / "arxiv").glob("*.pdf")) + sorted((CORPUS / "other").glob("*.pdf"))
    if not pdfs:
        sys.exit(f"no PDFs under {CORPUS}")
    texts = {p: t for p, t in extract_many(pdfs, config) if t.ok}
    papers = []
    for i in range(n):
        path = sorted(texts)[i % len(texts)]
        key = f"2611.{20000 + i}"
        p = Paper(key=key, arxiv_id=key, version=1, title=f"{path.stem} (copy {i})",
                  abstract="Benchmark paper.", authors=["A. Author"])
        store.upsert_paper(p)
        store.save_pages(key, 1, texts[path].pages, pdf_path=str(path), token_count=None)
        papers.append(store.get_paper(key))
    return papers


def ideal_seconds(calls: list[dict], slots: int) -> tuple[float, dict[str, float]]:
    """A lower bound on the makespan of these calls on `slots` slots, and each bound it is the largest of."""
    per_paper: dict[str, float] = defaultdict(float)
    outlines: dict[str, float] = defaultdict(float)
    overview = 0.0
    for c in calls:
        seconds = c["latency_ms"] / 1000
        if c["purpose"] == "overview":
            overview += seconds
            continue
        per_paper[c["paper_key"]] += seconds
        if c["purpose"] == "outline":
            outlines[c["paper_key"]] += seconds
    chain = max([*per_paper.values(), (max(outlines.values(), default=0.0) + overview) if overview else 0.0])
    durations = sorted((c["latency_ms"] / 1000 for c in calls), reverse=True)
    pigeonhole = 0.0
    k = 1
    while k * slots + 1 <= len(durations):
        # Among the k*slots+1 longest calls some slot makes k+1: at least the k+1 shortest of them in a row.
        pigeonhole = max(pigeonhole, sum(durations[k * slots - k:k * slots + 1]))
        k += 1
    bounds = {"chain": chain, "load": sum(durations) / slots, "rounds": pigeonhole}
    return max(bounds.values()), bounds


def timed_run(papers: list[Paper], config: Config, store: Store, concurrency: int) -> dict:
    """One LLM phase from scratch: makespan, the ideal and its bounds, calls, tokens and repairs."""
    config.llm.concurrency = concurrency  # calls in flight, as `digest run` would use it
    writer = make_writer(config, store, "bench-model", "en")
    store.execute("DELETE FROM generations")
    store.execute("DELETE FROM llm_calls")  # no resume from the previous run: every call is made
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()
    complete = writer.model.complete

    def timed_complete(req):
        t0 = time.perf_counter()
        try:
            return complete(req)
        finally:
            with lock:
                spans.append((t0, time.perf_counter()))

    writer.model.complete = timed_complete
    started = time.perf_counter()
    gens = generate_papers(config, store, writer, papers, yes=True, dry_run=False, reporter=SilentReporter(),
                           report=Spend(), issue_id=ISSUE)
    issue = Issue(id=ISSUE, week_start="", week_end="", language="en", model=writer.model_id, created="",
                  entries=[IssueEntry(p, gens.get(p.key), i) for i, p in enumerate(papers, 1)])
    outcome = write_overview(config, issue, writer, language="en", yes=True)
    wall = time.perf_counter() - started
    calls = [dict(r) for r in store.query("SELECT purpose, paper_key, latency_ms, input_tokens, status "
                                          "FROM llm_calls ORDER BY id")]
    makespan = max(e for _, e in spans) - min(s for s, _ in spans)
    ideal, bounds = ideal_seconds(calls, concurrency)
    per_paper: dict[str, int] = defaultdict(int)
    for c in calls:
        if c["paper_key"]:
            per_paper[c["paper_key"]] += 1
    return dict(makespan=makespan, wall=wall, ideal=ideal, bounds=bounds, calls=len(calls),
                overview=sum(c["purpose"] == "overview" for c in calls), overview_ok=outcome.overview is not None,
                tokens=sum(c["input_tokens"] for c in calls if c["status"] == "ok"),
                repaired=sum(n > 2 for n in per_paper.values()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--papers", type=int, default=20)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sequential", action="store_true", help="also time concurrency 1 (one call at a time)")
    args = ap.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVE.format(tests=str(ROOT / "tests"), latency=args.latency)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    base_url = server.stdout.readline().strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Config(path=Path(tmp) / "digest.toml")
            config.store.archive_dir = tmp
            config.models["bench-model"] = ModelConfig(base_url=base_url, api_key_env="",
                                                       context_window=128_000, price_input=0.15,
                                                       price_output=0.6)
            store = Store(config.db_path)
            papers = load_papers(store, config, args.papers)
            conc = config.llm.concurrency  # the default
            runs = []
            for i in range(args.runs):
                r = timed_run(papers, config, store, conc)
                runs.append(r)
                b = r["bounds"]
                print(f"run {i + 1}: makespan {r['makespan']:.2f} s (phase {r['wall']:.2f} s), ideal {r['ideal']:.2f} s "
                      f"(chain {b['chain']:.2f}, load {b['load']:.2f}, rounds {b['rounds']:.2f}) -> "
                      f"{r['makespan'] / r['ideal']:.2f}x; {r['calls']} calls ({r['overview']} overview"
                      f"{'' if r['overview_ok'] else ', not kept'}), {r['repaired']} papers with repair calls")
            if args.sequential:
                seq = timed_run(papers, config, store, 1)
                print(f"concurrency 1: makespan {seq['makespan']:.1f} s; concurrency {conc} is "
                      f"{seq['makespan'] / statistics.median(r['makespan'] for r in runs):.1f}x faster")
            ratios = [r["makespan"] / r["ideal"] for r in runs]
            calls = sum(r["calls"] for r in runs) / len(runs)
            repaired_runs = sum(r["repaired"] > 0 for r in runs)
            repaired_papers = sum(r["repaired"] for r in runs) / (len(runs) * len(papers))
            print(f"generate: makespan {statistics.median(ratios):.2f}x the ideal (median of {len(runs)} runs, "
                  f"{min(ratios):.2f}-{max(ratios):.2f}; {len(papers)} papers + overview, concurrency {conc}, "
                  f"{args.latency:g} s/call), {calls / len(papers):.2f} calls/paper, repair calls in "
                  f"{repaired_runs}/{len(runs)} runs and {repaired_papers:.0%} of papers, "
                  f"{sum(r['tokens'] for r in runs) / len(runs) / len(papers):,.0f} input tokens/paper")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
