"""Desktop notifications as events (`notifications`), seen on the D-Bus session bus.

Every freedesktop notification is a `Notify` call to org.freedesktop.Notifications.
festina watches those calls as a bus monitor (org.freedesktop.DBus.Monitoring, the way
`dbus-monitor` does): it sees what is shown without standing in for the notification
server, so the desktop's own server still shows everything. festina's own notifications
are left out. The bus going away (log out, a restarted session) is a fault: counted,
logged once, and the monitor comes back when the bus does.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus
from pydantic import ValidationError

from agent.notify import APP_NAME
from agent.sources.backend import BackendHealth
from core.events import Event, EventKind, describe_validation_error
from core.sources import EventSource, Rejection, SourceItem

logger = logging.getLogger("festina.sources.notifications")

NOTIFY_RULE = "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"
RETRY_S = 2.0
# Bodies may carry the small markup the specification allows (<b>, <i>, <a href=...>).
_TAG = re.compile(r"<[^>]{0,200}>")


def plain(body: str) -> str:
    """A notification body without its markup."""
    return html.unescape(_TAG.sub("", body)).strip()


def to_item(args: list[object], position: int, now: datetime) -> SourceItem | None:
    """A Notify call's arguments as an event; None for festina's own notifications."""
    raw = repr(args[:5])
    try:
        app, _replaces, _icon, summary, body = (str(value) for value in args[:5])
    except ValueError:
        return Rejection("notifications", position, "a Notify call with too few arguments", raw)
    if app == APP_NAME:
        return None
    try:
        return Event(
            time=now,
            source="notifications",
            kind=EventKind.NOTIFICATION,
            app=app.strip()[:512] or None,
            title=summary.strip()[:512] or None,
            text=plain(body)[:4000],
        )
    except ValidationError as error:
        return Rejection("notifications", position, describe_validation_error(error), raw)


class NotificationSource(EventSource):
    """Notifications shown on the session bus at `address` (default: this session's)."""

    def __init__(self, address: str | None = None) -> None:
        self.name = "notifications"
        self._address = address
        self._health = BackendHealth(logger, "notifications", retry_s=RETRY_S)
        # None marks the end, put there by close().
        self._queue: asyncio.Queue[SourceItem | None] = asyncio.Queue()
        self._bus: MessageBus | None = None
        self._monitoring = False
        self._closed = asyncio.Event()
        self._positions = 0

    @property
    def faults(self) -> int:
        return self._health.faults

    @property
    def watching(self) -> bool:
        """Connected to the bus as a monitor now."""
        return self._monitoring

    async def items(self) -> AsyncIterator[SourceItem]:
        watcher = asyncio.create_task(self._watch())
        try:
            while (item := await self._queue.get()) is not None:
                yield item
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _watch(self) -> None:
        """Monitor the bus until closed, reconnecting whenever it goes away."""
        while not self._closed.is_set():
            try:
                await self._monitor_once()
                reason = "the session bus closed the connection"
            except (OSError, EOFError, ValueError) as error:
                reason = f"cannot monitor the session bus: {error}"
            except Exception as error:  # dbus-fast's own errors (auth, refused monitor)
                reason = f"cannot monitor the session bus: {type(error).__name__}: {error}"
            if self._closed.is_set():
                return
            wait_s = self._health.failed(reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), timeout=wait_s)

    async def _monitor_once(self) -> None:
        address = self._address or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            raise ValueError("no session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
        bus = await MessageBus(bus_address=address).connect()
        self._bus = bus
        try:
            bus.add_message_handler(self._on_message)
            reply = await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus.Monitoring",
                    member="BecomeMonitor",
                    signature="asu",
                    body=[[NOTIFY_RULE], 0],
                )
            )
            if reply is None or reply.message_type is MessageType.ERROR:
                why = reply.error_name if reply is not None else "no answer"
                raise ValueError(f"the bus refused to make festina a monitor ({why})")
            self._health.ok()
            self._monitoring = True
            logger.info("watching desktop notifications on %s", address)
            if not self._closed.is_set():  # closed while connecting: nobody would disconnect
                await bus.wait_for_disconnect()
        finally:
            self._bus, self._monitoring = None, False
            bus.disconnect()

    def _on_message(self, message: Message) -> bool:
        # A monitor only listens: True tells dbus-fast the call is handled, so it sends no
        # "unknown method" reply (the bus closes a monitor that sends anything).
        if message.message_type is not MessageType.METHOD_CALL:
            return False
        if message.interface == "org.freedesktop.Notifications" and message.member == "Notify":
            self._positions += 1
            item = to_item(list(message.body), self._positions, datetime.now(UTC))
            if item is not None:
                self._queue.put_nowait(item)
        return True

    async def close(self) -> None:
        self._closed.set()
        if self._bus is not None:
            self._bus.disconnect()
        self._queue.put_nowait(None)
