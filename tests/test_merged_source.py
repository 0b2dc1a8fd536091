"""Several sources as one stream: what a merge refuses, what it tells the source that
holds senders waiting, and a failing source's error surfacing instead of a silent end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.sources.http import HttpIngestSource, IdTaken
from agent.sources.merge import MergedSource
from core.events import Event
from core.sources import EventSource, SourceItem, StaticSource
from tests.helpers import event_record


def test_nothing_to_merge_is_refused():
    with pytest.raises(ValueError, match="nothing to merge"):
        MergedSource([])


async def test_settling_events_reaches_the_source_whose_sender_waits():
    ingest = HttpIngestSource(capacity=4)
    merged = MergedSource([StaticSource([]), ingest])
    assert merged.name == "static + http" and merged.holds_accepted
    stored_event, refused_event = (Event.model_validate(event_record(i)) for i in range(2))
    [stored, refused] = await ingest.submit([stored_event, refused_event], timeout_s=1)
    merged.recorded([stored_event.id])
    merged.refused({refused_event.id: "id taken"})
    assert stored.result() is None
    assert isinstance(refused.exception(), IdTaken) and str(refused.exception()) == "id taken"


async def test_a_source_that_fails_fails_the_merged_stream():
    class Failing(EventSource):
        name = "failing"

        async def items(self) -> AsyncIterator[SourceItem]:
            yield Event.model_validate(event_record(1))
            raise OSError("the device went away")

    merged = MergedSource([Failing(), StaticSource([Event.model_validate(event_record(2))])])
    seen = []
    with pytest.raises(OSError, match="the device went away"):
        async for item in merged.items():
            seen.append(item)
    assert len(seen) == 2  # what came before the failure still came


async def test_each_source_observes_the_events_the_others_read_and_not_its_own():
    class Observing(StaticSource):
        def __init__(self, events: list[Event], name: str) -> None:
            super().__init__(events, name)
            self.seen: list[str] = []

        def observed(self, event: Event) -> None:
            self.seen.append(event.id)

    first, second, third = (Event.model_validate(event_record(i)) for i in range(3))
    a, b = Observing([first, second], "a"), Observing([third], "b")
    inner = Observing([], "inner")
    merged = MergedSource([a, b, MergedSource([inner, StaticSource([])])])
    read = [item.id async for item in merged.items() if isinstance(item, Event)]
    assert sorted(read) == sorted([first.id, second.id, third.id])
    assert (a.seen, b.seen) == ([third.id], [first.id, second.id])
    assert sorted(inner.seen) == sorted(read)  # a merge inside passes them on
