"""Events POSTed to the local API, queued for the pipeline.

A request's events are queued all together or not at all, and the sender learns when
they are stored: `submit` returns one future per event, resolved once memory holds it.
Ids are stable, so a sender that resends what was never confirmed (after a crash, say)
causes no duplicates: at-least-once delivery, exactly-once storage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from core.events import Event
from core.sources import EventSource, SourceItem

SUBMIT_POLL_S = 0.005


class IngestClosed(RuntimeError):
    """The daemon is stopping and takes no more events."""


class IngestBusy(RuntimeError):
    """The queue stayed too full to take the whole request in time."""


class HttpIngestSource(EventSource):
    """The queue between the HTTP API and the pipeline; ends once closed and drained."""

    holds_accepted = True

    def __init__(self, capacity: int) -> None:
        self.name = "http"
        self.capacity = capacity
        self._queue: asyncio.Queue[SourceItem | None] = asyncio.Queue(capacity)
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._closed = False
        self._positions = 0

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def next_position(self) -> int:
        """A running count of received records, for locating rejections."""
        self._positions += 1
        return self._positions

    async def submit(self, items: list[SourceItem], timeout_s: float) -> list[asyncio.Future[None]]:
        """Queue every item or, if room does not come within `timeout_s`, none."""
        if len(items) > self.capacity:
            raise ValueError(f"{len(items)} items can never fit a queue of {self.capacity}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._queue.maxsize - self._queue.qsize() < len(items):
            if self._closed:
                raise IngestClosed("festina is stopping")
            if loop.time() >= deadline:
                raise IngestBusy(f"ingest queue full ({self._queue.qsize()} waiting)")
            await asyncio.sleep(SUBMIT_POLL_S)
        if self._closed:
            raise IngestClosed("festina is stopping")
        stored: list[asyncio.Future[None]] = []
        for item in items:
            if isinstance(item, Event):
                assert item.id is not None
                future = loop.create_future()
                self._waiters.setdefault(item.id, []).append(future)
                stored.append(future)
            self._queue.put_nowait(item)
        return stored

    def recorded(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            for future in self._waiters.pop(event_id, []):
                if not future.done():
                    future.set_result(None)

    async def items(self) -> AsyncIterator[SourceItem]:
        while (item := await self._queue.get()) is not None:
            yield item

    def abandon(self) -> None:
        """Stop now: nothing more is taken, and senders still waiting learn that their
        events were not stored (they resend; ids make that safe)."""
        self._closed = True
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_exception(IngestClosed("festina stopped before storing it"))
        self._waiters.clear()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._queue.put(None)  # after everything already queued
