"""Calendar entries as events (`calendar:<file or folder>`): a reminder before each starts.

Reads iCalendar (.ics) files, as exported by most calendar programs or kept in sync by
vdirsyncer and the like; repeats, exceptions and time zones are expanded by
recurring-ical-events. An entry is announced `lead_s` seconds before it starts, once:
its id comes from the entry's UID and start, so a restart inside the lead time announces
nothing twice. Entries without a start time (all-day entries) are not announced.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import recurring_ical_events

from agent.sources.backend import BackendUnavailable, PollingSource
from core.events import Event, EventKind
from core.sources import Rejection, SourceItem

logger = logging.getLogger("festina.sources.calendar")

MAX_ATTENDEES = 20


def _calendar_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.ics") if p.is_file())
    if path.is_file():
        return [path]
    raise BackendUnavailable(f"{path} is not there")


def _attendees(entry: Any) -> list[str]:
    found = entry.get("ATTENDEE") or []
    people = found if isinstance(found, list) else [found]
    names = [
        str(person.params.get("CN") or str(person).removeprefix("mailto:")).strip()
        for person in people[:MAX_ATTENDEES]
    ]
    return [name for name in names if name]


def _text(summary: str, start: datetime, minutes: int, place: str, people: list[str]) -> str:
    when = f"{summary} at {start.astimezone():%H:%M}" + (f" (in {minutes} min)" if minutes else "")
    return (
        when + (f", {place}" if place else "") + (f", with {', '.join(people)}" if people else "")
    )


class CalendarSource(PollingSource):
    """Reminders of the entries in `path` (an .ics file, or a folder searched for them)."""

    def __init__(
        self,
        path: Path,
        *,
        lead_s: float = 600.0,
        poll_s: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(f"calendar:{path}", logger, poll_s)
        self.path = path
        self.lead = timedelta(seconds=lead_s)
        self._clock = clock
        self._announced: dict[str, datetime] = {}
        self._bad_files: set[tuple[Path, float]] = set()

    async def poll(self) -> list[SourceItem]:
        return await asyncio.to_thread(self._due)

    def _due(self) -> list[SourceItem]:
        now = self._clock()
        items: list[SourceItem] = []
        for file in _calendar_files(self.path):
            try:
                entries = list(self._starting_soon(file, now))
            except BackendUnavailable as error:
                items.extend(self._once_per_version(file, str(error)))
                continue
            for entry, start in entries:
                event = self._reminder(entry, start, now)
                if event.id not in self._announced:
                    self._announced[event.id] = start  # type: ignore[index]
                    items.append(event)
        # Announced entries that have started cannot come up again.
        self._announced = {key: start for key, start in self._announced.items() if start > now}
        return items

    def _starting_soon(self, file: Path, now: datetime) -> Iterator[tuple[Any, datetime]]:
        try:
            calendar = icalendar.Calendar.from_ical(file.read_bytes())
            entries = recurring_ical_events.of(calendar).between(now, now + self.lead)
        except OSError as error:
            raise BackendUnavailable(f"cannot read {file}: {error.strerror}") from error
        except Exception as error:  # icalendar and its expansion raise many kinds
            raise BackendUnavailable(f"{file} is not a readable calendar: {error}") from error
        for entry in entries:
            start = entry.get("DTSTART")
            # A date without a time, or a floating time with no zone to place it.
            if start is None or not isinstance(start.dt, datetime):
                continue
            begins = start.dt if start.dt.tzinfo else start.dt.astimezone()
            if now < begins <= now + self.lead:
                yield entry, begins.astimezone(UTC)

    def _once_per_version(self, file: Path, reason: str) -> list[SourceItem]:
        """A file that cannot be read is reported once per version, not at every poll."""
        try:
            version = (file, file.stat().st_mtime)
        except OSError:
            version = (file, 0.0)
        if version in self._bad_files:
            return []
        self._bad_files.add(version)
        logger.warning("%s: %s", self.name, reason)
        return [Rejection(self.name, len(self._bad_files), reason, str(file))]

    def _reminder(self, entry: Any, start: datetime, now: datetime) -> Event:
        uid = str(entry.get("UID") or "")
        summary = str(entry.get("SUMMARY") or "").strip() or "Calendar entry"
        place = str(entry.get("LOCATION") or "").strip()
        people = _attendees(entry)
        end = entry.get("DTEND")
        key = hashlib.sha256(f"{uid}\n{summary}\n{start.isoformat()}".encode()).hexdigest()
        minutes = round((start - now).total_seconds() / 60)
        return Event(
            id=f"cal.{key[:32]}",
            time=now,
            source=self.name,
            kind=EventKind.CALENDAR,
            app="Calendar",
            title=summary[:512],
            text=_text(summary, start, minutes, place, people)[:4000],
            attributes={
                "starts": start.isoformat(),
                "ends": end.dt.isoformat()
                if end is not None and hasattr(end.dt, "isoformat")
                else None,
                "location": place or None,
                "attendees": people,
                "uid": uid or None,
            },
        )
