"""Which window is in front, as the other sources last said (a Wayland session's only way).

Wayland tells no program which windows are on the screen, so festina learns the window in
front from window events others read: ActivityWatch's window watcher, or a watcher posting
to the HTTP API. The newest window event (by its time) is the window in front, and the
newest browser-tab event the page a browser shows. A record that the source which reported
either could not make an event of (it may have been the next window or tab) makes both
unknown again. A `serial` counts the changes, so a capture can tell whether the window
changed while it was taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.events import Event, EventKind
from core.sources import Rejection


@dataclass(frozen=True)
class Focus:
    """The window in front and the browser's current tab, as last reported."""

    window: Event
    #: The browser's current tab (a web watcher's event), if any was reported.
    tab: Event | None
    #: Changes seen so far; a different one means the window or tab changed.
    serial: int


class FocusWatch:
    """Follows window and browser-tab events; `current()` is what they say is in front.

    Held in memory only, and only the newest of each: the privacy rules are applied to it
    by the reader before anything is captured, never stored from here."""

    def __init__(self) -> None:
        self._window: Event | None = None
        self._tab: Event | None = None
        self._serial = 0

    def observe(self, event: Event | Rejection) -> None:
        """Take in an event another source read; only window and browser events count.

        A record the source that reported the window (or tab) could not make an event of
        may have been the next window: what that source said is then no longer known."""
        if isinstance(event, Rejection):
            reporters = {known.source for known in (self._window, self._tab) if known}
            if event.source in reporters:
                self._window = self._tab = None
                self._serial += 1
            return
        if event.kind is EventKind.WINDOW and _newer(event, self._window):
            self._window = event
            self._serial += 1
        elif event.kind is EventKind.BROWSER and _newer(event, self._tab):
            self._tab = event
            self._serial += 1

    def current(self) -> Focus | None:
        """The window in front and the browser's tab; None while no window event came."""
        if self._window is None:
            return None
        return Focus(self._window, self._tab, self._serial)


def _newer(event: Event, than: Event | None) -> bool:
    # By the event's time, not its arrival: two watchers, or one catching up after an
    # outage, report windows out of order.
    return than is None or event.time >= than.time
