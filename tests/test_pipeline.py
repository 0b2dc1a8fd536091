from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator

import pytest

from agent.config import EtiquetteSettings
from agent.pipeline import Pipeline, PipelineOptions
from agent.slowpath import GateRuleSlowPath, Verdict
from agent.sources.http import HttpIngestSource
from agent.sources.jsonl import JsonlSource
from core.decision import SLOW_PATH_FALLBACK, Action
from core.events import Event
from core.offer import Offer
from core.sources import EventSource, SourceItem, StaticSource
from evals.lockstep import Lockstep
from gate.cues import CueGate
from gate.policy import GatePolicy
from memory.store import Store
from tests.helpers import (
    FixedGate,
    RecordingSurface,
    event_record,
    eventually,
    gate_decision,
    make_pipeline,
    write_jsonl,
)


class EndlessSource(EventSource):
    """A live-like source that never ends by itself."""

    name = "endless"

    def __init__(self) -> None:
        self.yielded = 0

    async def items(self) -> AsyncIterator[SourceItem]:
        while True:
            self.yielded += 1
            yield Event.model_validate(event_record(self.yielded))
            await asyncio.sleep(0)


async def test_every_accepted_event_is_decided_and_bad_lines_are_kept(tmp_path, database_url):
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [event_record(1), "oops", event_record(2, text="I need help"), event_record(3)],
    )
    surface = RecordingSurface()
    pipeline, store = make_pipeline(database_url, JsonlSource(str(path)), surface=surface)
    stats = await pipeline.run()

    assert (stats.accepted, stats.decided, stats.rejected) == (3, 3, 1)
    decided = store.decisions()
    assert len(decided) == 3
    assert all(d.final_action is not None for _, d in decided)
    [rejected] = store.rejections()
    assert (rejected.position, rejected.raw) == (2, "oops")
    assert [e.text for e, _ in surface.offers] == ["I need help"]
    assert store.last_run().status == "completed"


async def test_replaying_the_same_stream_again_decides_nothing_twice(tmp_path, database_url):
    path = write_jsonl(tmp_path / "s.jsonl", [event_record(i) for i in range(5)])
    first, store = make_pipeline(database_url, JsonlSource(str(path)))
    await first.run()
    second, _ = make_pipeline(database_url, JsonlSource(str(path)))
    stats = await second.run()
    assert (stats.accepted, stats.decided, stats.duplicates) == (5, 0, 5)
    assert store.totals()["events"] == 5


async def test_a_replayed_id_with_other_content_is_a_kept_rejection_not_a_duplicate(
    tmp_path, database_url
):
    first = {**event_record(1), "id": "r-1"}
    stream = [first, {**event_record(2), "id": "r-1"}, first, {**event_record(3), "id": "r-1"}]
    pipeline, store = make_pipeline(
        database_url, JsonlSource(str(write_jsonl(tmp_path / "s.jsonl", stream)))
    )
    stats = await pipeline.run()
    assert (stats.accepted, stats.decided, stats.duplicates, stats.rejected) == (4, 1, 1, 2)
    [(event, _)] = store.decisions()
    assert event.text == first["text"]
    kept = sorted(json.loads(row.raw)["text"] for row in store.rejections())
    assert kept == [event_record(2)["text"], event_record(3)["text"]]
    assert all("id r-1 already names an event" in row.reason for row in store.rejections())


async def test_a_gate_failure_silences_only_the_failing_event(tmp_path, database_url):
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [event_record(1, text="help please"), event_record(2, text="boom"), event_record(3)],
    )
    pipeline, store = make_pipeline(database_url, JsonlSource(str(path)), batch_size=8)
    await pipeline.run()
    by_text = {e.text: d for e, d in store.decisions()}
    assert by_text["boom"].decided_by == "gate-error"
    assert by_text["boom"].final_action is Action.SILENT
    assert "model exploded" in by_text["boom"].reason
    assert by_text["help please"].final_action is Action.INTERVENE


async def test_escalations_get_a_final_action_from_the_slow_path(tmp_path, database_url):
    path = write_jsonl(tmp_path / "s.jsonl", [event_record(1, text="an edge case")])
    surface = RecordingSurface()
    pipeline, store = make_pipeline(database_url, JsonlSource(str(path)), surface=surface)
    stats = await pipeline.run()
    [(_, decision)] = store.decisions()
    assert stats.escalated == 1
    assert decision.gate_action is Action.ESCALATE
    assert decision.final_action is Action.INTERVENE  # p_accept 0.5 >= tau 0.5
    assert decision.decided_by == "gate-rule"
    assert surface.offers[0][1].decided_by == "gate-rule"


