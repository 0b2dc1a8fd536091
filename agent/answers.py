"""The user's answers, acted on while the pipeline runs: the slow path runs accepted
plans and asks for confirmations, and the person's model learns from the answers."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from agent.decide import DecisionChain
from agent.memory_calls import MemoryCalls
from agent.plan_runs import PlanRuns, Plans
from agent.slowpath import SlowPath
from agent.surface import Surface
from memory.learning import learn_from_answers
from memory.store import Store

logger = logging.getLogger("festina.pipeline")

# How soon an answer given anywhere acts (a plan starts, the learner hears it) on a quiet
# source; a poll of memory is a few queries.
ANSWER_POLL_S = 0.25


class Answers:
    """Learns from the answers given on any surface, and has the slow path act on them.

    `learning` is held while the person's model learns or decides: the gate stage holds
    it to decide a batch, so deciding never sees a model half-way through learning."""

    def __init__(
        self,
        *,
        store: Store,
        memory: MemoryCalls,
        chain: DecisionChain,
        window_size: int,
    ) -> None:
        self.store = store
        self.memory = memory
        self.chain = chain
        self.window_size = window_size
        self.learning = asyncio.Lock()

    async def learn(self, now: datetime) -> None:
        """Feed the answers given since the last call (any surface) to this person's
        model and free their contexts. Learning keeps the stream's clock `now`, like the
        etiquette: a replay learns as the day it records, and a burst of answers stays
        within the hourly budget. Call with `learning` held."""
        answered = await self.memory.retried(
            learn_from_answers,
            self.store,
            self.chain.personal,
            now,
            self.window_size,
        )
        self.chain.answered(answered)

    async def loop(self, slow_path: SlowPath, surface: Surface, *, learn: bool) -> None:
        """Act on the user's answers within a second, whether or not another event
        comes: the slow path runs accepted plans and asks for confirmations, and (with
        `learn`) the answers are learnt. All go side by side: a step of a plan can take
        many seconds (a model's streamed explanation), and meanwhile other plans run
        (`agent.plan_runs`) and the answers given are learnt."""
        plans = slow_path if isinstance(slow_path, Plans) else None
        runs = None
        loops = []
        if plans is not None:
            runs = PlanRuns(
                plans,
                moved=lambda event_id: self._show_progress(surface, [event_id]),
                failed=self.memory.failed,
            )
            loops.append(asyncio.ensure_future(self._plans_loop(runs)))
        if learn:
            loops.append(asyncio.ensure_future(self._learn_loop()))
        if not loops:
            await asyncio.Event().wait()  # nothing to act on: wait to be stopped
        try:
            # Neither loop ends but by failing; `wait`, unlike `gather`, cancels neither
            # when this is cancelled: each is cancelled once, below.
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
            for ended in done:
                ended.result()
        finally:
            for running in loops:
                running.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            if runs is not None:
                # A stop waits a little for the steps running, rather than have them
                # write to memory after memory closed; a long one is run again at the
                # next start (see `agent.plan_runs.STOP_GRACE_S`).
                await runs.stop()

    async def _plans_loop(self, runs: PlanRuns) -> None:
        while True:
            try:
                await runs.start_ready()
            except Exception as error:
                self.memory.failed(error, "the slow path failed to act on an answer")
            await asyncio.sleep(ANSWER_POLL_S)

    async def _learn_loop(self) -> None:
        while True:
            if self.chain.clock is not None:
                try:
                    async with self.learning:
                        await self.learn(self.chain.clock)
                except Exception as error:
                    self.memory.failed(error, "learning from the answers failed")
            await asyncio.sleep(ANSWER_POLL_S)

    async def _show_progress(self, surface: Surface, event_ids: list[str]) -> None:
        """To the surfaces, for each plan that moved: what it did once it has finished
        (a turned-down offer ran nothing), or the step it now waits on for the person's
        go, with what it has done so far."""
        if not event_ids:
            return
        try:
            plans = await self.memory.once(self.store.plan_progress, event_ids)
        except Exception as error:  # the answers loop must go on: the results stay in memory
            self.memory.failed(error, "reading the results of finished plans failed")
            return
        waiting = getattr(surface, "waiting", None)
        for event_id in event_ids:
            plan = plans.get(event_id)
            try:
                if plan is None:
                    continue
                if plan.finished and plan.done:
                    surface.result(event_id, plan.done)
                elif waiting is not None and plan.asking is not None:
                    waiting(event_id, plan)
            except Exception:
                logger.exception("a surface failed to show where the plan of %s stands", event_id)
