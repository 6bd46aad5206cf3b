"""A large archive build renders in forked worker processes: same bytes as one process, errors raised once.

Forking from pytest's own process is what the code refuses when other threads run, so every fork here
happens in a fresh interpreter started for the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from digest.archive.workers import MIN_SHARE, fork_is_safe, split, worker_count

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="needs fork")


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run a snippet in a new interpreter (no thread but its own), with the tests' factories importable."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_split_deals_contiguous_runs_in_turn_and_keeps_every_item_once():
    items = list(range(100))
    shares = split(items, 2, runs=4)
    assert [len(s) for s in shares] == [50, 50]
    assert shares[0][:13] == list(range(13)) and shares[1][:13] == list(range(13, 26))  # run 0, then run 1
    assert sorted(shares[0] + shares[1]) == items
    assert split(items, 1) == [items] and split([1, 2], 5) == [[1], [2]] and split([], 3) == [[]]


def test_worker_count_is_one_for_small_builds_and_while_other_threads_run():
    assert worker_count(MIN_SHARE - 1) == 1
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not fork_is_safe() and worker_count(100_000, 4) == 1
    finally:
        stop.set()
        thread.join()


def test_a_build_in_two_processes_writes_the_same_bytes_as_one(tmp_path):
    r = run_python("""
        import hashlib, json
        from pathlib import Path
        from factories import make_issue
        from digest.archive.site import build_archive
        from digest.config import Config
        from digest.store import Store

        config = Config(path=Path("digest.toml"))
        config.selection.authors = ["Lovelace"]
        store = Store(config.db_path)
        for week in range(12):
            make_issue(store, week=week, n_papers=4, language="ja" if week % 3 == 2 else "en")
        def tree(folder):
            return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
                    for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".build-manifest.json"}
        one = build_archive(config, store, Path("one"), workers=1)
        two = build_archive(config, store, Path("two"), workers=2)
        again = build_archive(config, store, Path("two"), workers=2)
        print(json.dumps({"same": tree(Path("one")) == tree(Path("two")), "files": len(tree(Path("two"))),
                          "processes": [one.processes, two.processes], "rendered": [one.rendered, two.rendered],
                          "paths": sorted(one.rendered_paths) == sorted(two.rendered_paths),
                          "again": [again.rendered, again.written]}))
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["same"] and out["files"] > 100 and out["paths"]
    assert out["processes"] == [1, 2] and out["rendered"][0] == out["rendered"][1] > 100
    assert out["again"] == [0, 0]


def test_a_failing_worker_has_its_share_redone_here_and_the_error_is_raised_once(tmp_path):
    r = run_python("""
        import os
        from digest.archive.workers import run_shares
        parent = os.getpid()

        def only_here(share):  # a worker's failure (a full disk, say) that this process does not meet
            if os.getpid() != parent:
                raise OSError("no space left on device")
            return sum(share)
        print(run_shares([[1, 2], [3, 4], [5]], only_here))

        def always(share):
            if 5 in share:
                raise ValueError("template broke on item 5")
            return sum(share)
        try:
            run_shares([[1, 2], [5]], always)
        except ValueError as e:
            print("raised:", e)
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["[3, 7, 5]", "raised: template broke on item 5"]
    assert "Traceback" not in r.stderr and "no space" not in r.stderr  # no child speaks for itself


def test_a_stuck_worker_is_stopped_and_its_share_done_here(tmp_path):
    r = run_python("""
        import os, time
        from digest.archive import workers
        workers.GRACE_S = 0.5
        parent = os.getpid()

        def stuck_in_a_child(share):
            if os.getpid() != parent:
                time.sleep(3600)  # a worker that never answers (a hung disk, say)
            return sum(share)
        print(workers.run_shares([[1, 2], [3, 4]], stuck_in_a_child))
    """, tmp_path)  # waiting on the child would run into run_python's timeout, long before its hour is up
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[3, 7]"


def test_no_process_to_be_had_means_this_one_does_every_share(tmp_path):
    r = run_python("""
        import multiprocessing.context
        from digest.archive.workers import run_shares

        def refused(self):
            raise BlockingIOError(11, "Resource temporarily unavailable")  # fork: EAGAIN
        multiprocessing.context.ForkProcess.start = refused
        print(run_shares([[1, 2], [3, 4], [5]], sum))
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[3, 7, 5]"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_a_worker_dies_with_a_killed_build_instead_of_writing_on(tmp_path):
    # A build killed with SIGKILL must leave no worker writing pages behind the next build's back.
    proc = run_python(f"""
        import os, signal, time
        from pathlib import Path
        from digest.archive.workers import run_shares
        out = Path({str(tmp_path)!r})
        parent = os.getpid()

        def work(share):
            if share == ["child"]:
                # Written whole, then renamed: the parent waits for the name, and must never read an empty file.
                (out / "child.pid.part").write_text(str(os.getpid()))
                (out / "child.pid.part").rename(out / "child.pid")
                deadline = time.monotonic() + 60  # bounds a hang only: the parent is killed long before
                while os.getppid() == parent and time.monotonic() < deadline:
                    time.sleep(0.01)
                (out / "orphan-wrote").write_text("a page the killed build had loaded")
                return 1
            deadline = time.monotonic() + 60
            while not (out / "child.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGKILL)

        run_shares([["parent"], ["child"]], work)
    """, tmp_path)
    assert proc.returncode == -9, proc.stderr
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 60
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(child) and not (tmp_path / "orphan-wrote").exists()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"  # a zombie has stopped: it writes nothing more
    except FileNotFoundError:
        return False
