"""Benchmark: generating 20 papers against a local OpenAI-compatible server with 1 s latency per call.

Compares the default concurrency with one paper at a time and with the ideal (calls x latency /
concurrency), and reports LLM calls and input tokens per paper. Run by hand:

    .venv/bin/python bench/generate.py [--papers 20] [--latency 1.0]

Last line: `generate: <x>x faster than sequential, <y>x the ideal, <calls> calls/paper, <tokens> input tokens/paper`
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from digest.config import Config, ModelConfig  # noqa: E402
from digest.pdf.pool import extract_many  # noqa: E402
from digest.pipeline import make_writer  # noqa: E402
from digest.records import Paper  # noqa: E402
from digest.store import Store  # noqa: E402
from digest.writers.base import generate_many  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "pdfs"
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


def timed_run(papers, config, store, concurrency) -> tuple[float, int, int]:
    """Seconds, calls and input tokens of generating every paper at the given concurrency."""
    config.llm.concurrency = concurrency  # calls in flight, as `digest run` would use it
    writer = make_writer(config, store, "bench-model", "en")
    store.execute("DELETE FROM generations")
    store.execute("DELETE FROM llm_calls")  # no resume from the previous run: every call is made
    t0 = time.perf_counter()
    generate_many(papers, writer, concurrency=concurrency)
    wall = time.perf_counter() - t0
    row = store.query("SELECT count(*) AS n, coalesce(sum(input_tokens),0) AS t FROM llm_calls WHERE status='ok'")[0]
    return wall, row["n"], row["t"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--papers", type=int, default=20)
    ap.add_argument("--latency", type=float, default=1.0)
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
            par_wall, calls, tokens = timed_run(papers, config, store, conc)
            print(f"concurrency {conc}: {par_wall:.1f} s for {len(papers)} papers, {calls} calls")
            seq_wall, _, _ = timed_run(papers, config, store, 1)
            print(f"concurrency 1: {seq_wall:.1f} s")
            ideal = calls * args.latency / conc
            print(f"ideal at concurrency {conc}: {ideal:.1f} s ({calls} calls x {args.latency} s / {conc})")
            print(f"generate: {seq_wall / par_wall:.1f}x faster than sequential, {par_wall / ideal:.2f}x the ideal, "
                  f"{calls / len(papers):.1f} calls/paper, {tokens / len(papers):,.0f} input tokens/paper")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
