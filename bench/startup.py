"""Benchmark: how long the `digest` command takes to start, against a bare `python -c pass`.

Runs each command as a subprocess, `--rounds` times (default 5), interleaved round by round so a busy
machine disturbs every row alike, after one unmeasured warm-up round (bytecode caches written):

    python -c pass            (the interpreter of the venv that holds `digest`)
    digest --help             (the console script beside that interpreter)
    digest run --help
    digest fetch --help

Run by hand:

    .venv/bin/python bench/startup.py [--rounds 5] [--digest PATH]

Prints a table of median and min wall time per command and its ratio to bare Python; last line:
`startup: <ms> ms median for digest --help, <x>x bare python`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def find_digest(given: str | None) -> str:
    """The console script of the venv we run in (else the first `digest` on PATH)."""
    if given:
        return given
    beside = Path(sys.executable).parent / "digest"
    if beside.exists():
        return str(beside)
    found = shutil.which("digest")
    if not found:
        sys.exit("no `digest` command found: install the package (pip install -e .) or give --digest PATH")
    return found


def time_once(argv: list[str]) -> float:
    """Wall seconds of one run; a failing command ends the benchmark (a fast crash is not a fast start)."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="Measured runs of each command (default 5).")
    ap.add_argument("--digest", metavar="PATH", help="The digest command (default: the one beside this python).")
    args = ap.parse_args()
    digest = find_digest(args.digest)
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("digest --help", [digest, "--help"]),
        ("digest run --help", [digest, "run", "--help"]),
        ("digest fetch --help", [digest, "fetch", "--help"]),
    ]
    # No terminal width detection or colour from the caller's environment in the timed runs.
    os.environ.setdefault("COLUMNS", "100")
    for _, argv in rows:  # warm-up: write .pyc files, fill the OS file cache
        time_once(argv)
    times: dict[str, list[float]] = {label: [] for label, _ in rows}
    for _ in range(args.rounds):
        for label, argv in rows:
            times[label].append(time_once(argv))

    bare = statistics.median(times["python -c pass"])
    print(f"{'command':<22} {'median ms':>10} {'min ms':>8} {'x bare':>7}   ({args.rounds} runs each, {digest})")
    for label, _ in rows:
        med = statistics.median(times[label])
        print(f"{label:<22} {med * 1000:>10.1f} {min(times[label]) * 1000:>8.1f} {med / bare:>7.1f}")
    med = statistics.median(times["digest --help"])
    print(f"startup: {med * 1000:.0f} ms median for digest --help, {med / bare:.1f}x bare python")


if __name__ == "__main__":
    main()
