"""The interface every event source implements, and what it yields."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from agent.events import Event


@dataclass(frozen=True)
class Rejection:
    """An input that could not become an event, kept with the reason so nothing is lost."""

    source: str
    position: int
    reason: str
    raw: str


SourceItem = Event | Rejection


class EventSource(abc.ABC):
    """A stream of context events.

    Finite sources (file replay) end when exhausted; live sources (ActivityWatch, HTTP
    ingest) run until `close()` is called. Malformed input is yielded as a `Rejection`
    in stream order rather than raised, so one bad record never stops the stream.
    """

    name: str

    @abc.abstractmethod
    def items(self) -> AsyncIterator[SourceItem]:
        """Yield events and rejections in arrival order."""

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
