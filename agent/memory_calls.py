"""Memory's calls from the pipeline: on one thread of their own, and retried through a
storage fault where an event's path depends on them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from memory.health import (
    GIVE_UP_AFTER_STOP_S,
    RETRY_FIRST_S,
    RETRY_MAX_S,
    STORAGE_FAULTS,
    StorageHealth,
    StorageUnavailable,
    describe,
)

# The pipeline's stages log as one: a reader filters the pipeline, not its modules.
logger = logging.getLogger("festina.pipeline")

T = TypeVar("T")


async def in_thread(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in `pool`, without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)


class MemoryCalls:
    """Runs memory's calls on one thread, which keeps the pipeline's writes one at a
    time, and keeps the storage's health (`health`) as those calls find it. `stopping`
    says whether the daemon was asked to stop: a fault then ends the retries after a
    while."""

    def __init__(self, stopping: Callable[[], bool]) -> None:
        self.health = StorageHealth()
        self._stopping = stopping
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="festina-db")

    async def once(self, fn: Callable[..., T], *args: Any) -> T:
        """A memory call tried once: its caller survives a failure."""
        return await in_thread(self._thread, fn, *args)

    async def retried(self, fn: Callable[..., T], *args: Any) -> T:
        """A memory call on the path of an event, retried through a storage fault until
        it succeeds: what was taken is kept, never dropped, unless the daemon is asked to
        stop and memory stays unwritable for `GIVE_UP_AFTER_STOP_S` (StorageUnavailable;
        a second stop signal, which abandons, ends the wait at once)."""
        delay = RETRY_FIRST_S
        retried = False
        give_up_at: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            try:
                result = await self.once(fn, *args)
            except STORAGE_FAULTS as error:
                self.health.failed(error)
                if self._stopping():
                    give_up_at = give_up_at or loop.time() + GIVE_UP_AFTER_STOP_S
                    if loop.time() >= give_up_at:
                        raise StorageUnavailable(
                            f"memory cannot be written ({describe(error)}); stopped without "
                            "storing what was taken after the fault (none of it was "
                            "acknowledged to its sender)"
                        ) from error
                await asyncio.sleep(delay)
                delay, retried = min(2 * delay, RETRY_MAX_S), True
            else:
                # Only a call that failed shows the fault is gone: on a full disk, reads
                # still succeed.
                if retried:
                    self.health.cleared()
                return result

    def failed(self, error: Exception, what: str) -> None:
        """Log a failure that the pipeline outlives: a storage fault once, as the state it
        is (see `StorageHealth`), anything else with its traceback."""
        if isinstance(error, StorageUnavailable):
            logger.error("%s", error)  # said once more by whoever stops the daemon
        elif isinstance(error, STORAGE_FAULTS):
            self.health.failed(error)
        else:
            logger.error(what, exc_info=error)

    def close(self) -> None:
        """Let the thread go, once every call has returned."""
        self._thread.shutdown()
