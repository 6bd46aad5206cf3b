"""Text extraction in killable, memory-capped worker processes.

pypdf runs only in child processes (`python -m digest.pdf.worker`, never forked, so no threads or
sqlite handles are inherited). A child that exceeds its time limit is killed and replaced; its
address-space limit (RLIMIT_AS) makes a decompression bomb fail with MemoryError inside the child
instead of taking the machine down. A child dies with its parent, even one killed with -9 (see
digest.pdf.worker), so no orphan keeps a CPU busy on a hostile PDF. Cleaning (digest.pdf.clean)
runs in the child too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

from digest.config import Config
from digest.records import PageText

__all__ = ["extract_pdf", "extract_many", "identify_pdf", "identify_many"]

_STARTUP_TIMEOUT = 60.0  # seconds a fresh worker may take to import pypdf and say it is ready
_MAX_START_FAILURES = 3


def extract_pdf(path: Path, config: Config) -> PageText:
    """Cleaned text per page, parsed in a time- and memory-limited worker; never raises for a bad PDF."""
    for _, result in _run([Path(path)], config, workers=1, mode="full"):
        return result
    raise AssertionError("unreachable: one task gives one result")


def extract_many(paths: list[Path], config: Config, workers: int | None = None) -> Iterator[tuple[Path, PageText]]:
    """Extract many PDFs over `workers` processes (default limits.workers); yields (the path as given,
    result) as each finishes."""
    return _run(list(paths), config, workers=workers, mode="full")


def identify_pdf(path: Path, config: Config) -> PageText:
    """Title, authors, arXiv ID and category (margin stamp) of a PDF from its metadata and first page only."""
    for _, result in _run([Path(path)], config, workers=1, mode="identify"):
        return result
    raise AssertionError("unreachable: one task gives one result")


def identify_many(paths: list[Path], config: Config, workers: int | None = None) -> Iterator[tuple[Path, PageText]]:
    """identify_pdf for many PDFs over `workers` processes (default limits.workers); yields (the path as
    given, result) as each finishes."""
    return _run(list(paths), config, workers=workers, mode="identify")


@dataclass
class _Worker:
    process: subprocess.Popen
    send: Connection  # tasks to the child
    recv: Connection  # results from the child
    started: float
    ready: bool = False
    task: tuple[int, Path] | None = None
    deadline: float = 0.0


def _child_env() -> dict[str, str]:
    """The environment of a worker: ours, with this checkout importable first."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


@dataclass
class _Pool:
    """Worker processes that are replaced when they are killed or die; the parent never blocks on them.

    Workers are plain `python -m digest.pdf.worker` subprocesses talking over two pipes: unlike
    multiprocessing's spawn they never re-run the caller's __main__, and unlike fork they inherit
    no threads, locks or sqlite handles. Linux's parent-death signal follows the thread that started
    a child, so a pool is started and consumed by one thread that outlives it.
    """

    memory_mb: int
    timeout: float
    workers: list[_Worker] = field(default_factory=list)
    start_failures: int = 0

    def start(self) -> None:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "digest.pdf.worker", str(task_r), str(result_w), str(self.memory_mb),
                 str(os.getpid())],
                pass_fds=(task_r, result_w), env=_child_env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            for fd in (task_r, task_w, result_r, result_w):
                os.close(fd)
            self.start_failures += 1
            return
        # Our copies of the child's ends must go, or a dead child would never look closed to us.
        os.close(task_r)
        os.close(result_w)
        self.workers.append(_Worker(proc, Connection(task_w, readable=False),
                                    Connection(result_r, writable=False), time.monotonic()))

    def retire(self, w: _Worker) -> None:
        """Kill a worker (if still alive) and forget it."""
        for conn in (w.send, w.recv):
            conn.close()
        if w.process.poll() is None:
            w.process.kill()
        try:
            w.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.workers.remove(w)

    def close(self) -> None:
        for w in list(self.workers):
            if w.task is None and w.process.poll() is None:
                try:
                    w.send.send(None)  # ask for a clean exit
                    w.process.wait(0.5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self.retire(w)


def _died_reason(w: _Worker) -> str:
    try:
        code = w.process.wait(1)
    except subprocess.TimeoutExpired:
        code = None
    # SIGKILL from outside is what the kernel's OOM killer does.
    return "memory" if code == -signal.SIGKILL else f"error:WorkerDied({code})"


def _size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _run(paths: list[Path], config: Config, *, workers: int | None, mode: str) -> Iterator[tuple[Path, PageText]]:
    limits = config.limits
    n_workers = max(1, min(workers or limits.workers or 1, len(paths)))
    # Biggest files first: with several workers the batch then ends sooner (longest-job-first).
    pending = deque(sorted(enumerate(paths), key=lambda t: -_size(t[1])))
    in_flight = 0
    pool = _Pool(memory_mb=int(limits.pdf_parse_memory_mb), timeout=float(limits.pdf_parse_timeout))
    try:
        if paths:
            for _ in range(n_workers):
                pool.start()
        while pending or in_flight:
            now = time.monotonic()
            for w in pool.workers:
                if w.ready and w.task is None and pending:
                    task_id, path = pending.popleft()
                    try:
                        w.send.send((task_id, str(path), mode))
                    except OSError:  # the worker died while idle: requeue, replace it below
                        pending.appendleft((task_id, path))
                        w.ready = False
                        continue
                    w.task, w.deadline = (task_id, path), time.monotonic() + pool.timeout
                    in_flight += 1
            deadlines = [w.deadline if w.ready else w.started + _STARTUP_TIMEOUT for w in pool.workers
                         if w.task is not None or not w.ready]
            wait_for = max(0.0, min(deadlines) - now) if deadlines else None
            for conn in wait([w.recv for w in pool.workers], timeout=wait_for):
                w = next(x for x in pool.workers if x.recv is conn)
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    if w.task is not None:
                        in_flight -= 1
                        yield w.task[1], PageText(ok=False, error=_died_reason(w))
                    else:
                        pool.start_failures += 1
                    pool.retire(w)
                    continue
                if msg == "ready":
                    w.ready = True
                    pool.start_failures = 0
                    continue
                _, result = msg
                path = w.task[1]
                w.task = None
                in_flight -= 1
                if result.error == "memory":
                    pool.retire(w)  # a worker that ran out of memory is not trusted with the next PDF
                yield path, result
            now = time.monotonic()
            for w in list(pool.workers):
                if w.task is not None and now >= w.deadline:
                    path = w.task[1]
                    pool.retire(w)
                    in_flight -= 1
                    yield path, PageText(ok=False, error="timeout")
                elif not w.ready and now >= w.started + _STARTUP_TIMEOUT:
                    pool.retire(w)
                    pool.start_failures += 1
            if pool.start_failures >= _MAX_START_FAILURES:
                while pending:
                    _, path = pending.popleft()
                    yield path, PageText(ok=False, error="error:WorkerStartFailed")
                continue
            # Keep as many workers as there is work for.
            while pending and len(pool.workers) < n_workers:
                pool.start()
    finally:
        pool.close()
