"""What every command module shares: the consoles, progress bars and the planned-calls table."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from digest.errors import ExitStatus

console = Console(stderr=True)
out = Console(soft_wrap=True)  # long result lines stay whole (and greppable)


class RichReporter:
    """Progress bars on stderr for the pipeline's long steps (the pipeline's Reporter)."""

    def __init__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self.progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console)
        self.task = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def start(self, label: str, total: int) -> None:
        self.task = self.progress.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def note(self, message: str) -> None:
        self.progress.console.print(message)


def plan_table(title: str, estimate) -> Table:
    """Planned calls, tokens and estimated cost per paper (for --dry-run)."""
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
