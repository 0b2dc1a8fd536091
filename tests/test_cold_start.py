"""A daemon's start-up pays only for what it runs: the collector stays out of building
what lives for the process, and a replay imports no live source's or API's libraries."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.startup import long_lived
from tests.helpers import event_record, write_jsonl

# What `festina daemon run` reports about its own process once it has finished.
_REPORT = """
import gc, json, sys
from festina_cli import main
sys.argv = ["festina", *sys.argv[1:]]
try:
    main()
finally:
    seen = sorted({name.partition(".")[0] for name in sys.modules})
    print(json.dumps({"modules": seen, "frozen": gc.get_freeze_count(),
                      "tracked": len(gc.get_objects()), "collecting": gc.isenabled()}))
"""


@pytest.fixture
def collector_restored():
    yield
    gc.enable()
    gc.unfreeze()


def test_inside_the_collector_is_off_and_what_was_made_is_frozen_after(collector_restored):
    gc.enable()
    frozen = gc.get_freeze_count()
    with long_lived():
        assert not gc.isenabled()
        made = [[number] for number in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + len(made)


def test_a_collector_turned_off_before_stays_off(collector_restored):
    gc.disable()
    with long_lived():
        pass
    assert not gc.isenabled()


def test_a_failed_start_up_puts_the_collector_back(collector_restored):
    gc.enable()
    with pytest.raises(RuntimeError), long_lived():
        raise RuntimeError("cannot start")
    assert gc.isenabled()


def test_a_replay_freezes_its_start_up_and_imports_no_live_source(tmp_path: Path):
    events = write_jsonl(
        tmp_path / "events.jsonl", [event_record(i, text=f"reads page {i}") for i in range(10)]
    )
    env = {**os.environ, "FESTINA_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", _REPORT, "daemon", "run", "--source", f"jsonl:{events}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "accepted 10 events: 10 decided" in done.stdout
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # The default slow path drafts through the reasoning graph: its imports are the
    # start-up's too, and frozen with it.
    assert "langgraph" in report["modules"]
    unneeded = {"icalendar", "dbus_fast", "uvicorn", "fastapi", "email_validator", "sklearn"}
    assert unneeded.isdisjoint(report["modules"])
    # Most of what the process holds is left out of collections, and collecting is on.
    assert report["frozen"] > report["tracked"]
    assert report["collecting"]
