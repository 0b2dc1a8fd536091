"""Replay pacing: reproduce the recorded gaps between events, optionally sped up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from core.events import Event
from core.sources import SourceItem


async def paced(items: AsyncIterator[SourceItem], speed: float) -> AsyncIterator[SourceItem]:
    """Yield items no faster than their timestamps allow at `speed` x real time.

    `speed <= 0` means as fast as possible. Rejections carry no time and pass at once.
    """
    first_event_time: float | None = None
    wall_start = time.monotonic()
    async for item in items:
        if speed > 0 and isinstance(item, Event):
            if first_event_time is None:
                first_event_time = item.timestamp
                wall_start = time.monotonic()
            due = wall_start + (item.timestamp - first_event_time) / speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        yield item
