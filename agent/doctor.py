"""`festina doctor`: is everything the configuration asks for there and answering?

Each check says ok, warn (festina runs, with less) or fail (what the configuration asks
for cannot work), and what to do about it. Nothing is changed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx

from agent.config import Settings
from agent.paths import FestinaPaths
from agent.sources import calendar_paths

TIMEOUT_S = 10.0


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    level: Level
    part: str
    says: str


def diagnose(settings: Settings, paths: FestinaPaths) -> list[Finding]:
    """Every check's finding, in the order data flows: sources, gate, slow path, surfaces."""
    checks: list[Callable[[Settings, FestinaPaths], Iterator[Finding]]] = [
        _sources,
        _gate,
        _slow_path,
        _surfaces,
    ]
    return [finding for check in checks for finding in check(settings, paths)]


def _sources(settings: Settings, paths: FestinaPaths) -> Iterator[Finding]:
    specs = settings.daemon.source or [""]
    for spec in specs:
        part = f"source {spec or '(the bundled demo stream)'}"
        if spec == "" or spec.startswith(("jsonl:", "proactivebench:")):
            target = spec.partition(":")[2]
            if target and target != "-" and not Path(target).is_file():
                yield Finding(Level.FAIL, part, f"no such file: {target}")
            else:
                yield Finding(Level.OK, part, "a replay")
        elif spec == "http":  # its token is checked with the configuration
            hook = "" if shutil.which("curl") else "; the shell hook needs curl, not installed"
            level = Level.OK if not hook else Level.WARN
            yield Finding(level, part, f"API on {settings.api.host}:{settings.api.port}{hook}")
        elif spec.startswith("activitywatch:"):
            yield _answers(part, spec.removeprefix("activitywatch:").rstrip("/") + "/api/0/info")
        elif spec.startswith("calendar:"):
            [target] = calendar_paths([spec]) or [""]
            found = bool(target) and Path(target).exists()
            yield Finding(
                Level.OK if found else Level.WARN,
                part,
                "readable" if found else f"{target or 'no path'} is not there (yet)",
            )
        elif spec == "notifications":
            yield _session_bus(part)
        elif spec == "screen":
            yield from _screen(part, settings)
        elif spec == "power":
            yield _battery(part)


def _answers(part: str, url: str) -> Finding:
    try:
        response = httpx.get(url, timeout=TIMEOUT_S)
    except httpx.HTTPError as error:
        return Finding(Level.FAIL, part, f"{url} does not answer: {error}")
    if not response.is_success:
        return Finding(Level.FAIL, part, f"{url} answered {response.status_code}")
    return Finding(Level.OK, part, f"{url} answers")


def _session_bus(part: str) -> Finding:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return Finding(Level.WARN, part, "no session bus here (DBUS_SESSION_BUS_ADDRESS unset)")
    return Finding(Level.OK, part, "a session bus to watch")


def _screen(part: str, settings: Settings) -> Iterator[Finding]:
    x11 = bool(os.environ.get("DISPLAY"))
    portal = not x11 and bool(os.environ.get("WAYLAND_DISPLAY")) and settings.screen.wayland_portal
    if portal:
        yield _portal(part, settings)
    elif not x11:
        yield Finding(
            Level.FAIL,
            part,
            "no X server (DISPLAY unset); on Wayland XWayland, or the desktop portal with "
            "[screen] wayland_portal = true",
        )
    if shutil.which("tesseract") is None:
        yield Finding(Level.FAIL, part, "tesseract is not installed (apt install tesseract-ocr)")
    elif x11:
        yield Finding(Level.OK, part, f"X display {os.environ['DISPLAY']}, tesseract installed")


def _portal(part: str, settings: Settings) -> Finding:
    """Wayland through the desktop portal: captures only while window events say which
    window is in front, so a source of them must be configured."""
    from agent.sources.portal import session_bus_address

    if session_bus_address() is None:
        return Finding(Level.FAIL, part, "no session bus for the desktop portal (Wayland)")
    watched = any(s == "http" or s.startswith("activitywatch:") for s in settings.daemon.source)
    if not watched:
        return Finding(
            Level.FAIL,
            part,
            "on Wayland festina captures only while window events say which window is in "
            "front, and no source of them (activitywatch:, http) is configured",
        )
    return Finding(
        Level.WARN,
        part,
        "Wayland, through the desktop portal: the whole screen, while window events say "
        "which window is in front; the windows behind it are not checked",
    )


def _battery(part: str) -> Finding:
    from agent.sources.backend import BackendUnavailable
    from agent.sources.power import read_battery

    try:
        battery = read_battery()
    except BackendUnavailable as error:
        return Finding(Level.WARN, part, str(error))
    if battery is None:
        return Finding(Level.WARN, part, "this machine reports no battery")
    return Finding(Level.OK, part, battery.describe())


def _gate(settings: Settings, paths: FestinaPaths) -> Iterator[Finding]:
    from gate.loader import describe_choice, load_gate

    try:
        gate = load_gate(settings.gate.model, paths.models_dir, settings.gate.device)
    except Exception as error:  # a broken model folder, a missing encoder
        yield Finding(Level.FAIL, "gate", f"cannot load: {error}")
        return
    if gate.version.startswith("cues-untrained"):
        yield Finding(Level.WARN, "gate", "no trained model: the cue gate (`festina gate train`)")
    else:
        yield Finding(Level.OK, "gate", describe_choice(settings.gate.model, paths.models_dir))


def _slow_path(settings: Settings, paths: FestinaPaths) -> Iterator[Finding]:
    chosen = settings.slow_path
    part = f"slow path ({chosen.backend})"
    if chosen.backend != "openai":
        yield Finding(Level.OK, part, "no server to reach")
        return
    key = os.environ.get(chosen.api_key_env, "") if chosen.api_key_env else ""
    if chosen.api_key_env and not key:
        yield Finding(Level.FAIL, part, f"${chosen.api_key_env} is not set")
        return
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    base = chosen.url.rstrip("/")
    try:
        listed = httpx.get(f"{base}/models", headers=headers, timeout=TIMEOUT_S)
        names = [m.get("id") for m in listed.json().get("data", [])] if listed.is_success else []
    except (httpx.HTTPError, ValueError, AttributeError):
        names = []
    body = {
        "model": chosen.model,
        "messages": [{"role": "user", "content": "Answer with the word: ready"}],
        "max_tokens": 4,
    }
    try:
        answer = httpx.post(f"{base}/chat/completions", json=body, headers=headers, timeout=60)
        answer.raise_for_status()
        said = answer.json()["choices"][0]["message"]["content"]
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as error:
        yield Finding(Level.FAIL, part, f"{base} does not answer chat completions: {error}")
        return
    if names and chosen.model not in names:
        yield Finding(
            Level.FAIL, part, f"{base} answers, but serves {', '.join(names)}, not {chosen.model}"
        )
        return
    yield Finding(Level.OK, part, f"{base} answers as {chosen.model}: {said.strip()[:40]!r}")


def _surfaces(settings: Settings, paths: FestinaPaths) -> Iterator[Finding]:
    if settings.notifications.desktop:
        finding = _session_bus("desktop notifications")
        yield (
            finding
            if finding.level is Level.OK
            else Finding(
                Level.WARN,
                finding.part,
                f"{finding.says}: offers show in the log and dashboard only",
            )
        )
    opener = shutil.which("xdg-open")
    yield Finding(
        Level.OK if opener else Level.WARN,
        "opening results",
        "xdg-open installed" if opener else "no xdg-open: results have no Open button",
    )
