"""A database festina cannot use stops the daemon with a plain reason, what to do and an
exit code the systemd unit does not restart on; one that lost its contents says so."""

from __future__ import annotations

import shutil

import pytest

from agent.cli import EXIT_CANNOT_START
from tests.helpers import festina


def _database(home):
    return home / "data" / "festina.db"


@pytest.fixture(scope="module")
def good_database(tmp_path_factory):
    """A real memory with a few hundred events in it."""
    home = tmp_path_factory.mktemp("good")
    done = festina("daemon", "run", home=home, timeout=180)
    assert done.returncode == 0, done.stderr
    return _database(home)


def _broken(home, good_database, how: str) -> None:
    database = _database(home)
    database.parent.mkdir(parents=True)
    data = good_database.read_bytes()
    if how == "folder":
        database.mkdir()
    elif how == "text":
        database.write_text("festina's notes, not a database\n" * 10)
    elif how == "garbage header":
        database.write_bytes(b"\x00garbage\x00" * 2 + data[16:])
    elif how == "truncated":
        database.write_bytes(data[:100])
    elif how == "half":
        database.write_bytes(data[: len(data) // 2])
    elif how == "garbage page":
        database.write_bytes(data[:4096] + b"\xff" * 4096 + data[8192:])


@pytest.mark.parametrize(
    "how", ["folder", "text", "garbage header", "truncated", "half", "garbage page"]
)
def test_an_unusable_database_stops_the_daemon_with_what_to_do(tmp_path, good_database, how):
    _broken(tmp_path, good_database, how)
    done = festina("daemon", "run", home=tmp_path, timeout=120)
    assert done.returncode == EXIT_CANNOT_START, done.stderr
    assert "Traceback" not in done.stderr
    [reason] = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert str(_database(tmp_path)) in reason
    assert "move it aside" in reason and "restore a backup" in reason
    # The other commands say the same, without a traceback.
    listed = festina("decisions", home=tmp_path)
    assert listed.returncode == 1 and "move it aside" in listed.stderr
    assert "Traceback" not in listed.stderr


def test_a_database_that_lost_its_contents_says_so_and_starts_empty(tmp_path, good_database):
    database = _database(tmp_path)
    database.parent.mkdir(parents=True)
    database.write_bytes(b"")
    done = festina("daemon", "run", home=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "is empty (0 bytes): memory starts empty" in done.stderr


def test_a_deleted_database_with_its_log_left_says_so(tmp_path, good_database):
    database = _database(tmp_path)
    database.parent.mkdir(parents=True)
    shutil.copy(good_database, database.with_name("festina.db-wal"))  # any non-empty log
    done = festina("daemon", "run", home=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "festina.db-wal is there: the database was deleted" in done.stderr


def test_the_systemd_unit_does_not_restart_what_a_restart_cannot_fix(tmp_path):
    unit = festina("daemon", "unit", home=tmp_path).stdout
    assert f"RestartPreventExitStatus=3 {EXIT_CANNOT_START}" in unit
    assert "LimitNOFILE=65536" in unit
