"""A stand-in for xdg-desktop-portal on a private session bus: its Screenshot interface,
for the screen source to find (festina does not capture through it yet)."""

# dbus_fast reads D-Bus signatures from string annotations ("s", "a{sv}", "o").
# ruff: noqa: F821, F722
import contextlib
from collections.abc import AsyncIterator

from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method


class ScreenshotPortal(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.portal.Screenshot")

    @method()
    def Screenshot(self, parent_window: "s", options: "a{sv}") -> "o":
        return "/org/freedesktop/portal/desktop/request/1_1/festina"


@contextlib.asynccontextmanager
async def screenshot_portal(address: str) -> AsyncIterator[None]:
    """The portal's Screenshot interface on the bus at `address`, while inside."""
    bus = await MessageBus(bus_address=address).connect()
    bus.export("/org/freedesktop/portal/desktop", ScreenshotPortal())
    await bus.request_name("org.freedesktop.portal.Desktop")
    try:
        yield
    finally:
        bus.disconnect()
