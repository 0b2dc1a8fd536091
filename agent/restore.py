"""Restore on start: a run opens where the last one stopped, with what memory holds.

The learner, the stream's clock, the etiquette, the encoder's cache and the preferences
are taken up from memory, and so is the work left: deliberations unfinished, and events
stored but not decided before the last stop.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import partial

from agent.decide import DecisionChain
from agent.memory_calls import MemoryCalls
from agent.profile_watch import ProfileWatch
from core.decision import Action, Decision
from core.events import Event
from core.sources import EventSource
from gate.base import Embedder, GateModel
from gate.encoder import CACHE_SIZE as ENCODER_CACHE_SIZE
from memory.store import Store

logger = logging.getLogger("festina.pipeline")

# Decisions read back on start to rebuild etiquette (cooldown, pending offers, presence).
ETIQUETTE_MEMORY = 500
# Embeddings read back on start: as many as the encoder's cache keeps.
EMBEDDINGS_RESTORED = ENCODER_CACHE_SIZE


@dataclass(frozen=True)
class Resumed:
    """A run opened, and the work the last one left."""

    run_id: int
    recovered: list[tuple[Event, Decision]]
    """Escalations whose deliberation did not finish."""
    undecided: list[str]
    """Ids of events stored but not decided."""


class Restore:
    """Opens a run and takes up what memory holds for it."""

    def __init__(
        self,
        *,
        source: EventSource,
        gate: GateModel,
        store: Store,
        memory: MemoryCalls,
        chain: DecisionChain,
        profile: ProfileWatch,
        learn: bool,
    ) -> None:
        self.source = source
        self.gate = gate
        self.store = store
        self.memory = memory
        self.chain = chain
        self.profile = profile
        self.learn = learn

    async def start(self) -> Resumed:
        """Open a run and take up what memory holds: the learner, the clock, the
        etiquette, the encoder's cache, the preferences; returns the run with the
        deliberations left unfinished and the events stored but not decided."""
        run_id = await self.memory.once(self.store.start_run, self.source.name, os.getpid())
        recovered = await self.memory.once(self.store.unresolved_escalations)
        undecided = await self.memory.once(self.store.undecided_events)
        if self.learn:
            self.chain.personal = await self.memory.once(self.store.personal_model)
        # Answers given while no daemon ran are learnt at once, on the clock memory left.
        self.chain.clock = await self.memory.once(self.store.newest_event_time)
        if recovered:
            logger.info("resuming %d unfinished deliberations", len(recovered))
        if undecided:
            logger.info("deciding %d events stored before the last stop", len(undecided))
        await self.source.resume(partial(self.memory.once, self.store.latest_event_times))
        await self._restore_etiquette()
        await self._restore_embeddings()
        await self.profile.refresh()  # a pause must hold from the very first event
        return Resumed(run_id, recovered, undecided)

    async def _restore_etiquette(self) -> None:
        """Rebuild the etiquette (cooldown, pending offers, repeats) from the decisions
        memory holds, so a restart neither resets the cooldown nor forgets an offer
        waiting for its answer."""
        if not self.chain.keeps_history:
            return
        recent = await self.memory.once(self.store.recent_activity, ETIQUETTE_MEMORY)
        not_now = await self.memory.once(self.store.not_now_clocks, [e.id for e, _, _ in recent])
        offered = [e.id for e, d, _ in recent if d.final_action is Action.INTERVENE]
        vectors = (
            await self.memory.once(self.store.event_vectors, offered, self.gate.encoder_id)
            if isinstance(self.gate, Embedder)
            else {}
        )
        self.chain.restore(
            [
                (
                    event,
                    decision.final_action is Action.INTERVENE,
                    answer is not None,
                    not_now.get(event.id),
                )
                # In the order they were decided, as the live etiquette saw them
                # (a replay of older data goes back in event time).
                for event, decision, answer in reversed(recent)
            ],
            vectors,
        )

    async def _restore_embeddings(self) -> None:
        """Seed the gate's encoder cache with the vectors memory holds from earlier runs:
        a day's window titles and pages recur, and a restart should not embed them again."""
        if not isinstance(self.gate, Embedder):
            return
        texts, vectors = await self.memory.once(
            self.store.recent_embeddings, self.gate.encoder_id, EMBEDDINGS_RESTORED
        )
        if texts:
            self.gate.preload_embeddings(texts, vectors)
            logger.info("encoder cache: %d embeddings restored from memory", len(texts))
