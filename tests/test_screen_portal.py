"""The screen source on Wayland, capturing through the desktop portal: a real private
dbus-daemon, a stand-in portal on it (tests/desktop_portal.py) that writes real PNG
screenshots of rendered text, the real screen source asking it and the real tesseract
reading them. Capture is opt-in, and made only while window events say which window is in
front and the privacy rules allow it; the stand-in counts the calls, so "never captured"
means never asked for. Refusals, and the bus going away and coming back, are faults the
source lives through."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import PrivacySettings, Settings
from agent.privacy import ExclusionRules
from agent.sources import open_sources
from agent.sources.backend import BackendUnavailable
from agent.sources.merge import MergedSource
from agent.sources.portal import removable, request_path
from agent.sources.screen import ScreenSource
from core.events import Event, EventKind
from core.sources import EventSource, Rejection
from tests.desktop_portal import screenshot_portal
from tests.helpers import eventually
from tests.notification_server import session_bus

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("dbus-daemon", "tesseract")),
    reason="needs dbus-daemon and tesseract (Debian: dbus-daemon, tesseract-ocr)",
)

TRACEBACK = """\
Traceback (most recent call last):
  File "/home/dana/shop/invoice.py", line 42, in total
KeyError: 'price'"""
LINKER = "/usr/bin/ld: cannot find -lssl: No such file or directory"
START = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def _window(app: str, title: str, seconds: int = 0, **fields) -> Event:
    return Event(
        time=START + timedelta(seconds=seconds),
        source="http",
        kind=EventKind.WINDOW,
        app=app,
        title=title,
        **fields,
    )


def _tab(url: str, seconds: int = 0) -> Event:
    """The browser's current tab, as ActivityWatch's web watcher reports it."""
    return Event(
        time=START + timedelta(seconds=seconds),
        source="activitywatch:aw-watcher-web-firefox",
        kind=EventKind.BROWSER,
        app="firefox",
        title=url,
        url=url,
    )


@pytest.fixture
def wayland(monkeypatch):
    """A Wayland session without XWayland on a private session bus; its address."""
    with session_bus() as address:
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address


def _screen(**privacy) -> ScreenSource:
    rules = ExclusionRules.from_settings(PrivacySettings(**privacy))
    return ScreenSource(rules=rules, interval_s=0.5, wayland_portal=True)


class _Reader:
    """Reads a live source in the background, telling it what was stored as the pipeline
    does; the screen's events apart from the rest."""

    def __init__(self, source: EventSource) -> None:
        self.source = source
        self.screen: list[Event] = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for item in self.source.items():
            assert isinstance(item, Event), item
            self.source.recorded([item.id])
            if item.source == "screen":
                self.screen.append(item)

    async def until(self, condition, timeout: float = 60) -> None:
        await eventually(condition, timeout=timeout, unless=self.task)

    async def close(self) -> None:
        await self.source.close()
        await asyncio.wait_for(self.task, 30)


async def test_the_window_in_front_is_captured_through_the_portal_and_read(wayland, tmp_path):
    settings = Settings(
        daemon={"source": ["screen", "http"]},
        api={"token": "t" * 32},
        screen={"interval_s": 0.5, "wayland_portal": True},
    )
    async with screenshot_portal(wayland, tmp_path, TRACEBACK) as portal:
        merged, ingest = open_sources(settings)
        assert isinstance(merged, MergedSource) and ingest is not None
        reader = _Reader(merged)
        # The window in front, as a watcher posting to the HTTP API reports it.
        await ingest.submit([_window("code", "invoice.py - shop")], timeout_s=5)
        await reader.until(lambda: reader.screen)
        [event] = reader.screen
        assert (event.kind, event.app, event.title) == (EventKind.TEXT, "code", "invoice.py - shop")
        assert "KeyError: 'price'" in event.text.splitlines()
        assert event.attributes["captured"] == "portal"
        assert event.attributes["region"] == {"left": 0, "top": 0, "width": 1024, "height": 600}
        assert portal.options["interactive"] is False
        assert str(portal.options["handle_token"]).startswith("festina_")
        # The portal's file, written for festina's request in a temporary folder, is gone.
        assert portal.written and not any(file.exists() for file in portal.written)
        # The same screen again: asked for, not read again; new text: only it is new.
        screen = next(s for s in merged.sources if isinstance(s, ScreenSource))
        calls = portal.calls
        await reader.until(lambda: portal.calls >= calls + 2)
        assert screen.counts.unchanged >= 1 and len(reader.screen) == 1
        portal.text = TRACEBACK + "\n" + LINKER
        await reader.until(lambda: len(reader.screen) == 2)
        assert reader.screen[1].text == LINKER
        # Every screenshot asked for came: not one failed and was retried.
        assert screen.faults == 0 and portal.calls == len(portal.written)
        await reader.close()


