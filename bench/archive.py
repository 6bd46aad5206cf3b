"""Benchmark: building the archive site of 500 synthetic issues x 10 papers from the store.

Times a first `archive build` (every page, search index, feed, Markdown index), a rebuild with nothing
new (must render and write nothing, and leave every byte as it was), and a rebuild after one new issue
(only the pages that show it), split into load / fingerprint / render / write; reports the size of the
search index files. With --old, the same rebuilds are timed with another checkout of the code (its own
venv, e.g. a git worktree of an older commit) on its own copy of the site, alternating with this one, and
the ratios printed: the machine's speed drifts, a ratio in one run does not. Run by hand:

    .venv/bin/python bench/archive.py [--issues 500] [--papers 10] [--verify-clean] [--rounds 3]
        [--old /tmp/wt-arch/.venv/bin/python]

Last line: `archive: first build <s> s for <n> papers (<ratio>x one process's <s> s, cpu <s> s), nothing new <s> s
(cpu <s> s, <ratio> of the first build's CPU in one process), one new issue <s> s (cpu <s> s, <ratio> of it;
load <s> / fingerprint <s> / render <s> / write <s>, <n> write-ups loaded)[, old code: first build <ratio>x
faster, nothing new <ratio>x faster, one new issue <ratio>x faster (cpu <ratio>x less)], search index <KB> KB
(<KB> KB loaded to look up one word)`; with --rounds, the times are medians. CPU seconds and their ratios to
the one-process first build's hold on a busy machine, where wall-clock seconds do not (issue 23's targets:
one new issue 0.3 s and nothing new 0.1 s against that build's 7.2 s on a quiet machine, ratios 0.042 and
0.014).

The old code cannot open a store migrated past it: it gets a copy without this code's newer migrations
(their tables, triggers and names dropped), made again after each new issue.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from factories import make_issue  # noqa: E402

from digest.archive.search_shards import SEARCH_DIR, shards_for_word  # noqa: E402
from digest.archive.site import build_archive  # noqa: E402
from digest.config import Config  # noqa: E402
from digest.store import Store  # noqa: E402


def tree_hashes(folder: Path) -> dict[str, str]:
    """Every file under a folder with a hash of its bytes, but the store's: closing a file of an open SQLite
    database drops this process's locks on it, and another process (--old) would then remove its WAL."""
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "sqlite" not in p.name}


def timed(config: Config, store: Store, site_dir: Path | None = None, workers: int = 0):
    """A build, its wall-clock seconds and this process's CPU seconds (not its workers')."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = build_archive(config, store, site_dir, workers)
    return result, time.perf_counter() - t0, time.process_time() - c0


# Run by the old code's interpreter: the schema objects and migrations it knows, from an empty store.
OLD_SCHEMA = """
import json, sqlite3
from digest.migrations import apply_migrations
db = sqlite3.connect(":memory:")
apply_migrations(db)
print(json.dumps({"objects": [r[0] for r in db.execute("SELECT name FROM sqlite_master")],
                  "migrations": [r[0] for r in db.execute("SELECT name FROM _migrations")]}))
"""


def copy_for_old_code(python: str, store: Store, path: Path) -> Path:
    """A copy of the store as the old code knows it: the tables, triggers and indexes of newer migrations
    dropped and those migrations forgotten, so the old code opens it as its own."""
    proc = subprocess.run([python, "-c", OLD_SCHEMA], capture_output=True, text=True, cwd="/", timeout=600)
    if proc.returncode:
        sys.exit(f"the old code could not make its schema: {proc.stderr.strip().splitlines()[-1:]}")
    known = json.loads(proc.stdout)
    path.unlink(missing_ok=True)
    copy = sqlite3.connect(path)
    store.db.backup(copy)
    for kind in ("trigger", "index", "table"):  # triggers first: they name the tables dropped after them
        for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%'",
                                    (kind,)).fetchall():
            if name not in known["objects"] and copy.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone():  # an FTS table takes its own
                copy.execute(f'DROP {kind.upper()} "{name}"')
    copy.execute(f"DELETE FROM _migrations WHERE name NOT IN ({','.join('?' * len(known['migrations']))})",
                 known["migrations"])
    copy.commit()
    copy.close()
    return path


# Run by the old code's interpreter: one build of the site in `argv[2]` for the config `argv[1]`, timed in
# the process (imports are not the build's).
OLD_BUILD = """
import json, sys, time
from pathlib import Path
from digest.archive.site import build_archive
from digest.config import Config
from digest.store import Store
config = Config(path=Path(sys.argv[1]))
config.selection.authors = ["Lovelace", "Author 7"]
store = Store(sys.argv[3])
t0, c0 = time.perf_counter(), time.process_time()
result = build_archive(config, store, Path(sys.argv[2]))
print(json.dumps({"s": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rendered": result.rendered,
                  "written": result.written}))
