"""Events POSTed to the local API, queued for the pipeline.

A request's events are queued all together or not at all, and the sender learns when
they are stored: `submit` returns one future per event, resolved once memory holds it.
Ids are stable, so a sender that resends what was never confirmed (after a crash, say)
causes no duplicates: at-least-once delivery, exactly-once storage. An id names one event:
one sent again with other content is refused (its future fails with `IdTaken`), here while
the first is still queued, by the pipeline once the first is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping

from core.events import Event
from core.sources import EventSource, Rejection, SourceItem, id_taken

SUBMIT_POLL_S = 0.005


class IngestClosed(RuntimeError):
    """The daemon is stopping and takes no more events."""


class IngestBusy(RuntimeError):
    """The queue stayed too full to take the whole request in time."""


class IdTaken(ValueError):
    """The event's id already names an event with other content: it is never stored."""


class HttpIngestSource(EventSource):
    """The queue between the HTTP API and the pipeline; ends once closed and drained."""

    holds_accepted = True

    def __init__(self, capacity: int) -> None:
        self.name = "http"
        self.capacity = capacity
        self._queue: asyncio.Queue[SourceItem | None] = asyncio.Queue(capacity)
        # Per queued id: the event it names and who waits for it to be stored.
        self._waiters: dict[str, tuple[Event, list[asyncio.Future[None]]]] = {}
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
                stored.append(future)
                queued, waiting = self._waiters.setdefault(item.id, (item, []))
                # Hashed only for an id already queued: a new event pays nothing here.
                if queued is not item and queued.content_hash() != item.content_hash():
                    # Checked here, with nothing awaited since, so two requests cannot
                    # both queue one id; the rejection is kept like any other.
                    reason = id_taken(item)
                    future.set_exception(IdTaken(reason))
                    item = Rejection(self.name, 0, reason, item.model_dump_json())
                else:
                    waiting.append(future)
            self._queue.put_nowait(item)
        return stored

    def recorded(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self._settle(event_id, None)

    def refused(self, reasons: Mapping[str, str]) -> None:
        for event_id, reason in reasons.items():
            self._settle(event_id, IdTaken(reason))

    def _settle(self, event_id: str, error: Exception | None) -> None:
        """Tell whoever still waits for `event_id`: stored (no error), or why it never is."""
        for future in self._waiters.pop(event_id, (None, []))[1]:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    async def items(self) -> AsyncIterator[SourceItem]:
        while (item := await self._queue.get()) is not None:
            yield item

    def abandon(self) -> None:
        """Stop now: nothing more is taken, and senders still waiting learn that their
        events were not stored (they resend; ids make that safe)."""
        self._closed = True
        for event_id in list(self._waiters):
            self._settle(event_id, IngestClosed("festina stopped before storing it"))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._queue.put(None)  # after everything already queued
