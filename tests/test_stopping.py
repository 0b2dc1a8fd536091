"""Stopping and pacing: live events are never paced, a stop finishes within its timeout, and
a run whose daemon died is marked as ended."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from agent.slowpath import Verdict
from core.events import Event
from core.sources import StaticSource
from tests.helpers import (
    FESTINA,
    event_record,
    eventually,
    festina,
    free_port,
    make_pipeline,
    wait_for,
)

TOKEN = "stop-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def http_daemon(home: Path, port: int, extra_config: str = "") -> Iterator[subprocess.Popen]:
    """`festina daemon run --speed 1` with the http source, answering on `port`."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    config.write_text(
        f'[daemon]\nsource = "http"\nspeed = 1.0\n[api]\nport = {port}\ntoken = "{TOKEN}"\n'
        + extra_config,
        encoding="utf-8",
    )
    config.chmod(0o600)
    log = (home / "daemon.out").open("ab")
    process = subprocess.Popen(
        [*FESTINA, "daemon", "run"],
        env={**os.environ, "FESTINA_HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answering() -> bool:
        assert process.poll() is None, (home / "daemon.out").read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/v1/status", headers=AUTH).is_success
        except httpx.HTTPError:
            return False

    try:
        wait_for(answering, timeout=60)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        log.close()


def test_live_http_events_are_never_paced_by_their_timestamps(tmp_path):
    port = free_port()
    with http_daemon(tmp_path / "home", port):
        # An hour apart in event time: paced at --speed 1, the second would wait an hour.
        for i, gap in enumerate((0, 3600, 7200)):
            started = time.monotonic()
            response = httpx.post(
                f"http://127.0.0.1:{port}/v1/events",
                json=event_record(gap, text=f"The user edits notes {i}"),
                headers=AUTH,
                timeout=10,
            )
            assert response.status_code == 200 and response.json()["stored"] is True
            assert time.monotonic() - started < 10


@contextmanager
def black_hole() -> Iterator[tuple[str, threading.Event]]:
    """An 'LLM server' that takes connections and never answers: a drain that hangs."""
    server = socket.create_server(("127.0.0.1", 0))
    called = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            held.append(connection)
            called.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v1", called
    finally:
        server.close()
        for connection in held:
            connection.close()


def test_a_stop_finishes_within_its_timeout_though_the_drain_hangs(tmp_path):
    home, port = tmp_path / "home", free_port()
    with black_hole() as (url, called):
        slow = f'[slow_path]\nbackend = "openai"\nurl = "{url}"\nmodel = "m"\ntimeout_s = 300\n'
        with http_daemon(home, port, slow) as process:
            records = [
                event_record(i, text=f"The user searches for 'error {i % 2}' after a crash")
                for i in range(8)
            ]
            response = httpx.post(
                f"http://127.0.0.1:{port}/v1/events", json=records, headers=AUTH, timeout=30
            )
            assert response.status_code == 200
            assert called.wait(30), "no deliberation reached the model"
            started = time.monotonic()
            stopped = festina("daemon", "stop", "--timeout", "6", home=home)
            took = time.monotonic() - started
            assert stopped.returncode == 0, stopped.stderr
            assert took < 6 + 3  # the command's own start-up on top of its timeout
            assert process.wait(timeout=5) is not None
    assert "stopped" in stopped.stdout or "killed" in stopped.stdout
    status = json.loads(festina("daemon", "status", "--json", home=home).stdout)
    assert status["running"] is False
    assert status["last_run"]["status"] in ("interrupted", "crashed")
    assert status["last_run"]["ended_at"] is not None


class Stuck:
    """A slow path that never finishes a deliberation."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def deliberate(self, window, decision) -> Verdict:
        self.entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_abandoning_stops_at_once_and_leaves_deliberations_for_the_next_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    events = [Event.model_validate(event_record(i, text="edge case")) for i in range(3)]
    stuck = Stuck()
    pipeline, store = make_pipeline(url, StaticSource(events), slow_path=stuck)
    running = asyncio.create_task(pipeline.run())
    await eventually(lambda: store.totals()["events"] == 3, timeout=10, unless=running)
    await asyncio.wait_for(stuck.entered.wait(), 10)
    pipeline.request_stop()
    # Draining: a stop waits on the stuck deliberation, however often the loop turns.
    for _ in range(100):
        await asyncio.sleep(0)
    assert not running.done()
    pipeline.abandon()
    await asyncio.wait_for(running, 10)
    assert store.last_run().status == "interrupted"
    assert len(store.unresolved_escalations()) == 3  # resumed at the next start
    store.close()


def test_a_killed_daemon_s_run_is_marked_crashed(tmp_path):
    home = tmp_path / "home"
    with http_daemon(home, free_port()) as process:
        process.kill()
        process.wait(timeout=30)
    status = festina("daemon", "status", "--json", home=home)
    report = json.loads(status.stdout)
    assert report["running"] is False
    assert report["last_run"]["status"] == "crashed"
    assert report["last_run"]["ended_at"] is not None
    text = festina("daemon", "status", home=home).stdout
    assert "status=running" not in text and "ended_at=None" not in text


def test_status_of_a_running_daemon_says_what_waits_in_each_stage(tmp_path):
    home = tmp_path / "home"
    with http_daemon(home, free_port()):
        shown = festina("daemon", "status", home=home)
    assert shown.returncode == 0, shown.stderr
    assert "now: 0 queued, 0 to store, 0 to decide, 0 to deliberate; memory ok" in shown.stdout
