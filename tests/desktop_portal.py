"""A stand-in for xdg-desktop-portal on a private session bus: its Screenshot interface.

It answers `Screenshot` as the real portal does: a request object path (the predictable
one, from the caller's bus name and its handle token) at once, then the request's
`Response` signal, here with a real PNG file it has just written, the screen showing
`text` drawn by Pillow in a monospace font; or the refusal it is told to give. It counts
the calls, so a test can tell that none was made."""

# dbus_fast reads D-Bus signatures from string annotations ("s", "a{sv}", "o").
# ruff: noqa: F821, F722
import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method

SCREENSHOT = "org.freedesktop.portal.Screenshot"
REQUEST = "org.freedesktop.portal.Request"


class ScreenshotPortal(ServiceInterface):
    """The interface as introspection shows it; the calls are answered by `StandInPortal`,
    which needs the caller's bus name (a service method is not told it)."""

    def __init__(self) -> None:
        super().__init__(SCREENSHOT)

    @method()
    def Screenshot(self, parent_window: "s", options: "a{sv}") -> "o":
        raise AssertionError("answered by StandInPortal._on_message")


class StandInPortal:
    """What the stand-in shows and answers; `calls` counts the Screenshot calls."""

    def __init__(self, bus: MessageBus, folder: Path, text: str) -> None:
        self.bus = bus
        self.folder = folder
        #: What the screen shows.
        self.text = text
        #: The response code to give: 0 success, 1 permission denied, 2 cancelled; None
        #: for none at all (a dialog nobody answers).
        self.response: int | None = 0
        self.calls = 0
        #: The files written, in order.
        self.written: list[Path] = []
        #: Options of the last call.
        self.options: dict[str, object] = {}

    def _on_message(self, message: Message) -> Message | bool:
        if not (
            message.message_type is MessageType.METHOD_CALL
            and message.interface == SCREENSHOT
            and message.member == "Screenshot"
        ):
            return False
        self.calls += 1
        self.options = {key: value.value for key, value in message.body[1].items()}
        sender = str(message.sender).removeprefix(":").replace(".", "_")
        path = f"/org/freedesktop/portal/desktop/request/{sender}/{self.options['handle_token']}"
        # The Response comes after the reply, as from a portal asking its backend.
        asyncio.get_running_loop().call_soon(self._respond, path)
        return Message.new_method_return(message, "o", [path])

    def _respond(self, path: str) -> None:
        if self.response is None:
            return
        results: dict[str, Variant] = {}
        if self.response == 0:
            file = self.folder / f"Screenshot-{len(self.written) + 1}.png"
            render(self.text, file)
            self.written.append(file)
            results["uri"] = Variant("s", file.as_uri())
        # Broadcast, so the caller's subscription is what brings it the answer.
        self.bus.send(
            Message(
                message_type=MessageType.SIGNAL,
                path=path,
                interface=REQUEST,
                member="Response",
                signature="ua{sv}",
                body=[self.response, results],
            )
        )


def render(text: str, file: Path) -> None:
    """A 1024x600 screen with `text` on it, dark on light, 20 px DejaVu Sans Mono."""
    from PIL import Image, ImageDraw, ImageFont

    matcher = shutil.which("fc-match")
    font_file = (
        subprocess.run(
            [matcher, "--format=%{file}", "DejaVu Sans Mono"], capture_output=True, text=True
        ).stdout
        if matcher
        else ""
    )
    font = ImageFont.truetype(font_file, 20) if font_file else ImageFont.load_default(20)
    image = Image.new("RGB", (1024, 600), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(text.splitlines()):
        draw.text((40, 40 + number * 28), line, fill=(20, 20, 20), font=font)
    image.save(file)


@contextlib.asynccontextmanager
async def screenshot_portal(
    address: str, folder: Path | None = None, text: str = ""
) -> AsyncIterator[StandInPortal]:
    """The portal's Screenshot interface on the bus at `address`, while inside; its
    screenshots written to `folder`."""
    bus = await MessageBus(bus_address=address).connect()
    portal = StandInPortal(bus, folder or Path("/nonexistent"), text)
    bus.add_message_handler(portal._on_message)
    bus.export("/org/freedesktop/portal/desktop", ScreenshotPortal())
    await bus.request_name("org.freedesktop.portal.Desktop")
    try:
        yield portal
    finally:
        bus.disconnect()
