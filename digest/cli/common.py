"""What every command module shares: the consoles, progress bars and the planned-calls table.

rich is imported on first use, not at import: `digest --help` and every `digest X --help` must start
without it (tests/test_cli_startup.py). `console` and `out` are created on first attribute access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from digest.errors import ExitStatus, NotFoundError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from digest.config import Config
    from digest.store import Store


class LazyConsole:
    """A rich Console made on first use, with these arguments; stands for it everywhere (`.print`, ...)."""

    def __init__(self, **kwargs: Any):
        self._kwargs = kwargs
        self._console: Console | None = None

    def get(self) -> Console:
        """The Console itself (for rich APIs that want a real one, e.g. Progress(console=...))."""
        if self._console is None:
            from rich.console import Console
            self._console = Console(**self._kwargs)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


console = LazyConsole(stderr=True, emoji=False)
out = LazyConsole(soft_wrap=True, emoji=False)  # long result lines stay whole (and greppable)


def escape(text: str) -> str:
    """rich.markup.escape, imported on first use: paper-derived text must print as itself, not as markup."""
    from rich.markup import escape as rich_escape
    return rich_escape(text)


class RichReporter:
    """The pipeline's Reporter on stderr: one progress line reused by every step (a finished step is not drawn
    again under the next), with the money spent so far and a note while calls wait for the rate limiter."""

    def __init__(self, target: Console | None = None, waiting: Callable[[], int] | None = None):
        from digest.cli.progress import make_progress
        if waiting is None:
            from digest.llm.support import rate_limit_waiters as waiting
        self.cost: float | None = None
        self.progress = make_progress(target or console.get(), lambda: self.cost, waiting)
        self.task = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def start(self, label: str, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task(label, total=total)
        else:
            self.progress.reset(self.task, total=total, description=label)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def spent(self, cost: float) -> None:
        self.cost = cost
        self.progress.refresh()

    def note(self, message: str) -> None:
        # Plain text that may quote a model or a paper (a re-rank's reasons): never read as markup.
        self.progress.console.print(escape(message), highlight=False)


def plan_table(title: str, estimate) -> Table:
    """Planned calls, tokens and estimated cost per paper (for --dry-run)."""
    from rich.table import Table
    t = Table(title=title)
    for col in ("paper", "mode", "calls", "input tokens", "cached", "output tokens", "est. cost"):
        t.add_column(col)
    for p, e in estimate:
        t.add_row(p.versioned_id, e.mode, str(e.calls), f"{e.input_tokens:,}", f"{e.cached_tokens:,}",
                  f"{e.output_tokens:,}", f"${e.cost:.4f}")
    return t


def print_failures(failures, warnings=()) -> None:
    """One line per failed source or paper and per warning."""
    for what, why in failures:
        console.print(f"[yellow]failed[/] {escape(str(what))}: {escape(str(why))}", highlight=False)
    for w in warnings:
        console.print(f"[yellow]warning[/] {escape(w)}", highlight=False)


def sources_status(failed: int, total: int) -> ExitStatus:
    """SUCCESS when every source was read, ERROR when none was, PARTIAL in between."""
    if not failed:
        return ExitStatus.SUCCESS
    return ExitStatus.ERROR if failed >= total else ExitStatus.PARTIAL


def nothing_here(config: Config) -> NotFoundError:
    """The error of a command that reads the store where there is none: no config and no store, or no store yet."""
    if config.path is None:
        return NotFoundError(
            f"no config and no store were found here ({config.db_path} does not exist; nothing was created)",
            hint="run from the folder that holds digest.toml, or point at it with --config PATH or "
                 "DIGEST_CONFIG=PATH; `digest init` writes a new one")
    return NotFoundError(f"there is no store yet at {config.db_path} (nothing was created)",
                         hint="run `digest run` first")


def existing_store(app: Any) -> Store:
    """The store of a command that only reads it (send, export): none is created where nothing was ever run."""
    if not app.config.db_path.exists():
        raise nothing_here(app.config)
    return app.store
