"""The memory and preference commands at their edges: each way of saying what to forget,
what is refused and why, and what an empty memory answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from festina_cli import cli
from memory.store import Store
from tests.helpers import event_record, run_daemon_here


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


@pytest.fixture
def remembered(festina_home, tmp_path):
    """A memory holding one event from 30 days ago and two from now."""
    now = datetime.now(UTC).timestamp()
    records = [
        event_record(0, start=now - 30 * 86400),
        event_record(1, start=now - 60),
        event_record(2, start=now - 60),
    ]
    run_daemon_here(tmp_path / "t.jsonl", records)
    return festina_home


def _events(home) -> int:
    store = Store(f"sqlite:///{home / 'data' / 'festina.db'}")
    try:
        return store.totals()["events"]
    finally:
        store.close()


def test_export_to_standard_output_writes_one_record_per_line(remembered):
    done = invoke("memory", "export")
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 3
    assert "exported" not in done.stdout  # the count goes to stderr, not into the records


def test_forgetting_by_age_or_date_counts_from_when_festina_received_them(remembered):
    # The replayed event from 30 days ago arrived just now: a week's age keeps it.
    done = invoke("memory", "forget", "--older-than-days", "7")
    assert done.exit_code == 0, done.output
    assert "forgot 0 events" in done.output and _events(remembered) == 3
    cutoff = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    done = invoke("memory", "forget", "--before", cutoff)
    assert done.exit_code == 0, done.output
    assert "forgot 3 events" in done.output and _events(remembered) == 0


def test_forgetting_says_what_it_cannot_combine(remembered):
    both = invoke("memory", "forget", "--older-than-days", "7", "--before", "2024-01-01")
    assert both.exit_code == 2 and "not both" in both.output
    assert _events(remembered) == 3


def test_forgetting_everything_asks_first_and_an_answer_of_no_keeps_it(remembered):
    kept = invoke("memory", "forget", "--all", input="n\n")
    assert kept.exit_code == 1 and "Forget everything festina remembers?" in kept.output
    assert _events(remembered) == 3
    gone = invoke("memory", "forget", "--all", input="y\n")
    assert gone.exit_code == 0 and _events(remembered) == 0


def test_repair_leaves_a_sound_database_alone(remembered):
    done = invoke("memory", "repair")
    assert done.exit_code == 0, done.output
    assert "is sound: nothing to repair" in done.output
    assert _events(remembered) == 3


def test_repair_is_for_sqlite_only(festina_home):
    festina_home.mkdir()
    (festina_home / "config.toml").write_text(
        '[storage]\nurl = "postgresql+psycopg://festina@127.0.0.1:9/festina"\n'
    )
    done = invoke("memory", "repair")
    assert done.exit_code == 1 and "repair works on SQLite memory" in done.output


def test_an_empty_memory_says_so(festina_home):
    assert invoke("feedback", "show").output.startswith("nothing learned from feedback yet")
    recalled = invoke("memory", "recall", "a KeyError in invoice.py")
    assert recalled.exit_code == 0, recalled.output
    assert "no episodes remembered yet" in recalled.output


def test_recall_needs_a_gate_with_an_encoder(festina_home):
    festina_home.mkdir()
    (festina_home / "config.toml").write_text('[gate]\nmodel = "cues"\n')
    done = invoke("memory", "recall", "anything")
    assert done.exit_code == 1 and "recall needs a trained gate's encoder" in done.output


def test_preference_commands_refuse_what_says_nothing_and_clear_what_was_set(festina_home):
    nothing = invoke("prefs", "costs")
    assert nothing.exit_code == 2 and "give --false-alarm" in nothing.output
    assert invoke("prefs", "costs", "--missed-help", "5").exit_code == 0
    assert json.loads(invoke("prefs", "show").output)["cost_missed_help"] == 5
    assert invoke("prefs", "costs", "--clear").exit_code == 0
    assert json.loads(invoke("prefs", "show").output)["cost_missed_help"] is None
    assert invoke("prefs", "dnd", "on").exit_code == 0
    assert json.loads(invoke("prefs", "show").output)["do_not_disturb"] is True
    bad = invoke("prefs", "quiet", "22:00")
    assert bad.exit_code == 2 and "'22:00': expected HH:MM-HH:MM" in bad.output
