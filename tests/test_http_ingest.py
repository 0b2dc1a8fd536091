"""The HTTP ingest queue on its own: all or nothing, refusals while stopping, what a stop
tells senders still waiting."""

from __future__ import annotations

import asyncio

import pytest

from agent.sources.http import HttpIngestSource, IngestBusy, IngestClosed
from core.events import Event
from tests.helpers import event_record


def events(n: int, start: int = 0) -> list[Event]:
    return [Event.model_validate(event_record(start + i)) for i in range(n)]


async def test_a_request_larger_than_the_queue_can_never_fit():
    ingest = HttpIngestSource(capacity=2)
    with pytest.raises(ValueError, match="3 items can never fit a queue of 2"):
        await ingest.submit(events(3), timeout_s=1)


async def test_a_full_queue_refuses_when_time_runs_out_or_festina_stops():
    ingest = HttpIngestSource(capacity=2)
    await ingest.submit(events(2), timeout_s=1)
    with pytest.raises(IngestBusy, match=r"ingest queue full \(2 waiting\)"):
        await ingest.submit(events(1, start=10), timeout_s=0.05)
    waiting = asyncio.ensure_future(ingest.submit(events(1, start=20), timeout_s=30))
    await asyncio.sleep(0)  # it waits for room
    ingest.abandon()
    with pytest.raises(IngestClosed, match="festina is stopping"):
        await waiting
    with pytest.raises(IngestClosed):
        await ingest.submit(events(1, start=30), timeout_s=1)


async def test_abandoning_tells_every_waiting_sender_its_events_were_not_stored():
    ingest = HttpIngestSource(capacity=8)
    first = await ingest.submit(events(2), timeout_s=1)
    ingest.recorded([events(1)[0].id])  # the first one is stored
    ingest.abandon()
    assert first[0].result() is None
    with pytest.raises(IngestClosed, match="stopped before storing it"):
        first[1].result()
    ingest.recorded([events(2)[1].id])  # a late word changes nothing
    assert isinstance(first[1].exception(), IngestClosed)


async def test_a_sender_that_stopped_waiting_is_skipped_when_its_events_are_settled():
    ingest = HttpIngestSource(capacity=8)
    stored_event, refused_event = events(2)
    [stored, refused] = await ingest.submit([stored_event, refused_event], timeout_s=1)
    stored.cancel()  # the API gave up waiting (its 30 s passed): the future is cancelled
    refused.cancel()
    ingest.recorded([stored_event.id])
    ingest.refused({refused_event.id: "taken"})
    assert stored.cancelled() and refused.cancelled()
