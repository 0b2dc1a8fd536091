"""Accepted plans run side by side: while one plan's step streams a model's explanation,
another accepted plan runs and is shown finished; a stop does not wait for a step held
mid-answer, and that step runs again at the next start. The daemon's pipeline, real
SQLite, the stand-in streaming model server of `test_explain_streaming`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import EtiquetteSettings
from agent.plan_runs import STOP_GRACE_S, PlanRuns
from agent.sources.http import HttpIngestSource
from core.outcome import StepStatus, outcomes_of
from memory.feedback import Outcome
from tests.helpers import RecordingSurface, event_at, eventually, make_pipeline
from tests.test_explain_streaming import (
    FIRST,
    REST,
    TRACEBACK,
    WAIT_S,
    StreamingServer,
    explaining_path,
    partial_text,
    streaming_server,
    write_project,
)
from tests.test_slowpath import checkpoint_threads, proposal

EXPLAIN = "I need help: KeyError: 'price' in pytest"
NOTES = "I need help with the invoice totals"


@pytest.fixture
def server_url() -> Iterator[str]:
    with streaming_server() as url:
        yield url


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path)


def _proposals(project) -> list[str]:
    """The drafts of the two offers, in the order their events come: explain the error
    (the model streams), then search the notes (read-only, quick)."""
    args = {"error": "KeyError: 'price'", "context": TRACEBACK.format(path=project / "invoice.py")}
    return [
        proposal(
            task="Explain the KeyError in invoice.py",
            speak="Shall I explain that KeyError?",
            plan=[{"tool": "explain_error", "args": args}],
        ),
        proposal(
            task="Look for notes on the invoice totals",
            speak="Shall I look in your notes for the invoice totals?",
            plan=[{"tool": "search_notes", "args": {"query": "invoice totals"}}],
        ),
    ]


def _pipeline(tmp_path, project, server_url, url: str = ""):
    """The daemon's pipeline on memory at `url` (SQLite in `tmp_path` by default), with the
    reasoning slow path drafting the two offers and explaining through `server_url`."""
    surface = RecordingSurface()
    ingest = HttpIngestSource(16)
    pipeline, store = make_pipeline(
        url or f"sqlite:///{tmp_path / 'festina.db'}",
        ingest,
        surface=surface,
        draft_offers=True,
        etiquette=EtiquetteSettings(cooldown_s=0),
    )
    path = explaining_path(tmp_path, store, project, server_url)
    path.drafter.chat.answers = _proposals(project)  # type: ignore[attr-defined]
    pipeline.slow_path = path
    return pipeline, store, surface, ingest


async def _accepted(ingest, surface, store, running, seconds: float, text: str):
    """An event offered help on, and the offer accepted."""
    event = event_at(seconds, text)
    offers = len(surface.offers)
    await asyncio.gather(*await ingest.submit([event], 5))
    await eventually(lambda: len(surface.offers) == offers + 1, WAIT_S, unless=running)
    store.record_feedback(event.id, Outcome.ACCEPTED)
    return event


def _shown(surface, event_id: str) -> list:
    """The outcomes the surfaces were given for `event_id`'s finished plan."""
    return [outcomes for shown, outcomes in surface.results if shown == event_id]


async def test_a_plan_finishes_while_another_plan_s_step_streams(
    tmp_path, project, server_url, database_url
):
    pipeline, store, surface, ingest = _pipeline(tmp_path, project, server_url, database_url)
    running = asyncio.ensure_future(pipeline.run())
    try:
        first = await _accepted(ingest, surface, store, running, 0, EXPLAIN)
        await eventually(lambda: partial_text(store, first.id) == "".join(FIRST), WAIT_S)
        second = await _accepted(ingest, surface, store, running, 1, NOTES)
        # The second plan runs to its end and is shown, the first held mid-answer.
        await eventually(lambda: _shown(surface, second.id), WAIT_S, unless=running)
        assert partial_text(store, first.id) == "".join(FIRST)
        assert store.deliberation(first.id).executions is None
        assert not _shown(surface, first.id)
        [[notes]] = _shown(surface, second.id)
        assert (notes.tool, notes.status) == ("search_notes", StepStatus.DONE)
        assert store.plan_progress([second.id])[second.id].finished
        writing = store.plan_progress([first.id])[first.id].writing
        assert writing is not None and writing.tool == "explain_error"

        StreamingServer.release.set()
        await eventually(lambda: _shown(surface, first.id), WAIT_S, unless=running)
        [[explained]] = _shown(surface, first.id)
        assert (explained.tool, explained.status) == ("explain_error", StepStatus.DONE)
        assert explained.text == "".join(FIRST + REST).strip()
        assert len(StreamingServer.requests) == 1  # the step ran once
    finally:
        StreamingServer.release.set()
        pipeline.request_stop()
        await running
        store.close()


