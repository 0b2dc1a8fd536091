"""The asyncio pipeline: source -> gate -> (slow path) -> decision -> surface + memory.

Four tasks joined by bounded queues, so a slow stage pushes back on the one before it
instead of growing memory without bound:

    reader --intake_queue--> intake --gate_queue--> gate worker --slow_queue--> slow path

An event counts as *accepted* once it is on the intake queue. The intake stores what it
takes and only then acknowledges it to its sender: an acknowledgement waits for one
write, never for the gate, the recall embedding or the slow path. While the gate is
behind (its queue full), stored events wait in memory and only their ids are queued, in
the backlog, so a burst is taken at the speed of storage; an event stored and not yet
decided when the daemon stops is decided at the next start, from the same backlog.

Stopping cancels only the reader; everything accepted is still stored, decided and (if
escalated) deliberated before `run` returns, so a SIGTERM loses no accepted event.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import numpy as np

from agent.config import EtiquetteSettings, ExplorationSettings, PrivacySettings
from agent.context import ContextWindows
from agent.decide import DecisionChain
from agent.privacy import ExclusionRules
from agent.slowpath import SlowPath
from agent.surface import Surface
from core.decision import Action, Decision
from core.events import Event
from core.offer import Offer
from core.sources import EventSource, Rejection, id_taken
from gate.base import Embedder, GateModel, GateScores
from gate.encoder import CACHE_SIZE as ENCODER_CACHE_SIZE
from gate.policy import GatePolicy
from memory.health import (
    GIVE_UP_AFTER_STOP_S,
    RETRY_FIRST_S,
    RETRY_MAX_S,
    STORAGE_FAULTS,
    StorageHealth,
    StorageUnavailable,
    describe,
)
from memory.learning import learn_from_answers
from memory.redaction import redact_event, redact_text
from memory.store import RunCounts, Store

logger = logging.getLogger("festina.pipeline")

RETENTION_INTERVAL_S = 3600.0
# How soon an answer given anywhere acts (a plan starts, the learner hears it) on a quiet
# source; a poll of memory is a few queries.
ANSWER_POLL_S = 0.25
# How soon a pause (or any preference) set elsewhere takes hold while no event is decided.
PREFERENCES_POLL_S = 0.5
# Decisions read back on start to rebuild etiquette (cooldown, pending offers, presence).
ETIQUETTE_MEMORY = 500
# Embeddings read back on start: as many as the encoder's cache keeps.
EMBEDDINGS_RESTORED = ENCODER_CACHE_SIZE
# Events the intake stores in one write: whatever has arrived, up to this many.
INTAKE_BATCH = 512
# Ids of stored events waiting for a gate that is behind; beyond this many (a few MB),
# the intake waits for the gate after all.
BACKLOG_LIMIT = 100_000

T = TypeVar("T")
_Escalation = tuple[list[Event], Decision]


async def _take(queue: asyncio.Queue[T | None], most: int) -> tuple[list[T], bool]:
    """Wait for an item, then take what else is queued, up to `most` items; and whether
    the end marker came (always the last thing queued)."""
    batch: list[T | None] = [await queue.get()]
    while len(batch) < most and not queue.empty():
        batch.append(queue.get_nowait())
    return [item for item in batch if item is not None], batch[-1] is None


@dataclass
class PipelineStats:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    decided: int = 0
    escalated: int = 0
    intervened: int = 0
    # Deliberations that raised: the gate's action stood (see DecisionChain.fall_back).
    slow_path_failures: int = 0
    # Only counted, never stored: left out by a privacy rule, or taken while paused.
    excluded: int = 0
    paused: int = 0

    def counts(self) -> RunCounts:
        return RunCounts(
            self.accepted, self.duplicates, self.rejected, self.decided, self.excluded, self.paused
        )


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
    # Decide each batch to the end, slow path included, before scoring the next: a run
    # then never depends on timing (evaluations); the daemon overlaps the two instead.
    lockstep: bool = False
    # Send the gate's own offers through the slow path too, so every offer is drafted
    # (words, task, plan) before the user sees it. The daemon does, whenever its slow
    # path drafts; evaluations that measure the gate's decisions alone do not.
    draft_offers: bool = False
    # Offer now and then where the rule has long been silent, so the person's model
    # hears answers (agent/exploration.py); None: never (evaluations of the gate alone).
    exploration: ExplorationSettings | None = None


class Pipeline:
    """Runs one source to its end (or until stopped) through the gate and slow path."""

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
    ) -> None:
        self.source = source
        self.gate = gate
        self.store = store
        self.slow_path = slow_path
        self.surface = surface
        self.options = options or PipelineOptions()
        self.stats = PipelineStats()
        self.health = StorageHealth()
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
        self._preferences_revision = -1
        self._forgets = 0
        self._learning = asyncio.Lock()
        self._exclusions = (
            ExclusionRules.from_settings(self.options.privacy) if self.options.privacy else None
        )
        self._stopping = False
        self._abandoned = False
        self._reader: asyncio.Task[None] | None = None
        # What `abandon` cancels: the workers and the drain waiting on them.
        self._draining: list[asyncio.Future[Any]] = []
        self._closing: asyncio.Task[None] | None = None
        self._run_id: int | None = None
        # The intake, gate, backlog and slow-path queues of the run under way, for `waiting`.
        self._queues: tuple[asyncio.Queue[Any], ...] = ()
        # One DB thread keeps SQLite single-writer; one compute thread runs the model
        # without blocking the event loop (onnxruntime releases the GIL).
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="festina-db")
        self._gate_thread = ThreadPoolExecutor(1, thread_name_prefix="festina-gate")

    async def _in(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def _failed(self, error: Exception, what: str) -> None:
        """Log a failure that the pipeline outlives: a storage fault once, as the state it
        is (see `StorageHealth`), anything else with its traceback."""
        if isinstance(error, StorageUnavailable):
            logger.error("%s", error)  # said once more by whoever stops the daemon
        elif isinstance(error, STORAGE_FAULTS):
            self.health.failed(error)
        else:
            logger.error(what, exc_info=error)

    async def _stored(self, fn: Callable[..., T], *args: Any) -> T:
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
                result = await self._in(self._db_thread, fn, *args)
            except STORAGE_FAULTS as error:
                self.health.failed(error)
                if self._stopping:
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

    def waiting(self) -> dict[str, int]:
        """How many events wait to be stored, to be decided (queued, or stored in the
        backlog) and to be deliberated: where a run under load is behind."""
        if not self._queues:
            return {"waiting_to_store": 0, "waiting_to_decide": 0, "waiting_to_deliberate": 0}
        intake, gate, backlog, slow = (queue.qsize() for queue in self._queues)
        return {
            "waiting_to_store": intake,
            "waiting_to_decide": gate + backlog,
            "waiting_to_deliberate": slow,
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
        intake_queue: asyncio.Queue[Event | None] = asyncio.Queue(self.options.queue_size)
        gate_queue: asyncio.Queue[Event | None] = asyncio.Queue(self.options.queue_size)
        slow_queue: asyncio.Queue[_Escalation | None] = asyncio.Queue(self.options.slow_queue_size)
        recovered, undecided = await self._start()

        retention = asyncio.create_task(self._retention_loop())
        preferences = asyncio.create_task(self._preferences_loop())
        answers = asyncio.create_task(self._answers_loop())
        backlog: asyncio.Queue[str] = asyncio.Queue(max(BACKLOG_LIMIT, len(undecided)))
        for item in undecided:
            backlog.put_nowait(item)
        intake_worker = asyncio.create_task(self._intake_loop(intake_queue, gate_queue, backlog))
        gate_worker = asyncio.create_task(self._gate_loop(gate_queue, backlog, slow_queue))
        slow_worker = asyncio.create_task(
            self._slow_loop(slow_queue, [([event], decision) for event, decision in recovered])
        )
        workers = (intake_worker, gate_worker, slow_worker)
        self._queues = (intake_queue, gate_queue, backlog, slow_queue)
        self._reader = asyncio.create_task(self._read(intake_queue))
        if self._stopping:  # a stop that arrived while starting up
            self._stopping = False
            self.request_stop()
        # A worker that dies leaves the reader blocked on a full queue: fail, never hang.
        await asyncio.wait([self._reader, *workers], return_when=asyncio.FIRST_COMPLETED)
        crashed = [w for w in workers if w.done() and not w.cancelled()]
        if crashed and not self._reader.done():
            self._reader.cancel()
            await asyncio.wait([self._reader])
        failure = next(
            (error for w in crashed if (error := w.exception()) is not None),
            None if self._reader.cancelled() else self._reader.exception(),
        )
        if crashed:  # nothing will take the queues' items: stop the other workers too
            for worker in workers:
                worker.cancel()
            drain = asyncio.ensure_future(asyncio.wait(workers))
        else:
            drain = asyncio.ensure_future(self._drain(intake_queue, slow_queue, *workers))
        self._draining = [drain, *workers]
        if self._abandoned:
            for task in self._draining:
                task.cancel()
        try:
            await asyncio.wait([drain])
            if not drain.cancelled() and (error := drain.exception()) is not None:
                raise error
        finally:
            background = (retention, answers, preferences)
            for task in background:
                task.cancel()
            # A poll under way finishes first: it writes to memory, which closes after us.
            await asyncio.gather(*background, return_exceptions=True)
            await self.source.close()
            status = "failed" if failure else ("interrupted" if self._stopping else "completed")
            try:
                await self._in(
                    self._db_thread,
                    self.store.finish_run,
                    self._run_id,
                    self.stats.counts(),
                    status,
                )
            except STORAGE_FAULTS as error:  # everything taken is stored: only this is lost
                logger.error("the end of this run could not be recorded: %s", describe(error))
            self._db_thread.shutdown()
            self._gate_thread.shutdown()
        if failure:
            raise failure
        return self.stats

    async def _start(self) -> tuple[list[tuple[Event, Decision]], list[str]]:
        """Open a run and take up what memory holds: the learner, the clock, the
        etiquette, the encoder's cache, the preferences; returns the deliberations left
        unfinished and the ids of events stored but not decided before the last stop."""
        self._run_id = await self._in(
            self._db_thread, self.store.start_run, self.source.name, os.getpid()
        )
        recovered = await self._in(self._db_thread, self.store.unresolved_escalations)
        undecided = await self._in(self._db_thread, self.store.undecided_events)
        if self.options.learn_from_feedback:
            self.chain.personal = await self._in(self._db_thread, self.store.personal_model)
        # Answers given while no daemon ran are learnt at once, on the clock memory left.
        self.chain.clock = await self._in(self._db_thread, self.store.newest_event_time)
        if recovered:
            logger.info("resuming %d unfinished deliberations", len(recovered))
        if undecided:
            logger.info("deciding %d events stored before the last stop", len(undecided))
        await self.source.resume(partial(self._in, self._db_thread, self.store.latest_event_times))
        await self._restore_etiquette()
        await self._restore_embeddings()
        await self._refresh_preferences()  # a pause must hold from the very first event
        return recovered, undecided

    async def _restore_etiquette(self) -> None:
        """Rebuild the etiquette (cooldown, pending offers, repeats) from the decisions
        memory holds, so a restart neither resets the cooldown nor forgets an offer
        waiting for its answer."""
        if not self.chain.keeps_history:
            return
        recent = await self._in(self._db_thread, self.store.recent_activity, ETIQUETTE_MEMORY)
        not_now = await self._in(
            self._db_thread, self.store.not_now_clocks, [e.id for e, _, _ in recent]
        )
        offered = [e.id for e, d, _ in recent if d.final_action is Action.INTERVENE]
        vectors = (
            await self._in(self._db_thread, self.store.event_vectors, offered, self.gate.encoder_id)
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

    async def _drain(
        self,
        intake_queue: asyncio.Queue[Event | None],
        slow_queue: asyncio.Queue[_Escalation | None],
        intake_worker: asyncio.Task[None],
        gate_worker: asyncio.Task[None],
        slow_worker: asyncio.Task[None],
    ) -> None:
        """Store and decide everything accepted, then finish every deliberation started.
        The intake passes the end on to the gate worker."""
        await intake_queue.put(None)
        await intake_worker
        await gate_worker
        await slow_queue.put(None)
        await slow_worker

    async def _retention_loop(self) -> None:
        """Forget events older than the retention window, now and then every hour."""
        if self.options.retention_days <= 0:
            return
        while True:
            cutoff = datetime.now(UTC) - timedelta(days=self.options.retention_days)
            deleted = await self._in(self._db_thread, partial(self.store.forget, before=cutoff))
            if any(deleted.values()):
                logger.info("retention: forgot %s older than %s", deleted, cutoff.isoformat())
            await asyncio.sleep(RETENTION_INTERVAL_S)

    async def _answers_loop(self) -> None:
        """Act on the user's answers within a second, whether or not another event
        comes: the slow path runs accepted plans and asks for confirmations, and the
        answers are learnt (except in lockstep, where learning waits for the next event
        so that a run never depends on timing)."""
        poll = getattr(self.slow_path, "poll", None)
        learn = self.options.learn_from_feedback and not self.options.lockstep
        while True:
            if poll is not None:
                # Shielded: a poll runs in a thread that cancelling cannot stop, so a stop
                # waits for it instead of leaving it to write to memory after memory closed.
                polling = asyncio.ensure_future(poll())
                try:
                    finished = await asyncio.shield(polling)
                except asyncio.CancelledError:
                    await asyncio.gather(polling, return_exceptions=True)
                    raise
                except Exception as error:
                    self._failed(error, "the slow path failed to act on an answer")
                else:
                    await self._show_results(finished)
            if learn and self.chain.clock is not None:
                try:
                    async with self._learning:
                        await self._learn(self.chain.clock)
                except Exception as error:
                    self._failed(error, "learning from the answers failed")
            await asyncio.sleep(ANSWER_POLL_S)

    async def _show_results(self, event_ids: list[str]) -> None:
        """What each finished plan did, to the surfaces (a turned-down offer ran nothing)."""
        if not event_ids:
            return
        try:
            results = await self._in(self._db_thread, self.store.plan_results, event_ids)
        except Exception as error:  # the answers loop must go on: the results stay in memory
            self._failed(error, "reading the results of finished plans failed")
            return
        for event_id in event_ids:
            if outcomes := results.get(event_id):
                try:
                    self.surface.result(event_id, outcomes)
                except Exception:
                    logger.exception("a surface failed to show the result of %s", event_id)

    async def _preferences_loop(self) -> None:
        """Notice a pause, a resume or other changes even while no event is decided."""
        while True:
            await asyncio.sleep(PREFERENCES_POLL_S)
            try:
                await self._refresh_preferences()
            except Exception as error:
                self._failed(error, "reading the preferences failed")

    def _left_out(self, event: Event) -> bool:
        """Privacy before storage: an event taken while paused or matching an exclusion
        rule is counted and dropped here, before redaction, storage, embedding or any log
        line could see it."""
        if self.chain.preferences.paused_at(datetime.now(UTC)):
            self.stats.paused += 1
        elif self._exclusions is not None and self._exclusions.rule_for(event):
            self.stats.excluded += 1
        else:
            return False
        # Settled for whoever sent it: nothing of it will ever be stored.
        assert event.id is not None
        self.source.recorded([event.id])
        return True

    async def _read(self, intake_queue: asyncio.Queue[Event | None]) -> None:
        # Replays pace themselves (JsonlSource's speed); live events are taken as they come.
        async for item in self.source.items():
            if isinstance(item, Event) and self._left_out(item):
                continue
            if isinstance(item, Rejection):
                self.stats.rejected += 1
                logger.warning("rejected %s:%d: %s", item.source, item.position, item.reason)
                if self.options.redact_secrets:  # a broken line can hold secrets too
                    item = replace(item, raw=redact_text(item.raw))
                await self._stored(self.store.record_rejections, self._run_id, [item])
                continue
            await intake_queue.put(redact_event(item) if self.options.redact_secrets else item)
            self.stats.accepted += 1

    async def _intake_loop(
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
            batch, finished = await _take(intake_queue, INTAKE_BATCH)
            if not batch:
                continue
            fresh, known = await self._drop_repeats(batch)
            if fresh:
                await self._stored(self.store.record_events, self._run_id, fresh)
            self.source.recorded(known)
            for item in fresh:
                if backlog.empty() and not gate_queue.full():
                    gate_queue.put_nowait(item)
                else:
                    assert item.id is not None
                    await backlog.put(item.id)
        await gate_queue.put(None)

    async def _gate_loop(
        self,
        gate_queue: asyncio.Queue[Event | None],
        backlog: asyncio.Queue[str],
        slow_queue: asyncio.Queue[_Escalation | None],
    ) -> None:
        """Decide the queued events, then the backlog's (all of them newer: the intake
        queues nothing while the backlog holds ids), read back from memory."""
        size = self.options.batch_size
        finished = False
        while not (finished and backlog.empty()):
            if finished or (gate_queue.empty() and not backlog.empty()):
                ids = [backlog.get_nowait() for _ in range(min(size, backlog.qsize()))]
                # Events forgotten while they waited are no longer there to decide.
                batch = await self._stored(self.store.events_by_id, ids)
            else:
                batch, finished = await _take(gate_queue, size)
            if batch:
                await self._decide_batch(batch, slow_queue)
                if self.options.lockstep:
                    await slow_queue.join()

    async def _drop_repeats(self, batch: list[Event]) -> tuple[list[Event], set[str]]:
        """The batch's events not stored before, and the ids now settled for their
        senders. An event sent again is a duplicate; an id sent again with other content
        is refused and kept as a rejection: an id names one event, and dropping the other
        content silently would lose it."""
        digests = await self._stored(self.store.stored_digests, [e.id for e in batch])
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
        self.stats.rejected += len(refused)
        logger.warning("refused %d events whose ids name other events", len(refused))
        rejections = [Rejection(e.source, 0, id_taken(e), e.model_dump_json()) for e in refused]
        await self._stored(self.store.record_rejections, self._run_id, rejections)
        # Unless this batch stores the id, whoever waits for it waits for the refused content.
        reasons = {e.id: id_taken(e) for e in refused if e.id not in first}
        self.source.refused(reasons)
        return fresh, settled - set(reasons)

    async def _decide_batch(
        self, fresh: list[Event], slow_queue: asyncio.Queue[_Escalation | None]
    ) -> None:
        """Decide stored events: score, apply the decision chain, store the decisions,
        then show offers and queue escalations."""
        # Before the batch joins the windows, when every event they hold has been stored.
        await self._refresh_preferences(drop_forgotten=True)
        windows = [self._windows.push(item) for item in fresh]
        # Learning and deciding exclude each other: the answers loop learns too.
        async with self._learning:
            if self.options.learn_from_feedback:
                # What the user does now can answer an offer they declined: doing its task
                # by hand says the help was needed (memory.by_hand), learnt with the answers.
                await self._stored(self.store.record_done_by_hand, fresh)
                await self._learn(max(e.time for e in fresh))
            started = time.perf_counter()
            scored = await self._in(self._gate_thread, self._score, windows)
            latency_ms = (time.perf_counter() - started) * 1000.0
            vectors = await self._embed(fresh)
            matrix = None if vectors is None else vectors[1]
            decisions = [
                self.chain.decide(
                    item, window, result, latency_ms, None if matrix is None else matrix[i]
                )
                for i, (item, window, result) in enumerate(zip(fresh, windows, scored, strict=True))
            ]
        room = slow_queue.maxsize - slow_queue.qsize()
        for index, (item, decision) in enumerate(zip(fresh, decisions, strict=True)):
            if not decision.resolved:
                if room > 0:
                    room -= 1
                else:
                    decisions[index] = self.chain.settle_busy(item, decision, slow_queue.qsize())
        forgotten = await self._stored(
            self.store.add_decisions, list(zip(fresh, decisions, strict=True)), vectors
        )
        if forgotten:  # a surface told memory to forget them while they waited
            await self._drop_forgotten()
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
                self._offer(item, decision)

    async def _learn(self, now: datetime) -> None:
        """Feed the answers given since the last call (any surface) to this person's
        model and free their contexts. Learning keeps the stream's clock `now`, like the
        etiquette: a replay learns as the day it records, and a burst of answers stays
        within the hourly budget. Call with `_learning` held."""
        answered = await self._stored(
            learn_from_answers,
            self.store,
            self.chain.personal,
            now,
            self.options.window_size,
        )
        self.chain.answered(answered)

    async def _restore_embeddings(self) -> None:
        """Seed the gate's encoder cache with the vectors memory holds from earlier runs:
        a day's window titles and pages recur, and a restart should not embed them again."""
        if not isinstance(self.gate, Embedder):
            return
        texts, vectors = await self._in(
            self._db_thread, self.store.recent_embeddings, self.gate.encoder_id, EMBEDDINGS_RESTORED
        )
        if texts:
            self.gate.preload_embeddings(texts, vectors)
            logger.info("encoder cache: %d embeddings restored from memory", len(texts))

    async def _embed(self, events: list[Event]) -> tuple[str, np.ndarray] | None:
        """Vectors for recall, when the gate can embed; recall is optional, so a failure
        here costs the episodes their vectors, never the decisions."""
        if not isinstance(self.gate, Embedder):
            return None
        summaries = [item.summary() for item in events]
        try:
            # Cache hits right after scoring: recall gets its vectors almost for free.
            matrix = await self._in(self._gate_thread, self.gate.embed_texts, summaries)
        except Exception:
            logger.exception("embedding %d events for recall failed", len(events))
            return None
        return self.gate.encoder_id, matrix

    def _offer(self, event: Event, decision: Decision) -> None:
        # The decision is already stored; a broken surface must not stop the pipeline.
        try:
            self.surface.offer(event, decision)
        except Exception:
            logger.exception("surface failed to show the offer on %s", event.id)

    async def _refresh_preferences(self, *, drop_forgotten: bool = False) -> None:
        """Pick up preference changes made by any surface since the last batch; with
        `drop_forgotten`, also let go of events a surface has since told memory to forget
        (see `_drop_forgotten`). One read of memory either way."""
        revision, forgets = await self._in(self._db_thread, self.store.profile_marks)
        if revision != self._preferences_revision:
            self._preferences_revision, self.chain.preferences = await self._in(
                self._db_thread, self.store.preferences
            )
            logger.info(
                "preferences revision %d: %s", revision, self.chain.preferences.model_dump()
            )
        if drop_forgotten and forgets != self._forgets:
            self._forgets = forgets
            await self._drop_forgotten()

    async def _drop_forgotten(self) -> None:
        """The windows would carry forgotten events into the next decisions, drafts and
        deliberations, and the etiquette keeps recent offers for its repeat check and
        pending holds: drop what memory no longer holds. Only called before a batch joins
        the windows, when every event held has been stored, so a missing one was
        forgotten, not yet to be stored."""
        held = self._windows.event_ids() | self.chain.remembered()
        forgotten = held - await self._in(self._db_thread, self.store.existing_events, held)
        self.chain.forget(forgotten)
        if dropped := self._windows.drop(forgotten):
            logger.info("dropped %d forgotten events from the context windows", dropped)

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

    async def _slow_loop(
        self, slow_queue: asyncio.Queue[_Escalation | None], recovered: list[_Escalation]
    ) -> None:
        for window, decision in recovered:
            await self._deliberate(window, decision)
        while (item := await slow_queue.get()) is not None:
            await self._deliberate(*item)
            slow_queue.task_done()

    async def _deliberate(self, window: list[Event], decision: Decision) -> None:
        event = window[-1]
        try:
            verdict = await self.slow_path.deliberate(window, decision)
        except Exception as error:
            self._failed(error, f"slow path failed on {event.id}; the gate's action stands")
            self.stats.slow_path_failures += 1
            resolved = self.chain.fall_back(event, decision, error, self._fallback_offer(window))
        else:
            resolved = self.chain.settle(event, decision, verdict)
        assert resolved.final_action is not None and resolved.decided_by is not None
        await self._stored(
            self.store.resolve,
            decision.event_id,
            resolved.final_action,
            resolved.decided_by,
            resolved.reason,
            resolved.offer,
        )
        if resolved.final_action is Action.INTERVENE:
            self.stats.intervened += 1
            self._offer(event, resolved)

    def _fallback_offer(self, window: list[Event]) -> Offer | None:
        """What can still be said for an offer the slow path failed to draft."""
        draft = getattr(self.slow_path, "fallback_offer", None)
        try:
            return draft(window) if draft is not None else None
        except Exception:
            logger.exception("no fallback offer could be drafted for %s", window[-1].id)
            return None
