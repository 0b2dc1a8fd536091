"""The gate stage: decides stored events in batches, in the order they were taken,
stores the decisions, shows the offers made and queues the escalations for the slow path.

The decision itself is the chain's (agent/decide.py); this stage reads and writes memory
around it and keeps the model off the event loop, on a thread of its own (onnxruntime
releases the GIL).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from agent.answers import Answers
from agent.context import ContextWindows
from agent.decide import DecisionChain
from agent.intake import take
from agent.memory_calls import MemoryCalls, in_thread
from agent.pipeline_stats import PipelineStats
from agent.profile_watch import ProfileWatch
from agent.stage_pacing import Pacing
from agent.surface import Surface, show_offer
from core.decision import Action, Decision
from core.events import Event
from gate.base import Embedder, GateModel, GateScores
from memory.store import Store

logger = logging.getLogger("festina.pipeline")

Escalation = tuple[list[Event], Decision]
"""An escalated event's window, and its decision, left unresolved for the slow path."""


class GateStage:
    """Scores events with the gate and decides them through the decision chain."""

    def __init__(
        self,
        *,
        gate: GateModel,
        store: Store,
        memory: MemoryCalls,
        chain: DecisionChain,
        windows: ContextWindows,
        profile: ProfileWatch,
        answers: Answers,
        learn: bool,
        surface: Surface,
        stats: PipelineStats,
        pacing: Pacing,
        batch_size: int,
    ) -> None:
        """`learn`: the answers given so far are learnt before each batch is decided."""
        self.gate = gate
        self.store = store
        self.memory = memory
        self.chain = chain
        self.windows = windows
        self.profile = profile
        self.answers = answers
        self.learn = learn
        self.surface = surface
        self.stats = stats
        self.pacing = pacing
        self.batch_size = batch_size
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="festina-gate")

    async def decide_all(
        self,
        gate_queue: asyncio.Queue[Event | None],
        backlog: asyncio.Queue[str],
        slow_queue: asyncio.Queue[Escalation | None],
    ) -> None:
        """Decide the queued events, then the backlog's (all of them newer: the intake
        queues nothing while the backlog holds ids), read back from memory."""
        size = self.batch_size
        finished = False
        while not (finished and backlog.empty()):
            if finished or (gate_queue.empty() and not backlog.empty()):
                ids = [backlog.get_nowait() for _ in range(min(size, backlog.qsize()))]
                # Events forgotten while they waited are no longer there to decide.
                batch = await self.memory.retried(self.store.events_by_id, ids)
            else:
                batch, finished = await take(gate_queue, size)
            if batch:
                await self.decide_batch(batch, slow_queue)
                await self.pacing.after_batch(slow_queue)

    async def decide_batch(
        self, fresh: list[Event], slow_queue: asyncio.Queue[Escalation | None]
    ) -> None:
        """Decide stored events: score, apply the decision chain, store the decisions,
        then show offers and queue escalations."""
        # Before the batch joins the windows, when every event they hold has been stored.
        await self.profile.refresh(drop_forgotten=True)
        windows = [self.windows.push(item) for item in fresh]
        decisions, vectors = await self._decide(fresh, windows)
        room = slow_queue.maxsize - slow_queue.qsize()
        for index, (item, decision) in enumerate(zip(fresh, decisions, strict=True)):
            if not decision.resolved:
                if room > 0:
                    room -= 1
                else:
                    decisions[index] = self.chain.settle_busy(item, decision, slow_queue.qsize())
        forgotten = await self.memory.retried(
            self.store.add_decisions, list(zip(fresh, decisions, strict=True)), vectors
        )
        if forgotten:  # a surface told memory to forget them while they waited
            await self.profile.drop_forgotten()
        self.stats.decided += len(decisions) - len(forgotten)
        for item, window, decision in zip(fresh, windows, decisions, strict=True):
            if item.id in forgotten:
                continue
            if decision.gate_action is Action.ESCALATE:
                self.stats.escalated += 1
            if not decision.resolved:
                slow_queue.put_nowait((window, decision))  # room was counted above
            elif decision.final_action is Action.INTERVENE:
                self.stats.intervened += 1
                show_offer(self.surface, item, decision)

    async def _decide(
        self, fresh: list[Event], windows: list[list[Event]]
    ) -> tuple[list[Decision], tuple[str, np.ndarray] | None]:
        """The chain's decisions on a batch, with the answers given so far learnt first;
        and the batch's vectors for recall, if the gate embeds."""
        # Learning and deciding exclude each other: the answers loop learns too.
        async with self.answers.learning:
            if self.learn:
                # What the user does now can answer an offer they declined: doing its task
                # by hand says the help was needed (memory.by_hand), learnt with the answers.
                await self.memory.retried(self.store.record_done_by_hand, fresh)
                await self.answers.learn(max(e.time for e in fresh))
            started = time.perf_counter()
            scored = await in_thread(self._thread, self._score, windows)
            latency_ms = (time.perf_counter() - started) * 1000.0
            vectors = await self._embed(fresh)
            matrix = None if vectors is None else vectors[1]
            decisions = [
                self.chain.decide(
                    item, window, result, latency_ms, None if matrix is None else matrix[i]
                )
                for i, (item, window, result) in enumerate(zip(fresh, windows, scored, strict=True))
            ]
        return decisions, vectors

    def _score(self, windows: list[list[Event]]) -> list[GateScores | Exception]:
        """Score a batch; if the batch fails, score events one by one so one bad event
        cannot take its neighbours' decisions down with it."""
        try:
            return list(self.gate.score(windows))
        except Exception:
            logger.exception("gate failed on a batch of %d; retrying one by one", len(windows))
        results: list[GateScores | Exception] = []
        for window in windows:
            try:
                results.append(self.gate.score([window])[0])
            except Exception as error:
                results.append(error)
        return results

    async def _embed(self, events: list[Event]) -> tuple[str, np.ndarray] | None:
        """Vectors for recall, when the gate can embed; recall is optional, so a failure
        here costs the episodes their vectors, never the decisions."""
        if not isinstance(self.gate, Embedder):
            return None
        summaries = [item.summary() for item in events]
        try:
            # Cache hits right after scoring: recall gets its vectors almost for free.
            matrix = await in_thread(self._thread, self.gate.embed_texts, summaries)
        except Exception:
            logger.exception("embedding %d events for recall failed", len(events))
            return None
        return self.gate.encoder_id, matrix

    def close(self) -> None:
        """Let the model's thread go, once the last batch is decided."""
        self._thread.shutdown()