class BrokenSlowPath:
    """A slow path whose every deliberation raises, with words ready for a fallback."""

    async def deliberate(self, window, decision) -> Verdict:
        raise ValueError("no LLM")

    def fallback_offer(self, window):
        return Offer(speak="Shall I look into this?", task="Look into it", drafted_by="test")


@pytest.mark.parametrize("etiquette", [None, EtiquetteSettings(cooldown_s=0)])
async def test_a_failing_slow_path_leaves_the_gates_action_standing(
    tmp_path, database_url, etiquette
):
    """An escalation is settled by the gate's rule, a gate offer waiting for its words is
    made with the fallback's: a failure never turns an offer into silence unseen."""
    # Two contexts, so the first offer's pending answer does not hold the second.
    records = [event_record(1, text="edge"), {**event_record(2, text="help"), "app": "Other"}]
    path = write_jsonl(tmp_path / "s.jsonl", records)
    surface = RecordingSurface()
    pipeline, store = make_pipeline(
        database_url,
        JsonlSource(str(path)),
        slow_path=BrokenSlowPath(),
        surface=surface,
        draft_offers=True,
        etiquette=etiquette,
    )
    stats = await pipeline.run()

    decided = {event.text: decision for event, decision in store.decisions()}
    assert decided["edge"].gate_action is Action.ESCALATE
    assert decided["help"].gate_action is Action.INTERVENE
    for decision in decided.values():
        assert decision.final_action is Action.INTERVENE  # edge: p_accept 0.5 >= tau 0.5
        assert decision.decided_by == SLOW_PATH_FALLBACK
        assert "no LLM" in decision.reason
        assert decision.offer is not None and decision.offer.drafted_by == "test"
    assert sorted(e.text for e, _ in surface.offers) == ["edge", "help"]
    assert stats.slow_path_failures == 2
    assert store.totals()["slow_path_failures"] == 2


async def test_a_stop_waits_for_a_plan_s_short_step_before_memory_closes(database_url):
    """A plan's step runs in a thread that cancelling cannot stop; the run must not return
    (and its caller close memory) while a step that ends within the stop's grace still
    works on memory (a step that outlasts it: `test_plan_runs`)."""
    stepped, finished = threading.Event(), []

    class PlanningSlowPath(GateRuleSlowPath):
        def answered(self, skip=()):
            return [] if stepped.is_set() else ["accepted"]

        def advance(self, event_id):
            stepped.set()
            time.sleep(0.3)  # a short step: a tool call
            finished.append(event_id)
            return True

    pipeline, store = make_pipeline(database_url, EndlessSource(), slow_path=PlanningSlowPath())
    running = asyncio.ensure_future(pipeline.run())
    await eventually(stepped.is_set, timeout=10, unless=running)
    pipeline.request_stop()
    await asyncio.wait_for(running, 30)
    assert finished == ["accepted"]
    store.close()


async def test_tiny_queues_and_a_slow_slow_path_still_process_everything(tmp_path, database_url):
    class SlowSlowPath(GateRuleSlowPath):
        async def deliberate(self, window, decision):
            await asyncio.sleep(0.005)
            return await super().deliberate(window, decision)

    records = [event_record(i, text=f"edge {i}") for i in range(40)]
    path = write_jsonl(tmp_path / "s.jsonl", records)
    pipeline, store = make_pipeline(
        database_url, JsonlSource(str(path)), slow_path=SlowSlowPath(), queue_size=1, batch_size=1
    )
    stats = await pipeline.run()
    assert stats.decided == stats.escalated == 40
    assert store.totals().get("final_pending", 0) == 0


async def test_in_lockstep_each_deliberation_ends_before_the_next_event_is_scored(tmp_path):
    order: list[str] = []

    class LoggingGate(FixedGate):
        def score(self, windows):
            order.extend(f"score {w[-1].text}" for w in windows)
            return super().score(windows)

    class SlowSlowPath(GateRuleSlowPath):
        async def deliberate(self, window, decision):
            await asyncio.sleep(0.01)
            order.append(f"settled {window[-1].text}")
            return await super().deliberate(window, decision)

    records = [event_record(i, text=f"edge {i}") for i in range(3)]
    source = JsonlSource(str(write_jsonl(tmp_path / "s.jsonl", records)))
    pipeline, _ = make_pipeline(
        f"sqlite:///{tmp_path / 'm.db'}",
        source,
        gate=LoggingGate(),
        slow_path=SlowSlowPath(),
        batch_size=1,
        pacing=Lockstep(),
    )
    await pipeline.run()
    assert order == [f"{step} edge {i}" for i in range(3) for step in ("score", "settled")]


