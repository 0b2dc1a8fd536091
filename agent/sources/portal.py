"""The desktop portal's Screenshot interface: whether a session offers it, and taking a
screenshot through it (a Wayland session's only way, `[screen] wayland_portal`).

A screenshot is asked of xdg-desktop-portal's `org.freedesktop.portal.Screenshot` with
`interactive` false; the answer comes later as a `Response` signal on a request object
whose path festina predicts from its own bus name and a fresh token, and subscribes to
before asking. The portal writes a PNG file and names it; festina reads it in grey and
deletes it, but only a file in a temporary or cache folder that was written since the
request. A portal that keeps its screenshots elsewhere (the user's pictures) would pile
them up there: then festina stops asking and says why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from agent.sources.backend import BackendUnavailable

logger = logging.getLogger("festina.sources.screen")

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SCREENSHOT = "org.freedesktop.portal.Screenshot"
REQUEST = "org.freedesktop.portal.Request"
REQUEST_PREFIX = "/org/freedesktop/portal/desktop/request"
# Asking activates the portal where it is installed but not running: a second or so.
TIMEOUT_S = 5.0
# A portal may ask the user once whether festina may take screenshots: time to answer.
RESPONSE_TIMEOUT_S = 60.0
# A file's time may trail the clock by a coarse file system's resolution.
CLOCK_SLACK_S = 2.0
_REFUSED = {
    1: "the desktop portal refused the screenshot (response 1: permission denied, or the "
    "user said no)",
    2: "the desktop portal ended the screenshot request without one (response 2: cancelled "
    "or failed)",
}


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
    """What the session bus says of the Screenshot portal, as a clause of an error message
    for a session where portal capture is off.

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
        return f"the session bus has no desktop portal ({PORTAL}) either"
    if f'"{SCREENSHOT}"' in str(reply.body[0]):
        return (
            f"the desktop portal's Screenshot interface ({SCREENSHOT}) is on the session "
            "bus, but festina captures through it only with [screen] wayland_portal = true "
            "(off by default: on Wayland festina cannot check the windows on the screen "
            "before capturing)"
        )
    return f"the desktop portal ({PORTAL}) has no Screenshot interface ({SCREENSHOT})"


def request_path(unique_name: str, token: str) -> str:
    """The request object the portal answers on: the caller's bus name without its colon,
    dots as underscores, then the handle token."""
    return f"{REQUEST_PREFIX}/{unique_part(unique_name)}/{token}"


