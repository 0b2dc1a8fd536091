"""Starting and stopping the background daemon from the command line.

Kept apart from agent.daemon so `festina daemon stop` does not import the gate and the
pipeline (a second of start-up) before it can send its first signal.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agent.paths import FestinaPaths
from agent.pidlock import running_pid

logger = logging.getLogger("festina.daemon")

START_TIMEOUT_S = 15.0
# The root `festina` command's module (festina_cli.py, what [project.scripts] runs): run by
# name with this interpreter, as agent may not import it (see the import contracts).
FESTINA_MODULE = "festina_cli"


@dataclass(frozen=True)
class StartResult:
    pid: int | None
    running: bool
    exit_code: int | None
    output_file: Path


def start_background(run_args: list[str], paths: FestinaPaths) -> StartResult:
    """Launch `festina daemon run` detached from the terminal and wait until it holds
    the pid lock (or has already exited, as a short replay may)."""
    paths.ensure()
    output_file = paths.log_dir / "daemon.out"
    with output_file.open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", FESTINA_MODULE, *run_args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if running_pid(paths.pid_file) == child.pid:
            return StartResult(child.pid, True, None, output_file)
        code = child.poll()
        if code is not None:
            return StartResult(child.pid, False, code, output_file)
        time.sleep(0.05)
    return StartResult(child.pid, child.poll() is None, child.poll(), output_file)


@dataclass(frozen=True)
class StopResult:
    """How a stop ended: "drained" (everything accepted decided), "undrained" (told a
    second time to stop at once: unfinished work waits for the next start) or "killed"
    (SIGKILL: it answered neither; what it stored is kept, the rest resumes later)."""

    pid: int
    how: str
    seconds: float


# Shares of `timeout_s` given to the drain, then to the undrained stop; SIGKILL after.
DRAIN_SHARE = 0.5
UNDRAINED_SHARE = 0.9


def _wait_until_gone(pid: int, paths: FestinaPaths, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if running_pid(paths.pid_file) != pid:
            return True
        time.sleep(0.05)
    return running_pid(paths.pid_file) != pid


def stop_background(paths: FestinaPaths, timeout_s: float) -> StopResult | None:
    """Stop the running daemon within `timeout_s`; None when none was running.

    SIGTERM first (drain everything accepted); at half the time a second SIGTERM (stop
    without draining); near the end SIGKILL, so the stop always finishes in time."""
    pid = running_pid(paths.pid_file)
    if pid is None:
        return None
    started = time.monotonic()
    steps = (
        (signal.SIGTERM, DRAIN_SHARE, "drained"),
        (signal.SIGTERM, UNDRAINED_SHARE, "undrained"),
        (signal.SIGKILL, 1.0, "killed"),
    )
    for signum, share, how in steps:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return StopResult(pid, how, time.monotonic() - started)
        if signum == signal.SIGKILL:
            logger.warning("daemon %d did not stop in time; killed", pid)
        if _wait_until_gone(pid, paths, started + share * timeout_s):
            return StopResult(pid, how, time.monotonic() - started)
    raise TimeoutError(f"daemon {pid} survived SIGKILL for {timeout_s:.0f}s")
