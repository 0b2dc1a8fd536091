"""The asyncio pipeline: source -> gate -> (slow path) -> decision -> surface + memory.

Four tasks joined by bounded queues, so a slow stage pushes back on the one before it
instead of growing memory without bound:

    reader --intake_queue--> intake --gate_queue--> gate stage --slow_queue--> slow path

Each stage is a module of its own: the reader and the intake (agent/intake.py), the gate
stage (agent/gate_stage.py), the slow path's (agent/deliberation.py); beside them, the
restore on start (agent/restore.py) and the loops that run while events flow: answers
(agent/answers.py), preferences and forgets (agent/profile_watch.py), retention
(agent/retention.py). This module starts them, and stops them.

An event counts as *accepted* once it is on the intake queue. An event stored and not
yet decided when the daemon stops is decided at the next start, from the backlog.
Stopping cancels only the reader; everything accepted is still stored, decided and (if
escalated) deliberated before `run` returns, so a SIGTERM loses no accepted event.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from agent.answers import Answers
from agent.config import EtiquetteSettings, ExplorationSettings, PrivacySettings
from agent.context import ContextWindows
from agent.decide import DecisionChain
from agent.deliberation import Deliberation
from agent.gate_stage import Escalation, GateStage
from agent.intake import BACKLOG_LIMIT, Intake
from agent.memory_calls import MemoryCalls
from agent.pipeline_stats import PipelineStats
from agent.privacy import ExclusionRules
from agent.profile_watch import ProfileWatch
from agent.restore import Restore, Resumed
from agent.retention import forget_old_events
from agent.slowpath import SlowPath
from agent.stage_pacing import Overlapping, Pacing
from agent.surface import Surface
from core.events import Event
from core.sources import EventSource
from gate.base import GateModel
from gate.policy import GatePolicy
from memory.health import STORAGE_FAULTS, describe
from memory.store import Store

__all__ = ["Pipeline", "PipelineOptions", "PipelineStats"]

logger = logging.getLogger("festina.pipeline")


@dataclass(frozen=True)
class PipelineOptions:
    queue_size: int = 1024
    # Escalations waiting for the slow path beyond this are settled by the gate's rule:
    # a deliberation that starts minutes late helps no one, and ingest must not stall.
    slow_queue_size: int = 32
    batch_size: int = 32
    window_size: int = 8
    redact_secrets: bool = True
    retention_days: int = 0
    learn_from_feedback: bool = True
    # None: every offer the gate wants is made (evaluations measure the gate alone).
    etiquette: EtiquetteSettings | None = None
    # What never to take in (apps, titles, URLs, private windows); None: no rules.
    privacy: PrivacySettings | None = None
    # Send the gate's own offers through the slow path too, so every offer is drafted
    # (words, task, plan) before the user sees it. The daemon does, whenever its slow
    # path drafts; evaluations that measure the gate's decisions alone do not.
    draft_offers: bool = False
    # Offer now and then where the rule has long been silent, so the person's model
    # hears answers (agent/exploration.py); None: never (evaluations of the gate alone).
    exploration: ExplorationSettings | None = None


@dataclass(frozen=True)
class _Queues:
    """The queues between the stages of one run."""

    intake: asyncio.Queue[Event | None]
    gate: asyncio.Queue[Event | None]
    # Ids of stored events the gate is behind on, decided once its queue is empty.
    backlog: asyncio.Queue[str]
    slow: asyncio.Queue[Escalation | None]

    @classmethod
    def open(cls, options: PipelineOptions, undecided: list[str]) -> _Queues:
        """Queues sized by `options`, the backlog holding the events left `undecided`."""
        backlog: asyncio.Queue[str] = asyncio.Queue(max(BACKLOG_LIMIT, len(undecided)))
        for item in undecided:
            backlog.put_nowait(item)
        return cls(
            asyncio.Queue(options.queue_size),
            asyncio.Queue(options.queue_size),
            backlog,
            asyncio.Queue(options.slow_queue_size),
        )


class Pipeline:
    """Runs one source to its end (or until stopped) through the gate and slow path.

    `pacing`: how the gate and the slow path share time; the daemon's overlaps them."""

    def __init__(
        self,
        *,
        source: EventSource,
        gate: GateModel,
        policy: GatePolicy,
        store: Store,
        slow_path: SlowPath,
        surface: Surface,
        options: PipelineOptions | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        self.source = source
        self.gate = gate
        self.store = store
        self.slow_path = slow_path
        self.surface = surface
        self.options = options or PipelineOptions()
        self.pacing = pacing or Overlapping()
        self.stats = PipelineStats()
        self.memory = MemoryCalls(lambda: self._stopping)
        self.health = self.memory.health
        self._windows = ContextWindows(self.options.window_size)
        # Everything an event's decision goes through, etiquette's state included.
        self.chain = DecisionChain(
            policy,
            self.options.etiquette,
            model_version=gate.version,
            draft_offers=self.options.draft_offers,
            # Exploring is for learning: nothing to explore for where no answer is learnt.
            exploration=self.options.exploration if self.options.learn_from_feedback else None,
        )
        self._profile = ProfileWatch(store, self.memory, self.chain, self._windows)
        self._answers = Answers(
            store=store, memory=self.memory, chain=self.chain, window_size=self.options.window_size
        )
        # Compiled here, so that a pattern that cannot be is refused before the run starts.
        self._exclusions = (
            ExclusionRules.from_settings(self.options.privacy) if self.options.privacy else None
        )
        self._stopping = False
        self._abandoned = False
        self._reader: asyncio.Task[None] | None = None
        # What `abandon` cancels: the workers and the drain waiting on them.
        self._draining: list[asyncio.Future[Any]] = []
        self._closing: asyncio.Task[None] | None = None
        # The queues of the run under way, for `waiting`.
        self._queues: _Queues | None = None

    def waiting(self) -> dict[str, int]:
        """How many events wait to be stored, to be decided (queued, or stored in the
        backlog) and to be deliberated: where a run under load is behind."""
        if self._queues is None:
            return {"waiting_to_store": 0, "waiting_to_decide": 0, "waiting_to_deliberate": 0}
        queues = self._queues
        return {
            "waiting_to_store": queues.intake.qsize(),
            "waiting_to_decide": queues.gate.qsize() + queues.backlog.qsize(),
            "waiting_to_deliberate": queues.slow.qsize(),
        }

    @property
    def stopping(self) -> bool:
        """A stop was requested (the pipeline may still be draining)."""
        return self._stopping

    def request_stop(self) -> None:
        """Stop taking new events; what was accepted is still processed."""
        if self._stopping:
            logger.info("already stopping; draining accepted events")
            return
        self._stopping = True
        logger.info("stop requested; draining accepted events")
        if self._reader is None:
            return
        if self.source.holds_accepted:
            # Events the source has acknowledged are ours: close it and let it drain.
            self._closing = asyncio.ensure_future(self.source.close())
        else:
            self._reader.cancel()

    def abandon(self) -> None:
        """Stop now, without draining: for a stop that must finish in time (a second
        SIGTERM). What is already stored stays and is decided at the next start; events
        taken but not yet stored are dropped, unconfirmed to their HTTP senders and re-read
        by a replay; deliberations cut short are resumed at the next start (their decisions
        are stored unfinished)."""
        if self._abandoned:
            return
        self._abandoned = self._stopping = True
        logger.warning("stopping without draining; unfinished work is taken up at the next start")
        if self._reader is not None:
            self._reader.cancel()
        for task in self._draining:
            task.cancel()

    async def run(self) -> PipelineStats:
        """Take the source's events until it ends or a stop is requested, and see every
        event accepted through to its decision; returns what the run counted."""
        resumed = await self._restore().start()
        loops = self._start_loops()
        gate_stage = self._gate_stage()
        queues, workers = self._start_stages(resumed, gate_stage)
        crashed, failure = await self._first_to_end(workers)
        try:
            await self._drain(queues, workers, crashed=crashed)
        finally:
            await self._close(loops, resumed.run_id, failure)
            gate_stage.close()
        if failure:
            raise failure
        return self.stats

    def _start_loops(self) -> tuple[asyncio.Task[None], ...]:
        """The loops beside the stages: retention, preferences and forgets, answers."""
        learn = self.options.learn_from_feedback and self.pacing.learns_as_answers_come
        return (
            asyncio.create_task(
                forget_old_events(self.store, self.memory, self.options.retention_days)
            ),
            asyncio.create_task(self._profile.loop()),
            asyncio.create_task(self._answers.loop(self.slow_path, self.surface, learn=learn)),
        )

    def _restore(self) -> Restore:
        return Restore(
            source=self.source,
            gate=self.gate,
            store=self.store,
            memory=self.memory,
            chain=self.chain,
            profile=self._profile,
            learn=self.options.learn_from_feedback,
        )

    def _gate_stage(self) -> GateStage:
        return GateStage(
            gate=self.gate,
            store=self.store,
            memory=self.memory,
            chain=self.chain,
            windows=self._windows,
            profile=self._profile,
            answers=self._answers,
            learn=self.options.learn_from_feedback,
            surface=self.surface,
            stats=self.stats,
            pacing=self.pacing,
            batch_size=self.options.batch_size,
        )

    def _intake(self, run_id: int) -> Intake:
        return Intake(
            source=self.source,
            store=self.store,
            memory=self.memory,
            chain=self.chain,
            stats=self.stats,
            run_id=run_id,
            redact_secrets=self.options.redact_secrets,
            exclusions=self._exclusions,
        )

    def _deliberation(self) -> Deliberation:
        return Deliberation(
            slow_path=self.slow_path,
            store=self.store,
            memory=self.memory,
            chain=self.chain,
            surface=self.surface,
            stats=self.stats,
        )

    def _start_stages(
        self, resumed: Resumed, gate_stage: GateStage
    ) -> tuple[_Queues, tuple[asyncio.Task[None], ...]]:
        """Start the intake, the gate stage, the slow path's and the reader, in the order
        events go through them; returns their queues and the workers (the reader aside)."""
        queues = _Queues.open(self.options, resumed.undecided)
        intake = self._intake(resumed.run_id)
        recovered = [([event], decision) for event, decision in resumed.recovered]
        workers = (
            asyncio.create_task(intake.store_all(queues.intake, queues.gate, queues.backlog)),
            asyncio.create_task(gate_stage.decide_all(queues.gate, queues.backlog, queues.slow)),
            asyncio.create_task(self._deliberation().deliberate_all(queues.slow, recovered)),
        )
        self._queues = queues
        self._reader = asyncio.create_task(intake.read(queues.intake))
        if self._stopping:  # a stop that arrived while starting up
            self._stopping = False
            self.request_stop()
        return queues, workers

    async def _first_to_end(
        self, workers: tuple[asyncio.Task[None], ...]
    ) -> tuple[bool, BaseException | None]:
        """Wait for the reader to end, or a worker to crash; returns whether one crashed,
        and the failure that ends the run, if any."""
        reader = self._reader
        assert reader is not None
        # A worker that dies leaves the reader blocked on a full queue: fail, never hang.
        await asyncio.wait([reader, *workers], return_when=asyncio.FIRST_COMPLETED)
        crashed = [w for w in workers if w.done() and not w.cancelled()]
        if crashed and not reader.done():
            reader.cancel()
            await asyncio.wait([reader])
        failure = next(
            (error for w in crashed if (error := w.exception()) is not None),
            None if reader.cancelled() else reader.exception(),
        )
        return bool(crashed), failure

    async def _drain(
        self, queues: _Queues, workers: tuple[asyncio.Task[None], ...], *, crashed: bool
    ) -> None:
        """Store and decide everything accepted, then finish every deliberation started;
        after a crash, only stop the other workers: nothing would take the queues' items."""
        if crashed:
            for worker in workers:
                worker.cancel()
            drain = asyncio.ensure_future(asyncio.wait(workers))
        else:
            drain = asyncio.ensure_future(self._through_every_stage(queues, *workers))
        self._draining = [drain, *workers]
        if self._abandoned:
            for task in self._draining:
                task.cancel()
        await asyncio.wait([drain])
        if not drain.cancelled() and (error := drain.exception()) is not None:
            raise error

    async def _through_every_stage(
        self,
        queues: _Queues,
        intake_worker: asyncio.Task[None],
        gate_worker: asyncio.Task[None],
        slow_worker: asyncio.Task[None],
    ) -> None:
        """The end marker, through every stage in turn: the intake passes it on to the
        gate stage; the slow path's comes once the gate has queued its last escalation."""
        await queues.intake.put(None)
        await intake_worker
        await gate_worker
        await queues.slow.put(None)
        await slow_worker

    async def _close(
        self,
        loops: tuple[asyncio.Task[None], ...],
        run_id: int,
        failure: BaseException | None,
    ) -> None:
        """Stop the loops beside the stages, close the source and record the run's end."""
        for task in loops:
            task.cancel()
        # A poll under way finishes first: it writes to memory, which closes after us.
        await asyncio.gather(*loops, return_exceptions=True)
        await self.source.close()
        status = "failed" if failure else ("interrupted" if self._stopping else "completed")
        try:
            await self.memory.once(self.store.finish_run, run_id, self.stats.counts(), status)
        except STORAGE_FAULTS as error:  # everything taken is stored: only this is lost
            logger.error("the end of this run could not be recorded: %s", describe(error))
        self.memory.close()
