"""Event sources, chosen by spec strings such as ``jsonl:trace.jsonl`` or ``http``.

A file replay names its records' format by its scheme: ``jsonl:`` festina events,
``proactivebench:`` ProactiveBench trace items (`gate.proactivebench`).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from agent.config import Settings
from agent.privacy import ExclusionRules
from agent.sources.http import HttpIngestSource
from agent.sources.jsonl import JsonlSource
from agent.sources.merge import MergedSource
from core.sources import EventSource, Rejection, SourceItem
from gate import proactivebench

__all__ = [
    "EventSource",
    "HttpIngestSource",
    "Rejection",
    "SourceItem",
    "bundled_stream_path",
    "calendar_paths",
    "open_source",
    "open_sources",
]


class SourceSpecError(ValueError):
    """The source spec names no known source or an unusable target."""


def _replayed_file(target: str, scheme: str) -> str:
    if target != "-" and not Path(target).is_file():
        raise SourceSpecError(f"no such file for source '{scheme}:{target}'")
    return target


def _jsonl(target: str, settings: Settings) -> EventSource:
    return JsonlSource(_replayed_file(target, "jsonl"), speed=settings.daemon.speed)


def _proactivebench(target: str, settings: Settings) -> EventSource:
    # The same replay as jsonl:, its records ProactiveBench trace items (JSON Lines, or a
    # .json list as the data set ships its traces).
    return JsonlSource(
        _replayed_file(target, "proactivebench"),
        speed=settings.daemon.speed,
        adapt=proactivebench.to_event_record,
        scheme="proactivebench",
    )


# The live sources are imported when configured: their libraries (icalendar, dbus-fast,
# psutil, httpx) cost a replay's or another source's start-up about 0.1 s otherwise.


def _activitywatch(target: str, settings: Settings) -> EventSource:
    from agent.sources.activitywatch import ActivityWatchSource

    try:
        return ActivityWatchSource(
            target,
            poll_s=settings.activitywatch.poll_s,
            backfill_s=settings.activitywatch.backfill_s,
        )
    except ValueError as error:
        raise SourceSpecError(str(error)) from error


def _calendar(target: str, settings: Settings) -> EventSource:
    # A missing path is not refused: a synced folder may appear after the daemon starts.
    if not target:
        raise SourceSpecError("source 'calendar:' needs an .ics file or a folder of them")
    from agent.sources.calendar import CalendarSource

    return CalendarSource(
        Path(target).expanduser(),
        lead_s=settings.calendar.lead_minutes * 60,
        poll_s=settings.calendar.poll_s,
    )


def _notifications() -> EventSource:
    from agent.sources.notifications import NotificationSource

    return NotificationSource()


def _power(settings: Settings) -> EventSource:
    from agent.sources.power import PowerSource

    return PowerSource(poll_s=settings.power.poll_s, low_levels=settings.power.low_levels)


def _screen(settings: Settings) -> EventSource:
    from agent.sources.screen import ScreenSource

    return ScreenSource(
        rules=ExclusionRules.from_settings(settings.privacy),
        interval_s=settings.screen.interval_s,
        region=settings.screen.region,
        wayland_portal=settings.screen.wayland_portal,
    )


_FACTORIES: dict[str, Callable[[str, Settings], EventSource]] = {
    "jsonl": _jsonl,
    "proactivebench": _proactivebench,
    "activitywatch": _activitywatch,
    "calendar": _calendar,
}
# Sources named without a target.
_PLAIN: dict[str, Callable[[Settings], EventSource]] = {
    "http": lambda settings: HttpIngestSource(settings.daemon.queue_size),
    "notifications": lambda settings: _notifications(),
    "power": lambda settings: _power(settings),
    "screen": lambda settings: _screen(settings),
}


def calendar_paths(specs: list[str]) -> list[str]:
    """The files and folders the `calendar:` sources among `specs` read."""
    return [
        str(Path(spec.removeprefix("calendar:")).expanduser())
        for spec in specs
        if spec.startswith("calendar:") and spec != "calendar:"
    ]


def bundled_stream_path() -> Path:
    """The demo stream replayed when no live source is configured."""
    return Path(str(resources.files("agent.data").joinpath("demo_stream.jsonl")))


def open_source(spec: str, settings: Settings | None = None) -> EventSource:
    """Build the source a spec names; an empty spec replays the bundled demo stream."""
    settings = settings or Settings()
    if not spec:
        return JsonlSource(str(bundled_stream_path()), speed=settings.daemon.speed)
    if spec in _PLAIN:
        return _PLAIN[spec](settings)
    scheme, sep, target = spec.partition(":")
    if not sep or scheme not in _FACTORIES:
        known = ", ".join([*(f"{name}:<target>" for name in sorted(_FACTORIES)), *_PLAIN])
        raise SourceSpecError(f"unknown source {spec!r}; expected one of {known}")
    return _FACTORIES[scheme](target, settings)


def open_sources(settings: Settings) -> tuple[EventSource, HttpIngestSource | None]:
    """The configured sources as one stream, and the HTTP ingest queue if "http" is one."""
    sources = [open_source(spec, settings) for spec in settings.daemon.source or [""]]
    ingest = next((s for s in sources if isinstance(s, HttpIngestSource)), None)
    return (sources[0] if len(sources) == 1 else MergedSource(sources)), ingest
