"""Several sources read concurrently into one stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping

from core.sources import EventSource, LatestTimes, SourceItem

_DONE = object()


class MergedSource(EventSource):
    """Interleaves its sources' items in arrival order; ends when all of them end.

    Each source keeps its own order, and sees the events the others read as they arrive
    (`EventSource.observed`). Closing cancels the readers of sources that hold
    nothing accepted and lets the others drain, so merging never weakens a source's
    no-loss promise.
    """

    def __init__(self, sources: list[EventSource]) -> None:
        if not sources:
            raise ValueError("nothing to merge")
        self.sources = sources
        self.name = " + ".join(source.name for source in sources)
        self.holds_accepted = any(source.holds_accepted for source in sources)
        self._readers: dict[EventSource, asyncio.Task[None]] = {}

    @property
    def faults(self) -> int:
        return sum(source.faults for source in self.sources)

    async def resume(self, latest_times: LatestTimes) -> None:
        for source in self.sources:
            await source.resume(latest_times)

    def recorded(self, event_ids: Iterable[str]) -> None:
        ids = list(event_ids)
        for source in self.sources:
            source.recorded(ids)

    def refused(self, reasons: Mapping[str, str]) -> None:
        for source in self.sources:
            source.refused(reasons)

    def observed(self, item: SourceItem) -> None:
        for source in self.sources:
            source.observed(item)

    async def items(self) -> AsyncIterator[SourceItem]:
        # A small queue: readers wait for the pipeline rather than buffering ahead of it.
        merged: asyncio.Queue[object] = asyncio.Queue(maxsize=len(self.sources))

        async def pump(source: EventSource) -> None:
            try:
                async for item in source.items():
                    for other in self.sources:
                        if other is not source:
                            other.observed(item)
                    await merged.put(item)
            finally:
                await merged.put(_DONE)

        self._readers = {source: asyncio.create_task(pump(source)) for source in self.sources}
        running = len(self._readers)
        try:
            while running:
                item = await merged.get()
                if item is _DONE:
                    running -= 1
                else:
                    yield item  # type: ignore[misc]
            outcomes = await asyncio.gather(*self._readers.values(), return_exceptions=True)
            for outcome in outcomes:  # surface a reader's failure; cancellation is closing
                if isinstance(outcome, Exception):
                    raise outcome
        finally:
            for reader in self._readers.values():
                reader.cancel()

    async def close(self) -> None:
        for source in self.sources:
            await source.close()
            reader = self._readers.get(source)
            if reader is not None and not source.holds_accepted:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
