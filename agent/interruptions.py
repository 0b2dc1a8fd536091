"""Moments no offer should interrupt: a call, a screen share, a full-screen presentation.

Seen in the context as it streams by: the app in front (a meeting app from the configured
list), its window title (a configured pattern: "Zoom Meeting", "is sharing your screen",
"Slide Show"...), or a watcher's flag in the event's attributes (`call`, `screen_share`,
`presentation`, `fullscreen`). A call goes on while the user looks at another window, so
a sighting holds for `busy_hold_s` of event time after the last one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from agent.config import EtiquetteSettings
from core.events import Event

# Attributes a watcher may set (true) to say what the user is in.
BUSY_FLAGS = {
    "call": "a call",
    "screen_share": "a screen share",
    "presentation": "a presentation",
    "fullscreen": "a full-screen presentation",
}


@dataclass
class InterruptionDetector:
    """Remembers the last sighting of a call, share or presentation."""

    settings: EtiquetteSettings
    seen_at: datetime | None = None
    what: str = ""
    _apps: frozenset[str] = field(init=False)
    _titles: tuple[re.Pattern[str], ...] = field(init=False)

    def __post_init__(self) -> None:
        self._apps = frozenset(app.casefold() for app in self.settings.busy_apps)
        self._titles = tuple(re.compile(p, re.IGNORECASE) for p in self.settings.busy_titles)

    def sighting(self, event: Event) -> str | None:
        """What `event` shows the user is in, or None."""
        for flag, what in BUSY_FLAGS.items():
            if event.attributes.get(flag) is True:
                return what
        if event.app and event.app.casefold() in self._apps:
            return f"a call in {event.app}"
        if event.title and any(p.search(event.title) for p in self._titles):
            return "a call, screen share or presentation"
        return None

    def observe(self, event: Event) -> None:
        what = self.sighting(event)
        if what is not None and (self.seen_at is None or event.time >= self.seen_at):
            self.seen_at, self.what = event.time, what

    def busy_reason(self, now: datetime) -> str | None:
        """Why the user must not be interrupted at `now`, or None."""
        if self.seen_at is None:
            return None
        ago = (now - self.seen_at).total_seconds()
        if 0 <= ago < self.settings.busy_hold_s:
            return f"{self.what} seen {ago:.0f}s ago"
        return None
