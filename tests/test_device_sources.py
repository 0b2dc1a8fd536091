"""The power and calendar sources: psutil on this machine, a real .ics with a repeating,
time-zoned entry, and what each does when its backend goes away and comes back."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agent.config import Settings
from agent.slowpath.facts import EventFacts
from agent.sources import SourceSpecError, open_source
from agent.sources.backend import BackendUnavailable
from agent.sources.calendar import CalendarSource
from agent.sources.power import Battery, PowerSource, read_battery
from agent.sources.screen import ScreenSource
from core.events import Event, EventKind
from core.sources import Rejection
from tests.helpers import (
    AUTH,
    collect_items,
    count,
    database,
    event_at,
    eventually,
    first_offer,
    free_port,
    http_daemon,
    wait_for,
)

# A weekly stand-up on Mondays and Wednesdays at 09:30 in Berlin, one Monday cancelled.
STAND_UP = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//festina tests//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:standup-1@example.org
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260105T093000
DTEND;TZID=Europe/Berlin:20260105T094500
RRULE:FREQ=WEEKLY;BYDAY=MO,WE
EXDATE;TZID=Europe/Berlin:20261207T093000
SUMMARY:Team stand-up
LOCATION:Room 4
ATTENDEE;CN=Dana Lee:mailto:dana@example.org
ATTENDEE:mailto:lee@example.org
END:VEVENT
BEGIN:VEVENT
UID:holiday@example.org
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20261209
SUMMARY:Holiday
END:VEVENT
END:VCALENDAR
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- power -------------------------------------------------------------------------


def test_psutil_reads_this_machine_s_battery_or_reports_none():
    battery = read_battery()
    # A container or a desktop has none (psutil: sensors_battery() is None); a laptop has one.
    assert battery is None or (0 <= battery.percent <= 100 and isinstance(battery.plugged, bool))


async def test_without_a_battery_the_source_says_so_once_and_keeps_watching(caplog):
    readings = iter([None, None, None, Battery(80, True, None)])
    source = PowerSource(poll_s=0.01, read=lambda: next(readings))
    with caplog.at_level(logging.INFO, logger="festina.sources.power"):
        [event] = await collect_items(source, 1)
    assert isinstance(event, Event) and event.text == "Battery at 80%, charging"
    assert sum("no battery" in record.message for record in caplog.records) == 1
    assert source.faults == 0


async def test_the_battery_reports_the_charger_and_each_low_level_crossed():
    readings = iter(
        [
            Battery(42, True, None),  # start
            Battery(41, False, 7200),  # unplugged
            Battery(30, False, 5000),  # nothing new
            Battery(19, False, 2700),  # crosses 20
            Battery(18, False, 2600),  # nothing new
            Battery(4, False, 300),  # crosses 10 and 5 at once: one event
            Battery(5, True, None),  # plugged in
        ]
    )
    source = PowerSource(poll_s=0.01, low_levels=[20, 10, 5], read=lambda: next(readings))
    events = await collect_items(source, 5)
    assert [e.attributes["change"] for e in events] == [  # type: ignore[union-attr]
        "start",
        "unplugged",
        "low",
        "low",
        "plugged",
    ]
    low = events[2]
    assert isinstance(low, Event) and low.kind is EventKind.DEVICE
    assert low.text == "Battery at 19%, discharging, about 45 min left"
    assert events[3].text == "Battery at 4%, discharging, about 5 min left"  # type: ignore[union-attr]


async def test_a_low_battery_event_drafts_the_battery_offer():
    low = Battery(15, False, 1800)
    readings = iter([Battery(25, False, None), low])
    source = PowerSource(poll_s=0.01, read=lambda: next(readings))
    _, event = await collect_items(source, 2)
    assert isinstance(event, Event)
    offer = first_offer(event)
    assert offer.key == "battery" and "15%" in offer.speak


async def test_an_unreadable_battery_is_a_counted_fault_and_reading_resumes(caplog):
    def failing() -> Battery:
        raise BackendUnavailable("cannot read the battery: sysfs gone")

    script = [failing, failing, failing, lambda: Battery(60, True, None)]
    source = PowerSource(poll_s=0.01, read=lambda: script.pop(0)())
    with caplog.at_level(logging.INFO, logger="festina.sources.power"):
        [event] = await collect_items(source, 1)
    assert isinstance(event, Event) and "60%" in event.text
    assert source.faults == 3
    messages = [record.message for record in caplog.records]
    assert sum("sysfs gone; retrying" in m for m in messages) == 1  # one line per outage
    assert any("back after" in m for m in messages)


# --- calendar ----------------------------------------------------------------------


def _calendar(tmp_path: Path, text: str = STAND_UP) -> Path:
    path = tmp_path / "work.ics"
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_repeating_time_zoned_entry_is_announced_before_it_starts(tmp_path):
    # Wednesday 2026-12-09 09:30 in Berlin (winter time) is 08:30 UTC.
    clock = Clock(datetime(2026, 12, 9, 8, 21, tzinfo=UTC))
    source = CalendarSource(_calendar(tmp_path), lead_s=600, poll_s=0.01, clock=clock)
    [event] = await collect_items(source, 1)
    assert isinstance(event, Event)
    assert (event.kind, event.title, event.time) == (EventKind.CALENDAR, "Team stand-up", clock.now)
    assert event.attributes["starts"] == "2026-12-09T08:30:00+00:00"
    assert event.attributes["attendees"] == ["Dana Lee", "lee@example.org"]
    assert "(in 9 min), Room 4, with Dana Lee, lee@example.org" in event.text
    offer = first_offer(event)
    assert offer.key == "calendar"
    assert offer.speak.startswith("Coming up: Team stand-up at ") and "Room 4" in offer.speak
    assert offer.task == "Show the day around 'Team stand-up'"  # not every reminder's task
    # Its plan lists the day of the calendar the reminder came from.
    [listing] = offer.plan
    assert listing.args == {"days": 1, "calendar": str(tmp_path / "work.ics")}


def test_the_calendar_listing_reads_an_allowed_calendar_with_its_repeats(tmp_path):
    from tools import default_pool

    folder = tmp_path / "calendars"
    folder.mkdir()
    now = datetime.now(UTC).replace(microsecond=0)
    soon = now + timedelta(hours=2)
    (folder / "weekly.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\nBEGIN:VEVENT\nUID:w@t\n"
        f"DTSTAMP:20260101T000000Z\nDTSTART:{soon - timedelta(days=7):%Y%m%dT%H%M%SZ}\n"
        "RRULE:FREQ=WEEKLY\nSUMMARY:Weekly sync\nLOCATION:Room 2\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    allowed = default_pool(tmp_path / "ws", read_paths=[folder])
    listed = allowed.call("list_calendar_events", {"days": 1, "calendar": str(folder)})
    assert listed.ok and listed.output == [
        {
            "title": "Weekly sync",
            "start": f"{soon.astimezone():%Y-%m-%d %H:%M}",
            "location": "Room 2",
        }
    ]
    refused = default_pool(tmp_path / "ws").call(
        "list_calendar_events", {"days": 1, "calendar": str(folder)}
    )
    assert not refused.ok and "slow_path.read_paths" in refused.message


def test_a_reminder_posted_by_another_program_is_offered_as_its_own_entry(tmp_path):
    """The newcomer's case: a dentist reminder posted over HTTP was offered "Show today's
    calendar events", held back as a repeat of that offer made for another entry, and its
    result listed a calendar that did not hold it."""
    from agent.slowpath.drafter import about_other_things
    from tools import default_pool

    def reminder(text: str) -> Event:
        return event_at(0, text, kind="calendar", app="Thunderbird", title="Reminder")

    dentist = first_offer(reminder("Dentist appointment at 15:30, Dr. Weber, Main St 5"))
    stand_up = first_offer(reminder("Team stand-up at 09:30, Room 4"))
    assert dentist.key == "calendar"
    assert dentist.speak.startswith("Coming up: Dentist appointment at 15:30, Dr. Weber")
    assert about_other_things(dentist.task, stand_up.task)
    # The result names the entry, then the rest of the workspace calendar's day.
    pool = default_pool(tmp_path / "ws")
    [listing] = dentist.plan
    listed = pool.call(listing.tool, listing.args)
    assert listed.ok and listed.output == [
        {
            "title": "Dentist appointment at 15:30, Dr. Weber, Main St 5",
            "start": "",
            "location": "",
            "from": "the reminder",
        }
    ]


def test_a_reminder_of_an_entry_the_calendar_holds_is_not_listed_twice(tmp_path):
    from tools import default_pool

    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    (tmp_path / "work.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\nBEGIN:VEVENT\nUID:d@t\n"
        f"DTSTAMP:20260101T000000Z\nDTSTART:{soon:%Y%m%dT%H%M%SZ}\n"
        "SUMMARY:Dentist\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    pool = default_pool(tmp_path / "ws", read_paths=[tmp_path])
    args = {"days": 1, "calendar": str(tmp_path / "work.ics")}
    listed = pool.call("list_calendar_events", {**args, "entry": "Dentist at 15:30"})
    assert listed.ok and [e["title"] for e in listed.output] == ["Dentist"]


async def test_an_entry_is_announced_once_and_not_before_its_lead_time(tmp_path):
    path = _calendar(tmp_path)
    clock = Clock(datetime(2026, 12, 9, 8, 0, tzinfo=UTC))  # 30 min before
    source = CalendarSource(path, lead_s=600, poll_s=30, clock=clock)
    assert await source.poll() == []
    clock.now += timedelta(minutes=25)
    [event] = await source.poll()
    clock.now += timedelta(minutes=1)
    assert await source.poll() == []
    # A restarted daemon's new source announces it again with the same id: stored once.
    again = CalendarSource(path, lead_s=600, poll_s=30, clock=clock)
    [repeat] = await again.poll()
    assert isinstance(event, Event) and isinstance(repeat, Event) and repeat.id == event.id


async def test_cancelled_and_all_day_entries_are_not_announced(tmp_path):
    path = _calendar(tmp_path)
    # Monday 2026-12-07's stand-up is cancelled (EXDATE); the 9th's holiday has no time.
    for when in (
        datetime(2026, 12, 7, 8, 25, tzinfo=UTC),
        datetime(2026, 12, 8, 23, 55, tzinfo=UTC),
    ):
        assert await CalendarSource(path, lead_s=600, clock=Clock(when)).poll() == []


async def test_summer_time_moves_the_utc_start(tmp_path):
    # Monday 2026-07-06 09:30 in Berlin is 07:30 UTC.
    clock = Clock(datetime(2026, 7, 6, 7, 25, tzinfo=UTC))
    [event] = await CalendarSource(_calendar(tmp_path), lead_s=600, clock=clock).poll()
    assert isinstance(event, Event) and event.attributes["starts"] == "2026-07-06T07:30:00+00:00"


async def test_a_removed_calendar_is_a_fault_and_its_return_is_picked_up(tmp_path, caplog):
    folder = tmp_path / "calendars"
    clock = Clock(datetime(2026, 12, 9, 8, 25, tzinfo=UTC))
    source = CalendarSource(folder, lead_s=600, poll_s=0.01, clock=clock)
    reader = asyncio.ensure_future(collect_items(source, 1))
    with caplog.at_level(logging.INFO, logger="festina.sources.calendar"):
        await eventually(lambda: source.faults >= 3, unless=reader)
        folder.mkdir()
        _calendar(folder)
        [event] = await asyncio.wait_for(reader, 10)
    assert isinstance(event, Event) and event.title == "Team stand-up"
    messages = [record.message for record in caplog.records]
    assert sum("is not there; retrying" in m for m in messages) == 1
    assert any("back after" in m for m in messages)


async def test_a_broken_file_is_rejected_once_and_the_others_still_read(tmp_path):
    _calendar(tmp_path)
    (tmp_path / "broken.ics").write_text("BEGIN:VCALENDAR\nthis is not iCalendar\n")
    clock = Clock(datetime(2026, 12, 9, 8, 25, tzinfo=UTC))
    source = CalendarSource(tmp_path, lead_s=600, clock=clock)
    items = await source.poll()
    [rejection] = [item for item in items if isinstance(item, Rejection)]
    assert "broken.ics is not a readable calendar" in rejection.reason
    assert [item.title for item in items if isinstance(item, Event)] == ["Team stand-up"]
    clock.now += timedelta(seconds=30)
    assert await source.poll() == []  # the same broken version is not reported again


def test_source_specs_name_the_new_sources(tmp_path):
    settings = Settings.model_validate(
        {"calendar": {"lead_minutes": 5}, "power": {"poll_s": 5}, "screen": {"interval_s": 2}}
    )
    calendar = open_source(f"calendar:{tmp_path}", settings)
    assert isinstance(calendar, CalendarSource) and calendar.lead == timedelta(minutes=5)
    power = open_source("power", settings)
    assert isinstance(power, PowerSource) and power.poll_s == 5
    with pytest.raises(SourceSpecError, match=r"needs an \.ics file"):
        open_source("calendar:", settings)
    screen = open_source("screen", settings)
    assert isinstance(screen, ScreenSource) and screen.poll_s == 2
    with pytest.raises(SourceSpecError, match="notifications, power, screen"):
        open_source("ocr", settings)


def test_a_failed_command_reads_as_its_own_error():
    event = Event(
        time=datetime(2026, 12, 6, tzinfo=UTC),
        source="shell",
        kind=EventKind.FAILED_COMMAND,
        app="bash",
        title="$ pytest tests/test_invoice.py",
        text="$ pytest tests/test_invoice.py\nexit status 1 after 2.3 s in /home/dana/shop",
        attributes={"command": "pytest tests/test_invoice.py", "exit_status": 1},
    )
    facts = EventFacts.of(event)
    assert facts.error == "pytest tests/test_invoice.py failed with exit status 1"
    assert facts.command == "pytest tests/test_invoice.py"
    offer = first_offer(event)
    assert offer.key == "error" and "pytest tests/test_invoice.py failed" in offer.speak


def test_the_daemon_takes_its_sources_from_the_config(tmp_path):
    soon = datetime.now(UTC) + timedelta(minutes=5)
    entry = STAND_UP.replace(
        "BEGIN:VEVENT\nUID:holiday",
        "BEGIN:VEVENT\nUID:review@example.org\nDTSTAMP:20260101T000000Z\n"
        f"DTSTART:{soon:%Y%m%dT%H%M%SZ}\nSUMMARY:Design review\nEND:VEVENT\nBEGIN:VEVENT\n"
        "UID:holiday",
    )
    calendar = _calendar(tmp_path, entry)
    home = tmp_path / "home"
    with http_daemon(home, free_port(), also=(f"calendar:{calendar}", "power")) as daemon:
        wait_for(lambda: count(home, "select count(*) from events where kind = 'calendar'") == 1)
        status = httpx.get(f"{daemon.url}/v1/status", headers=AUTH, timeout=10).json()
    assert status["counts"]["source_faults"] == 0
    [(title,)] = database(home).execute("select title from events where kind = 'calendar'")
    assert title == "Design review"
