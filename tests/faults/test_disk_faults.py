"""A disk festina cannot write. At start (full, or mounted read-only): one `Error:` line
naming the path and an exit code the systemd unit does not restart on. While running: a
disk that fills up, or turns read-only on an error, is refused with the reason while it
lasts, nothing acknowledged is lost, it is said once, and the daemon resumes by itself
when the fault clears (a full disk) or stops plainly when asked (a read-only one, which
stays so until a person acts). Real file systems: a small tmpfs and an ext4 loop device,
which need root to mount (CI runs as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from agent.cli import EXIT_CANNOT_START
from core.decision import Action
from core.events import Event
from gate.policy import GatePolicy
from memory.feedback import Outcome
from memory.store import Store
from tests.helpers import (
    AUTH,
    count,
    event_record,
    festina,
    free_port,
    gate_decision,
    http_daemon,
    wait_for,
)
from tui.app import FestinaApp


def _can_mount() -> bool:
    """Whether this process may mount a file system (root, and a kernel that lets it)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    with tempfile.TemporaryDirectory() as where:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", where], capture_output=True
        )
        if mounted.returncode != 0:
            return False
        subprocess.run(["umount", where], check=True)
    return True


pytestmark = pytest.mark.skipif(
    not _can_mount(), reason="mounting a small file system needs root (CI runs as root)"
)


