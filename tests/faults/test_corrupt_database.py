"""A database festina cannot use stops the daemon with a plain reason, what to do and an
exit code the systemd unit does not restart on; one that lost its contents says so."""

from __future__ import annotations

import shutil

import pytest

from agent.cli import EXIT_CANNOT_START
from tests.helpers import count, festina


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
    advice = "move it aside" if how == "folder" else "festina memory repair"
    assert advice in reason
    # The other commands say the same, without a traceback.
    listed = festina("decisions", home=tmp_path)
    assert listed.returncode == 1 and advice in listed.stderr
    assert "Traceback" not in listed.stderr


@pytest.mark.parametrize(("how", "recovers"), [("garbage page", True), ("text", False)])
def test_repair_keeps_the_broken_file_and_rebuilds_what_it_can(
    tmp_path, good_database, how, recovers
):
    _broken(tmp_path, good_database, how)
    broken = _database(tmp_path).read_bytes()
    done = festina("memory", "repair", home=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    [kept] = [
        path
        for path in _database(tmp_path).parent.glob("festina.db.broken-*")
        if not path.name.endswith(("-wal", "-shm"))  # its journal files moved beside it
    ]
    assert kept.read_bytes() == broken  # nothing deleted, nothing changed
    if recovers:
        assert "events recovered" in done.stdout
        assert count(tmp_path, "select count(*) from events") > 0
    else:
        assert "nothing could be read from it" in done.stdout
    again = festina("daemon", "run", home=tmp_path, timeout=180)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("how", ["emptied", "deleted, its log left"])
def test_a_database_that_lost_its_contents_starts_only_when_told_to(tmp_path, good_database, how):
    database = _database(tmp_path)
    database.parent.mkdir(parents=True)
    if how == "emptied":
        database.write_bytes(b"")
    else:
        shutil.copy(good_database, database.with_name("festina.db-wal"))  # any non-empty log
    refused = festina("daemon", "run", home=tmp_path, timeout=120)
    assert refused.returncode == EXIT_CANNOT_START
    assert "restore it from a backup" in refused.stderr and "--accept-empty" in refused.stderr
    done = festina("daemon", "run", "--accept-empty", home=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "memory starts empty (--accept-empty)" in done.stderr


def test_the_systemd_unit_does_not_restart_what_a_restart_cannot_fix(tmp_path):
    unit = festina("daemon", "unit", home=tmp_path).stdout
    assert f"RestartPreventExitStatus=3 {EXIT_CANNOT_START}" in unit
    assert "LimitNOFILE=65536" in unit
