"""Organizer tools: calendar events (.ics), reminders, timers, alarms, to-dos and drafts.

Everything is a real file in the workspace: calendar/*.ics import into any calendar
application, drafts/*.eml open in any mail client, and reminders.json / todos.json are
read back by the listing tools.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any, ClassVar

from pydantic import AwareDatetime, EmailStr, Field, model_validator

from tools.base import (
    Tool,
    ToolArgs,
    ToolContext,
    ToolError,
    ToolResult,
    open_for_reading,
    open_for_writing,
    read_roots,
    read_workspace_text,
    readable_path,
    write_file,
)


def _load(context: ToolContext, name: str) -> list[dict[str, Any]]:
    text = read_workspace_text(context, context.path(name))
    return json.loads(text) if text is not None else []


def _save(context: ToolContext, name: str, items: list[dict[str, Any]]) -> None:
    path = context.path(name)
    tmp = path.with_suffix(".tmp")
    with open_for_writing(context, tmp) as stream:
        stream.write(json.dumps(items, indent=2, ensure_ascii=False).encode("utf-8"))
    tmp.replace(path)  # a new name for the new file: never writes through a link at `path`


def _add(context: ToolContext, name: str, item: dict[str, Any], what: str) -> ToolResult:
    if context.dry_run:
        return ToolResult(dry_run=True, output=item, message=f"would add {what}")
    items = _load(context, name)
    items.append(item)
    _save(context, name, items)
    return ToolResult(output=item, message=f"added {what}")


class EventArgs(ToolArgs):
    title: str = Field(min_length=1, max_length=200)
    start: AwareDatetime
    end: AwareDatetime
    location: str = Field("", max_length=200)
    description: str = Field("", max_length=5000)

    @model_validator(mode="after")
    def _ordered(self) -> EventArgs:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class CreateCalendarEvent(Tool):
    name = "create_calendar_event"
    description = "Create a calendar event as an .ics file in the workspace's calendar/ folder."
    Args: ClassVar = EventArgs
    side_effect = True
    domain = "organizer"

    def run(self, args: EventArgs, context: ToolContext) -> ToolResult:
        import icalendar  # imported when a calendar is written: a daemon's start-up needs none

        uid = f"{uuid.uuid4()}@festina"
        event = icalendar.Event()
        event.add("uid", uid)
        event.add("dtstamp", datetime.now(UTC))
        event.add("dtstart", args.start.astimezone(UTC))
        event.add("dtend", args.end.astimezone(UTC))
        event.add("summary", args.title)
        if args.location:
            event.add("location", args.location)
        if args.description:
            event.add("description", args.description)
        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//festina//tools//EN")
        calendar.add("version", "2.0")
        calendar.add_component(event)
        path = context.path("calendar", f"{args.start:%Y%m%d-%H%M}-{uid[:8]}.ics")
        return write_file(
            context, path, calendar.to_ical(), f"event {args.title!r} saved to {path.name}"
        )


class RangeArgs(ToolArgs):
    days: int = Field(7, ge=1, le=366, description="how many days ahead")


class CalendarRangeArgs(RangeArgs):
    calendar: str = Field(
        "",
        max_length=4096,
        description="an .ics file or folder of them (in an allowed folder); "
        "empty: the workspace calendar",
    )
    entry: str = Field(
        "",
        max_length=300,
        description="the entry the listing is about, as its reminder said it: listed "
        "first when the calendar read holds no entry of that name",
    )


class ListCalendarEvents(Tool):
    name = "list_calendar_events"
    description = (
        "List the calendar's entries starting within the next days (repeats expanded), "
        "in local time: the workspace calendar, or an .ics file or folder named."
    )
    Args: ClassVar = CalendarRangeArgs
    domain = "organizer"

    def run(self, args: CalendarRangeArgs, context: ToolContext) -> ToolResult:
        import icalendar  # imported when a calendar is read: a daemon's start-up needs none
        import recurring_ical_events

        where = readable_path(args.calendar, context) if args.calendar else context.path("calendar")
        files = (
            sorted(where.rglob("*.ics")) if where.is_dir() else [where] if where.is_file() else []
        )
        now = datetime.now(UTC)
        start, end = now - timedelta(hours=1), now + timedelta(days=args.days)
        events, unreadable = [], []
        for path in files:
            try:
                with open_for_reading(path, read_roots(context)) as stream:
                    calendar = icalendar.Calendar.from_ical(stream.read())
                entries = recurring_ical_events.of(calendar).between(start, end)
            except (OSError, ToolError, ValueError):
                unreadable.append(path.name)
                continue
            for entry in entries:
                begins = entry.decoded("DTSTART", None)
                if not isinstance(begins, date):  # missing, or not a time icalendar could read
                    unreadable.append(path.name)
                    continue
                events.append(
                    {
                        "title": str(entry.get("SUMMARY", "")),
                        "start": f"{_aware(begins).astimezone():%Y-%m-%d %H:%M}",
                        "location": str(entry.get("LOCATION", "")),
                    }
                )
        message = f"skipped unreadable: {', '.join(sorted(set(unreadable)))}" if unreadable else ""
        events.sort(key=lambda e: e["start"])
        said = args.entry.strip()
        # A reminder posted by another program (a mail client, a phone) is about an entry
        # this calendar may not hold: its words lead, so the result still names it.
        if said and not any(
            e["title"] and e["title"].casefold() in said.casefold() for e in events
        ):
            events.insert(0, {"title": said, "start": "", "location": "", "from": "the reminder"})
        return ToolResult(output=events, message=message)


def _aware(moment: date) -> datetime:
    """An .ics start as an aware datetime: a date (all-day event) is local midnight, a
    floating time (no zone) is local time, as calendar applications read them."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    return moment if moment.tzinfo else moment.astimezone()


class ReminderArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=500)
    due: AwareDatetime


class SetReminder(Tool):
    name = "set_reminder"
    description = "Remember to tell the user something at a given time."
    Args: ClassVar = ReminderArgs
    side_effect = True
    domain = "organizer"

    def run(self, args: ReminderArgs, context: ToolContext) -> ToolResult:
        item = {"kind": "reminder", "text": args.text, "due": args.due.isoformat()}
        return _add(context, "reminders.json", item, f"reminder for {args.due:%Y-%m-%d %H:%M}")


class TimerArgs(ToolArgs):
    minutes: float = Field(gt=0, le=24 * 60)
    label: str = Field("timer", max_length=200)


class SetTimer(Tool):
    name = "set_timer"
    description = "Start a countdown timer."
    Args: ClassVar = TimerArgs
    side_effect = True
    domain = "organizer"

    def run(self, args: TimerArgs, context: ToolContext) -> ToolResult:
        due = datetime.now(UTC) + timedelta(minutes=args.minutes)
        item = {"kind": "timer", "text": args.label, "due": due.isoformat()}
        return _add(context, "reminders.json", item, f"{args.minutes:g}-minute timer")


class AlarmArgs(ToolArgs):
    at: time
    label: str = Field("alarm", max_length=200)


class SetAlarm(Tool):
    name = "set_alarm"
    description = "Set an alarm for the next occurrence of a local time of day."
    Args: ClassVar = AlarmArgs
    side_effect = True
    domain = "organizer"

    def run(self, args: AlarmArgs, context: ToolContext) -> ToolResult:
        now = datetime.now().astimezone()
        due = now.replace(hour=args.at.hour, minute=args.at.minute, second=0, microsecond=0)
        if due <= now:
            due += timedelta(days=1)
        item = {"kind": "alarm", "text": args.label, "due": due.isoformat()}
        return _add(context, "reminders.json", item, f"alarm at {due:%Y-%m-%d %H:%M}")


