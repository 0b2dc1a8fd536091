"""Adapter from ProactiveBench trace items to festina events: an input format named
explicitly, never guessed from a record's shape.

A ProactiveBench item looks like
``{"observation": {"time": "1717377997.0", "event": "The user ..."}, ...}``.
The observation sentence carries no structured fields, so kind and app are inferred
from well-known phrases; labels (`task_status`) are deliberately not copied into the
event, so a model scoring the event can never see its own answer.

It lives beside the gate's training data (`gate.data`), the first reader of these
recordings; the `proactivebench:` source (`agent.sources`) and the evaluations read
them through it as well. `core` stays free of any one data set's format.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from core.events import EventKind

_KIND_CUES: tuple[tuple[EventKind, re.Pattern[str]], ...] = (
    (EventKind.TERMINAL, re.compile(r"\b(terminal|command line|shell|console)\b", re.I)),
    (
        EventKind.BROWSER,
        re.compile(
            r"\b(google|browser|website|web ?page|search(es|ed)? (on|for)|tab|url|link)\b", re.I
        ),
    ),
    (
        EventKind.EDITOR,
        re.compile(
            r"\b(visual studio code|vs ?code|editor|word|docs|file|code|types?|typing)\b", re.I
        ),
    ),
    (EventKind.NOTIFICATION, re.compile(r"\bnotification\b", re.I)),
    (EventKind.CALENDAR, re.compile(r"\b(calendar|meeting)\b", re.I)),
)

_APP_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Visual Studio Code", re.compile(r"visual studio code|vs ?code", re.I)),
    ("Microsoft Word", re.compile(r"microsoft word|\bword document\b", re.I)),
    ("Google Docs", re.compile(r"google docs", re.I)),
    ("Web browser", re.compile(r"\b(google|browser|website|web ?page)\b", re.I)),
    ("Terminal", re.compile(r"\bterminal\b", re.I)),
)


# Synthetic ProactiveBench scenes use a scene clock ("Day 2, 9:05 AM"); day 1 is mapped
# to this fixed date so their events still order and space correctly.
_SCENE_CLOCK = re.compile(r"^Day (\d+), (\d{1,2}):(\d{2}) ?([AP]M)$", re.I)
_SCENE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def parse_time(value: Any) -> Any:
    """Scene-clock strings become datetimes; anything else is left for validation.
    Raises ValueError for a scene day beyond the calendar."""
    if isinstance(value, str) and (match := _SCENE_CLOCK.match(value.strip())):
        day, hour, minute, half = match.groups()
        hour24 = int(hour) % 12 + (12 if half.upper() == "PM" else 0)
        try:
            return _SCENE_EPOCH + timedelta(days=int(day) - 1, hours=hour24, minutes=int(minute))
        except OverflowError:
            # A ValueError, so the caller rejects this one item with the reason.
            raise ValueError(f"time: scene day {int(day)} is out of range") from None
    return value


def infer_kind(sentence: str) -> EventKind:
    for kind, pattern in _KIND_CUES:
        if pattern.search(sentence):
            return kind
    return EventKind.OTHER


def infer_app(sentence: str) -> str | None:
    for app, pattern in _APP_CUES:
        if pattern.search(sentence):
            return app
    return None


def to_event_record(item: dict[str, Any], trace: str, step: int) -> dict[str, Any]:
    """Map one ProactiveBench item to an event record (validated by the caller); an
    `adapt` for `core.records.record_to_item`. Raises ValueError for a record without
    the trace-item shape, which its reader rejects with that reason."""
    observation = item.get("observation")
    if not isinstance(observation, dict):
        raise ValueError("not a ProactiveBench trace item: expected an 'observation' object")
    sentence = observation.get("event")
    record: dict[str, Any] = {
        "time": parse_time(observation.get("time")),
        "source": f"proactivebench:{trace}",
        "kind": infer_kind(sentence) if isinstance(sentence, str) else EventKind.OTHER,
        "text": sentence,
        "attributes": {"trace": trace, "step": step},
    }
    app = infer_app(sentence) if isinstance(sentence, str) else None
    if app:
        record["app"] = app
    return record