@pytest.mark.parametrize(
    ("seen", "privacy", "count"),
    [
        ([], {}, "unknown"),  # no window event has said which window is in front
        ([_window("KeePassXC", "Passwords")], {"exclude_apps": ["keepassxc"]}, "excluded"),
        ([_window("code", "salary review.ods")], {"exclude_titles": ["salary"]}, "excluded"),
        ([_window("firefox", "News — Mozilla Firefox Private Browsing")], {}, "excluded"),
        # The browser's current tab is excluded: it may be on the screen, so nothing is.
        (
            [
                _window("firefox", "Online banking — Mozilla Firefox"),
                _tab("https://bank.example/accounts"),
            ],
            {"exclude_urls": [r"bank\.example"]},
            "excluded",
        ),
        # A record the window's reporter rejected may have been the next window: unknown.
        (
            [_window("code", "notes.md"), Rejection("http", 2, "title too long", "{}")],
            {},
            "unknown",
        ),
        # The newest window event (by its time) is the one in front, not the last to come.
        (
            [_window("KeePassXC", "Passwords", 10), _window("code", "notes.md", 5)],
            {"exclude_apps": ["keepassxc"]},
            "excluded",
        ),
    ],
)
async def test_no_screenshot_is_asked_for_unless_the_window_in_front_is_known_and_allowed(
    wayland, tmp_path, seen, privacy, count
):
    async with screenshot_portal(wayland, tmp_path, TRACEBACK) as portal:
        source = _screen(**privacy)
        for event in seen:
            source.observed(event)
        for _ in range(4):
            assert await source.poll() == []
        assert portal.calls == 0
        assert getattr(source.counts, count) == 4
        # An allowed window in front and an allowed tab, newer: now the portal is asked.
        source.observed(_window("xterm", "pytest - shop", 60))
        source.observed(_tab("https://docs.python.org/3/", 60))
        [event] = await source.poll()
        assert portal.calls == 1 and "KeyError: 'price'" in event.text
        assert event.kind is EventKind.TERMINAL  # xterm is a terminal: read as one
        await source.close()


async def test_without_the_opt_in_nothing_is_asked_and_the_reason_says_how(wayland, tmp_path):
    rules = ExclusionRules.from_settings(PrivacySettings())
    async with screenshot_portal(wayland, tmp_path, TRACEBACK) as portal:
        source = ScreenSource(rules=rules, interval_s=0.5)
        source.observed(_window("code", "invoice.py - shop"))
        with pytest.raises(BackendUnavailable) as raised:
            await source.poll()
        await source.close()
    assert portal.calls == 0
    assert (
        "the desktop portal's Screenshot interface (org.freedesktop.portal.Screenshot) is on "
        "the session bus, but festina captures through it only with [screen] "
        "wayland_portal = true"
    ) in str(raised.value)


async def test_a_window_changing_during_the_capture_drops_the_frame_unread(wayland, tmp_path):
    async with screenshot_portal(wayland, tmp_path, TRACEBACK) as portal:
        source = _screen(exclude_apps=["keepassxc"])
        source.observed(_window("code", "invoice.py - shop"))
        answer = portal._respond

        def switched(path: str) -> None:  # the user switches windows during the capture
            source.observed(_window("KeePassXC", "Passwords", 1))
            answer(path)

        portal._respond = switched  # type: ignore[method-assign]
        assert await source.poll() == []
        assert (portal.calls, source.counts.unknown, source.counts.read) == (1, 1, 0)
        assert not portal.written[0].exists()  # taken, not read, and deleted
        await source.close()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1, "the desktop portal refused the screenshot (response 1: permission denied"),
        (2, "the desktop portal ended the screenshot request without one (response 2"),
    ],
)
async def test_a_refusing_portal_is_a_counted_fault_and_capture_resumes_when_allowed(
    wayland, tmp_path, caplog, code, reason
):
    with caplog.at_level(logging.INFO, logger="festina.sources.screen"):
        async with screenshot_portal(wayland, tmp_path, TRACEBACK) as portal:
            portal.response = code
            source = _screen()
            source.observed(_window("code", "invoice.py - shop"))
            reader = _Reader(source)
            await reader.until(lambda: source.faults >= 2)
            assert reader.screen == [] and not portal.written
            portal.response = 0  # the user allows it in the desktop's settings
            await reader.until(lambda: reader.screen)
            await reader.close()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [reason in message for message in warned] == [True]  # once, not per try
    assert any("back after" in record.getMessage() for record in caplog.records)


