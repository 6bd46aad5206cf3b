"""Benchmark: building the archive site of 500 synthetic issues x 10 papers from the store.

Times a first `archive build` (every page, search index, feed, Markdown index), a rebuild with nothing
new (must render and write nothing, and leave every byte as it was), and a rebuild after one new issue
(only the pages that show it); reports the size of the search index files. Run by hand:

    .venv/bin/python bench/archive.py [--issues 500] [--papers 10] [--verify-clean]

Last line: `archive: first build <s> s for <n> papers (<ratio>x one process's <s> s), nothing new <s> s,
one new issue <s> s, search index <KB> KB (<KB> KB loaded to look up one word)`
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
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
    """Every file under a folder with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def timed(config: Config, store: Store, site_dir: Path | None = None, workers: int = 0):
    t0 = time.perf_counter()
    result = build_archive(config, store, site_dir, workers)
    return result, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--issues", type=int, default=500)
    ap.add_argument("--papers", type=int, default=10, help="papers per issue")
    ap.add_argument("--verify-clean", action="store_true",
                    help="also build from scratch after the new issue and compare every byte")
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
        _, serial_s = timed(config, store, Path(tmp) / "one-process", workers=1)
        shutil.rmtree(config.cache_dir / "templates")  # a first build compiles the templates too
        first, build_s = timed(config, store)
        site = first.site_dir
        size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
        print(f"first build: {first.written} files, {size / 1e6:.1f} MB, in {first.processes} processes "
              f"{build_s:.1f} s, in one {serial_s:.1f} s", file=sys.stderr)

        before = tree_hashes(config.archive_dir)
        again, nothing_new_s = timed(config, store)
        if again.written or again.rendered or tree_hashes(config.archive_dir) != before:
            sys.exit(f"a rebuild with nothing new rendered {again.rendered} and wrote {again.written} files")

        make_issue(store, week=-1, n_papers=args.papers)
        one, one_new_s = timed(config, store)
        print(f"one new issue: {one.rendered} files rendered, {one.written} written", file=sys.stderr)

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
    print(f"archive: first build {build_s:.1f} s for {first.papers} papers ({serial_s / build_s:.1f}x one process's "
          f"{serial_s:.1f} s), nothing new {nothing_new_s:.2f} s, "
          f"one new issue {one_new_s:.2f} s, search index {terms_kb:.0f} KB ({word_kb:.0f} KB loaded to look up one word)")


if __name__ == "__main__":
    main()
