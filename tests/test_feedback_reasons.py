"""A rejection may say why, and each reason changes what festina does next differently:
"not now" holds offers and learns little, "not useful" and "wrong" are learnt as
rejections with their own lessons, "never for this app" mutes the app."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

import httpx
import pytest
from click.testing import CliRunner

from agent.api import ApiServer, build_app
from agent.config import ApiSettings, EtiquetteSettings
from agent.sources.http import HttpIngestSource
from core.decision import Action
from core.events import Event
from core.sources import StaticSource
from festina_cli import cli
from memory.feedback import Outcome, Reason, lesson_for
from memory.personal import PersonalModel
from memory.store import Store
from tests.helpers import (
    event_record,
    gate_decision,
    learnt_shift,
    make_pipeline,
    run_daemon_here,
)
from tui.app import FestinaApp

START = 1_700_000_000.0


def _event(seconds: float, app: str = "Editor") -> Event:
    return Event.model_validate(
        {
            "time": START + seconds,
            "source": "t",
            "kind": "editor",
            "app": app,
            "text": f"I need help {seconds}",
        }
    )


def test_each_reason_moves_the_learner_by_its_own_weight():
    def offset(reason: Reason | None) -> float:
        model = PersonalModel()
        window = [_event(0)]
        model.learn(window, 0.6, Outcome.REJECTED, window[-1].time, reason)
        return model.shift(window)

    plain = offset(None)
    assert offset(Reason.NOT_USEFUL) == offset(Reason.WRONG) == plain < 0
    assert plain < offset(Reason.NOT_NOW) < 0  # timing, not the offer: a little
    assert offset(Reason.NEVER_APP) == 0.0  # the app is muted instead


def test_each_reason_leaves_its_own_lesson_or_none():
    event = _event(0)
    assert "was wrong: it misread" in lesson_for(event, Outcome.REJECTED, Reason.WRONG)
    assert "was not useful" in lesson_for(event, Outcome.REJECTED, Reason.NOT_USEFUL)
    assert lesson_for(event, Outcome.REJECTED, Reason.NOT_NOW) is None
    assert lesson_for(event, Outcome.REJECTED, Reason.NEVER_APP) is None


class AnswersFirstOffer:
    """Rejects the first offer it sees with `reason`, as a user at the dashboard would."""

    def __init__(self, store: Store, reason: Reason) -> None:
        self.store, self.reason = store, reason
        self.offers: list[Event] = []

    def offer(self, event, decision):
        self.offers.append(event)
        if len(self.offers) == 1:
            self.store.record_feedback(event.id, Outcome.REJECTED, reason=self.reason)


async def _replay(tmp_path, reason: Reason, events: list[Event]):
    store = Store(f"sqlite:///{tmp_path / f'{reason.value}.db'}")
    surface = AnswersFirstOffer(store, reason)
    pipeline, _ = make_pipeline(
        store.url,
        StaticSource(events),
        surface=surface,
        batch_size=1,
        queue_size=1,
        etiquette=EtiquetteSettings(cooldown_s=0, pending_timeout_s=0, not_now_s=600),
    )
    await pipeline.run()
    decided = {e.id: d for e, d in store.decisions(limit=100)}
    return store, surface, decided


async def test_not_now_holds_every_offer_for_a_while_then_they_come_back(tmp_path):
    events = [_event(0), _event(60), _event(120, app="Browser"), _event(700)]
    store, user, decided = await _replay(tmp_path, Reason.NOT_NOW, events)
    assert [e.id for e in user.offers] == [events[0].id, events[3].id]
    for held in events[1:3]:  # any app: the timing was wrong, not the offer
        assert decided[held.id].decided_by == "etiquette"
        assert "not now" in decided[held.id].reason
    assert -0.5 < learnt_shift(store) < 0  # a tenth of a rejection
    assert store.reflections() == []


@pytest.mark.parametrize(
    ("reason", "lesson"), [(Reason.NOT_USEFUL, "not useful"), (Reason.WRONG, "misread")]
)
async def test_not_useful_and_wrong_are_learnt_as_rejections(tmp_path, reason, lesson):
    events = [_event(0), _event(60)]
    store, user, _ = await _replay(tmp_path, reason, events)
    assert len(user.offers) == 2  # no hold: only the learner's shift
    assert learnt_shift(store) < -0.5
    [reflection] = store.reflections()
    assert lesson in reflection.lesson


async def test_never_for_this_app_mutes_it_at_once(tmp_path):
    events = [_event(0), _event(60), _event(120, app="Browser")]
    store, user, decided = await _replay(tmp_path, Reason.NEVER_APP, events)
    assert [e.id for e in user.offers] == [events[0].id, events[2].id]
    assert decided[events[1].id].decided_by == "preferences"
    assert decided[events[1].id].reason == "app 'Editor' is muted"
    assert store.preferences()[1].muted_apps == ["Editor"]
    assert learnt_shift(store) == 0.0


async def test_an_offer_answered_not_now_is_no_turned_down_repeat(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    pipeline, _ = make_pipeline(store.url, StaticSource([_event(0), _event(1)]))
    await pipeline.run()
    first, second = sorted((e for e, _ in store.decisions()), key=lambda e: e.time)
    for event in (first, second):
        proposal = {"task": f"Task on {event.id[:6]}", "speak": "x", "tool_plan": []}
        store.record_deliberation(event.id, "graph:test", "intervene", "offer", proposal, None, [])
    store.record_feedback(first.id, Outcome.REJECTED, reason=Reason.NOT_NOW)
    store.record_feedback(second.id, Outcome.REJECTED, reason=Reason.NOT_USEFUL)
    assert store.turned_down_tasks("editor:Editor") == [f"Task on {second.id[:6]}"]


async def test_reasons_only_go_with_a_rejection_and_need_an_app_to_mute(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    event = Event.model_validate({**event_record(1, text="I need help"), "app": None})
    pipeline, _ = make_pipeline(store.url, StaticSource([event]))
    await pipeline.run()
    with pytest.raises(ValueError, match="goes with a rejection"):
        store.record_feedback(event.id, Outcome.ACCEPTED, reason=Reason.WRONG)
    with pytest.raises(ValueError, match="no app to mute"):
        store.record_feedback(event.id, Outcome.REJECTED, reason=Reason.NEVER_APP)


def test_the_cli_takes_a_reason(festina_home, tmp_path):
    runner = CliRunner()
    run_daemon_here(
        tmp_path / "t.jsonl",
        [
            event_record(i, text=f"The user searches for 'error {i}' after a crash")
            for i in range(6)
        ],
    )
    store = Store(f"sqlite:///{festina_home / 'data' / 'festina.db'}")
    offered = next(e for e, d in store.decisions() if d.final_action is Action.INTERVENE)
    wrong = runner.invoke(cli, ["feedback", "give", offered.id, "accept", "--reason", "wrong"])
    assert wrong.exit_code == 2 and "--reason goes with reject" in wrong.output
    muted = runner.invoke(cli, ["feedback", "give", offered.id, "reject", "--reason", "never-app"])
    assert muted.exit_code == 0, muted.output
    assert "(never-app)" in muted.output
    assert store.preferences()[1].muted_apps == [offered.app]
    store.close()


async def test_the_dashboard_asks_why_on_reject(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    pipeline, _ = make_pipeline(store.url, StaticSource([_event(0)]))
    await pipeline.run()
    app = FestinaApp(store, pipeline.chain.policy)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("r", "escape")  # cancelled: nothing recorded
        await pilot.pause()
        assert store.feedback_reasons([_event(0).id]) == {}
        assert store.latest_feedback(_event(0).id) is None
        await pilot.press("r", "2")  # not now
        await pilot.pause()
        notices = []
        app.notify = lambda message, **_: notices.append(message)
        await pilot.press("a")  # a second answer to the same offer
        await pilot.pause()
    assert store.latest_feedback(_event(0).id) is Outcome.REJECTED
    assert store.feedback_reasons([_event(0).id]) == {_event(0).id: Reason.NOT_NOW}
    assert any("already answered (rejected)" in notice for notice in notices)


async def test_the_api_takes_a_reason(tmp_path):
    token = "reason-test-token-0123456789"
    ingest = HttpIngestSource(16)
    pipeline, store = make_pipeline(f"sqlite:///{tmp_path / 'f.db'}", ingest)
    settings = ApiSettings(port=0, token=token)
    server = ApiServer(build_app(settings, ingest, store, lambda: asdict(pipeline.stats)), settings)
    running = asyncio.create_task(pipeline.run())
    await server.start()
    auth = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}", headers=auth
        ) as client:
            posted = await client.post("/v1/events", json=event_record(0, text="I need help"))
            [event_id] = posted.json()["accepted"]
            bad = await client.post(
                "/v1/feedback",
                json={"event_id": event_id, "outcome": "accepted", "reason": "wrong"},
            )
            assert bad.status_code == 422
            missing = await client.post(
                "/v1/feedback", json={"event_id": "nope", "outcome": "rejected"}
            )
            assert missing.status_code == 404
            given = await client.post(
                "/v1/feedback",
                json={"event_id": event_id, "outcome": "rejected", "reason": "wrong"},
            )
            assert given.status_code == 200
            # One answer per offer: a second one is refused, and says why.
            again = await client.post(
                "/v1/feedback", json={"event_id": event_id, "outcome": "accepted"}
            )
            assert again.status_code == 409
            assert "already answered (rejected)" in again.json()["detail"]
    finally:
        await server.stop()
        pipeline.request_stop()
        await running
    assert store.feedback_reasons([event_id]) == {event_id: Reason.WRONG}
    store.close()


def test_the_clock_of_a_not_now_is_the_newest_event_taken_in_when_it_was_given(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    offered, seen, after = _event(0), _event(1), _event(2)
    store.record_decisions(None, [(offered, gate_decision(offered, Action.INTERVENE))])
    store.record_decisions(None, [(seen, gate_decision(seen))])
    store.record_feedback(offered.id, Outcome.REJECTED, reason=Reason.NOT_NOW)
    store.record_decisions(None, [(after, gate_decision(after))])
    assert store.not_now_clocks([offered.id, seen.id]) == {offered.id: seen.time}
    store.close()