def _temporary_folders() -> list[Path]:
    """Where a file the portal wrote may be deleted: temporary and cache folders."""
    folders = [tempfile.gettempdir(), os.environ.get("XDG_RUNTIME_DIR")]
    folders.append(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"))
    return [Path(folder).resolve() for folder in folders if folder]


def removable(path: Path, since: float) -> bool:
    """Whether festina may delete `path`: a plain file (no link) of this user's, in a
    temporary or cache folder, written at or after `since` (the request's time)."""
    try:
        info = path.lstat()
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        return False
    if info.st_mtime < since - CLOCK_SLACK_S:
        return False
    folder = path.parent.resolve()
    return any(folder.is_relative_to(root) for root in _temporary_folders())


def read_screenshot(uri: str, since: float) -> tuple[np.ndarray, bool]:
    """The portal's screenshot at `uri` in grey, and whether its file was deleted (it is,
    when `removable`)."""
    from PIL import Image  # a tenth of a second to import: only where the portal is used

    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise BackendUnavailable(
            f"the desktop portal named its screenshot by a {parsed.scheme or 'bare'} URI, "
            "not a file"
        )
    path = Path(unquote(parsed.path))
    try:
        with Image.open(path) as image:
            # Luma as ITU-R 601 weighs it, the weights the X11 capture uses.
            gray = np.asarray(image.convert("L"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise BackendUnavailable(
            f"cannot read the desktop portal's screenshot: {type(error).__name__}"
        ) from error
    finally:
        deleted = removable(path, since)
        if deleted:
            path.unlink(missing_ok=True)
    return gray, deleted


class PortalScreenshots:
    """Screenshots of the whole screen through the desktop portal, one bus connection kept
    (made again when the bus comes back)."""

    def __init__(
        self, address: str | None = None, *, response_timeout_s: float = RESPONSE_TIMEOUT_S
    ) -> None:
        self._address = address
        self._response_timeout_s = response_timeout_s
        self._bus: MessageBus | None = None
        # Done when the connection ends: one waiter per connection, which a request's
        # wait must not cancel (that would cancel the bus's own disconnect future).
        self._gone: asyncio.Future[None] | None = None
        # Response signals by request path, for the requests in flight.
        self._responses: dict[str, asyncio.Queue[Message]] = {}
        #: Why festina stopped asking (the portal keeps its files where festina may not
        #: delete them); None while it asks.
        self.stopped: str | None = None

    async def take(self) -> np.ndarray:
        """The whole screen in grey; raises BackendUnavailable saying what is missing or
        what the portal answered."""
        if self.stopped is not None:
            raise BackendUnavailable(self.stopped)
        bus = await self._connected()
        since = time.time()
        try:
            uri = await self._request(bus)
        except BackendUnavailable:
            raise
        except Exception as error:  # the bus went away under the request
            self._drop()
            raise BackendUnavailable(
                f"screen capture through the desktop portal failed: {type(error).__name__}"
            ) from error
        gray, deleted = await asyncio.to_thread(read_screenshot, uri, since)
        if not deleted:
            folder = Path(unquote(urlparse(uri).path)).parent
            self.stopped = (
                f"the desktop portal keeps its screenshots in {folder}, which is not a "
                "temporary or cache folder festina may delete them from: festina stopped "
                "capturing through it so that they do not pile up there"
            )
            logger.warning("screen: %s", self.stopped)
        return gray

    async def _connected(self) -> MessageBus:
        if self._bus is not None and self._bus.connected:
            return self._bus
        self._drop()
        address = self._address or session_bus_address()
        if address is None:
            raise BackendUnavailable(
                "screen capture through the desktop portal needs a session bus "
                "(DBUS_SESSION_BUS_ADDRESS is not set)"
            )
        try:
            bus = await asyncio.wait_for(MessageBus(bus_address=address).connect(), TIMEOUT_S)
            assert bus.unique_name is not None  # set once connected
            bus.add_message_handler(self._on_message)
            # Every answer to a request of this connection's, before any is made.
            await self._bus_call(
                bus,
                "AddMatch",
                f"type='signal',interface='{REQUEST}',member='Response',path_namespace="
                f"'{REQUEST_PREFIX}/{unique_part(bus.unique_name)}'",
            )
        except Exception as error:  # dbus-fast raises OS, auth and address errors alike
            raise BackendUnavailable(
                "screen capture through the desktop portal needs the session bus, which "
                f"cannot be reached ({type(error).__name__})"
            ) from error
        self._bus = bus
        self._gone = asyncio.ensure_future(bus.wait_for_disconnect())
        return bus

    @staticmethod
    async def _bus_call(bus: MessageBus, member: str, rule: str) -> None:
        reply = await asyncio.wait_for(
            bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member=member,
                    signature="s",
                    body=[rule],
                )
            ),
            TIMEOUT_S,
        )
        if reply is None or reply.message_type is MessageType.ERROR:
            raise ValueError(f"the session bus refused {member}")

    async def _request(self, bus: MessageBus) -> str:
        """Ask for a screenshot; the URI of the file the portal wrote."""
        assert bus.unique_name is not None
        token = "festina_" + secrets.token_hex(8)
        predicted = request_path(bus.unique_name, token)
        responses: asyncio.Queue[Message] = asyncio.Queue()
        self._responses[predicted] = responses
        handle = predicted
        try:
            reply = await asyncio.wait_for(
                bus.call(
                    Message(
                        destination=PORTAL,
                        path=PORTAL_PATH,
                        interface=SCREENSHOT,
                        member="Screenshot",
                        signature="sa{sv}",
                        body=[
                            "",
                            {
                                "handle_token": Variant("s", token),
                                "interactive": Variant("b", False),
                            },
                        ],
                    )
                ),
                TIMEOUT_S,
            )
            if reply is None or reply.message_type is MessageType.ERROR:
                raise BackendUnavailable(_call_error(reply.error_name if reply else None))
            # A portal older than the predictable paths answers on another one.
            handle = str(reply.body[0])
            self._responses[handle] = responses
            assert self._gone is not None  # set with the bus
            response = await self._response(responses, reply.sender, bus, handle, self._gone)
        finally:
            self._responses.pop(predicted, None)
            self._responses.pop(handle, None)
        code, results = response.body
        if code != 0:
            raise BackendUnavailable(
                _REFUSED.get(code, f"the desktop portal answered the screenshot with {code}")
            )
        uri = results.get("uri")
        if not isinstance(uri, Variant) or not isinstance(uri.value, str):
            raise BackendUnavailable("the desktop portal's answer named no screenshot file")
        return uri.value

    async def _response(
        self,
        responses: asyncio.Queue[Message],
        portal: str | None,
        bus: MessageBus,
        handle: str,
        gone: asyncio.Future[None],
    ) -> Message:
        """The portal's Response (a signal from anyone else on the bus is not it)."""
        deadline = asyncio.get_running_loop().time() + self._response_timeout_s
        # The bus going away ends the wait at once, not at the deadline.
        while True:
            left = deadline - asyncio.get_running_loop().time()
            getting = asyncio.ensure_future(responses.get())
            await asyncio.wait(
                {getting, gone}, timeout=max(left, 0), return_when=asyncio.FIRST_COMPLETED
            )
            if not getting.done():
                getting.cancel()
                break
            message = getting.result()
            if message.sender == portal and message.signature == "ua{sv}":
                return message
        if gone.done():
            self._drop()
            raise BackendUnavailable(
                "the session bus went away while the desktop portal took the screenshot"
            )
        # Withdraw the request, so a dialog left open does not answer it later.
        bus.send(Message(destination=portal, path=handle, interface=REQUEST, member="Close"))
        raise BackendUnavailable(
            "the desktop portal did not answer the screenshot request within "
            f"{self._response_timeout_s:g} s"
        )

    def _on_message(self, message: Message) -> bool:
        if (
            message.message_type is MessageType.SIGNAL
            and message.interface == REQUEST
            and message.member == "Response"
        ):
            queue = self._responses.get(message.path or "")
            if queue is not None:
                queue.put_nowait(message)
        return False

    def _drop(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None
        # Not cancelled: it waits on the bus's own future, which ends with the connection.
        self._gone = None

    async def close(self) -> None:
        """Let go of the bus."""
        self._drop()


def unique_part(unique_name: str) -> str:
    """A unique bus name as a request path's element (":1.42" -> "1_42")."""
    return unique_name.removeprefix(":").replace(".", "_")


def _call_error(name: str | None) -> str:
    if name in (
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
    ):
        return (
            f"screen capture through the desktop portal needs xdg-desktop-portal ({PORTAL}) "
            "on the session bus, which has none"
        )
    if name in (
        "org.freedesktop.DBus.Error.UnknownMethod",
        "org.freedesktop.DBus.Error.UnknownInterface",
    ):
        return (
            f"the desktop portal has no Screenshot interface ({SCREENSHOT}): its backend for "
            "this desktop does not take screenshots"
        )
    return f"the desktop portal's Screenshot call failed ({name or 'no answer'})"
