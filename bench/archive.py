"""Benchmark: building the archive site of 500 synthetic issues x 10 papers from the store.

Times a first `archive build` (every page, search index, feed, Markdown index) and a rebuild with
nothing new (every page rendered again, no file written). Run by hand:

    .venv/bin/python bench/archive.py [--issues 500] [--papers 10]

Last line: `archive: <seconds> s for <n> papers, rebuild with no change <seconds> s`
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from factories import make_issue  # noqa: E402

from digest.archive.site import build_archive  # noqa: E402
from digest.config import Config  # noqa: E402
from digest.store import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--issues", type=int, default=500)
    ap.add_argument("--papers", type=int, default=10, help="papers per issue")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(path=Path(tmp) / "digest.toml")
        config.selection.authors = ["Lovelace", "Author 7"]
        store = Store(config.db_path)
        t0 = time.perf_counter()
        for week in range(args.issues):
            make_issue(store, week=week, n_papers=args.papers, language="ja" if week % 5 == 4 else "en")
        print(f"store filled in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        t0 = time.perf_counter()
        first = build_archive(config, store)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = build_archive(config, store)
        rebuild_s = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in first.site_dir.rglob("*") if f.is_file())
        print(f"{first.written} files, {size / 1e6:.1f} MB; rebuild wrote {again.written} files",
              file=sys.stderr)
        if again.written:
            sys.exit("a rebuild with no change wrote files")
        store.close()
    print(f"archive: {build_s:.1f} s for {first.papers} papers, rebuild with no change {rebuild_s:.1f} s")


if __name__ == "__main__":
    main()