async def test_a_stop_leaves_a_held_step_which_runs_again_at_the_next_start(
    tmp_path, project, server_url
):
    pipeline, store, surface, ingest = _pipeline(tmp_path, project, server_url)
    running = asyncio.ensure_future(pipeline.run())
    held = StreamingServer.release
    try:
        first = await _accepted(ingest, surface, store, running, 0, EXPLAIN)
        await eventually(lambda: partial_text(store, first.id) == "".join(FIRST), WAIT_S)
        left = [t for t in threading.enumerate() if t.name == "festina-plan"]
        pipeline.request_stop()
        # The stop waits STOP_GRACE_S for the step, not for the model's answer (WAIT_S).
        await asyncio.wait_for(asyncio.shield(running), STOP_GRACE_S + WAIT_S / 2)
        assert store.deliberation(first.id).executions is None  # the step was held still
        assert store.last_run().status == "interrupted"

        # The next start, on the same memory and checkpoints: the step runs again, its
        # stream released at once; the one left at the stop stays held meanwhile.
        StreamingServer.release = threading.Event()
        StreamingServer.release.set()
        restarted = explaining_path(tmp_path, store, project, server_url)
        assert await asyncio.wait_for(asyncio.to_thread(restarted.poll_once), WAIT_S) == 1
        [explained] = outcomes_of(store.deliberation(first.id).executions)
        assert explained.text == "".join(FIRST + REST).strip()
        assert len(StreamingServer.requests) == 2

        # The step left at the stop ends on its own (the daemon's process would have
        # ended): what it stores is the same, and nothing is left in flight.
        held.set()
        for thread in left:
            await asyncio.to_thread(thread.join, WAIT_S)
            assert not thread.is_alive()
        assert outcomes_of(store.deliberation(first.id).executions) == [explained]
        assert checkpoint_threads(tmp_path) == 0
    finally:
        held.set()
        StreamingServer.release.set()
        pipeline.request_stop()
        await running
        store.close()


class BlockingPlans:
    """Plans whose steps block until the test lets each go; one plan's step raises."""

    def __init__(self, ready: list[str], failing: str = "") -> None:
        self.ready = ready
        self.failing = failing
        self.go = {event_id: threading.Event() for event_id in ready}
        self.started: list[str] = []
        self.advanced: list[str] = []

    def answered(self, skip=()) -> list[str]:
        return [e for e in self.ready if e not in skip and e not in self.advanced]

    def advance(self, event_id: str) -> bool:
        self.started.append(event_id)
        if event_id == self.failing:
            raise RuntimeError("a step's bug")
        assert self.go[event_id].wait(WAIT_S), "never let go"
        self.advanced.append(event_id)
        return True


async def test_no_more_plans_run_at_once_than_the_bound():
    plans = BlockingPlans(["a", "b", "c"])
    moved: list[str] = []

    async def show(event_id: str) -> None:
        moved.append(event_id)

    runs = PlanRuns(plans, moved=show, failed=pytest.fail, workers=2)
    try:
        await runs.start_ready()
        assert runs.running == ["a", "b"]
        await runs.start_ready()
        assert runs.running == ["a", "b"]  # full: c waits
        plans.go["b"].set()
        await eventually(lambda: moved == ["b"], WAIT_S)
        await runs.start_ready()
        assert runs.running == ["a", "c"]
        plans.go["a"].set()
        plans.go["c"].set()
        await eventually(lambda: sorted(moved) == ["a", "b", "c"], WAIT_S)
        assert runs.running == []
    finally:
        for go in plans.go.values():
            go.set()
        await runs.stop()


async def test_a_failing_plan_is_logged_and_left_while_the_others_go_on():
    plans = BlockingPlans(["a", "b"], failing="a")
    plans.go["b"].set()
    moved: list[str] = []
    failures: list[str] = []

    async def show(event_id: str) -> None:
        moved.append(event_id)

    runs = PlanRuns(plans, moved=show, failed=lambda error, what: failures.append(what))
    await runs.start_ready()
    await eventually(lambda: moved == ["b"] and failures, WAIT_S)
    assert failures == ["the accepted plan of a failed; retried at the next start"]
    await runs.start_ready()  # a is not tried again in this process
    assert runs.running == [] and plans.started.count("a") == 1


async def test_a_stop_waits_for_a_step_only_its_grace():
    plans = BlockingPlans(["a"])
    runs = PlanRuns(plans, moved=pytest.fail, failed=pytest.fail)
    await runs.start_ready()
    await eventually(lambda: plans.started == ["a"], WAIT_S)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(runs.stop(grace_s=0.2), WAIT_S)
    assert loop.time() - started < WAIT_S / 2 and runs.running == []
    plans.go["a"].set()  # the left step ends on its own, told to nobody


class SlowLook(BlockingPlans):
    """Plans whose look for the ready ones holds until the test lets it go."""

    def __init__(self) -> None:
        super().__init__([])
        self.looking = threading.Event()
        self.let_go = threading.Event()
        self.looked = threading.Event()

    def answered(self, skip=()) -> list[str]:
        self.looking.set()
        assert self.let_go.wait(WAIT_S), "never let go"
        self.looked.set()
        return []


async def _look_held(plans: SlowLook) -> tuple[PlanRuns, asyncio.Future[None]]:
    """Plan runs whose look is held on its thread, the loop that looked cancelled, as the
    daemon's stop cancels it."""
    runs = PlanRuns(plans, moved=pytest.fail, failed=pytest.fail)
    looking = asyncio.ensure_future(runs.start_ready())
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, plans.looking.wait, WAIT_S)
    looking.cancel()
    return runs, looking


async def test_a_stop_waits_for_the_look_for_ready_plans_in_flight():
    # The look reads memory: one still reading once memory has closed opens it again
    # (SQLite's WAL files reappear beside a database being removed).
    plans = SlowLook()
    runs, looking = await _look_held(plans)
    asyncio.get_running_loop().call_later(0.3, plans.let_go.set)
    await asyncio.wait_for(runs.stop(grace_s=WAIT_S), WAIT_S)
    assert plans.looked.is_set()
    await asyncio.gather(looking, return_exceptions=True)


async def test_a_stop_waits_for_a_look_only_its_grace():
    plans = SlowLook()
    runs, looking = await _look_held(plans)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(runs.stop(grace_s=0.2), WAIT_S)
    assert loop.time() - started < WAIT_S / 2 and not plans.looked.is_set()
    plans.let_go.set()  # the look ends on its own, told to nobody
    await asyncio.gather(looking, return_exceptions=True)