async def test_escalations_beyond_the_slow_paths_room_are_settled_by_the_gate_rule(tmp_path):
    # All ten arrive in one batch (a static source never waits), while the slow path's
    # queue has room for two: the other eight are settled at once instead of stalling
    # the gate, whatever the slow path's speed.
    events = [Event.model_validate(event_record(i, text=f"edge {i}")) for i in range(10)]
    pipeline, store = make_pipeline(
        f"sqlite:///{tmp_path / 'f.db'}",
        StaticSource(events),
        slow_queue_size=2,
        batch_size=10,
    )
    stats = await pipeline.run()
    deciders = [decision.decided_by for _, decision in store.decisions(limit=20)]
    assert stats.escalated == 10
    assert (deciders.count("gate-rule"), deciders.count("gate-busy")) == (2, 8)
    busy = next(d for _, d in store.decisions(limit=20) if d.decided_by == "gate-busy")
    assert "slow path busy" in busy.reason and busy.final_action is Action.INTERVENE
    store.close()


async def test_do_not_disturb_keeps_escalations_from_the_slow_path(tmp_path):
    from memory.preferences import Preferences

    class NeverAsked(GateRuleSlowPath):
        async def deliberate(self, window, decision):
            raise AssertionError("a silenced event reached the slow path")

    url = f"sqlite:///{tmp_path / 'f.db'}"
    Store(url).save_preferences(Preferences(do_not_disturb=True))
    pipeline, store = make_pipeline(
        url, JsonlSource(str(write_jsonl(tmp_path / "s.jsonl", [event_record(1, text="edge")])))
    )
    pipeline.slow_path = NeverAsked()
    stats = await pipeline.run()
    [(_, decision)] = store.decisions()
    assert (decision.gate_action, decision.final_action) == (Action.ESCALATE, Action.SILENT)
    assert decision.decided_by == "preferences" and stats.intervened == 0


async def test_stopping_a_live_source_drains_every_accepted_event(tmp_path, database_url):
    source = EndlessSource()
    pipeline, store = make_pipeline(database_url, source, gate=CueGate(), queue_size=16)
    task = asyncio.create_task(pipeline.run())

    async def enough_decided() -> None:
        while pipeline.stats.decided < 50:
            await asyncio.sleep(0.001)

    await asyncio.wait_for(enough_decided(), timeout=60)
    pipeline.request_stop()
    stats = await task

    assert stats.accepted >= 50
    assert stats.decided == stats.accepted
    assert store.totals()["events"] == stats.accepted
    assert store.last_run().status == "interrupted"
    assert store.last_run().accepted == stats.accepted


async def test_unfinished_deliberations_resume_on_the_next_run(tmp_path, database_url):
    store = Store(database_url)
    event = Event.model_validate(event_record(1, text="edge"))
    pending = gate_decision(event, Action.ESCALATE, p_need=1.0, p_accept=0.55, tau=0.5)
    store.record_decisions(None, [(event, pending)])
    assert len(store.unresolved_escalations()) == 1

    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    pipeline, store = make_pipeline(database_url, JsonlSource(str(empty)))
    await pipeline.run()
    assert store.unresolved_escalations() == []
    [(_, decision)] = store.decisions()
    assert decision.final_action is Action.INTERVENE


async def test_a_broken_surface_loses_no_decision(tmp_path, database_url):
    class BrokenSurface:
        def offer(self, event, decision):
            raise OSError("notification daemon gone")

    path = write_jsonl(tmp_path / "s.jsonl", [event_record(i, text="help me") for i in range(3)])
    pipeline, store = make_pipeline(database_url, JsonlSource(str(path)), surface=BrokenSurface())
    stats = await pipeline.run()
    assert stats.decided == stats.intervened == 3
    assert store.totals()["final_intervene"] == 3


async def test_a_worker_that_dies_fails_the_run_instead_of_hanging_it(tmp_path):
    class BrokenMemory(Store):
        def learning_transaction(self, *args, **kwargs):
            raise RuntimeError("memory is broken")

    store = BrokenMemory(f"sqlite:///{tmp_path / 'broken.db'}")
    events = [Event.model_validate(event_record(i)) for i in range(50)]
    pipeline = Pipeline(
        source=StaticSource(events),
        gate=CueGate(),
        policy=GatePolicy(),
        store=store,
        slow_path=GateRuleSlowPath(),
        surface=RecordingSurface(),
        options=PipelineOptions(batch_size=1, queue_size=1),
    )
    with pytest.raises(RuntimeError, match="memory is broken"):
        await asyncio.wait_for(pipeline.run(), timeout=30)
    assert store.last_run().status == "failed"
    store.close()


