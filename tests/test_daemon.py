"""The daemon as a user runs it: the `festina` command in its own process."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from agent.daemon import systemd_unit
from tests.helpers import FESTINA, count, database, event_record, festina, wait_for, write_jsonl


def decisions_so_far(home: Path) -> int:
    """Decisions stored by a daemon that may still be creating its database."""
    if not (home / "data" / "festina.db").exists():
        return 0
    try:
        return count(home, "select count(*) from decisions")
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def test_run_replays_the_bundled_stream_into_the_database(tmp_path):
    result = festina("daemon", "run", home=tmp_path)
    assert result.returncode == 0, result.stderr
    events = count(tmp_path, "select count(*) from events")
    assert events == 152
    assert (
        count(tmp_path, "select count(*) from decisions where final_action is not null") == events
    )
    assert "accepted 152 events: 152 decided" in result.stdout


def test_a_malformed_line_is_reported_with_its_line_number_and_the_rest_processed(tmp_path):
    trace = write_jsonl(
        tmp_path / "trace.jsonl",
        [event_record(1), event_record(2), '{"time": 1, "kind": "editor"', event_record(4)],
    )
    result = festina("daemon", "run", "--source", f"jsonl:{trace}", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "rejected trace:3: invalid JSON" in result.stderr
    assert count(tmp_path, "select count(*) from decisions") == 3
    with database(tmp_path) as db:
        assert db.execute("select position, raw from rejected_inputs").fetchall() == [
            (3, '{"time": 1, "kind": "editor"')
        ]
    log = (tmp_path / "logs" / "festina.log").read_text()
    assert "rejected trace:3" in log


def test_sigterm_during_replay_loses_no_accepted_event(tmp_path):
    total = 300
    trace = write_jsonl(tmp_path / "trace.jsonl", [event_record(i) for i in range(total)])
    env = {**os.environ, "FESTINA_HOME": str(tmp_path)}
    # 1 s between recorded events at 100x: about 100 events/s, 3 s for the whole trace.
    daemon = subprocess.Popen(
        [*FESTINA, "daemon", "run", "--source", f"jsonl:{trace}", "--speed", "100"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: decisions_so_far(tmp_path) >= 20)
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    finally:
        daemon.kill()
    assert daemon.returncode == 0, stderr

    with database(tmp_path) as db:
        status, accepted, decided = db.execute(
            "select status, accepted, decided from runs order by id desc"
        ).fetchone()
        undecided = db.execute(
            "select count(*) from events e left join decisions d on d.event_id = e.id "
            "where d.final_action is null"
        ).fetchone()[0]
    assert status == "interrupted"
    assert 20 <= accepted < total
    assert decided == accepted
    assert count(tmp_path, "select count(*) from events") == accepted
    assert undecided == 0

    # Running again picks up exactly what was not accepted before.
    rerun = festina("daemon", "run", "--source", f"jsonl:{trace}", home=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert count(tmp_path, "select count(*) from events") == total
    assert count(tmp_path, "select count(*) from decisions") == total
    assert f"{total - accepted} decided, {accepted} already seen" in rerun.stdout


def test_start_status_stop_in_the_background(tmp_path):
    trace = write_jsonl(tmp_path / "trace.jsonl", [event_record(i) for i in range(2000)])
    started = festina(
        "daemon", "start", "--source", f"jsonl:{trace}", "--speed", "10", home=tmp_path
    )
    assert started.returncode == 0, started.stderr
    assert "daemon started (pid" in started.stdout
    try:
        again = festina("daemon", "start", home=tmp_path)
        assert again.returncode == 3
        assert "already running" in again.stderr

        wait_for(lambda: decisions_so_far(tmp_path) >= 3)
        status = json.loads(festina("daemon", "status", "--json", home=tmp_path).stdout)
        assert status["running"] is True
        assert status["last_run"]["status"] == "running"
    finally:
        stopped = festina("daemon", "stop", home=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout

    status = json.loads(festina("daemon", "status", "--json", home=tmp_path).stdout)
    assert status["running"] is False
    assert status["last_run"]["status"] == "interrupted"
    assert status["last_run"]["decided"] == status["last_run"]["accepted"] > 0
    assert festina("daemon", "stop", home=tmp_path).stdout.strip() == "no daemon running"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["daemon", "run", "--source", "kafka:x"], "unknown source"),
        (["daemon", "run", "--speed", "-1"], "daemon.speed"),
        (["--config", "/nonexistent/festina.toml", "daemon", "run"], "config file not found"),
    ],
)
def test_bad_invocations_fail_with_a_clear_message(tmp_path, args, message):
    result = festina(*args, home=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_reading_memory_while_the_daemon_writes_never_hits_a_lock(tmp_path):
    from memory.store import Store

    trace = write_jsonl(tmp_path / "trace.jsonl", [event_record(i) for i in range(400)])
    env = {**os.environ, "FESTINA_HOME": str(tmp_path)}
    daemon = subprocess.Popen(
        [*FESTINA, "daemon", "run", "--source", f"jsonl:{trace}", "--speed", "200"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    try:
        wait_for(lambda: decisions_so_far(tmp_path) > 0)
        reader = Store(f"sqlite:///{tmp_path / 'data' / 'festina.db'}")
        while daemon.poll() is None:
            seen.append(reader.totals()["events"])
            reader.decisions(50)
        reader.close()
        _, stderr = daemon.communicate(timeout=30)
    finally:
        daemon.kill()
    assert daemon.returncode == 0, stderr
    assert "locked" not in stderr
    assert len(seen) > 10
    assert seen == sorted(seen)  # readers see a growing, consistent history
    assert count(tmp_path, "select count(*) from decisions") == 400


def test_the_systemd_unit_runs_this_installation_and_passes_systemd_analyze(tmp_path):
    home = tmp_path / "my home"
    result = festina("daemon", "unit", home=home)
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "festina.service"
    unit.write_text(result.stdout)
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(result.stdout)
    command = shlex.split(parser["Service"]["ExecStart"])
    assert Path(command[0]).is_file() and command[-2:] == ["daemon", "run"]
    assert f"FESTINA_HOME={home}" in shlex.split(result.stdout.split("Environment=")[2])[0]
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert verified.returncode == 0 and "festina.service" not in verified.stderr, verified.stderr


def test_the_systemd_unit_names_an_explicit_config_and_only_a_home_that_was_set():
    unit = systemd_unit(Path("/opt/festina/bin/festina"), Path("/etc/festina work.toml"), None)
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(unit)
    assert shlex.split(parser["Service"]["ExecStart"]) == [
        "/opt/festina/bin/festina",
        "--config",
        "/etc/festina work.toml",
        "daemon",
        "run",
    ]
    assert "FESTINA_HOME" not in unit and "Environment=PYTHONUNBUFFERED=1" in unit
