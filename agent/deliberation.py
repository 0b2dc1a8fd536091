"""The slow-path stage: deliberates the escalations, one at a time, and stores how each
was settled, by the slow path's verdict or, where it failed, by the gate's action."""

from __future__ import annotations

import asyncio
import logging

from agent.decide import DecisionChain
from agent.gate_stage import Escalation
from agent.memory_calls import MemoryCalls
from agent.pipeline_stats import PipelineStats
from agent.slowpath import SlowPath
from agent.surface import Surface, show_offer
from core.decision import Action, Decision
from core.events import Event
from core.offer import Offer
from memory.store import Store

logger = logging.getLogger("festina.pipeline")


class Deliberation:
    """Hands escalated events to the slow path and settles them through the chain."""

    def __init__(
        self,
        *,
        slow_path: SlowPath,
        store: Store,
        memory: MemoryCalls,
        chain: DecisionChain,
        surface: Surface,
        stats: PipelineStats,
    ) -> None:
        self.slow_path = slow_path
        self.store = store
        self.memory = memory
        self.chain = chain
        self.surface = surface
        self.stats = stats

    async def deliberate_all(
        self, slow_queue: asyncio.Queue[Escalation | None], recovered: list[Escalation]
    ) -> None:
        """Finish the deliberations a stop left unfinished (`recovered`), then the queued
        ones until the end marker."""
        for window, decision in recovered:
            await self.deliberate(window, decision)
        while (item := await slow_queue.get()) is not None:
            await self.deliberate(*item)
            slow_queue.task_done()

    async def deliberate(self, window: list[Event], decision: Decision) -> None:
        """Settle one escalation, store how, and show the offer if one is made."""
        event = window[-1]
        try:
            verdict = await self.slow_path.deliberate(window, decision)
        except Exception as error:
            self.memory.failed(error, f"slow path failed on {event.id}; the gate's action stands")
            self.stats.slow_path_failures += 1
            resolved = self.chain.fall_back(event, decision, error, self._fallback_offer(window))
        else:
            resolved = self.chain.settle(event, decision, verdict)
        assert resolved.final_action is not None and resolved.decided_by is not None
        await self.memory.retried(
            self.store.resolve,
            decision.event_id,
            resolved.final_action,
            resolved.decided_by,
            resolved.reason,
            resolved.offer,
        )
        if resolved.final_action is Action.INTERVENE:
            self.stats.intervened += 1
            show_offer(self.surface, event, resolved)

    def _fallback_offer(self, window: list[Event]) -> Offer | None:
        """What can still be said for an offer the slow path failed to draft."""
        draft = getattr(self.slow_path, "fallback_offer", None)
        try:
            return draft(window) if draft is not None else None
        except Exception:
            logger.exception("no fallback offer could be drafted for %s", window[-1].id)
            return None
