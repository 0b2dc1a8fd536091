"""Progress bars on stderr for long evaluation runs (rich, which textual already needs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Bars:
    """One bar per step of a run; `enabled=False` keeps a quiet run quiet."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("{task.description:36}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )

    def __enter__(self) -> Bars:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @contextmanager
    def step(self, description: str, total: int | None) -> Iterator[Callable[[], None]]:
        """A bar for `total` units of work (None: not known ahead); call the yielded
        function after each one."""
        task = self._progress.add_task(description, total=total)
        yield lambda: self._progress.advance(task)
        done = self._progress.tasks[task].completed  # an open-ended step ends where it got
        self._progress.update(task, total=total or done, completed=total or done)
