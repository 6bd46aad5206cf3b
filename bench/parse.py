"""Benchmark: PDF extraction throughput over every corpus PDF (pdfs/arxiv + pdfs/other), 1 vs 2 workers.

Each run includes starting its worker processes, as a real run does. Run by hand:

    .venv/bin/python bench/parse.py [--rounds 3]

Last line: `parse: <pages/s> pages/s, 2 workers vs 1: <ratio>x` (pages/s of the 2-worker run; the best of
the rounds for each worker count, so a busy machine disturbs the figure less).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import Config  # noqa: E402
from digest.pdf.pool import extract_many  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "pdfs"


def run(paths: list[Path], workers: int, *, verbose: bool) -> tuple[int, float]:
    """Extract all paths once; return (pages, seconds)."""
    config = Config()
    t0 = time.perf_counter()
    pages = 0
    for path, result in extract_many(paths, config, workers=workers):
        if not result.ok:
            sys.exit(f"{path.name}: extraction failed: {result.error}")
        pages += len(result.pages)
        if verbose:
            chars = sum(len(p.body) + len(p.refs) for p in result.pages)
            print(f"  {time.perf_counter() - t0:6.2f}s  {len(result.pages):3d} pages  {chars:7d} chars  {path.name}")
    return pages, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="runs per worker count; the best one counts")
    args = ap.parse_args()
    paths = sorted((CORPUS / "arxiv").glob("*.pdf")) + sorted((CORPUS / "other").glob("*.pdf"))
    if not paths:
        sys.exit(f"no PDFs under {CORPUS}")
    print(f"{len(paths)} PDFs, {sum(p.stat().st_size for p in paths) / 2**20:.1f} MB")
    best: dict[int, float] = {}
    for workers in (1, 2):
        for rnd in range(args.rounds):
            print(f"workers={workers} round {rnd + 1}:")
            pages, secs = run(paths, workers, verbose=rnd == 0)
            rate = pages / secs
            print(f"  {pages} pages in {secs:.2f}s = {rate:.1f} pages/s")
            best[workers] = max(best.get(workers, 0.0), rate)
    print(f"best: 1 worker {best[1]:.1f} pages/s, 2 workers {best[2]:.1f} pages/s")
    print(f"parse: {best[2]:.1f} pages/s, 2 workers vs 1: {best[2] / best[1]:.2f}x")


if __name__ == "__main__":
    main()
