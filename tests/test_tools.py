"""The tool pool: schemas, the confirmation gate, workspace confinement, real effects."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import icalendar
import pytest

from tests.helpers import ok
from tools import default_pool
from tools.pool import ConfirmationRequired, UnknownTool


@pytest.fixture
def pool(tmp_path):
    return default_pool(tmp_path / "workspace")


def test_the_pool_is_large_typed_and_described(pool):
    assert len(pool) >= 40
    assert {t.domain for t in pool.tools()} >= {"desktop", "organizer", "phone"}
    for tool in pool.tools():
        schema = tool.schema()
        assert tool.description and schema["parameters"]["type"] == "object", tool.name
        assert tool.Args.model_config.get("extra") == "forbid", tool.name
    # What an LLM API receives: strict JSON that survives the trip unchanged, one schema per
    # tool under a unique name, every required argument a described property.
    schemas = json.loads(json.dumps(pool.schemas(), allow_nan=False))
    assert schemas == pool.schemas()
    names = [schema["name"] for schema in schemas]
    assert names == [tool.name for tool in pool.tools()] and len(set(names)) == len(names)
    for schema in schemas:
        parameters = schema["parameters"]
        assert set(parameters.get("required", [])) <= set(parameters["properties"]), schema
    assert sum(t.side_effect for t in pool.tools()) >= 15


def test_side_effects_need_confirmation(pool):
    with pytest.raises(ConfirmationRequired) as caught:
        pool.call("create_note", {"title": "Plan", "body": "x"})
    assert caught.value.tool.name == "create_note"
    assert not (pool.context.workspace / "notes").exists()
    ok(pool.call("create_note", {"title": "Plan", "body": "x"}, confirmed=True))
    assert pool.log[-1].confirmed is True


def test_dry_run_changes_nothing(tmp_path):
    pool = default_pool(tmp_path / "ws", dry_run=True)
    result = pool.call("save_file", {"name": "a.txt", "content": "hi"})
    assert result.dry_run and "would write" in result.message
    assert not (tmp_path / "ws").exists()


def test_bad_arguments_and_unknown_tools(pool):
    result = pool.call("calculate", {"expression": "1+1", "extra": 1})
    assert not result.ok and "extra: Extra inputs are not permitted" in result.message
    with pytest.raises(UnknownTool):
        pool.call("launch_rockets", {})


def test_writes_stay_in_the_workspace(pool, tmp_path):
    escaped = pool.call("save_file", {"name": "../escape.txt", "content": "x"}, confirmed=True)
    assert not escaped.ok
    assert not (tmp_path / "escape.txt").exists()
    outside = pool.call("read_file", {"path": "/etc/hostname"})
    assert not outside.ok and "outside" in outside.message


def test_notes_round_trip(pool):
    ok(pool.call("create_note", {"title": "Ruby names", "body": "use capitalize"}, confirmed=True))
    ok(
        pool.call(
            "append_to_note", {"title": "Ruby names", "body": "split on spaces"}, confirmed=True
        )
    )
    [found] = ok(pool.call("search_notes", {"query": "SPLIT"}))
    assert found["note"] == "Ruby names" and "split on spaces" in found["passage"]
    text = ok(
        pool.call("read_file", {"path": str(pool.context.workspace / "notes" / "Ruby names.md")})
    )
    assert text.startswith("# Ruby names") and "split on spaces" in text
    again = pool.call("create_note", {"title": "Ruby names", "body": "x"}, confirmed=True)
    assert not again.ok and "exists" in again.message


def _unfolded(ics: bytes) -> list[str]:
    """RFC 5545 content lines: CRLF-separated, a line starting with a space continues the
    one before it."""
    return ics.decode("utf-8").replace("\r\n ", "").split("\r\n")


def test_calendar_events_are_real_ics_files(pool):
    start = datetime.now(UTC) + timedelta(days=1)
    path = ok(
        pool.call(
            "create_calendar_event",
            {
                "title": "Review, draft; v2",
                "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
                "location": "Room 1",
            },
            confirmed=True,
        )
    )
    lines = _unfolded(Path(path).read_bytes())
    assert "BEGIN:VEVENT" in lines and "SUMMARY:Review\\, draft\\; v2" in lines
    [listed] = ok(pool.call("list_calendar_events", {"days": 2}))
    assert (listed["title"], listed["location"]) == ("Review, draft; v2", "Room 1")
    backwards = pool.call(
        "create_calendar_event",
        {"title": "x", "start": start.isoformat(), "end": start.isoformat()},
        confirmed=True,
    )
    assert not backwards.ok and "end must be after start" in backwards.message


def test_long_and_special_calendar_texts_are_folded_and_round_trip(pool):
    start = datetime.now(UTC) + timedelta(hours=3)
    title = "Quarterly planning, budget; hiring — " + "é" * 60 + " \\ end"
    description = 'Agenda:\n1. numbers, costs; risks\n2. back\\slash "quoted"\n' + "x" * 300
    path = ok(
        pool.call(
            "create_calendar_event",
            {
                "title": title,
                "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
                "location": "Room 1, floor 2; east",
                "description": description,
            },
            confirmed=True,
        )
    )
    raw = Path(path).read_bytes()
    physical = raw.split(b"\r\n")
    assert max(len(line) for line in physical) <= 75  # octets, as RFC 5545 3.1 requires
    assert any(line.startswith(b" ") for line in physical)  # so some were folded
    [summary] = [line for line in _unfolded(raw) if line.startswith("SUMMARY:")]
    assert summary == "SUMMARY:" + title.replace("\\", "\\\\").replace(",", "\\,").replace(
        ";", "\\;"
    )
    [event] = icalendar.Calendar.from_ical(raw).walk("VEVENT")
    assert (str(event["SUMMARY"]), str(event["DESCRIPTION"])) == (title, description)
    assert event.decoded("DTSTART") == start.replace(microsecond=0)
    [listed] = ok(pool.call("list_calendar_events", {"days": 1}))
    assert (listed["title"], listed["location"]) == (title, "Room 1, floor 2; east")


def test_calendar_listing_reads_other_applications_files(pool):
    folder = pool.context.workspace / "calendar"
    folder.mkdir(parents=True)
    tomorrow = (datetime.now() + timedelta(days=1)).date()
    (folder / "all-day.ics").write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//other//EN\r\nBEGIN:VEVENT\r\n"
        b"UID:1@other\r\nDTSTART;VALUE=DATE:" + f"{tomorrow:%Y%m%d}".encode() + b"\r\n"
        b"SUMMARY:Offsite\\, all day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (folder / "broken.ics").write_text("not a calendar")
    result = pool.call("list_calendar_events", {"days": 3})
    assert [e["title"] for e in ok(result)] == ["Offsite, all day"]
    assert result.message == "skipped unreadable: broken.ics"


def test_reminders_timers_alarms_and_todos(pool):
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    ok(pool.call("set_reminder", {"text": "stand up", "due": due}, confirmed=True))
    ok(pool.call("set_timer", {"minutes": 25, "label": "focus"}, confirmed=True))
    ok(pool.call("set_alarm", {"at": "07:30"}, confirmed=True))
    kinds = [r["kind"] for r in ok(pool.call("list_reminders", {"days": 2}))]
    assert sorted(kinds) == ["alarm", "reminder", "timer"]
    todo = ok(pool.call("create_todo", {"text": "write tests"}, confirmed=True))
    assert [t["text"] for t in ok(pool.call("list_todos", {}))] == ["write tests"]
    ok(pool.call("complete_todo", {"id": todo["id"]}, confirmed=True))
    assert ok(pool.call("list_todos", {})) == []


def test_email_drafts_open_in_mail_clients(pool):
    path = ok(
        pool.call(
            "draft_email",
            {"to": ["ana@example.org"], "subject": "Notes", "body": "Attached below."},
            confirmed=True,
        )
    )
    message = message_from_bytes(Path(path).read_bytes())
    assert message["To"] == "ana@example.org" and message["X-Unsent"] == "1"
    invalid = pool.call(
        "draft_email", {"to": ["not an address"], "subject": "", "body": ""}, confirmed=True
    )
    assert not invalid.ok


def test_text_tools_compute_locally(pool):
    assert ok(pool.call("calculate", {"expression": "(2 + 3) * 4 ** 2 / 8"})) == 10.0
    assert not pool.call("calculate", {"expression": "__import__('os')"}).ok
    assert ok(
        pool.call("convert_units", {"value": 100, "from_unit": "c", "to_unit": "f"})
    ) == pytest.approx(212)
    assert ok(
        pool.call("convert_units", {"value": 1, "from_unit": "mi", "to_unit": "km"})
    ) == pytest.approx(1.609344)
    text = "Ruby strings are objects. Ruby strings can be capitalized. The weather is nice."
    summary = ok(pool.call("summarize_text", {"text": text, "sentences": 2}))
    assert summary == "Ruby strings are objects. Ruby strings can be capitalized."
    assert ok(pool.call("extract_keywords", {"text": text, "limit": 2})) == ["ruby", "strings"]
    # Function words beyond the short hand-written lists ("should", "always", "them") are not
    # keywords either.
    modal = "We should always run the tests; we would rather run them green."
    assert ok(pool.call("extract_keywords", {"text": modal, "limit": 2})) == ["run", "tests"]
    assert ok(pool.call("count_words", {"text": text}))["sentences"] == 3
    assert ok(pool.call("test_regex", {"pattern": r"R\w+", "text": text})) == ["Ruby", "Ruby"]
    assert "line 1" in pool.call("format_json", {"text": "{oops"}).message
    assert ok(pool.call("compare_texts", {"before": "a\nb", "after": "a\nc"}))["similarity"] < 1


def test_terminal_commands_run_in_the_workspace(pool):
    done = ok(pool.call("run_terminal_command", {"command": "echo festina"}, confirmed=True))
    assert done["stdout"].strip() == "festina"
    suggestion = ok(pool.call("suggest_terminal_command", {"command": "ls -la"}))
    assert suggestion["program_installed"] is True


def test_tools_without_a_local_implementation_say_so(pool):
    result = pool.call("make_phone_call", {"contact": "Ana"}, confirmed=True)
    assert result.dry_run and "recorded, not performed" in result.message
    assert pool.call("get_weather", {"location": "Lyon"}).dry_run


def test_links_and_clocks(pool):
    assert ok(pool.call("web_search_query", {"query": "ruby capitalize"})).endswith(
        "q=ruby+capitalize"
    )
    assert "destination=Gare+de+Lyon" in ok(
        pool.call("directions_url", {"destination": "Gare de Lyon"})
    )
    assert ok(pool.call("world_clock", {"timezone": "Asia/Tokyo"})).endswith("+09:00")
    assert not pool.call("world_clock", {"timezone": "Mars/Olympus"}).ok
    assert ok(pool.call("system_info", {}))["cpus"] >= 1


def test_reads_are_limited_to_the_workspace_and_the_allowed_folders(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "docs").mkdir(parents=True)
    (home / "docs" / "plan.txt").write_text("allowed")
    (home / "secret.txt").write_text("private")
    monkeypatch.setenv("HOME", str(home))
    workspace = tmp_path / "ws"
    (workspace / "notes").mkdir(parents=True)
    (workspace / "notes" / "a.md").write_text("in the workspace")
    (workspace / "notes" / "escape.md").symlink_to(home / "secret.txt")

    default = default_pool(workspace)
    assert ok(default.call("read_file", {"path": "notes/a.md"})) == "in the workspace"
    for path in ("~/secret.txt", str(home / "docs" / "plan.txt"), "notes/escape.md", "../x"):
        refused = default.call("read_file", {"path": path})
        assert not refused.ok and "slow_path.read_paths" in refused.message, path
    assert not default.call("list_directory", {"path": "~"}).ok
    assert sorted(ok(default.call("search_files", {"pattern": "*.md"}))) == [
        str(workspace / "notes" / "a.md"),
        str(workspace / "notes" / "escape.md"),
    ]

    allowed = default_pool(workspace, read_paths=["~/docs"])
    assert ok(allowed.call("read_file", {"path": "~/docs/plan.txt"})) == "allowed"
    assert not allowed.call("read_file", {"path": "~/secret.txt"}).ok
    assert not allowed.call("read_file", {"path": "~/docs/../secret.txt"}).ok


def _program(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_a_helper_program_that_fails_is_a_failed_step_not_a_crash(pool, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _program(bin_dir, "notify-send", 'echo "cannot connect to the session bus" >&2; exit 1')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    result = pool.call("show_notification", {"title": "t", "body": "b"}, confirmed=True)
    assert not result.ok
    assert result.message == (
        "notify-send failed (exit status 1): cannot connect to the session bus"
    )


def test_a_failing_clipboard_program_gives_way_to_the_next(pool, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    copied = tmp_path / "copied"
    _program(bin_dir, "wl-copy", 'echo "Failed to connect to a Wayland server" >&2; exit 1')
    _program(bin_dir, "xclip", f'cat > "{copied}"')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert ok(pool.call("copy_to_clipboard", {"text": "hello"}, confirmed=True)) is None
    assert copied.read_text() == "hello"
    (bin_dir / "xclip").unlink()
    failed = pool.call("copy_to_clipboard", {"text": "hello"}, confirmed=True)
    assert not failed.ok and failed.message.startswith("wl-copy failed (exit status 1)")


def test_a_tool_s_bug_is_that_step_s_failure(tmp_path, caplog):
    from typing import ClassVar

    from tools.base import NoArgs, Tool, ToolContext
    from tools.pool import ToolPool

    class Broken(Tool):
        name = "broken"
        description = "Divides by zero."
        Args: ClassVar = NoArgs

        def run(self, args, context):
            return 1 / 0

    pool = ToolPool([Broken()], ToolContext(tmp_path, False, (), False))
    result = pool.call("broken", {})
    assert not result.ok
    assert result.message == "broken failed unexpectedly: ZeroDivisionError('division by zero')"
    assert "Traceback" in caplog.text and "tool broken failed unexpectedly" in caplog.text
