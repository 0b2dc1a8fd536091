"""Privacy before storage: exclusion rules at ingest, private mode (pause), and forgetting
the last minutes."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from sqlalchemy import update

from agent.api import ApiServer, build_app
from agent.config import ApiSettings, EtiquetteSettings, PrivacySettings
from agent.privacy import ExclusionRules
from agent.sources.http import HttpIngestSource
from core.events import Event
from core.sources import StaticSource
from evals.lockstep import Lockstep
from festina_cli import cli
from gate.policy import GatePolicy
from memory.preferences import Preferences
from memory.schema import EventRow
from memory.store import Store
from tests.helpers import FixedGate, event_record, eventually, gate_decision, make_pipeline
from tui.app import FestinaApp

TOKEN = "privacy-test-token-0123456789"
SECRET = "bank statement 4711"


def _event(i: int, **fields) -> Event:
    return Event.model_validate({**event_record(i, text=f"The user reads item {i}"), **fields})


def test_rules_match_apps_titles_urls_and_private_windows():
    rules = ExclusionRules.from_settings(
        PrivacySettings(
            exclude_apps=["KeePassXC"], exclude_titles=["bank"], exclude_urls=[r"^https://mail\."]
        )
    )
    assert rules.rule_for(_event(1, app="keepassxc")) == "app"
    assert rules.rule_for(_event(2, title=f"My {SECRET.upper()}")) == "title"
    assert rules.rule_for(_event(3, url="https://mail.example.org/inbox")) == "url"
    assert rules.rule_for(_event(4, url="https://example.org/mail.")) is None
    assert rules.rule_for(_event(5, attributes={"incognito": True})) == "incognito"
    assert rules.rule_for(_event(6, title="New Tab - Google Chrome (Incognito)")) == "incognito"
    assert rules.rule_for(_event(7, title="Mozilla Firefox Private Browsing")) == "incognito"
    assert rules.rule_for(_event(8, title="notes.md")) is None
    allow = ExclusionRules.from_settings(PrivacySettings(exclude_incognito=False))
    assert allow.rule_for(_event(5, attributes={"incognito": True})) is None


def test_a_broken_pattern_is_refused_with_the_key_named():
    with pytest.raises(ValidationError, match=r"(?s)exclude_titles.*not a regular expression"):
        PrivacySettings(exclude_titles=["(unclosed"])


async def test_excluded_events_are_never_stored_embedded_or_logged_only_counted(tmp_path, caplog):
    events = [
        _event(1),
        _event(2, app="KeePassXC", text=f"The user copies {SECRET}"),
        _event(3, title="Private Browsing", text=f"The user reads {SECRET}"),
        _event(4, text="I need help with notes"),
    ]
    pipeline, store = make_pipeline(
        f"sqlite:///{tmp_path / 'f.db'}",
        StaticSource(events),
        privacy=PrivacySettings(exclude_apps=["KeePassXC"]),
    )
    with caplog.at_level(logging.DEBUG):
        stats = await pipeline.run()
    assert (stats.accepted, stats.decided, stats.excluded) == (2, 2, 2)
    assert store.existing_events(e.id for e in events) == {events[0].id, events[3].id}
    assert SECRET not in "\n".join(r.getMessage() for r in caplog.records)
    run = store.last_run()
    assert (run.excluded, run.paused) == (2, 0)
    exported = "\n".join(json.dumps(r) for r in store.export_records())
    assert SECRET not in exported
    store.close()


async def test_while_paused_nothing_is_kept_until_the_pause_ends(tmp_path):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    store = Store(url)
    store.save_preferences(Preferences(paused=True))
    pipeline, _ = make_pipeline(url, StaticSource([_event(1), _event(2)]))
    stats = await pipeline.run()
    assert (stats.paused, stats.accepted, store.totals()["events"]) == (2, 0, 0)
    ended = datetime.now(UTC) - timedelta(seconds=1)
    store.save_preferences(Preferences(paused=True, paused_until=ended))
    pipeline, _ = make_pipeline(url, StaticSource([_event(1), _event(2)]))
    assert (await pipeline.run()).accepted == 2
    assert store.last_run().paused == 0
    store.close()


async def test_pause_resume_and_forget_over_the_api_take_hold_live(tmp_path):
    ingest = HttpIngestSource(16)
    pipeline, store = make_pipeline(
        f"sqlite:///{tmp_path / 'f.db'}",
        ingest,
        privacy=PrivacySettings(exclude_apps=["KeePassXC"]),
    )
    settings = ApiSettings(port=0, token=TOKEN)
    server = ApiServer(build_app(settings, ingest, store, lambda: asdict(pipeline.stats)), settings)
    running = asyncio.create_task(pipeline.run())
    await server.start()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}", headers=headers, timeout=10
        ) as client:
            kept = await client.post("/v1/events", json=event_record(1))
            assert kept.json()["stored"] is True
            # An excluded event settles its request at once: nothing will ever be stored.
            excluded = await client.post("/v1/events", json={**event_record(2), "app": "KeePassXC"})
            assert excluded.status_code == 200 and excluded.json()["stored"] is True
            paused = await client.post("/v1/pause", json={"minutes": None})
            assert paused.json() == {"paused": True, "paused_until": None}
            await eventually(lambda: pipeline.chain.preferences.paused, timeout=10, unless=running)
            assert (await client.get("/v1/status")).json()["paused"] is True
            await client.post("/v1/events", json=event_record(3))
            assert pipeline.stats.paused == 1
            await client.post("/v1/resume")
            await eventually(
                lambda: not pipeline.chain.preferences.paused, timeout=10, unless=running
            )
            await client.post("/v1/events", json=event_record(4))
            assert store.totals()["events"] == 2
            forgot = await client.post("/v1/forget", json={"minutes": 5})
            assert forgot.json()["events"] == 2
            assert (await client.post("/v1/forget", json={"minutes": 0})).status_code == 422
    finally:
        await server.stop()
        pipeline.request_stop()
        await running
    assert store.totals()["events"] == 0
    assert (pipeline.stats.excluded, pipeline.stats.paused) == (1, 1)
    store.close()


def test_forgetting_the_last_minutes_takes_what_happened_or_arrived_since(festina_home):
    runner = CliRunner()
    now = datetime.now(UTC).timestamp()
    recent = _event(0, time=now - 60, text=f"The user reads {SECRET}")
    replayed = _event(1, time=1_700_000_000)  # an old event that arrived just now
    old = _event(2, time=now - 7200)
    assert runner.invoke(cli, ["prefs", "show"]).exit_code == 0  # creates the database
    store = Store(f"sqlite:///{festina_home / 'data' / 'festina.db'}")
    store.record_decisions(None, [(e, gate_decision(e)) for e in (recent, replayed, old)])
    # Through the ORM, so the stored text has the column's own format: a hand-written
    # ISO string compares wrongly against it whenever both fall on the same day.
    with store.engine.begin() as connection:
        connection.execute(
            update(EventRow)
            .where(EventRow.id == old.id)
            .values(received_at=datetime.now(UTC) - timedelta(hours=2))
        )
    store.record_reflection("editor:Editor", recent.id, f"about {SECRET}")
    store.record_reflection("editor:Editor", old.id, "about something old")
    result = runner.invoke(cli, ["memory", "forget", "--last-minutes", "30"])
    assert result.exit_code == 0, result.output
    assert "forgot 2 events" in result.output
    assert store.existing_events([recent.id, replayed.id, old.id]) == {old.id}
    assert [r.lesson for r in store.reflections()] == ["about something old"]
    refused = runner.invoke(cli, ["memory", "forget", "--last-minutes", "5", "--all"])
    assert refused.exit_code == 2
    store.close()


def test_pause_and_resume_from_the_command_line(festina_home):
    runner = CliRunner()
    paused = runner.invoke(cli, ["pause", "--minutes", "15"])
    assert paused.exit_code == 0 and "paused until" in paused.output
    shown = json.loads(runner.invoke(cli, ["prefs", "show"]).output)
    until = datetime.fromisoformat(shown["paused_until"])
    assert shown["paused"] is True
    assert timedelta(minutes=14) < until - datetime.now(UTC) <= timedelta(minutes=15)
    assert runner.invoke(cli, ["resume"]).exit_code == 0
    shown = json.loads(runner.invoke(cli, ["prefs", "show"]).output)
    assert (shown["paused"], shown["paused_until"]) == (False, None)


async def test_the_dashboard_pauses_and_resumes_with_p(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        assert store.preferences()[1].paused is True
        assert "PAUSED" in app.sub_title
        await pilot.press("p")
        await pilot.pause()
        assert store.preferences()[1].paused is False
        assert "PAUSED" not in app.sub_title
    store.close()


async def test_a_running_daemon_lets_go_of_forgotten_events_in_its_windows(tmp_path):
    """Forgotten from memory mid-stream (another surface: CLI, API, dashboard), the events
    must not ride on in the daemon's context windows into the next decisions."""
    seen: list[list[str]] = []

    class WindowGate(FixedGate):
        def score(self, windows):
            seen.extend([e.text for e in window] for window in windows)
            return super().score(windows)

    secret = [Event.model_validate(event_record(i, text=f"secret {i}")) for i in range(3)]
    after = [Event.model_validate(event_record(10 + i, text=f"after {i}")) for i in range(2)]

    class ForgettingSource(StaticSource):
        async def items(self):
            for event in secret:
                yield event
            await eventually(lambda: len(store.decisions()) == len(secret), timeout=10)
            store.forget(since=datetime.now(UTC) - timedelta(minutes=5))
            for event in after:
                yield event

    pipeline, store = make_pipeline(
        f"sqlite:///{tmp_path / 'f.db'}",
        ForgettingSource([]),
        gate=WindowGate(),
        batch_size=1,
        pacing=Lockstep(),
    )
    await pipeline.run()
    assert seen[2] == ["secret 0", "secret 1", "secret 2"]
    assert seen[3:] == [["after 0"], ["after 0", "after 1"]]
    assert store.totals()["events"] == len(after)
    store.close()


async def test_a_forgotten_offer_is_no_longer_remembered_as_made(tmp_path):
    """The etiquette keeps recent offers' summaries to avoid repeats: a forget clears them."""
    first = Event.model_validate(event_record(0, text="help with the secret report"))
    again = Event.model_validate(event_record(30, text="help with the secret report"))

    class ForgettingSource(StaticSource):
        async def items(self):
            yield first
            await eventually(lambda: len(store.decisions()) == 1, timeout=10)
            store.forget(since=datetime.now(UTC) - timedelta(minutes=5))
            yield again

    pipeline, store = make_pipeline(
        f"sqlite:///{tmp_path / 'f.db'}",
        ForgettingSource([]),
        batch_size=1,
        pacing=Lockstep(),
        etiquette=EtiquetteSettings(cooldown_s=0, pending_timeout_s=600),
    )
    stats = await pipeline.run()
    assert stats.intervened == 2  # without the forget, the second is a repeat
    store.close()
