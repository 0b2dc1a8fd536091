"""The pipeline's first stages: the reader takes events from the source, the intake
stores them, acknowledges them to their senders and hands them to the gate.

An event counts as *accepted* once it is on the intake queue. The intake stores what it
takes and only then acknowledges it: an acknowledgement waits for one write, never for
the gate, the recall embedding or the slow path. While the gate is behind (its queue
full), stored events wait in memory and only their ids are queued, in the backlog, so a
burst is taken at the speed of storage.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

from agent.decide import DecisionChain
from agent.memory_calls import MemoryCalls
from agent.pipeline_stats import PipelineStats
from agent.privacy import ExclusionRules
from core.events import Event
from core.sources import EventSource, Rejection, id_taken
from memory.redaction import redact_event, redact_text
from memory.store import Store

logger = logging.getLogger("festina.pipeline")

# Events the intake stores in one write: whatever has arrived, up to this many.
INTAKE_BATCH = 512
# Ids of stored events waiting for a gate that is behind; beyond this many (a few MB),
# the intake waits for the gate after all.
BACKLOG_LIMIT = 100_000

T = TypeVar("T")


async def take(queue: asyncio.Queue[T | None], most: int) -> tuple[list[T], bool]:
    """Wait for an item, then take what else is queued, up to `most` items; and whether
    the end marker came (always the last thing queued)."""
    batch: list[T | None] = [await queue.get()]
    while len(batch) < most and not queue.empty():
        batch.append(queue.get_nowait())
    return [item for item in batch if item is not None], batch[-1] is None


class Intake:
    """Takes a source's events in: privacy rules first, then redaction, storage and the
    acknowledgement, then on to the gate in the order they came."""

    def __init__(
        self,
        *,
        source: EventSource,
        store: Store,
        memory: MemoryCalls,
        chain: DecisionChain,
        stats: PipelineStats,
        run_id: int,
        redact_secrets: bool,
        exclusions: ExclusionRules | None,
    ) -> None:
        self.source = source
        self.store = store
        self.memory = memory
        self.chain = chain
        self.stats = stats
        self.run_id = run_id
        self.redact_secrets = redact_secrets
        self.exclusions = exclusions

    async def read(self, intake_queue: asyncio.Queue[Event | None]) -> None:
        """Queue the source's events for the intake, until the source ends; a line that
        is no event is stored as a rejection."""
        # Replays pace themselves (JsonlSource's speed); live events are taken as they come.
        async for item in self.source.items():
            if isinstance(item, Event) and self._left_out(item):
                continue
            if isinstance(item, Rejection):
                self.stats.rejected += 1
                logger.warning("rejected %s:%d: %s", item.source, item.position, item.reason)
                if self.redact_secrets:  # a broken line can hold secrets too
                    item = replace(item, raw=redact_text(item.raw))
                await self.memory.retried(self.store.record_rejections, self.run_id, [item])
                continue
            await intake_queue.put(redact_event(item) if self.redact_secrets else item)
            self.stats.accepted += 1

    def _left_out(self, event: Event) -> bool:
        """Privacy before storage: an event taken while paused or matching an exclusion
        rule is counted and dropped here, before redaction, storage, embedding or any log
        line could see it."""
        if self.chain.preferences.paused_at(datetime.now(UTC)):
            self.stats.paused += 1
        elif self.exclusions is not None and self.exclusions.rule_for(event):
            self.stats.excluded += 1
        else:
            return False
        # Settled for whoever sent it: nothing of it will ever be stored.
        assert event.id is not None
        self.source.recorded([event.id])
        return True

    async def store_all(
        self,
        intake_queue: asyncio.Queue[Event | None],
        gate_queue: asyncio.Queue[Event | None],
        backlog: asyncio.Queue[str],
    ) -> None:
        """Store what arrived since the last write, acknowledge it, and hand the new
        events to the gate: on its queue while it has room, else (and until the gate
        has caught up, so that order holds) by id on the backlog."""
        finished = False
        while not finished:
            batch, finished = await take(intake_queue, INTAKE_BATCH)
            if not batch:
                continue
            fresh, known = await self._drop_repeats(batch)
            if fresh:
                await self.memory.retried(self.store.record_events, self.run_id, fresh)
            self.source.recorded(known)
            for item in fresh:
                if backlog.empty() and not gate_queue.full():
                    gate_queue.put_nowait(item)
                else:
                    assert item.id is not None
                    await backlog.put(item.id)
        await gate_queue.put(None)

    async def _drop_repeats(self, batch: list[Event]) -> tuple[list[Event], set[str]]:
        """The batch's events not stored before, and the ids now settled for their
        senders. An event sent again is a duplicate; an id sent again with other content
        is refused and kept as a rejection: an id names one event, and dropping the other
        content silently would lose it."""
        digests = await self.memory.retried(self.store.stored_digests, [e.id for e in batch])
        # Each id's first event in this batch, if memory does not hold it: the fresh ones.
        # Contents are hashed only for an id seen again, off the path of a new event.
        first: dict[str, Event] = {}
        refused: list[Event] = []
        for item in batch:
            assert item.id is not None
            if item.id in digests:
                known = digests[item.id]
            elif item.id in first:
                known = first[item.id].content_hash()
            else:
                first[item.id] = item
                continue
            if known == item.content_hash():
                self.stats.duplicates += 1
            else:
                refused.append(item)
        fresh, settled = list(first.values()), set(digests) | set(first)
        if not refused:
            return fresh, settled
        return fresh, settled - await self._refuse(refused, set(first))

    async def _refuse(self, refused: list[Event], stored_now: set[str]) -> set[str]:
        """Keep events whose ids name other events as rejections, and tell their senders;
        returns the ids refused to them."""
        self.stats.rejected += len(refused)
        logger.warning("refused %d events whose ids name other events", len(refused))
        rejections = [Rejection(e.source, 0, id_taken(e), e.model_dump_json()) for e in refused]
        await self.memory.retried(self.store.record_rejections, self.run_id, rejections)
        # Unless this batch stores the id, whoever waits for it waits for the refused content.
        reasons = {e.id: id_taken(e) for e in refused if e.id not in stored_now}
        self.source.refused(reasons)
        return set(reasons)
