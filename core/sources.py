"""The interface every event source implements, and what it yields."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from core.events import Event
from core.jsonsafe import escaped


@dataclass(frozen=True)
class Rejection:
    """An input that could not become an event, kept with the reason so nothing is lost."""

    source: str
    position: int
    reason: str
    raw: str

    def __post_init__(self) -> None:
        # Hostile input is kept whole but escaped: a lone surrogate or NUL in the raw text
        # (or echoed in the reason) would otherwise fail the UTF-8 encoding of the log,
        # the database insert and the HTTP answer.
        for name in ("source", "reason", "raw"):
            object.__setattr__(self, name, escaped(getattr(self, name)))


SourceItem = Event | Rejection


def id_taken(event: Event) -> str:
    """Why an event is refused whose id already names an event with other content."""
    return f"id {event.id} already names an event with other content; an id names one event"


#: Given a prefix of event source names, the newest stored event time of each such source.
LatestTimes = Callable[[str], Awaitable[dict[str, datetime]]]


class EventSource(abc.ABC):
    """A stream of context events.

    Finite sources (file replay) end when exhausted; live sources (ActivityWatch, HTTP
    ingest) run until `close()` is called. Malformed input is yielded as a `Rejection`
    in stream order rather than raised, so one bad record never stops the stream.
    """

    name: str
    #: True when the source holds events it has already acknowledged to their sender (an
    #: HTTP ingest queue): stopping then closes it and lets `items()` drain, instead of
    #: cancelling the reader.
    holds_accepted: bool = False

    @abc.abstractmethod
    def items(self) -> AsyncIterator[SourceItem]:
        """Yield events and rejections in arrival order."""

    @property
    def faults(self) -> int:
        """Times the source's backend failed to answer (and was retried) since it started."""
        return 0

    async def resume(self, latest_times: LatestTimes) -> None:  # noqa: B027 - optional hook
        """Called once before `items()`: a live source picks up after what memory holds."""

    def recorded(self, event_ids: Iterable[str]) -> None:  # noqa: B027 - optional hook
        """These events are now durably in memory (stored now, or already before)."""

    def refused(self, reasons: Mapping[str, str]) -> None:  # noqa: B027 - optional hook
        """These events will never be stored, each for its reason (by event id): their id
        already names an event with other content."""

    def observed(self, item: Event | Rejection) -> None:  # noqa: B027 - optional hook
        """An event (or a rejected record) another source read, merged with this one: a
        source that needs the user's context (the screen source on Wayland: which window is
        in front) follows it. Called as it arrives, before any privacy rule."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most sources hold nothing
        """Release resources; a live source stops yielding after this."""


class StaticSource(EventSource):
    """Events already in memory, in order: for evaluations and embedding festina."""

    def __init__(self, events: list[Event], name: str = "static") -> None:
        self._events = events
        self.name = name

    async def items(self) -> AsyncIterator[SourceItem]:
        for event in self._events:
            yield event
