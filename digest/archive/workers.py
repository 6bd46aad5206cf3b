"""Rendering many archive pages in forked worker processes, so a first build uses every core.

Workers are forked: they share the loaded issues, papers and compiled templates without pickling any of
it, and each renders and writes its share of the pages: runs of neighbouring pages (so a paper's page is
rendered where its issue's answers already were), dealt in turn so that every share has as much to do.
They report back only what they wrote. Forking is used only where it is safe: a POSIX system other than
macOS, from a process running no other thread. A worker that fails or dies has its share done again in
this process, so an error surfaces here, once, with its own type and message (a disk that is full, a
template that breaks), and never as a child's traceback; one that takes far longer than this process did
is stopped and its share done here too, so a build never waits on a stuck worker.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_SHARE = 300  # pages: below this a fork costs more than it saves
MAX_WORKERS = 8
GRACE_S = 120.0  # seconds a worker may take beyond four times this process's own share


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, e.g. under taskset or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def fork_is_safe() -> bool:
    """True where a forked child can run Python safely: POSIX, not macOS, and no other thread running."""
    # A thread holding a lock at the fork leaves it held forever in the child; macOS's system
    # libraries are not fork-safe at all (multiprocessing itself stopped forking there).
    return hasattr(os, "fork") and sys.platform != "darwin" and threading.active_count() == 1


def worker_count(pages: int, requested: int = 0) -> int:
    """How many processes render `pages` pages: `requested` (0 = one per CPU, if the pages are worth it)."""
    if requested <= 0:
        requested = min(available_cpus(), pages // MIN_SHARE, MAX_WORKERS)
    return max(1, min(requested, pages)) if fork_is_safe() else 1


def split(items: list[T], parts: int, runs: int = 8) -> list[list[T]]:
    """`items` in `parts` shares of about equal size, each made of `runs` contiguous runs dealt in turn.

    Contiguous runs keep neighbours together (a paper's page after its issue's); dealing many of them in
    turn evens out the work when the expensive items bunch up at one end of the list.
    """
    parts = max(1, min(parts, len(items)))
    pieces = _contiguous(items, parts * runs) if parts > 1 else [items]
    return [[item for piece in pieces[n::parts] for item in piece] for n in range(parts)]


def _contiguous(items: list[T], parts: int) -> list[list[T]]:
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    pieces, start = [], 0
    for n in range(parts):
        end = start + size + (1 if n < extra else 0)
        pieces.append(items[start:end])
        start = end
    return pieces


def run_shares(shares: list[list[T]], work: Callable[[list[T]], R]) -> list[R]:
    """`work(share)` for every share, in share order: the first here, each other in a forked child."""
    if len(shares) <= 1:
        return [work(share) for share in shares]
    ctx = multiprocessing.get_context("fork")
    children = []
    try:
        for share in shares[1:]:
            receive, send = ctx.Pipe(duplex=False)
            child = ctx.Process(target=_child, args=(work, share, send, os.getpid()), daemon=True)
            try:
                child.start()
            except OSError:  # no process to be had (a limit on processes or memory): this one does the rest
                receive.close()
                send.close()
                break
            send.close()  # the child holds its own end: EOF here when it exits
            children.append((child, receive))
        started = time.monotonic()
        results = [work(shares[0])]
        # A child has about as much to do as this process just did: one that takes far longer is stuck.
        deadline = time.monotonic() + max(GRACE_S, 4 * (time.monotonic() - started))
        for (child, receive), share in zip(children, shares[1:]):
            result = _receive(receive, deadline - time.monotonic())
            if result is None:
                # It failed, died or got stuck, and said nothing: stopped for good (so that it cannot write
                # a page this process is writing), its share is done here, where its error is raised.
                child.terminate()
                child.join()
            results.append(result[0] if result else work(share))
        return results + [work(share) for share in shares[1 + len(children):]]
    finally:
        for child, receive in children:  # done (it sent all it had to) or abandoned on an error here
            receive.close()
            if child.is_alive():
                child.terminate()
            child.join()


def _receive(receive, timeout: float) -> tuple | None:
    try:
        return (receive.recv(),) if receive.poll(max(0.0, timeout)) else None
    except (EOFError, OSError):
        return None


def _die_with_parent(parent: int) -> None:
    # A build killed with SIGKILL must not leave its workers writing pages behind the next build's back
    # (an orphan would write what the killed build had loaded): on Linux the kernel kills them with it.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before that took hold
        os._exit(1)


def _child(work: Callable[[list[T]], R], share: list[T], send, parent: int) -> None:
    _die_with_parent(parent)
    try:
        send.send(work(share))
        send.close()
    except BaseException:  # noqa: BLE001 - the parent redoes the share and reports the error itself
        os._exit(1)