"""


def old_build(python: str, config: Config, site_dir: Path, db: Path) -> tuple[float, float]:
    """Seconds the old code's build took, and its CPU seconds (in its own process, on its own site folder and
    store copy)."""
    proc = subprocess.run([python, "-c", OLD_BUILD, str(config.path), str(site_dir), str(db)], capture_output=True,
                          text=True, cwd="/", timeout=3600)
    if proc.returncode:
        sys.exit(f"the old code's build failed: {proc.stderr.strip().splitlines()[-1:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"old code: {out['rendered']} files rendered, {out['written']} written, {out['s']:.2f} s "
          f"(cpu {out['cpu']:.2f} s)", file=sys.stderr)
    return out["s"], out["cpu"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--issues", type=int, default=500)
    ap.add_argument("--papers", type=int, default=10, help="papers per issue")
    ap.add_argument("--verify-clean", action="store_true",
                    help="also build from scratch after the new issue and compare every byte")
    ap.add_argument("--rounds", type=int, default=1, help="new issues added one after another (medians)")
    ap.add_argument("--old", metavar="PYTHON", help="the interpreter of another checkout to compare with")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(path=Path(tmp) / "digest.toml")
        config.selection.authors = ["Lovelace", "Author 7"]
        store = Store(config.db_path)
        t0 = time.perf_counter()
        for week in range(args.issues):
            make_issue(store, week=week, n_papers=args.papers, language="ja" if week % 5 == 4 else "en")
        print(f"store filled in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

        # The same first build in one process, just before: this machine's speed drifts, a ratio does not.
        _, serial_s, serial_cpu = timed(config, store, Path(tmp) / "one-process", workers=1)
        shutil.rmtree(config.cache_dir / "templates")  # a first build compiles the templates too
        old_site, old_db = Path(tmp) / "old-site", Path(tmp) / "old.sqlite"
        old_first = old_build(args.old, config, old_site, copy_for_old_code(args.old, store, old_db))[0] if args.old else 0.0
        first, build_s, _ = timed(config, store)
        site = first.site_dir
        size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
        print(f"first build: {first.written} files, {size / 1e6:.1f} MB, in {first.processes} processes "
              f"{build_s:.1f} s, in one {serial_s:.1f} s", file=sys.stderr)

        before = tree_hashes(config.archive_dir)
        nothing, ones, nothing_cpu, ones_cpu, old_nothing, old_ones, splits = [], [], [], [], [], [], []
        for week in range(-1, -1 - args.rounds, -1):
            again, seconds, cpu = timed(config, store)
            nothing.append(seconds)
            nothing_cpu.append(cpu)
            if again.written or again.rendered or tree_hashes(config.archive_dir) != before:
                sys.exit(f"a rebuild with nothing new rendered {again.rendered} and wrote {again.written} files")
            if args.old:
                old_nothing.append(old_build(args.old, config, old_site, old_db))
            make_issue(store, week=week, n_papers=args.papers)
            if args.old:
                copy_for_old_code(args.old, store, old_db)
            # Who goes first alternates: a page cache warmed by the other must not favour one side.
            if args.old and week % 2 == 0:
                old_ones.append(old_build(args.old, config, old_site, old_db))
            one, seconds, cpu = timed(config, store)
            ones.append(seconds)
            ones_cpu.append(cpu)
            splits.append(one.seconds)
            if args.old and week % 2:
                old_ones.append(old_build(args.old, config, old_site, old_db))
            before = tree_hashes(config.archive_dir)
            print(f"one new issue: {one.rendered} files rendered, {one.written} written, {one.loaded} write-ups "
                  f"loaded, {seconds:.2f} s (cpu {cpu:.2f} s) " + " / ".join(f"{k} {v:.3f}" for k, v in one.seconds.items())
                  + (f"; old code {old_ones[-1][0]:.2f} s" if args.old else ""), file=sys.stderr)
        nothing_new_s, one_new_s = statistics.median(nothing), statistics.median(ones)
        nothing_cpu_s, one_cpu_s = statistics.median(nothing_cpu), statistics.median(ones_cpu)
        split = {k: statistics.median(s[k] for s in splits) for k in splits[0]}

        search = [site / "search-index.js", *sorted((site / SEARCH_DIR).glob("*.js"))]
        terms_kb = sum(f.stat().st_size for f in search if f.name.startswith(("t", "search-index"))) / 1024
        all_kb = sum(f.stat().st_size for f in search) / 1024
        word_kb = sum((site / rel).stat().st_size for rel in ["search-index.js", *shards_for_word(site, "summarisation")]) / 1024
        print(f"search index: {len(search)} files, {all_kb:.0f} KB with result and snippet chunks, largest "
              f"{max(f.stat().st_size for f in search) / 1024:.0f} KB; the page loads only what a query needs",
              file=sys.stderr)

        if args.verify_clean:
            clean_dir = Path(tmp) / "clean"
            timed(config, store, clean_dir)
            shutil.rmtree(clean_dir / ".build-manifest.json", ignore_errors=True)
            ours, theirs = tree_hashes(site), tree_hashes(clean_dir)
            ours.pop(".build-manifest.json", None)
            theirs.pop(".build-manifest.json", None)
            if ours != theirs:
                sys.exit(f"incremental and clean builds differ: {sorted(set(ours.items()) ^ set(theirs.items()))[:5]}")
            print("incremental build equals a clean build", file=sys.stderr)
        store.close()
    old = (f", old code: first build {old_first / build_s:.2f}x faster, nothing new "
           f"{statistics.median(s for s, _ in old_nothing) / nothing_new_s:.1f}x faster, one new issue "
           f"{statistics.median(s for s, _ in old_ones) / one_new_s:.1f}x faster (cpu "
           f"{statistics.median(c for _, c in old_ones) / one_cpu_s:.1f}x less)") if args.old else ""
    print(f"archive: first build {build_s:.1f} s for {first.papers} papers ({serial_s / build_s:.1f}x one process's "
          f"{serial_s:.1f} s, cpu {serial_cpu:.1f} s), nothing new {nothing_new_s:.2f} s (cpu {nothing_cpu_s:.2f} s, "
          f"{nothing_cpu_s / serial_cpu:.3f} of the first build's in one process), one new issue {one_new_s:.2f} s "
          f"(cpu {one_cpu_s:.2f} s, {one_cpu_s / serial_cpu:.3f} of it; "
          + " / ".join(f"{k} {v:.2f}" for k, v in split.items()) + f", {one.loaded} write-ups loaded){old}"
          + f", search index {terms_kb:.0f} KB ({word_kb:.0f} KB loaded to look up one word)")


if __name__ == "__main__":
    main()