class StuckGate(FixedGate):
    """Scores nothing until released, recording the order of what it scored."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.scored: list[str] = []

    def score(self, windows):
        self.release.wait(timeout=30)
        self.scored.extend(window[-1].text for window in windows)
        return super().score(windows)


async def test_a_burst_is_acknowledged_once_stored_while_the_gate_is_stuck(database_url):
    """Ingest waits for one write, never for the gate: with the gate stuck on its first
    batch and its queue full, every event is still stored and acknowledged (the rest wait
    in the backlog by id), then decided in the order it came."""
    gate = StuckGate()
    source = HttpIngestSource(capacity=64)
    pipeline, store = make_pipeline(database_url, source, gate=gate, queue_size=2, batch_size=2)
    running = asyncio.create_task(pipeline.run())
    burst = [Event.model_validate(event_record(i, text=f"event {i}")) for i in range(40)]
    for start in range(0, len(burst), 8):
        acks = await source.submit(burst[start : start + 8], timeout_s=5)
        await asyncio.wait_for(asyncio.gather(*acks), timeout=10)
    assert store.totals()["events"] == 40 and gate.scored == []
    # All but the gate's first batch (one or two events) wait, stored, to be decided.
    assert pipeline.waiting()["waiting_to_decide"] >= 38
    gate.release.set()
    await eventually(lambda: len(store.decisions()) == 40)
    assert pipeline.waiting() == dict.fromkeys(
        ("waiting_to_store", "waiting_to_decide", "waiting_to_deliberate"), 0
    )
    pipeline.request_stop()
    stats = await asyncio.wait_for(running, timeout=30)
    assert (stats.accepted, stats.decided) == (40, 40)
    assert gate.scored == [e.text for e in burst]


async def test_events_forgotten_before_the_gate_reached_them_are_never_decided(database_url):
    gate = StuckGate()
    source = HttpIngestSource(capacity=64)
    pipeline, store = make_pipeline(database_url, source, gate=gate, queue_size=2, batch_size=1)
    running = asyncio.create_task(pipeline.run())
    kept = [Event.model_validate(event_record(i)) for i in range(2)]
    private = [
        Event.model_validate({**event_record(10 + i), "source": "private"}) for i in range(6)
    ]
    acks = await source.submit([*kept, *private], timeout_s=5)
    await asyncio.wait_for(asyncio.gather(*acks), timeout=10)
    store.forget(source="private")  # queued, and in the backlog, not yet decided
    gate.release.set()
    pipeline.request_stop()
    stats = await asyncio.wait_for(running, timeout=30)
    assert stats.decided == 2 and store.totals()["events"] == 2
    assert {e.id for e, _ in store.decisions()} == {e.id for e in kept}


async def test_events_stored_but_not_decided_before_a_stop_are_decided_at_the_next_start(
    tmp_path, database_url
):
    store = Store(database_url)
    waiting = [Event.model_validate(event_record(i, text="help me")) for i in range(3)]
    store.record_events(None, waiting)
    assert store.undecided_events() == [e.id for e in waiting]

    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    surface = RecordingSurface()
    pipeline, store = make_pipeline(database_url, JsonlSource(str(empty)), surface=surface)
    stats = await pipeline.run()
    assert stats.decided == 3 and store.undecided_events() == []
    assert [e.id for e, _ in surface.offers] == [e.id for e in waiting]


def test_decisions_on_events_forgotten_while_they_waited_are_dropped_with_them(database_url):
    store = Store(database_url)
    kept, forgotten = (Event.model_validate(event_record(i)) for i in (1, 2))
    store.record_events(None, [kept])
    store.record_events(None, [forgotten.model_copy(update={"source": "private"})])
    store.forget(source="private")
    forgotten = forgotten.model_copy(update={"source": "private"})
    pairs = [(e, gate_decision(e, Action.SILENT)) for e in (kept, forgotten)]
    assert store.add_decisions(pairs) == {forgotten.id}
    assert [e.id for e, _ in store.decisions()] == [kept.id]
    assert store.existing_events([kept.id, forgotten.id]) == {kept.id}


def test_a_forget_between_the_check_and_the_insert_drops_only_what_it_forgot(database_url):
    from sqlalchemy import event as sql_event

    store = Store(database_url)
    kept = Event.model_validate(event_record(1))
    forgotten = Event.model_validate(event_record(2)).model_copy(update={"source": "private"})
    store.record_events(None, [kept, forgotten])
    raced = []

    def forget_first(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO decisions") and not raced:
            raced.append(store.forget(source="private"))  # another connection, committed

    sql_event.listen(store.engine, "before_cursor_execute", forget_first)
    pairs = [(e, gate_decision(e, Action.SILENT)) for e in (kept, forgotten)]
    assert store.add_decisions(pairs) == {forgotten.id}
    assert raced and raced[0]["events"] == 1
    assert [e.id for e, _ in store.decisions()] == [kept.id]
