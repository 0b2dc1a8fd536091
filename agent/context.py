"""Per-context memory of the last few events, the window the gate looks at."""

from __future__ import annotations

from collections import deque

from core.events import Event


class ContextWindows:
    """Keeps the most recent `size` events of each source, in arrival order."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("window size must be at least 1")
        self._size = size
        self._windows: dict[str, deque[Event]] = {}

    def push(self, event: Event) -> list[Event]:
        """Add `event` to its context and return that context's window, oldest first."""
        window = self._windows.setdefault(event.source, deque(maxlen=self._size))
        window.append(event)
        return list(window)

    def event_ids(self) -> set[str]:
        """Every event held in a window."""
        return {e.id for window in self._windows.values() for e in window if e.id is not None}

    def drop(self, event_ids: set[str]) -> int:
        """Remove these events (forgotten from memory) from every window; returns how many."""
        dropped = 0
        for source, window in self._windows.items():
            kept = [e for e in window if e.id not in event_ids]
            dropped += len(window) - len(kept)
            self._windows[source] = deque(kept, maxlen=self._size)
        return dropped
