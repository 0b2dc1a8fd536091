"""Forgetting what is older than the retention window, while the pipeline runs."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from functools import partial

from agent.memory_calls import MemoryCalls
from memory.store import Store

logger = logging.getLogger("festina.pipeline")

RETENTION_INTERVAL_S = 3600.0


async def forget_old_events(store: Store, memory: MemoryCalls, retention_days: int) -> None:
    """Forget events older than `retention_days`, now and then every hour (never, at 0)."""
    if retention_days <= 0:
        return
    while True:
        cutoff = datetime.now(UTC) - timedelta(days=retention_days)
        deleted = await memory.once(partial(store.forget, before=cutoff))
        if any(deleted.values()):
            logger.info("retention: forgot %s older than %s", deleted, cutoff.isoformat())
        await asyncio.sleep(RETENTION_INTERVAL_S)