@contextmanager
def small_disk(where: Path, size: str = "24m", *, options: str = "") -> Iterator[Path]:
    where.mkdir()
    options = f"size={size}" + (f",{options}" if options else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte; the file that did it."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as stream:
        chunk = b"\0" * (1 << 16)
        while True:
            try:
                stream.write(chunk)
            except OSError:
                break
        for size in (4096, 512, 1):  # the last few bytes too
            while True:
                try:
                    stream.write(b"\0" * size)
                except OSError:
                    break
    return filler


def _status(daemon) -> dict:
    return httpx.get(f"{daemon.url}/v1/status", headers=AUTH, timeout=10).json()


def _batch(start: int, n: int) -> list[dict]:
    # Long texts, so a write needs new pages whatever the database has free.
    return [event_record(start + i, text=f"note {start + i} " + "x" * 3900) for i in range(n)]


@pytest.mark.parametrize("disk", ["full", "read-only"])
def test_a_daemon_that_cannot_write_its_home_does_not_start_and_says_where(tmp_path, disk):
    with small_disk(tmp_path / "disk", "1m", options="ro" if disk == "read-only" else "") as at:
        if disk == "full":
            fill(at)
        done = festina("daemon", "run", home=at / "home", timeout=120)
    assert done.returncode == EXIT_CANNOT_START, done.stderr
    assert "Traceback" not in done.stderr
    [reason] = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert str(at / "home") in reason
    assert ("No space left" if disk == "full" else "Read-only file system") in reason


@contextmanager
def ext4_disk(where: Path, size_mb: int = 64) -> Iterator[Path]:
    """A real ext4 file system on a loop device that turns read-only on an error."""
    image = where.with_suffix(".img")
    with image.open("wb") as stream:
        stream.truncate(size_mb << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    where.mkdir()
    subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def turn_read_only(disk: Path) -> None:
    """What a failing disk does: ext4 sees an error and goes read-only under every writer."""
    device = subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE", str(disk)], capture_output=True, text=True, check=True
    ).stdout.strip()
    Path("/sys/fs/ext4", Path(device).name, "trigger_fs_error").write_text("1")


@pytest.mark.timeout(240)
@pytest.mark.skipif(
    shutil.which("mkfs.ext4") is None or not Path("/dev/loop-control").exists(),
    reason="needs mkfs.ext4 (Debian: e2fsprogs) and loop devices",
)
def test_a_disk_that_turns_read_only_is_a_state_then_a_plain_stop(tmp_path):
    """ext4 turned read-only by an error stays so until a person acts (it refuses even a
    remount): the daemon refuses events with the reason, keeps running, and when stopped
    gives up what it could not store (none of it acknowledged) with one Error line and the
    exit code the systemd unit does not restart on."""
    output = tmp_path / "daemon.out"  # off the disk that turns read-only
    with ext4_disk(tmp_path / "disk") as disk:
        home = disk / "home"
        with http_daemon(home, free_port(), output=output) as daemon:
            assert daemon.post(_batch(0, 5)).json()["stored"] is True
            turn_read_only(disk)
            answers: list[httpx.Response] = []
            sender = threading.Thread(target=lambda: answers.append(daemon.post(_batch(100, 20))))
            sender.start()
            wait_for(lambda: _status(daemon)["storage_fault"] is not None, timeout=30)
            refused = daemon.post(_batch(200, 1))
            assert refused.status_code == 503 and "memory cannot be written" in refused.text
            daemon.process.terminate()
            assert daemon.process.wait(timeout=60) == EXIT_CANNOT_START
            sender.join(timeout=60)
        [held] = answers
        assert held.status_code != 200  # never acknowledged as stored
        assert count(home, "select count(*) from events") == 5  # what was acknowledged
    out = output.read_text()
    assert "Traceback" not in out
    [error] = [line for line in out.splitlines() if line.startswith("Error: ")]
    assert "memory cannot be written" in error and "none of it was acknowledged" in error


@pytest.mark.timeout(240)
def test_a_full_disk_is_a_state_the_daemon_leaves_by_itself(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        home = disk / "home"
        with http_daemon(home, free_port()) as daemon:
            held = _fill_and_free(daemon, disk)
        assert daemon.process.returncode == 0
        # Nothing taken was lost: the first batch, the one sent as the disk filled if it
        # was taken (if refused, none of it), the last one.
        taken = 20 if held.status_code in (200, 202) else 0
        assert held.status_code == 503 or taken
        assert count(home, "select count(*) from events") == 5 + taken + 2
        out = (home / "daemon.out").read_text()
    assert "Traceback" not in out
    assert out.count("memory cannot be written") == 1
    assert out.count("memory is writable again") == 1


def _fill_and_free(daemon, disk: Path) -> httpx.Response:
    """The answer to a batch sent as the disk filled."""
    assert daemon.post(_batch(0, 5)).json()["stored"] is True
    filler = fill(disk)

    # Events sent as the fault comes: refused, or held and stored once it clears.
    answers: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: answers.append(daemon.post(_batch(100, 20))))
    sender.start()
    wait_for(lambda: _status(daemon)["storage_fault"] is not None, timeout=30)

    refused = daemon.post(_batch(200, 1))
    assert refused.status_code == 503
    assert "memory cannot be written" in refused.json()["detail"]
    assert refused.headers["Retry-After"].isdigit()
    assert daemon.process.poll() is None
    shown = festina("daemon", "status", home=daemon.home)
    assert shown.returncode == 0, shown.stderr
    assert "memory cannot be written (database or disk is full)" in shown.stdout

    filler.unlink()
    wait_for(lambda: _status(daemon)["storage_fault"] is None, timeout=10)
    sender.join(timeout=60)
    assert daemon.post(_batch(300, 2)).json()["stored"] is True
    [held] = answers
    return held


async def test_the_dashboard_says_an_answer_was_not_kept_on_a_full_disk_and_stays_up(tmp_path):
    with small_disk(tmp_path / "disk", "8m") as disk:
        store = Store(f"sqlite:///{disk / 'festina.db'}")
        event = Event.model_validate(event_record(0, text="The user hits a KeyError again"))
        store.record_decisions(None, [(event, gate_decision(event, Action.INTERVENE))])
        app = FestinaApp(store, GatePolicy())
        try:
            async with app.run_test(size=(160, 48)) as pilot:
                await pilot.pause()
                filler = fill(disk)
                await pilot.press("a")
                await pilot.pause()
                [said] = [n.message for n in app._notifications]
                assert said.startswith("memory cannot be written (database or disk is full)")
                assert store.latest_feedback(event.id) is None
                filler.unlink()
                await pilot.press("a")
                await pilot.pause()
                assert store.latest_feedback(event.id) is Outcome.ACCEPTED
        finally:
            store.close()
