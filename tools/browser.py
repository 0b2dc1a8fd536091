"""Opening a web link or a file with the desktop's own handler (xdg-open), as the result
notification's Open button does (`agent.notify`): the person's default browser or the
application they chose for the file, never a program festina picks; links only http(s).

Where nothing can be opened (no display, no xdg-open) the caller is told why, so a plan's
step can say it did nothing instead of reading as done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from tools.base import ToolError

#: How long to wait for xdg-open to hand the link over. A handler that is still running
#: then (a browser started in the foreground by xdg-open's generic fallback) has the link.
HANDOFF_S = 5.0


def cannot_hand_over(environ: Mapping[str, str] | None = None) -> str | None:
    """Why nothing can be opened on this desktop, or None when it can be tried."""
    env = os.environ if environ is None else environ
    # With neither, xdg-open would fall back to a text browser or viewer on no screen.
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return "no display to open it on (DISPLAY and WAYLAND_DISPLAY are unset)"
    if shutil.which("xdg-open", path=env.get("PATH")) is None:
        return "xdg-open is not installed"
    return None


def cannot_open(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why `url` cannot be opened on this desktop, or None when it can be tried."""
    if urlsplit(url).scheme not in ("http", "https"):
        return "only http(s) links are opened"
    return cannot_hand_over(environ)


def open_link(
    url: str, environ: Mapping[str, str] | None = None, *, handoff_s: float = HANDOFF_S
) -> None:
    """Open `url` with xdg-open, detached from festina (its own session, no terminal).
    Raises `ToolError` when it cannot be opened (see `cannot_open`) or the handler says
    it failed."""
    if why := cannot_open(url, environ):
        raise ToolError(why)
    _hand_over(url, environ, handoff_s)


def open_path(
    path: Path, environ: Mapping[str, str] | None = None, *, handoff_s: float = HANDOFF_S
) -> None:
    """Open the file `path` (absolute) with xdg-open, as `open_link` opens a link."""
    if not path.is_absolute():
        raise ToolError(f"{path} is not an absolute path")
    if why := cannot_hand_over(environ):
        raise ToolError(why)
    _hand_over(str(path), environ, handoff_s)


def _hand_over(target: str, environ: Mapping[str, str] | None, handoff_s: float) -> None:
    env = os.environ if environ is None else environ
    opener = shutil.which("xdg-open", path=env.get("PATH"))
    assert opener is not None  # cannot_hand_over checked it
    process = subprocess.Popen(
        [opener, target],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=dict(env),
    )
    try:
        status = process.wait(timeout=handoff_s)
    except subprocess.TimeoutExpired:
        return  # still running: the handler has it (see HANDOFF_S)
    if status != 0:
        raise ToolError(f"xdg-open could not open {target} (exit status {status})")
