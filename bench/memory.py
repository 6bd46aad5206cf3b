"""Benchmark: peak memory of the 9-PDF extractive run (issue 23: the main process must stay under 120 MB).

In a fresh temporary folder: a copy of the arXiv PDFs of the shared corpus, `digest init`, then

    digest run --source dir:<copy> --model extractive

offline (the arXiv API and any proxy point at a closed local port) with DIGEST_TODAY fixed, so every
run does the same work. The run is measured from outside, three ways:

- main: the peak RSS of the `digest` process itself (getrusage(RUSAGE_SELF) read at its exit by a
  two-line wrapper that then runs the console script unchanged: the same imports, the same code);
- largest child: the peak RSS of its biggest child (the PDF workers: getrusage(RUSAGE_CHILDREN));
- tree: the peak of the sum of the RSS of the process and all its descendants, sampled every 20 ms from
  /proc (a sample can miss a spike shorter than that, so it is a floor, not an exact figure).

Run by hand (Linux; about a minute on a quiet machine):

    .venv/bin/python bench/memory.py [--pdfs ../shared/corpus/pdfs/arxiv] [--digest PATH] [--rounds 1]

`--digest` measures another checkout's command (e.g. a `git worktree` of an older commit with its own
venv), for a before/after on the same machine. Last line:
`memory: main <MB> MB peak RSS (target < 120), tree <MB> MB, largest child <MB> MB, <s> s`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PDFS = ROOT.parent / "shared" / "corpus" / "pdfs" / "arxiv"
TODAY = "2026-12-07"
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, so a connection fails at once

# Runs the console script as `digest` would run, then records this process's and its children's peaks.
WRAPPER = """
import atexit, json, os, resource, runpy, sys
def _peaks():
    with open(os.environ["MEMORY_BENCH_OUT"], "w") as f:
        json.dump({"main_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   "children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, f)
atexit.register(_peaks)
script = sys.argv[1]
sys.argv = ["digest", *sys.argv[2:]]
runpy.run_path(script, run_name="__main__")
"""


def find_digest(given: str | None) -> Path:
    """The console script to measure: the one given, else the one beside this python."""
    path = Path(given) if given else Path(sys.executable).parent / "digest"
    if not path.exists():
        sys.exit(f"no digest command at {path}: install the package (pip install -e .) or give --digest PATH")
    return path


def tree_rss_kb(root: int) -> int:
    """RSS of a process and all its descendants now, in KB (processes gone mid-read are skipped)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def measure(digest: Path, pdfs: Path) -> dict:
    """One extractive run in a fresh folder; its peaks in MB and its wall time."""
    python = digest.parent / "python"
    with tempfile.TemporaryDirectory(prefix="digest-memory-") as tmp:
        work = Path(tmp)
        shutil.copytree(pdfs, work / "pdfs")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "OPENAI_"))}
        env.update(DIGEST_TODAY=TODAY, DIGEST_ARXIV_API_URL=CLOSED, HTTP_PROXY=CLOSED, HTTPS_PROXY=CLOSED,
                   http_proxy=CLOSED, https_proxy=CLOSED, NO_PROXY="", no_proxy="", COLUMNS="100",
                   MEMORY_BENCH_OUT=str(work / "peaks.json"))
        subprocess.run([str(digest), "init"], cwd=work, env=env, check=True, capture_output=True)
        argv = [str(python), "-c", WRAPPER, str(digest), "run", "--source", f"dir:{work / 'pdfs'}",
                "--model", "extractive"]
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tree_peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal tree_peak
            while not done.wait(0.02):
                tree_peak = max(tree_peak, tree_rss_kb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, err = proc.communicate()
        done.set()
        sampler.join()
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"digest run exited {proc.returncode}: {err.decode(errors='replace')[-800:]}")
        peaks = json.loads((work / "peaks.json").read_text())
        summary = out.decode(errors="replace").strip().splitlines()[-1:]
    main = peaks["main_kb"] / 1024
    child = peaks["children_kb"] / 1024
    return {"main": main, "child": child, "tree": max(tree_peak / 1024, main), "seconds": elapsed,
            "summary": summary[0] if summary else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS, help=f"Folder of PDFs (default {DEFAULT_PDFS}).")
    ap.add_argument("--digest", metavar="PATH", help="The digest command (default: the one beside this python).")
    ap.add_argument("--rounds", type=int, default=1, help="Runs to make; medians are printed (default 1).")
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        sys.exit("bench/memory.py reads /proc: Linux only")
    if not args.pdfs.is_dir() or not any(args.pdfs.glob("*.pdf")):
        sys.exit(f"no PDFs in {args.pdfs}: give --pdfs FOLDER")
    digest = find_digest(args.digest)
    runs = []
    for i in range(args.rounds):
        r = measure(digest, args.pdfs)
        runs.append(r)
        print(f"run {i + 1}: main {r['main']:.1f} MB, tree {r['tree']:.1f} MB, largest child {r['child']:.1f} MB, "
              f"{r['seconds']:.1f} s  ({r['summary']})")
    med = {k: statistics.median(r[k] for r in runs) for k in ("main", "tree", "child", "seconds")}
    print(f"memory: main {med['main']:.1f} MB peak RSS (target < 120), tree {med['tree']:.1f} MB, "
          f"largest child {med['child']:.1f} MB, {med['seconds']:.1f} s")


if __name__ == "__main__":
    main()
