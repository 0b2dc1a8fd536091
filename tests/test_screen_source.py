"""The screen source against a real X server (Xvfb) with a real xterm showing a Python
traceback, read by the real tesseract; privacy rules applied before any capture, for the
window in front and for the whole screen; the X server killed and started again; on
Wayland without an X server, the reason names what is missing (a real private session bus,
with and without a desktop portal on it; capture through the portal: test_screen_portal)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from agent.config import PrivacySettings
from agent.privacy import ExclusionRules
from agent.sources.backend import BackendUnavailable
from agent.sources.screen import ScreenSource, Window, X11Display, signature, unchanged
from core.events import Event, EventKind
from tests.desktop_portal import screenshot_portal
from tests.helpers import eventually, wait_for
from tests.notification_server import session_bus

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("Xvfb", "xterm", "tesseract")),
    reason="needs Xvfb, xterm and tesseract (Debian: xvfb, xterm, tesseract-ocr)",
)

TRACEBACK = """\
$ pytest tests/test_invoice.py
Traceback (most recent call last):
  File "/home/dana/shop/invoice.py", line 42, in total
    return sum(item["price"] * item["qty"] for item in items)
KeyError: 'price'
"""
LINKER = """\
$ make build
/usr/bin/ld: cannot find -lssl: No such file or directory
collect2: error: ld returned 1 exit status
"""


@contextlib.contextmanager
def xvfb(number: int | None = None) -> Iterator[str]:
    """A virtual X server; its display name. `number` reuses a display's name."""
    # -noreset: by default Xvfb resets once its last client leaves (the readiness probe
    # below), and a client connecting during the reset is refused ("connection reset").
    command = ["Xvfb", "-screen", "0", "1024x600x24", "-nolisten", "tcp", "-noreset"]
    if number is None:
        command += ["-displayfd", "1"]
    else:
        command.insert(1, f":{number}")
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        if number is None:
            assert server.stdout is not None
            number = int(server.stdout.readline())
        name = f":{number}"
        wait_for(lambda: _answers(name), timeout=20)
        yield name
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(name: str) -> bool:
    try:
        X11Display(name).close()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def xterm(
    display: str, title: str, script: str, geometry: str = "90x12+0+0", *options: str
) -> Iterator[None]:
    """An xterm in front, running `script` in sh, with a font tesseract reads well."""
    process = subprocess.Popen(
        [
            *("xterm", "-display", display, "-geometry", geometry, *options),
            *("-fa", "DejaVu Sans Mono", "-fs", "11", "-T", title),
            *("-e", "sh", "-c", script + "; sleep 600"),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


class CountingDisplay(X11Display):
    """The real display, counting the frames it is asked to capture."""

    grabs = 0

    def grab(self, window: Window) -> np.ndarray:
        type(self).grabs += 1
        return super().grab(window)


def _source(display: str, **privacy) -> ScreenSource:
    rules = ExclusionRules.from_settings(PrivacySettings(**privacy))
    return ScreenSource(rules=rules, interval_s=0.5, open_display=lambda: X11Display(display))


async def _next_events(source: ScreenSource, timeout: float = 30) -> list[Event]:
    """Poll until the source reads something (the xterm takes a moment to draw)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        items = await source.poll()
        if items:
            assert all(isinstance(event, Event) for event in items)
            return items
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing read within {timeout} s: {source.counts}")


async def _next_event(source: ScreenSource, timeout: float = 30) -> Event:
    [event] = await _next_events(source, timeout)
    return event


def _holding(events: list[Event], words: str) -> Event | None:
    return next((event for event in events if words in event.text), None)


async def test_a_traceback_in_an_xterm_becomes_an_event_holding_the_exception(tmp_path):
    (tmp_path / "first.txt").write_text(TRACEBACK)
    (tmp_path / "second.txt").write_text(LINKER)
    go = tmp_path / "go"
    script = f"cat {tmp_path / 'first.txt'}; while [ ! -e {go} ]; do sleep 0.1; done; "
    script += f"cat {tmp_path / 'second.txt'}"
    with xvfb() as display, xterm(display, "pytest - shop", script):
        source = _source(display)
        event = await _next_event(source)
        assert (event.kind, event.app, event.title) == (
            EventKind.TERMINAL,
            "XTerm",
            "pytest - shop",
        )
        lines = event.text.splitlines()
        assert "KeyError: 'price'" in lines
        assert "$ pytest tests/test_invoice.py" in lines
        region = event.attributes["region"]
        assert region["left"] <= 1 and region["width"] > 500 and region["height"] > 100
        # Nothing changed on the screen: the frame is not read again.
        read = source.counts.read
        assert await source.poll() == []
        assert (source.counts.read, source.counts.unchanged) == (read, 1)
        # New output: only the new lines make the next event.
        go.touch()
        later = await _next_event(source)
        assert "/usr/bin/ld: cannot find -lssl: No such file or directory" in later.text
        assert "KeyError" not in later.text
        await source.close()


@pytest.mark.parametrize(
    ("title", "privacy"),
    [
        ("notes - secret", {"exclude_apps": ["xterm"]}),
        # WM_CLASS's other name (xterm -name): ("notes-term", "XTerm")
        ("notes", {"exclude_apps": ["notes-term"]}),
        ("salary review", {"exclude_titles": ["salary"]}),
        ("Mozilla Firefox (Private Browsing)", {}),
    ],
)
async def test_excluded_and_private_windows_are_never_captured(tmp_path, title, privacy):
    (tmp_path / "first.txt").write_text(TRACEBACK)
    cat = f"cat {tmp_path / 'first.txt'}"
    with xvfb() as display, xterm(display, title, cat, "90x12+0+0", "-name", "notes-term"):
        rules = ExclusionRules.from_settings(PrivacySettings(**privacy))
        CountingDisplay.grabs = 0
        source = ScreenSource(rules=rules, open_display=lambda: CountingDisplay(display))
        # One connection for the whole wait: a connection per try would leak one each
        # time and, on a slow machine, use up the server's client slots.
        probe = X11Display(display)
        try:
            wait_for(lambda: probe.front_window() is not None, timeout=20)
        finally:
            probe.close()
        for _ in range(5):
            assert await source.poll() == []
        await source.close()
    assert source.counts.excluded == 5
    assert CountingDisplay.grabs == 0


async def test_the_x_server_going_away_is_a_fault_and_its_return_is_picked_up(tmp_path, caplog):
    (tmp_path / "first.txt").write_text(TRACEBACK)
    text = f"cat {tmp_path / 'first.txt'}"
    with caplog.at_level(logging.INFO, logger="festina.sources.screen"):
        with xvfb() as display, xterm(display, "first", text):
            source = _source(display)
            reader = _Reader(source)
            await reader.until(lambda: len(reader.events) == 1)
        await reader.until(lambda: source.faults >= 2)
        with xvfb(int(display[1:])), xterm(display, "second", text):
            await reader.until(lambda: len(reader.events) == 2)
        await reader.close()
    assert [event.title for event in reader.events] == ["first", "second"]
    messages = [record.message for record in caplog.records]
    assert any("back after" in message for message in messages)


async def test_the_whole_screen_is_read_only_while_no_excluded_window_is_on_it(tmp_path):
    (tmp_path / "first.txt").write_text(TRACEBACK)
    (tmp_path / "second.txt").write_text(LINKER)
    first, second = (f"cat {tmp_path / name}" for name in ("first.txt", "second.txt"))
    rules = ExclusionRules.from_settings(PrivacySettings(exclude_titles=["secret"]))
    with xvfb() as display, xterm(display, "pytest - shop", first, "55x8+0+0"):
        CountingDisplay.grabs = 0
        source = ScreenSource(
            rules=rules, region="screen", open_display=lambda: CountingDisplay(display)
        )
        probe = X11Display(display)
        try:
            with xterm(display, "notes - secret", second, "55x8+515+0"):
                wait_for(lambda: len(probe.visible_windows() or []) == 2, timeout=20)
                # The excluded window is not in front, only on the screen: nothing is taken.
                for _ in range(3):
                    assert await source.poll() == []
                assert (source.counts.excluded, CountingDisplay.grabs) == (3, 0)
            wait_for(lambda: len(probe.visible_windows() or []) == 1, timeout=20)
            # Closed, and another window opened beside the first, their lines side by
            # side: every window on the screen is read on its own, as its own event.
            with xterm(display, "build", second, "55x8+515+0"):
                wait_for(lambda: len(probe.visible_windows() or []) == 2, timeout=20)
                events: list[Event] = []
                while not (_holding(events, "KeyError") and _holding(events, "-lssl")):
                    events += await _next_events(source)
        finally:
            probe.close()
        await source.close()
    traceback, linker = _holding(events, "KeyError"), _holding(events, "-lssl")
    assert traceback is not None and linker is not None
    assert (traceback.title, linker.title) == ("pytest - shop", "build")
    assert "KeyError: 'price'" in traceback.text.splitlines()
    assert "-lssl" not in traceback.text and "KeyError" not in linker.text
    assert {event.attributes["captured"] for event in events} == {"screen"}
    assert linker.attributes["region"]["left"] >= 515
    assert source.counts.excluded == 3


class AppearingDisplay(X11Display):
    """The real display, where an excluded window is shown right after a capture: the
    moment between the privacy check and the capture, made long."""

    def __init__(self, name: str, show: Callable[[], None]) -> None:
        super().__init__(name)
        self._show = show

    def grab(self, window: Window) -> np.ndarray:
        gray = super().grab(window)
        self._show()
        return gray


async def test_a_window_shown_during_a_whole_screen_capture_drops_the_frame_unread(tmp_path):
    (tmp_path / "first.txt").write_text(TRACEBACK)
    first = f"cat {tmp_path / 'first.txt'}"
    rules = ExclusionRules.from_settings(PrivacySettings())
    with contextlib.ExitStack() as stack:
        display = stack.enter_context(xvfb())
        stack.enter_context(xterm(display, "pytest - shop", first, "70x8+0+0"))
        probe = X11Display(display)
        stack.callback(probe.close)
        wait_for(lambda: len(probe.visible_windows() or []) == 1, timeout=20)

        def show() -> None:
            private = "Mozilla Firefox (Private Browsing)"
            stack.enter_context(xterm(display, private, first, "70x8+200+300"))
            wait_for(lambda: len(probe.visible_windows() or []) == 2, timeout=20)

        source = ScreenSource(
            rules=rules, region="screen", open_display=lambda: AppearingDisplay(display, show)
        )
        assert await source.poll() == []
        await source.close()
    assert (source.counts.frames, source.counts.excluded, source.counts.read) == (1, 1, 0)


def _on_wayland(monkeypatch, bus: str | None) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    if bus is None:
        monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus)


async def _reason() -> str:
    with pytest.raises(BackendUnavailable) as raised:
        # On a thread: the portal answering the question is served by this event loop.
        await asyncio.to_thread(X11Display)
    message = str(raised.value)
    assert message.startswith("screen capture needs an X server (DISPLAY is not set); on ")
    assert "festina reads the screen only through XWayland" in message
    return message


async def test_on_wayland_without_a_portal_the_reason_names_what_is_missing(monkeypatch):
    with session_bus() as address:
        _on_wayland(monkeypatch, address)
        message = await _reason()
    assert "the session bus has no desktop portal (org.freedesktop.portal.Desktop)" in message
    _on_wayland(monkeypatch, None)
    assert "no session bus to look for the desktop portal on" in await _reason()


async def test_on_wayland_a_screenshot_portal_on_the_bus_is_named_with_its_opt_in(monkeypatch):
    with session_bus() as address:
        _on_wayland(monkeypatch, address)
        async with screenshot_portal(address) as portal:
            message = await _reason()
    assert (
        "the desktop portal's Screenshot interface (org.freedesktop.portal.Screenshot) is on "
        "the session bus, but festina captures through it only with [screen] "
        "wayland_portal = true (off by default"
    ) in message
    assert portal.calls == 0


def test_a_blinking_cursor_is_no_change_but_a_new_line_is():
    frame = np.full((96, 400), 255, np.uint8)
    cursor = frame.copy()
    cursor[80:88, 8:16] = 0
    line = frame.copy()
    line[80:88, 8:200] = 0
    assert unchanged(signature(frame), signature(cursor))
    assert not unchanged(signature(frame), signature(line))


class _Reader:
    """Reads a live source in the background."""

    def __init__(self, source: ScreenSource) -> None:
        self.source = source
        self.events: list[Event] = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for item in self.source.items():
            assert isinstance(item, Event)
            self.events.append(item)

    async def until(self, condition) -> None:
        await eventually(condition, timeout=60, unless=self.task)

    async def close(self) -> None:
        await self.source.close()
        await self.task
