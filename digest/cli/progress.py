"""The one progress line of a long command: the step, its bar, the money spent so far, rate-limit waits.

Imported on first use by digest.cli.common (it imports rich at module level).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text


class StatusColumn(ProgressColumn):
    """Cost so far and, while a model call waits for the rate limiter, a note saying so (read at each refresh)."""

    def __init__(self, cost: Callable[[], float | None], waiting: Callable[[], int]):
        super().__init__()
        self.cost = cost
        self.waiting = waiting

    def render(self, task: Task) -> Text:
        parts = []
        spent = self.cost()
        if spent is not None:
            parts.append(f"${spent:.4f} so far")
        waiting = self.waiting()
        if waiting:
            parts.append(f"waiting for the rate limit ({waiting} call{'s' if waiting != 1 else ''})")
        return Text(" · ".join(parts), style="yellow" if waiting else "dim")


def make_progress(console: Console, cost: Callable[[], float | None], waiting: Callable[[], int]) -> Progress:
    """A Progress showing one task at a time; transient, so the command's own summary is what stays on screen."""
    return Progress(TextColumn("{task.description:<22}"), BarColumn(bar_width=30), MofNCompleteColumn(),
                    TimeElapsedColumn(), StatusColumn(cost, waiting), console=console, transient=True)
