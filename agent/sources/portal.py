"""Whether a Wayland session offers the desktop portal's Screenshot interface.

festina reads the screen through X11 only. On a Wayland session without XWayland the
screen source cannot capture anything, and its error should say what is missing and what
the session does have: xdg-desktop-portal's `org.freedesktop.portal.Screenshot` on the
session bus, which festina does not use yet.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SCREENSHOT = "org.freedesktop.portal.Screenshot"
# Asking activates the portal where it is installed but not running: a second or so.
TIMEOUT_S = 5.0


def session_bus_address() -> str | None:
    """The session bus: DBUS_SESSION_BUS_ADDRESS, else systemd's socket under
    XDG_RUNTIME_DIR (where Wayland sessions usually leave it); None when neither is there."""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and (Path(runtime) / "bus").exists():
        return f"unix:path={Path(runtime) / 'bus'}"
    return None


def screenshot_portal(address: str | None = None, timeout_s: float = TIMEOUT_S) -> str:
    """What the session bus says of the Screenshot portal, as a clause of an error message.

    Runs on a thread of its own, so it may be called from inside an event loop too."""
    address = address or session_bus_address()
    if address is None:
        return (
            "no session bus to look for the desktop portal on (DBUS_SESSION_BUS_ADDRESS is not set)"
        )
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _ask(address, timeout_s)).result()


async def _ask(address: str, timeout_s: float) -> str:
    try:
        bus = await asyncio.wait_for(MessageBus(bus_address=address).connect(), timeout_s)
    except Exception as error:  # dbus-fast raises OS, auth and address errors alike
        return f"no session bus to look for the desktop portal on ({type(error).__name__})"
    try:
        reply = await asyncio.wait_for(
            bus.call(
                Message(
                    destination=PORTAL,
                    path=PORTAL_PATH,
                    interface="org.freedesktop.DBus.Introspectable",
                    member="Introspect",
                )
            ),
            timeout_s,
        )
    except TimeoutError:
        return f"the desktop portal ({PORTAL}) did not answer on the session bus"
    finally:
        bus.disconnect()
    if reply is None or reply.message_type == MessageType.ERROR:
        return (
            f"the session bus has no desktop portal ({PORTAL}) either; festina does not "
            "capture through one yet"
        )
    if f'"{SCREENSHOT}"' in str(reply.body[0]):
        return (
            f"the desktop portal's Screenshot interface ({SCREENSHOT}) is on the session "
            "bus, but festina does not capture through it yet"
        )
    return (
        f"the desktop portal ({PORTAL}) has no Screenshot interface ({SCREENSHOT}); "
        "festina does not capture through the portal yet in any case"
    )
