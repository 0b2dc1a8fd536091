"""A private D-Bus session with a freedesktop notification server that records what it is
asked to show and can press a notification's buttons, as a user would."""

# dbus_fast reads D-Bus signatures from string annotations ("s", "as", "a{sv}"...).
# ruff: noqa: F821, F722
import contextlib
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method
from dbus_fast.service import signal as dbus_signal


@dataclass
class Shown:
    id: int
    app: str
    title: str
    body: str
    actions: dict[str, str]  # action key -> button label


class NotificationServer(ServiceInterface):
    def __init__(self, *, actions: bool = True) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.actions = actions
        self.shown: list[Shown] = []

    @method()
    def GetCapabilities(self) -> "as":
        return ["body", "actions"] if self.actions else ["body"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["festina-test", "festina", "1.0", "1.2"]

    @method()
    def Notify(
        self,
        app_name: "s",
        replaces_id: "u",
        app_icon: "s",
        summary: "s",
        body: "s",
        actions: "as",
        hints: "a{sv}",
        expire_timeout: "i",
    ) -> "u":
        pairs = dict(zip(actions[::2], actions[1::2], strict=True))
        self.shown.append(Shown(len(self.shown) + 1, app_name, summary, body, pairs))
        return len(self.shown)

    @method()
    def CloseNotification(self, id: "u") -> None:
        pass

    @dbus_signal()
    def ActionInvoked(self, id: int, action_key: str) -> "us":
        return [id, action_key]

    @dbus_signal()
    def NotificationClosed(self, id: int, reason: int) -> "uu":
        return [id, reason]

    def press(self, shown: Shown, label: str) -> None:
        """The user presses the button labelled `label`."""
        key = next(key for key, text in shown.actions.items() if text == label)
        self.ActionInvoked(shown.id, key)


@contextlib.contextmanager
def session_bus(socket: Path | None = None) -> Iterator[str]:
    """A private session bus for one test; its address. At `socket`, a bus started again
    there has the same address (a session restarted)."""
    binary = shutil.which("dbus-daemon")
    if binary is None:
        pytest.skip("dbus-daemon not installed (apt-get install dbus-daemon)")
    where = [f"--address=unix:path={socket}"] if socket is not None else []
    daemon = subprocess.Popen(
        [binary, "--session", "--nofork", *where, "--print-address=1", "--print-pid=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert daemon.stdout is not None
    address = daemon.stdout.readline().strip()
    try:
        yield address
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)


@contextlib.asynccontextmanager
async def notification_server(address: str, **options) -> AsyncIterator[NotificationServer]:
    bus = await MessageBus(bus_address=address).connect()
    server = NotificationServer(**options)
    bus.export("/org/freedesktop/Notifications", server)
    await bus.request_name("org.freedesktop.Notifications")
    try:
        yield server
    finally:
        bus.disconnect()
