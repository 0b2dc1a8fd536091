"""Learning from feedback: the learner, its memory, the pipeline, the CLI, the replay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from agent.pipeline import Pipeline, PipelineOptions
from agent.slowpath import GateRuleSlowPath
from core.decision import Action
from core.events import Event, EventKind
from core.sources import StaticSource
from evals.feedback_replay import run_feedback_replay
from festina_cli import cli
from gate.base import GateScores
from gate.cues import CueGate
from gate.policy import GatePolicy
from memory.feedback import Outcome, Reason
from memory.learning import learn_from_answers
from memory.personal import PersonalModel
from memory.store import Store
from tests.helpers import event_at, event_record, gate_decision, run_daemon_here


class AlwaysOffer:
    version = "always-offer"

    def score(self, windows):
        return [GateScores(p_need=1.0, p_accept=0.6) for _ in windows]


class RefusesBrowsing:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.offered: list[Event] = []

    def offer(self, event, decision):
        self.offered.append(event)
        accepted = event.kind is not EventKind.BROWSER
        self.store.record_feedback(event.id, Outcome.ACCEPTED if accepted else Outcome.REJECTED)


def mixed_events(start: int, count: int) -> list[Event]:
    return [
        Event.model_validate(
            {**event_record(i), "kind": "browser" if i % 2 else "editor", "app": "App"}
        )
        for i in range(start, start + count)
    ]


async def run(url, events, surface=None, **options):
    store = Store(url)
    surface = surface or RefusesBrowsing(store)
    pipeline = Pipeline(
        source=StaticSource(events),
        gate=AlwaysOffer(),
        policy=GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.05),
        store=store,
        slow_path=GateRuleSlowPath(),
        surface=surface,
        options=PipelineOptions(batch_size=1, queue_size=1, **options),
    )
    await pipeline.run()
    return store, surface


async def test_the_gate_stops_offering_what_the_user_keeps_rejecting(database_url):
    events = mixed_events(0, 40)
    store, user = await run(database_url, events)
    kinds = [e.kind for e in user.offered]
    assert kinds[:2] == [EventKind.EDITOR, EventKind.BROWSER]
    assert kinds.count(EventKind.EDITOR) == 20  # accepted offers keep coming
    # Browsing, offered at every turn at first, is at most checked again once late on.
    late = {e.id for e in events[20:]}
    assert sum(e.kind is EventKind.BROWSER and e.id in late for e in user.offered) <= 1
    learnt = dict(store.personal_model().strongest(50))
    assert learnt["kind:browser"] < 0 < learnt["kind:editor"]
    lessons = store.reflections(context="browser:App")
    assert lessons and "rejected an offer during browser activity" in lessons[0].lesson


async def test_what_was_learned_survives_a_restart_and_can_be_reset(database_url):
    store, _ = await run(database_url, mixed_events(0, 20))
    before_restart = store.personal_model()
    store, user = await run(database_url, mixed_events(100, 10))
    assert EventKind.BROWSER not in [e.kind for e in user.offered]
    # The restarted daemon read the model back and went on learning from it.
    learnt = store.personal_model().answers
    assert learnt > before_restart.answers > 0
    exported = [r for r in store.export_records() if r["type"].startswith("personal")]
    assert exported[0]["type"] == "personal_model" and exported[0]["answers"] == learnt
    assert len(exported) == 1 + learnt  # the model, then one record per answer learnt
    store.forget(source="test")  # forgetting the events takes their learning history along
    assert store.personal_updates() == [] and store.personal_model().answers == learnt
    assert store.reset_personal_model() == learnt
    assert store.personal_model().answers == 0
    _, user = await run(database_url, mixed_events(200, 4))
    assert EventKind.BROWSER in [e.kind for e in user.offered]


async def test_without_learning_nothing_changes(database_url):
    store, user = await run(database_url, mixed_events(0, 20), learn_from_feedback=False)
    assert [e.kind for e in user.offered].count(EventKind.BROWSER) == 10
    assert store.personal_model().answers == 0


def test_feedback_needs_an_offer(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    with pytest.raises(ValueError, match="no offer was made"):
        store.record_feedback("missing", Outcome.REJECTED)


def test_feedback_cli_round_trip(festina_home, tmp_path):
    runner = CliRunner()
    run_daemon_here(
        tmp_path / "t.jsonl",
        [
            event_record(i, text=f"The user searches for 'error {i}' after a crash")
            for i in range(6)
        ],
    )
    store = Store(f"sqlite:///{festina_home / 'data' / 'festina.db'}")
    offered = [e for e, d in store.decisions() if d.final_action == "intervene"]
    assert offered, "the cue gate should offer help on repeated error searches"
    given = runner.invoke(cli, ["feedback", "give", offered[0].id[:10], "reject", "--latency", "3"])
    assert given.exit_code == 0, given.output
    again = runner.invoke(cli, ["feedback", "give", offered[0].id[:10], "accept"])
    assert again.exit_code == 1 and "already answered (rejected)" in again.output
    silent = [e for e, d in store.decisions() if d.final_action != "intervene"]
    if silent:
        refused = runner.invoke(cli, ["feedback", "give", silent[0].id, "accept"])
        assert "no offer was made" in refused.output
    # The daemon applies it on its next run.
    run_daemon_here(tmp_path / "more.jsonl", [event_record(10)])
    shown = runner.invoke(cli, ["feedback", "show"])
    assert "learned from 1 answer" in shown.output
    assert "place:editor:Editor" in shown.output  # what was learnt, by name
    assert "lesson" in shown.output
    reset = runner.invoke(cli, ["feedback", "reset"]).output
    assert "reset the personal model learned from 1 answer" in reset


def test_replay_shows_false_alarms_falling_with_learning(proactivebench):
    policy = GatePolicy(cost_false_alarm=1.0, cost_missed_help=13.0)
    without, with_learning = run_feedback_replay(proactivebench, CueGate(), policy, segments=4)
    assert with_learning.false_alarm < without.false_alarm
    # The refused kind is still offered early on, then fades.
    first, *_, last = with_learning.refused_kind_offers_by_segment
    assert last < first
    assert sum(with_learning.refused_kind_offers_by_segment) < sum(
        without.refused_kind_offers_by_segment
    )


def test_answers_beyond_the_hours_budget_wait_in_order_for_the_next_hour(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    events = [event_at(i, f"help {i}") for i in range(35)]
    store.record_decisions(None, [(e, gate_decision(e, Action.INTERVENE)) for e in events])
    for event in events:
        store.record_feedback(event.id, Outcome.ACCEPTED)
    personal = PersonalModel(max_answers_per_hour=30)
    now = events[-1].time
    learnt = learn_from_answers(store, personal, now, window=8)
    assert [a.event_id for a in learnt] == [e.id for e in events[:30]]
    assert learn_from_answers(store, personal, now, window=8) == []  # this hour is spent
    later = learn_from_answers(store, personal, now + timedelta(hours=1), window=8)
    assert [a.event_id for a in later] == [e.id for e in events[30:]]
    assert store.personal_model().answers == 35  # saved with each call that learnt
    store.close()


def test_a_fault_while_learning_keeps_nothing_of_that_call(tmp_path):
    # The model, its history, the lessons and the applied marks go in one transaction:
    # an answer is learnt and marked, or neither.
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    events = [event_at(i, f"help {i}") for i in range(3)]
    store.record_decisions(None, [(e, gate_decision(e, Action.INTERVENE)) for e in events])
    for event in events:
        store.record_feedback(event.id, Outcome.REJECTED, reason=Reason.NOT_USEFUL)

    class FailingOnTheThird(PersonalModel):
        def learn(self, *args, **kwargs):
            if self.answers == 2:
                raise RuntimeError("a bug in learning")
            return super().learn(*args, **kwargs)

    with pytest.raises(RuntimeError, match="a bug in learning"):
        learn_from_answers(store, FailingOnTheThird(), events[-1].time, window=4)
    assert store.personal_model().answers == 0
    assert store.personal_updates() == []
    assert store.reflections() == []
    learnt = learn_from_answers(store, PersonalModel(), events[-1].time, window=4)
    assert [a.event_id for a in learnt] == [e.id for e in events]  # all still unapplied
    assert len(store.personal_updates()) == 3
    assert len(store.reflections()) == 3
    store.close()
