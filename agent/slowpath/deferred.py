"""The reasoning slow path, built when it is first needed.

Building it imports LangGraph (with LangChain's core and LangSmith's models) and embeds
the templates: about a second, half of a daemon's cold start. The daemon acknowledges
and decides without it; the first escalation or offer to draft waits for it once. A
thread suspended in the checkpoints by an earlier run builds it as soon as there is
something to do there (the offer was answered, or its event forgotten while no daemon
ran), so that answers are acted on and forgotten text is dropped as before; offers
still waiting for an answer need nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import inspect, text

from agent.slowpath.base import Verdict
from agent.slowpath.template_drafter import fallback_offer
from core.decision import Decision
from core.events import Event
from core.offer import Offer
from memory.store import Store
from tools.pool import ToolPool

# LangGraph's savers keep one row per checkpoint in this table, in the SQLite file or in
# the PostgreSQL database (tests/test_slowpath.py reads it the same way).
CHECKPOINT_TABLE = "checkpoints"


class PollingSlowPath(Protocol):
    async def deliberate(self, window: list[Event], decision: Decision) -> Verdict: ...

    async def poll(self) -> list[str]: ...


def checkpoint_threads(store: Store, sqlite_file: Path) -> set[str]:
    """The threads (event ids) the saver `checkpoint_saver` opens holds checkpoints of,
    read without importing LangGraph."""
    query = f"SELECT DISTINCT thread_id FROM {CHECKPOINT_TABLE}"
    if store.url.startswith("postgresql"):
        with store.engine.connect() as connection:
            if not inspect(connection).has_table(CHECKPOINT_TABLE):
                return set()
            return set(connection.scalars(text(query)))
    if not sqlite_file.is_file():
        return set()
    with contextlib.closing(sqlite3.connect(sqlite_file)) as saved:
        try:
            return {row[0] for row in saved.execute(query)}
        except sqlite3.OperationalError:  # the saver never ran: no table yet
            return set()


def suspended_work(store: Store, sqlite_file: Path) -> bool:
    """Whether threads suspended before this start need the graph now: one whose event
    was answered (an offer to resume, a plan to run) or forgotten (its checkpoint holds
    text memory no longer has). Offers still waiting for an answer do not."""
    threads = checkpoint_threads(store, sqlite_file)
    if not threads:
        return False
    forgotten = threads - store.existing_events(threads)
    return bool(forgotten) or bool(store.latest_answers(sorted(threads)))


class DeferredSlowPath:
    """A slow path built by `build` on first use (see the module). Until then each poll
    asks `pending` whether threads suspended before this start need it (an answer came,
    an event was forgotten); `pool` is the tool pool the built one uses, for the fallback
    offer, which must neither wait for the build nor depend on it."""

    def __init__(
        self,
        build: Callable[[], PollingSlowPath],
        *,
        pool: ToolPool,
        pending: Callable[[], bool],
    ) -> None:
        self.pool = pool
        self._build = build
        self._pending = pending
        self._built: PollingSlowPath | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._built is not None

    def _get(self) -> PollingSlowPath:
        with self._lock:  # deliberations and polls run in threads of their own
            if self._built is None:
                self._built = self._build()
            return self._built

    async def deliberate(self, window: list[Event], decision: Decision) -> Verdict:
        built = await asyncio.to_thread(self._get)
        return await built.deliberate(window, decision)

    async def poll(self) -> list[str]:
        """As the built slow path polls; before it is built, nothing unless `pending`."""
        if self._built is None and not await asyncio.to_thread(self._pending):
            return []
        built = await asyncio.to_thread(self._get)
        return await built.poll()

    def fallback_offer(self, window: list[Event]) -> Offer:
        return fallback_offer(self.pool, window)
