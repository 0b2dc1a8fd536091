"""What is on the screen as events (`screen`): the window in front, read by OCR.

Every `interval_s` the source asks the X server which window is in front, and checks it
against the privacy rules *before* capturing anything: an excluded app or title, or a
private browser window, is never captured. Otherwise the window's region is captured
(mss), compared with the previous frame of that window (a coarse signature that a blinking
cursor does not change), and only a changed frame is read by OCR. The event carries only
the lines that are new since that window's earlier frames, with app, title and region.

With `region="screen"` every window shown on the screen is read, each on its own (one
capture of the whole screen, cut into windows; an event per window with new lines), and
only while no window on it is excluded: one excluded or private window anywhere on the
screen, or a list of windows that cannot be known, means the frame is not captured
(checked again after the capture, so a window that appears meanwhile drops the frame
before it is read). Blanking the excluded window's rectangle instead would rely on every
window reporting its geometry truly, and on nothing being drawn over it in between.

On a Wayland session without an X server (DISPLAY unset) no program can list the windows
on the screen, so the rules above cannot be checked before a capture. There the source
captures through the desktop portal only when the user opted in (`wayland_portal`), and
then only while other sources' window events say which window is in front and the rules
allow that window (and the browser's current tab): the portal's screenshot is the whole
screen, read as one frame and named after that window. A window that changes during the
capture drops the frame unread. Windows behind the one in front cannot be checked. Without
the opt-in the source says what is missing and captures nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import ValidationError

from agent.privacy import ExclusionRules
from agent.sources.backend import BackendUnavailable, PollingSource
from agent.sources.focus import Focus, FocusWatch
from agent.sources.ocr import OcrUnavailable, TesseractOcr
from agent.sources.portal import PortalScreenshots, screenshot_portal
from core.events import MAX_TEXT_CHARS, Event, EventKind, describe_validation_error
from core.sources import Rejection, SourceItem

logger = logging.getLogger("festina.sources.screen")

#: What the source reads: the window in front, or the whole screen.
Region = Literal["window", "screen"]

# Frames are compared in cells of this many pixels a side; a frame is unchanged when at
# most CURSOR_CELLS cells differ by more than CELL_LEVELS grey levels (a cursor, a clock).
CELL_PX = 8
CELL_LEVELS = 8
CURSOR_CELLS = 2
# What a portal screenshot is remembered by: it is always the whole screen.
PORTAL_FRAME = 0
# Lines remembered per window, and windows remembered, to tell new text from old.
SEEN_LINES = 500
SEEN_WINDOWS = 32
# WM_CLASS names of terminal emulators: their text is a terminal's, commands and errors.
TERMINALS = frozenset(
    {
        "xterm", "uxterm", "urxvt", "rxvt", "gnome-terminal", "gnome-terminal-server",
        "konsole", "xfce4-terminal", "terminator", "tilix", "alacritty", "kitty", "wezterm",
        "org.wezfurlong.wezterm", "foot", "st", "lxterminal", "mate-terminal", "qterminal",
        "terminology", "sakura", "guake", "tilda", "yakuake", "ptyxis", "com.mitchellh.ghostty",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Window:
    """A window (or the whole screen): its identity for the privacy rules and where it is."""

    id: int
    app: str | None
    title: str | None
    left: int
    top: int
    width: int
    height: int
    #: The other name in WM_CLASS (its instance, "navigator" for Firefox's "firefox"):
    #: an app excluded by either name is excluded.
    instance: str | None = None


class Display(Protocol):
    """The screen festina reads: which window is in front, which are shown, the pixels."""

    def front_window(self) -> Window | None: ...

    def visible_windows(self) -> list[Window] | None:
        """Every window shown on the screen; None when that cannot be known now."""
        ...

    def whole_screen(self) -> Window: ...

    def grab(self, window: Window) -> np.ndarray: ...

    def close(self) -> None: ...


class Ocr(Protocol):
    name: str

    def read(self, gray: np.ndarray) -> list[str]: ...


class X11Display:
    """An X server, through python-xlib (which window) and mss (its pixels)."""

    def __init__(self, name: str | None = None) -> None:
        name = name or os.environ.get("DISPLAY")
        if not name:
            missing = "an X server (DISPLAY is not set)"
            if os.environ.get("WAYLAND_DISPLAY"):
                missing += (
                    "; on Wayland, festina reads the screen only through XWayland, which "
                    f"this session does not offer, and {screenshot_portal()}"
                )
            raise BackendUnavailable(f"screen capture needs {missing}")
        try:
            import mss
            from Xlib import display as xdisplay
        except ImportError as error:  # pragma: no cover - both are festina dependencies
            raise BackendUnavailable(f"screen capture needs {error.name}") from error
        try:
            self._x = xdisplay.Display(name)
            self._mss = mss.MSS(display=name)
        except Exception as error:  # Xlib and mss raise their own kinds
            raise BackendUnavailable(f"cannot open X display {name}: {error}") from error
        self._root = self._x.screen().root
        self._net_active = self._x.intern_atom("_NET_ACTIVE_WINDOW")
        self._net_name = self._x.intern_atom("_NET_WM_NAME")
        self._utf8 = self._x.intern_atom("UTF8_STRING")

    def front_window(self) -> Window | None:
        window = self._active() or self._topmost()
        if window is None:
            return None
        return self._described(window, window, CELL_PX)

    def visible_windows(self) -> list[Window] | None:
        """Every top-level window mapped and at least partly on the screen, bottom to top
        (hidden behind others or not); None when one went away while being listed."""
        from Xlib import error as xerror

        shown = []
        try:
            for frame in self._root.query_tree().children:
                if frame.get_attributes().map_state != 2:  # IsViewable
                    continue
                described = self._described(self._client(frame), frame, 1)
                if described is not None:
                    shown.append(described)
        except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
            return None
        return shown

    def whole_screen(self) -> Window:
        screen = self._x.screen()
        return Window(
            id=self._root.id,
            app=None,
            title="whole screen",  # what an event is named when no window is in front
            left=0,
            top=0,
            width=screen.width_in_pixels,
            height=screen.height_in_pixels,
        )

    def _client(self, frame: Any) -> Any:
        """The application's window in a top-level one: itself, or, under a window manager
        that frames windows, the child (or grandchild) that holds a WM_CLASS."""
        if frame.get_wm_class():
            return frame
        for child in frame.query_tree().children:
            if child.get_wm_class():
                return child
            for grandchild in child.query_tree().children:
                if grandchild.get_wm_class():
                    return grandchild
        return frame

    def _described(self, window: Any, frame: Any, min_px: int) -> Window | None:
        """`window`'s names, at `frame`'s place on the screen; None when less than
        `min_px` of it is on the screen."""
        geometry = frame.get_geometry()
        origin = frame.translate_coords(self._root, 0, 0)
        left, top = -origin.x, -origin.y
        # Only the part on the screen can be captured.
        screen = self._x.screen()
        right = min(left + geometry.width, screen.width_in_pixels)
        bottom = min(top + geometry.height, screen.height_in_pixels)
        left, top = max(left, 0), max(top, 0)
        if right - left < min_px or bottom - top < min_px:
            return None
        wm_class = window.get_wm_class()
        return Window(
            id=window.id,
            app=(wm_class[1] or wm_class[0]) if wm_class else None,
            title=self._title(window),
            left=left,
            top=top,
            width=right - left,
            height=bottom - top,
            instance=wm_class[0] if wm_class else None,
        )

    def _active(self) -> Any:
        found = self._root.get_full_property(self._net_active, 0)  # 0: any type
        if found is None or not found.value or not found.value[0]:
            return None
        return self._x.create_resource_object("window", int(found.value[0]))

    def _topmost(self) -> Any:
        """Without a window manager naming the active window: the top mapped one."""
        for window in reversed(self._root.query_tree().children):
            attributes = window.get_attributes()
            if attributes.map_state == 2 and window.get_wm_class():  # IsViewable
                return window
        return None

    def _title(self, window: Any) -> str | None:
        named = window.get_full_property(self._net_name, self._utf8)
        if named is not None and named.value:
            value = named.value
            return (
                value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            ) or None
        legacy = window.get_wm_name()
        if isinstance(legacy, bytes):
            legacy = legacy.decode("latin-1")
        return legacy or None

    def grab(self, window: Window) -> np.ndarray:
        shot = self._mss.grab(
            {"left": window.left, "top": window.top, "width": window.width, "height": window.height}
        )
        bgra = np.asarray(shot, dtype=np.uint8)
        gray = bgra[..., 2] * 0.299 + bgra[..., 1] * 0.587 + bgra[..., 0] * 0.114
        return gray.astype(np.uint8)

    def close(self) -> None:
        for closing in (self._mss.close, self._x.close):
            try:
                closing()
            except Exception:  # already gone with the server
                logger.debug("closing the X connection failed", exc_info=True)


def window_parts(
    gray: np.ndarray, captured: Window, shown: list[Window]
) -> list[tuple[Window, np.ndarray]]:
    """Each shown window's pixels in `gray` (the capture of `captured`), the one on top
    first, with what the windows above it cover filled with its own background; windows
    smaller than a cell left out.

    A screen is read window by window: read whole, lines of windows side by side run
    together into one (`festina eval sources`, whole screens)."""
    parts = []
    above: list[Window] = []
    for window in reversed(shown):
        top, left = window.top - captured.top, window.left - captured.left
        part = gray[max(top, 0) : top + window.height, max(left, 0) : left + window.width]
        if part.shape[0] < CELL_PX or part.shape[1] < CELL_PX:
            above.append(window)
            continue
        part = part.copy()
        edge = np.concatenate([part[0], part[-1], part[:, 0], part[:, -1]])
        background = int(np.bincount(edge).argmax())
        for over in above:
            rows = slice(max(over.top - window.top, 0), max(over.top + over.height - window.top, 0))
            cols = slice(
                max(over.left - window.left, 0), max(over.left + over.width - window.left, 0)
            )
            part[rows, cols] = background
        above.append(window)
        parts.append((window, part))
    return parts


def signature(gray: np.ndarray) -> np.ndarray:
    """The frame in CELL_PX cells, each its mean grey: what `unchanged` compares."""
    height = gray.shape[0] - gray.shape[0] % CELL_PX
    width = gray.shape[1] - gray.shape[1] % CELL_PX
    cells = gray[:height, :width].reshape(height // CELL_PX, CELL_PX, width // CELL_PX, CELL_PX)
    return cells.mean(axis=(1, 3))


def unchanged(before: np.ndarray | None, now: np.ndarray) -> bool:
    """The same picture, a cursor or a clock aside."""
    if before is None or before.shape != now.shape:
        return False
    return int((np.abs(before - now) > CELL_LEVELS).sum()) <= CURSOR_CELLS


@dataclass
class _Seen:
    signature: np.ndarray | None
    lines: OrderedDict[str, None]

    def remember(self, lines: list[str]) -> list[str]:
        """The lines not seen before, in order; all of them are remembered now."""
        new = [line for line in dict.fromkeys(lines) if line not in self.lines]
        for line in lines:
            self.lines[line] = None
            self.lines.move_to_end(line)
        while len(self.lines) > SEEN_LINES:
            self.lines.popitem(last=False)
        return new


@dataclass
class ScreenCounts:
    """What the source did with its frames (`festina eval sources` reports them)."""

    frames: int = 0
    excluded: int = 0
    #: Not captured, or dropped unread, because the window in front was not known (on
    #: Wayland: no window event yet, or the window changed during the capture).
    unknown: int = 0
    unchanged: int = 0
    read: int = 0


class ScreenSource(PollingSource):
    """New text in the window in front (or on the whole screen), every `interval_s` s."""

    def __init__(
        self,
        *,
        rules: ExclusionRules,
        interval_s: float = 5.0,
        region: Region = "window",
        open_display: Callable[[], Display] = X11Display,
        ocr: Ocr | None = None,
        terminal_ocr: Ocr | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wayland_portal: bool = False,
        portal: PortalScreenshots | None = None,
    ) -> None:
        super().__init__("screen", logger, interval_s)
        self._rules = rules
        self._region = region
        self._open_display = open_display
        self._display: Display | None = None
        # Held while a frame is taken in its thread: closing waits for it, rather than
        # pulling the X connection out from under it.
        self._in_use = threading.Lock()
        self._ocr = ocr or TesseractOcr()
        # A terminal is one column of lines, ending at a cursor: tesseract's column layout
        # (page mode 4) reads it best, its single block (6) the rest (`festina eval sources`).
        self._terminal_ocr = terminal_ocr or TesseractOcr(page_mode=4)
        self._clock = clock
        self._windows: OrderedDict[int, _Seen] = OrderedDict()
        self.counts = ScreenCounts()
        # On Wayland, the window in front as the other sources' window events say.
        self._focus = FocusWatch()
        self._portal = (portal or PortalScreenshots()) if wayland_portal else None
        self._waiting_said = False

    def observed(self, item: SourceItem) -> None:
        self._focus.observe(item)

    async def poll(self) -> list[SourceItem]:
        if self._portal is not None and wayland_only():
            return await self._portal_frame(self._portal)
        try:
            items = await asyncio.to_thread(self._frame)
        except BackendUnavailable:
            self._drop_display()
            raise
        except OcrUnavailable as error:
            raise BackendUnavailable(str(error)) from error
        except Exception as error:  # the X server went away under a request
            self._drop_display()
            raise BackendUnavailable(
                f"screen capture failed: {type(error).__name__}: {error}"
            ) from error
        return items

    async def _portal_frame(self, portal: PortalScreenshots) -> list[SourceItem]:
        """The whole screen through the desktop portal, only while the window in front is
        known and allowed; read as one frame named after that window."""
        self.counts.frames += 1
        focus = self._focus.current()
        if focus is None:
            self.counts.unknown += 1
            if not self._waiting_said:
                logger.warning(
                    "screen: on Wayland festina captures only while a window event (from an "
                    "activitywatch: source or the HTTP API) says which window is in front; "
                    "none has come yet, so nothing is captured"
                )
                self._waiting_said = True
            return []
        if not self._focus_allowed(focus):
            self.counts.excluded += 1
            return []
        gray = await portal.take()
        now = self._focus.current()
        if now is None or now.serial != focus.serial:
            # Which window the frame shows, and whether the new one may be read, is not
            # known: dropped unread.
            self.counts.unknown += 1
            return []
        window = Window(
            id=PORTAL_FRAME,
            app=focus.window.app,
            title=focus.window.title,
            left=0,
            top=0,
            width=gray.shape[1],
            height=gray.shape[0],
        )
        read = self.counts.read
        try:
            item = await asyncio.to_thread(self._read_in_use, window, gray, "portal")
        except OcrUnavailable as error:
            raise BackendUnavailable(str(error)) from error
        except ValidationError as error:  # a name no event may hold: not read
            reason = f"the window in front: {describe_validation_error(error)}"
            return [Rejection(self.name, self.counts.frames, reason, repr(window))]
        if self.counts.read == read:
            self.counts.unchanged += 1
        return [] if item is None else [item]

    def _focus_allowed(self, focus: Focus) -> bool:
        """Whether the privacy rules allow the window in front and the browser's tab."""
        shown = [focus.window] if focus.tab is None else [focus.window, focus.tab]
        return not any(self._rules.rule_for(event) is not None for event in shown)

    def _read_in_use(self, window: Window, gray: np.ndarray, captured: str) -> SourceItem | None:
        with self._in_use:
            return self._read(window, gray, captured)

    def _drop_display(self) -> None:
        with self._in_use:
            if self._display is not None:
                self._display.close()
                self._display = None
            # Window ids belong to one X server's life: a server started again reuses them
            # for other windows, whose lines are all new.
            self._windows.clear()

    def _frame(self) -> list[SourceItem]:
        with self._in_use:
            return self._frame_in_use()

    def _frame_in_use(self) -> list[SourceItem]:
        if self._display is None:
            self._display = self._open_display()
        display = self._display
        if self._region == "window":
            front = display.front_window()
            if front is None:
                return []
            shown: list[Window] | None = [front]
            target = front
            try:
                self._probe(front)
            except ValidationError as error:  # a name no event may hold: not captured
                self.counts.frames += 1
                reason = f"window {front.id:#x}: {describe_validation_error(error)}"
                return [Rejection(self.name, self.counts.frames, reason, repr(front))]
        else:
            shown = display.visible_windows()
            target = display.whole_screen()
        self.counts.frames += 1
        # Every window that would be captured is checked first; none is captured otherwise.
        if shown is None or not self._allowed(shown):
            self.counts.excluded += 1
            return []
        gray = display.grab(target)
        # On the whole screen, a window shown between the check and the capture drops the
        # frame before anything reads it.
        if self._region == "screen" and not self._allowed(display.visible_windows()):
            self.counts.excluded += 1
            return []
        items = []
        read = self.counts.read
        for window, part in window_parts(gray, target, shown):
            item = self._read(window, part)
            if item is not None:
                items.append(item)
        if self.counts.read == read:
            self.counts.unchanged += 1
        return items

    def _read(
        self, window: Window, gray: np.ndarray, captured: str | None = None
    ) -> SourceItem | None:
        """The new lines of one window's pixels, as an event; None when it has not changed
        or shows nothing new."""
        seen = self._seen(window.id)
        now_signature = signature(gray)
        if unchanged(seen.signature, now_signature):
            return None
        seen.signature = now_signature
        terminal = (window.app or "").casefold() in TERMINALS
        ocr = self._terminal_ocr if terminal else self._ocr
        lines = ocr.read(gray)
        self.counts.read += 1
        new = seen.remember(lines)
        if not new:
            return None
        captured = captured or self._region
        return self._event(self._probe(window), window, new, ocr.name, terminal, captured)

    def _allowed(self, shown: list[Window] | None) -> bool:
        """Whether these windows may be captured: known, and none of them excluded."""
        return shown is not None and not any(self._excluded(window) for window in shown)

    def _probe(self, window: Window, app: str | None = None) -> Event:
        """The window as an event the privacy rules can judge (raises ValidationError for a
        name no event may hold)."""
        app = app or window.app
        return Event(
            time=self._clock(),
            source=self.name,
            kind=EventKind.WINDOW,
            app=app[:512] if app else None,
            title=(window.title or app or "untitled window")[:512],
        )

    def _excluded(self, window: Window) -> bool:
        """Whether a privacy rule excludes the window, by either of its names; a window
        whose name no event may hold cannot be judged, so it counts as excluded."""
        names = dict.fromkeys(name for name in (window.app, window.instance) if name) or [None]
        for app in names:
            try:
                if self._rules.rule_for(self._probe(window, app)) is not None:
                    return True
            except ValidationError:
                return True
        return False

    def _seen(self, window_id: int) -> _Seen:
        seen = self._windows.get(window_id)
        if seen is None:
            seen = self._windows[window_id] = _Seen(None, OrderedDict())
            while len(self._windows) > SEEN_WINDOWS:
                self._windows.popitem(last=False)
        self._windows.move_to_end(window_id)
        return seen

    def _event(
        self,
        probe: Event,
        window: Window,
        lines: list[str],
        ocr: str,
        terminal: bool,
        captured: str,
    ) -> Event:
        text = "\n".join(lines)
        if len(text) > MAX_TEXT_CHARS:  # the newest lines matter most: keep the end
            text = text[-MAX_TEXT_CHARS:].split("\n", 1)[-1]
        region = {"left": window.left, "top": window.top}
        region |= {"width": window.width, "height": window.height}
        return Event(
            time=probe.time,
            source=self.name,
            kind=EventKind.TERMINAL if terminal else EventKind.TEXT,
            app=probe.app,
            title=probe.title,
            text=text,
            attributes={
                "region": region,
                "captured": captured,
                "ocr": ocr,
                "new_lines": len(lines),
            },
        )

    async def close(self) -> None:
        await super().close()
        await asyncio.to_thread(self._drop_display)
        if self._portal is not None:
            await self._portal.close()


def wayland_only() -> bool:
    """A Wayland session without an X server to read the screen through."""
    return not os.environ.get("DISPLAY") and bool(os.environ.get("WAYLAND_DISPLAY"))
