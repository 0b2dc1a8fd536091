"""The notifications source against a real (private) session bus: notifications sent by
another program with gdbus, festina's own left out, the bus killed and started again."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from datetime import UTC, datetime

import pytest

from agent.notify import APP_NAME
from agent.sources.notifications import NotificationSource, plain, to_item
from core.events import Event, EventKind
from core.sources import Rejection, SourceItem
from tests.helpers import eventually, first_offer
from tests.notification_server import notification_server, session_bus

pytestmark = pytest.mark.skipif(
    not (shutil.which("dbus-daemon") and shutil.which("gdbus")),
    reason="needs dbus-daemon and gdbus (Debian: dbus-daemon, libglib2.0-bin)",
)


async def notify(address: str, app: str, summary: str, body: str) -> None:
    """Send a notification as any program would, through the bus (gdbus, from GLib)."""
    process = await asyncio.create_subprocess_exec(
        *("gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications"),
        *("--object-path", "/org/freedesktop/Notifications"),
        *("--method", "org.freedesktop.Notifications.Notify"),
        *(app, "0", "", summary, body, "[]", "{}", "5000"),
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": address},
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert await process.wait() == 0


class Reader:
    """Reads a source in the background into a list."""

    def __init__(self, source: NotificationSource) -> None:
        self.source = source
        self.items: list[SourceItem] = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for item in self.source.items():
            self.items.append(item)

    async def close(self) -> None:
        await self.source.close()
        await asyncio.wait_for(self.task, 10)


def test_markup_is_stripped_from_bodies():
    assert plain("can you check the <b>invoice</b> &amp; <a href='x'>taxes</a>?") == (
        "can you check the invoice & taxes?"
    )


async def test_notifications_shown_by_other_programs_become_events(tmp_path):
    with session_bus(tmp_path / "bus") as address:
        reader = Reader(NotificationSource(address))
        await eventually(lambda: reader.source.watching, timeout=10)
        async with notification_server(address) as server:
            await notify(address, "festina", "festina offers help", "Shall I look it up?")
            await notify(address, "Slack", "Dana in #billing", "can you check the <b>totals</b>?")
            await eventually(lambda: len(server.shown) == 2, timeout=10)
            await eventually(lambda: len(reader.items) == 1, timeout=10)
        await reader.close()
    # The desktop's own server still showed both: festina only listens.
    [event] = reader.items
    assert isinstance(event, Event) and event.kind is EventKind.NOTIFICATION
    assert (event.app, event.title, event.text) == (
        "Slack",
        "Dana in #billing",
        "can you check the totals?",
    )
    # The offer names the message and who sent it, not the channel alone; the to-do leads
    # with the message.
    offer = first_offer(event)
    assert offer.key == "notification-todo"
    assert "'can you check the totals?' from Dana in #billing" in offer.speak
    [todo] = offer.plan
    assert todo.args == {"text": "can you check the totals? (Dana in #billing)"}


async def test_the_bus_going_away_is_a_fault_and_its_return_is_picked_up(tmp_path, caplog):
    socket = tmp_path / "bus"
    with caplog.at_level(logging.INFO, logger="festina.sources.notifications"):
        with session_bus(socket) as address:
            reader = Reader(NotificationSource(address))
            await eventually(lambda: reader.source.watching, timeout=10)
            async with notification_server(address):
                await notify(address, "Mail", "New mail", "from Lee: the report")
                await eventually(lambda: len(reader.items) == 1, timeout=10)
        # The bus is gone: the source keeps trying, counting each failed try.
        await eventually(lambda: reader.source.faults >= 2, timeout=20, unless=reader.task)
        socket.unlink(missing_ok=True)
        with session_bus(socket) as address:
            await eventually(lambda: reader.source.watching, timeout=20)
            async with notification_server(address):
                await notify(address, "Mail", "New mail", "from Dana: lunch?")
                await eventually(lambda: len(reader.items) == 2, timeout=10)
            await reader.close()
    assert [item.text for item in reader.items] == [  # type: ignore[union-attr]
        "from Lee: the report",
        "from Dana: lunch?",
    ]
    messages = [record.message for record in caplog.records]
    assert any("back after" in message for message in messages)


async def test_without_a_session_bus_the_reason_is_logged_once(monkeypatch, caplog):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    source = NotificationSource()
    reader = Reader(source)
    with caplog.at_level(logging.WARNING, logger="festina.sources.notifications"):
        await eventually(lambda: source.faults >= 1, timeout=10, unless=reader.task)
        await reader.close()
    [record] = caplog.records
    assert "no session bus (DBUS_SESSION_BUS_ADDRESS is not set)" in record.message


def test_notify_calls_that_cannot_be_events_are_rejections_and_festinas_own_are_skipped():
    now = datetime.now(UTC)
    short = to_item(["app", 0, ""], 1, now)
    assert isinstance(short, Rejection) and short.reason == "a Notify call with too few arguments"
    empty = to_item(["Mail", 0, "", "", "<b></b>"], 2, now)  # nothing to say at all
    assert isinstance(empty, Rejection) and "at least one of text, title or url" in empty.reason
    assert to_item([APP_NAME, 0, "", "Shall I help?", "..."], 3, now) is None
    event = to_item([" Mail ", 0, "", " New message ", "<i>Lunch</i> at 12?"], 4, now)
    assert (event.app, event.title, event.text) == ("Mail", "New message", "Lunch at 12?")
