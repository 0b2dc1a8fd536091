"""Offers as desktop notifications: shown over a real (private) D-Bus session to a
freedesktop notification server, answered with its buttons, skipped without a desktop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from agent.config import Settings
from agent.daemon import surfaces
from agent.notify import RESULT_TITLE, TITLE, WAITING_TITLE, DesktopSurface, Surfaces
from agent.surface import LogSurface
from core.decision import Action
from core.events import Event
from core.outcome import outcomes_of
from core.sources import EventSource, StaticSource
from memory.feedback import Outcome
from tests import test_drafting as drafting
from tests.helpers import eventually, make_pipeline, stand_in_opener
from tests.notification_server import notification_server, session_bus
from tools import default_pool

START = 1_700_000_000.0


def _event(i: int, text: str) -> Event:
    return Event.model_validate(
        {"time": START + i * 600, "source": "t", "kind": "editor", "app": "Editor", "text": text}
    )


def _opened(record) -> list[str]:
    """What the stand-in xdg-open was asked to open so far."""
    return record.read_text().splitlines() if record.exists() else []


@pytest.fixture
def bus(monkeypatch):
    with session_bus() as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address


async def test_an_offer_is_a_notification_and_its_buttons_answer_it(tmp_path, bus):
    async with notification_server(bus) as server:
        url = f"sqlite:///{tmp_path / 'f.db'}"
        answers: list[tuple[str, Outcome]] = []
        desktop = DesktopSurface(lambda event_id, outcome: answers.append((event_id, outcome)))
        assert desktop.enabled
        events = [_event(0, "I need help with names.rb"), _event(1, "I need help with notes")]
        pipeline, store = make_pipeline(url, StaticSource(events), surface=desktop)
        await pipeline.run()
        await desktop.wait_sent()
        assert [shown.title for shown in server.shown] == [TITLE, TITLE]
        assert "names.rb" in server.shown[0].body
        assert sorted(server.shown[0].actions.values()) == ["", "Accept", "Reject"]
        server.press(server.shown[0], "Accept")
        server.press(server.shown[1], "Reject")
        await eventually(lambda: len(answers) == 2, timeout=10)
        assert answers == [(events[0].id, Outcome.ACCEPTED), (events[1].id, Outcome.REJECTED)]
        store.close()


async def test_the_daemon_s_notification_buttons_record_feedback(tmp_path, bus):
    async with notification_server(bus) as server:
        url = f"sqlite:///{tmp_path / 'f.db'}"
        pipeline, store = make_pipeline(url, StaticSource([_event(0, "I need help")]))
        pipeline.surface = surfaces(Settings(), store)
        assert isinstance(pipeline.surface, Surfaces)
        await pipeline.run()
        # Pressed only once the send has come back: the server shows a notification
        # before its id reaches festina, which until then cannot tell whose button it is.
        [desktop] = [s for s in pipeline.surface.surfaces if isinstance(s, DesktopSurface)]
        await desktop.wait_sent()
        await eventually(lambda: len(server.shown) == 1, timeout=10)
        server.press(server.shown[0], "Reject")
        event_id = _event(0, "I need help").id
        await eventually(lambda: store.latest_feedback(event_id) is Outcome.REJECTED, timeout=10)
        store.close()


async def test_a_server_without_actions_gets_a_plain_notification(tmp_path, bus):
    async with notification_server(bus, actions=False) as server:
        desktop = DesktopSurface(lambda *_: None)
        pipeline, store = make_pipeline(
            f"sqlite:///{tmp_path / 'f.db'}",
            StaticSource([_event(0, "I need help")]),
            surface=desktop,
        )
        await pipeline.run()
        await desktop.wait_sent()
        [shown] = server.shown
        assert not {"Accept", "Reject"} & set(shown.actions.values())
        store.close()


def test_a_headless_machine_is_skipped_silently(caplog):
    with caplog.at_level(logging.DEBUG, logger="festina.notify"):
        desktop = DesktopSurface(lambda *_: None, environ={})
    assert not desktop.enabled
    assert "no desktop session" in caplog.text
    desktop.offer(_event(0, "x"), None)  # nothing happens, nothing raised
    assert isinstance(surfaces(Settings(), None), LogSurface)  # the daemon keeps the log


async def test_no_notification_server_on_the_bus_costs_nothing(tmp_path, bus, caplog):
    desktop = DesktopSurface(lambda *_: None)
    pipeline, store = make_pipeline(
        f"sqlite:///{tmp_path / 'f.db'}", StaticSource([_event(0, "I need help")]), surface=desktop
    )
    with caplog.at_level(logging.DEBUG, logger="festina.notify"):
        await pipeline.run()
        await desktop.wait_sent()
    assert store.decisions()[0][1].final_action is Action.INTERVENE
    assert not desktop.enabled
    assert "desktop notifications off" in caplog.text
    store.close()


async def test_notifications_can_be_turned_off(tmp_path, bus, caplog):
    async with notification_server(bus) as server:
        settings = Settings.model_validate({"notifications": {"desktop": False}})
        url = f"sqlite:///{tmp_path / 'f.db'}"
        pipeline, store = make_pipeline(url, StaticSource([_event(0, "I need help")]))
        pipeline.surface = surfaces(settings, store)
        with caplog.at_level(logging.INFO, logger="festina.surface"):
            await pipeline.run()
        # Only the log shows the offer (synchronously): nothing is queued for the bus,
        # though a notification server is listening on it.
        assert isinstance(pipeline.surface, LogSurface)
        assert f"offer on {_event(0, 'I need help').id}" in caplog.text
        assert server.shown == []
        store.close()


async def test_a_finished_plan_s_result_is_a_notification_that_opens_its_link(
    tmp_path, bus, monkeypatch
):
    # The desktop's handler for links cannot run here: a stand-in xdg-open records what
    # it was asked to open.
    opened = stand_in_opener(tmp_path, monkeypatch)
    url = "https://duckduckgo.com/?q=KeyError+price"
    outcomes = outcomes_of(
        [
            {"step": 0, "tool": "web_search_query", "ran": True, "ok": True, "output": url},
            {"step": 1, "tool": "search_notes", "ran": True, "ok": True, "output": []},
            {"step": 2, "tool": "toggle_setting", "ran": True, "ok": True, "dry_run": True,
             "message": "recorded, not performed: turn battery_saver on"},
        ]
    )  # fmt: skip
    async with notification_server(bus) as server:
        desktop = DesktopSurface(lambda *_: None)
        desktop.result("e1", outcomes)
        await desktop.wait_sent()
        [shown] = server.shown
        assert shown.title == RESULT_TITLE
        assert shown.body.splitlines() == [
            f"web_search_query: {url}",
            "search_notes: nothing found",
            "toggle_setting (not performed): recorded, not performed: turn battery_saver on",
        ]
        server.press(shown, "Open")
        await eventually(lambda: _opened(opened) == [url], timeout=10)


class ThenIdle(EventSource):
    """A live source: these events, then nothing until it is closed (the answers loop
    still runs)."""

    name = "live"

    def __init__(self, events: list[Event]) -> None:
        self._events = events
        self._closed = asyncio.Event()

    async def items(self) -> AsyncIterator[Event]:
        for one in self._events:
            yield one
        await self._closed.wait()

    async def close(self) -> None:
        self._closed.set()


async def test_an_accepted_plan_asks_for_each_side_effect_and_ends_in_its_result(
    tmp_path, bus, monkeypatch
):
    """Accept, then Do it and Skip, all from notifications: the plan asks for its next step
    where the person is, with what it has done so far, and ends in the result."""
    opened = stand_in_opener(tmp_path, monkeypatch)
    search = drafting.REPEATED_SEARCH[:1]
    source = ThenIdle(search)
    async with notification_server(bus) as server:
        pipeline, store = make_pipeline(
            f"sqlite:///{tmp_path / 'f.db'}",
            source,
            gate=drafting.ClearGate(),
            draft_offers=True,
        )
        pool = default_pool(tmp_path / "workspace")
        pipeline.slow_path = drafting.slow_path(tmp_path, store, pool)
        pipeline.surface = DesktopSurface(
            lambda event_id, outcome: store.record_feedback(event_id, outcome),
            confirm=store.answer_confirmation,
        )
        running = asyncio.ensure_future(pipeline.run())

        def shown(title: str) -> list:
            return [n for n in server.shown if n.title == title]

        async def press(notification, button: str) -> None:
            # desktop-notifier ties a notification to its buttons once the Notify call
            # returns, which may be after the server shows it: press only then.
            await pipeline.surface.wait_sent()
            server.press(notification, button)

        await eventually(lambda: shown(TITLE), timeout=30)
        await press(shown(TITLE)[0], "Accept")
        await eventually(lambda: shown(WAITING_TITLE), timeout=30)
        [first] = shown(WAITING_TITLE)
        [pending] = store.pending_confirmations(search[0].id)
        link = pending.args["url"]
        assert pending.tool == "open_url"
        assert first.body.splitlines() == ["search_notes: nothing found", f"next: open_url {link}"]
        assert sorted(first.actions.values()) == ["", "Do it", "Skip"]
        await press(first, "Do it")
        await eventually(lambda: _opened(opened) == [link], timeout=30)
        await eventually(lambda: len(shown(WAITING_TITLE)) == 2, timeout=30)
        second = shown(WAITING_TITLE)[1]
        assert second.body.splitlines()[-1].startswith("next: add_to_session_note Searched for")
        await press(second, "Skip")
        await eventually(lambda: shown(RESULT_TITLE), timeout=30)
        [result] = shown(RESULT_TITLE)
        assert result.body.splitlines()[1:] == [
            "open_url: opened in the browser",
            "add_to_session_note (skipped): not confirmed",
        ]
        await source.close()
        await running
        await pipeline.surface.wait_sent()
        store.close()