async def test_the_bus_going_away_is_a_fault_and_capture_resumes_when_it_returns(
    monkeypatch, tmp_path, caplog
):
    socket = tmp_path / "bus"
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    # The session's address, as systemd's user bus names it: the same after a restart.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={socket}")
    with caplog.at_level(logging.INFO, logger="festina.sources.screen"):
        with session_bus(socket) as address:
            source = _screen()
            source.observed(_window("code", "invoice.py - shop"))
            reader = _Reader(source)
            async with screenshot_portal(address, tmp_path, TRACEBACK):
                await reader.until(lambda: len(reader.screen) == 1)
        await reader.until(lambda: source.faults >= 2)
        with session_bus(socket) as again:
            async with screenshot_portal(again, tmp_path, LINKER):
                await reader.until(lambda: len(reader.screen) == 2)
        await reader.close()
    assert reader.screen[1].text == LINKER
    messages = [record.getMessage() for record in caplog.records]
    assert any("back after" in message for message in messages)


async def test_the_bus_going_away_during_a_request_ends_its_wait_at_once(monkeypatch, tmp_path):
    socket = tmp_path / "bus"
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={socket}")
    source = _screen()
    source.observed(_window("code", "invoice.py - shop"))
    with session_bus(socket):
        async with screenshot_portal(f"unix:path={socket}", tmp_path, TRACEBACK) as portal:
            portal.response = None  # the request stays open
            polling = asyncio.ensure_future(source.poll())
            await eventually(lambda: portal.calls == 1, unless=polling)
    # Well before the 60 s the portal is given to answer.
    with pytest.raises(BackendUnavailable, match="the session bus went away while"):
        await asyncio.wait_for(polling, 20)
    await source.close()


async def test_a_portal_keeping_its_files_outside_temporary_folders_stops_capture(
    wayland, tmp_path, monkeypatch, caplog
):
    # Temporary and cache folders elsewhere: the stand-in's folder is like ~/Pictures.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    monkeypatch.setenv("XDG_CACHE_HOME", str(elsewhere))
    pictures = tmp_path / "Pictures"
    pictures.mkdir()
    with caplog.at_level(logging.WARNING, logger="festina.sources.screen"):
        async with screenshot_portal(wayland, pictures, TRACEBACK) as portal:
            source = _screen()
            source.observed(_window("code", "invoice.py - shop"))
            [event] = await source.poll()  # this frame was allowed: it is read
            assert "KeyError: 'price'" in event.text
            with pytest.raises(BackendUnavailable, match=f"keeps its screenshots in {pictures}"):
                await source.poll()
            await source.close()
    assert portal.calls == 1 and portal.written[0].exists()  # the user's folder untouched


def test_what_festina_may_delete_of_the_portals_files(tmp_path):
    shot = tmp_path / "Screenshot.png"
    shot.write_bytes(b"png")
    written = shot.stat().st_mtime
    assert removable(shot, written)
    assert not removable(shot, written + 60)  # older than the request: not the portal's
    link = tmp_path / "link.png"
    link.symlink_to(shot)
    assert not removable(link, written)
    assert not removable(tmp_path / "gone.png", written)
    home = Path.home() / "festina-test-not-written"
    assert not removable(home, written)
    assert os.path.commonpath([tmp_path, tempfile.gettempdir()]) == tempfile.gettempdir()


def test_the_request_path_is_the_callers_bus_name_and_token():
    assert request_path(":1.42", "festina_ab12") == (
        "/org/freedesktop/portal/desktop/request/1_42/festina_ab12"
    )