class ListReminders(Tool):
    name = "list_reminders"
    description = "List pending reminders, timers and alarms, soonest first."
    Args: ClassVar = RangeArgs
    domain = "organizer"

    def run(self, args: RangeArgs, context: ToolContext) -> ToolResult:
        horizon = datetime.now(UTC) + timedelta(days=args.days)
        items = [
            i
            for i in _load(context, "reminders.json")
            if datetime.fromisoformat(i["due"]) <= horizon
        ]
        return ToolResult(output=sorted(items, key=lambda i: i["due"]))


class TodoArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=500)


class CreateTodo(Tool):
    name = "create_todo"
    description = "Add an item to the to-do list."
    Args: ClassVar = TodoArgs
    side_effect = True
    domain = "organizer"

    def run(self, args: TodoArgs, context: ToolContext) -> ToolResult:
        item = {"id": uuid.uuid4().hex[:8], "text": args.text, "done": False}
        return _add(context, "todos.json", item, "to-do")


class CompleteTodoArgs(ToolArgs):
    id: str = Field(min_length=1, max_length=16)


class CompleteTodo(Tool):
    name = "complete_todo"
    description = "Mark a to-do item as done."
    Args: ClassVar = CompleteTodoArgs
    side_effect = True
    domain = "organizer"

    def run(self, args: CompleteTodoArgs, context: ToolContext) -> ToolResult:
        items = _load(context, "todos.json")
        match = next((i for i in items if i["id"] == args.id), None)
        if match is None:
            raise ToolError(f"no to-do with id {args.id!r}")
        if context.dry_run:
            return ToolResult(dry_run=True, message=f"would complete {match['text']!r}")
        match["done"] = True
        _save(context, "todos.json", items)
        return ToolResult(output=match, message=f"done: {match['text']}")


class ListTodos(Tool):
    name = "list_todos"
    description = "List open to-do items."
    Args: ClassVar = RangeArgs
    domain = "organizer"

    def run(self, args: RangeArgs, context: ToolContext) -> ToolResult:
        return ToolResult(output=[i for i in _load(context, "todos.json") if not i["done"]])


class EmailArgs(ToolArgs):
    to: list[EmailStr] = Field(min_length=1, max_length=50)
    subject: str = Field(max_length=300)
    body: str = Field(max_length=200_000)


class DraftEmail(Tool):
    name = "draft_email"
    description = "Write an email draft (.eml) for the user to review and send; never sends."
    Args: ClassVar = EmailArgs
    side_effect = True
    domain = "organizer"

    def run(self, args: EmailArgs, context: ToolContext) -> ToolResult:
        message = EmailMessage()
        message["To"] = ", ".join(args.to)
        message["Subject"] = args.subject
        message["X-Unsent"] = "1"  # mail clients open it as a draft
        message.set_content(args.body)
        path = context.path(
            "drafts", f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}.eml"
        )
        return write_file(context, path, bytes(message), f"draft saved to {path.name}")


class MessageArgs(ToolArgs):
    recipient: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=10_000)
    app: str = Field("messages", max_length=50)


class DraftMessage(Tool):
    name = "draft_message"
    description = "Prepare a chat or text message draft for the user to send; never sends."
    Args: ClassVar = MessageArgs
    side_effect = True
    domain = "organizer"

    def run(self, args: MessageArgs, context: ToolContext) -> ToolResult:
        item = {
            "recipient": args.recipient,
            "text": args.text,
            "app": args.app,
            "created": datetime.now(UTC).isoformat(),
        }
        return _add(context, "drafts/messages.json", item, f"message draft to {args.recipient}")


ORGANIZER_TOOLS: tuple[type[Tool], ...] = (
    CreateCalendarEvent,
    ListCalendarEvents,
    SetReminder,
    SetTimer,
    SetAlarm,
    ListReminders,
    CreateTodo,
    CompleteTodo,
    ListTodos,
    DraftEmail,
    DraftMessage,
)
