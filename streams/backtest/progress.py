"""Progress bars on stderr (rich), or nothing at all when they are not wanted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

Advance = Callable[[int], None]


class Steps:
    """Named steps of a long job; each step returns the function that advances it."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def step(self, description: str, total: int) -> Advance | None:
        """A new bar with `total` units, or None when progress is not shown."""
        progress = self._progress
        if progress is None:
            return None
        task = progress.add_task(description, total=total)

        def advance(units: int) -> None:
            progress.advance(task, units)
            progress.refresh()

        return advance


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Steps]:
    """Bars on stderr while the block runs, if enabled."""
    if not enabled:
        yield Steps(None)
        return
    columns = (
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    # No refresh thread: the replay forks worker processes, which must not inherit threads.
    with Progress(*columns, console=Console(stderr=True), auto_refresh=False) as progress:
        yield Steps(progress)
