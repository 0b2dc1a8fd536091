"""`festina eval answer`: from "yes" to a result, on a quiet HTTP source.

The real daemon (`festina daemon run`, its own process, SQLite, the template drafter) on
the HTTP source alone, etiquette off so that each event can be offered. For each event:
post it, wait until its offer is listed (`GET /v1/decisions`), accept it (`POST
/v1/feedback`), then poll the listing every 10 ms until the plan's results are there. No
other event arrives meanwhile: the answer must act on its own. Reported beside the floor
measured in the same run: one `GET /v1/decisions` round trip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

from agent.control import FESTINA_MODULE
from evals.load_test import free_port

TOKEN = "answer-latency-token-0123456789"
START_TIMEOUT_S = 120.0
POLL_S = 0.01
# How-to searches with no words in common: their offer's plan (the notes, a search for a
# worked example) has no side effect, so it runs to its end on "yes" alone. A plain
# search's plan opens the search and writes the session note, and a repeated search's
# makes a note: side effects, which wait for a confirmation the HTTP API does not take.
QUERIES = (
    "how to get a python dict default", "how to cancel an asyncio taskgroup",
    "how to fix postgres socket refused", "how to undo the last git commit",
    "how to center with css grid", "how to satisfy the rust borrow checker",
    "how to install libssl headers on debian", "how to set pytest fixture scope",
    "how to mount docker compose volumes", "how to constrain typescript generics",
    "how to get a bash array length", "how to rank sqlite fts5 results",
    "how to restart a kubernetes pod", "how to read numpy broadcasting rules",
    "how to write a regex lookbehind", "how to handle a utf8 decode error",
    "how to declare make phony targets", "how to use ssh agent forwarding",
    "how to repeat a vim macro", "how to use json schema oneof",
)  # fmt: skip
T = TypeVar("T")


@dataclass
class AnswerLatency:
    offers: int
    not_offered: int
    answer_to_result_ms_p50: float
    answer_to_result_ms_p95: float
    answer_to_result_ms_max: float
    listing_round_trip_ms_p50: float


def _wait(condition: Callable[[], T], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(POLL_S)
    raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")


def measure(events: int = 20) -> AnswerLatency:
    """Run the daemon in a scratch home and time `events` accepted offers."""
    with tempfile.TemporaryDirectory(prefix="festina-answer-") as scratch:
        home = Path(scratch)
        port = free_port()
        (home / "config.toml").write_text(
            f'[daemon]\nsource = "http"\n[api]\nport = {port}\ntoken = "{TOKEN}"\n'
            "[gate]\ncost_missed_help = 13.0\n"
            "[etiquette]\ncooldown_s = 0.0\npending_timeout_s = 0.0\nrepeat_window_s = 0.0\n"
            "max_offers_per_day = 0\n"
        )
        env = {**os.environ, "FESTINA_HOME": str(home)}
        log = (home / "daemon.out").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", FESTINA_MODULE, "daemon", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        try:
            _wait(lambda: _answers(client, daemon), START_TIMEOUT_S, "the daemon's start")
            return _time_answers(client, events)
        finally:
            client.close()
            daemon.terminate()
            daemon.wait(timeout=60)
            log.close()


def _answers(client: httpx.Client, daemon: subprocess.Popen[bytes]) -> bool:
    if daemon.poll() is not None:
        raise RuntimeError(f"the daemon exited with {daemon.returncode}")
    try:
        return client.get("/v1/status").is_success
    except httpx.HTTPError:
        return False


def _listed(client: httpx.Client, event_id: str) -> dict[str, Any] | None:
    for record in client.get("/v1/decisions", params={"limit": 5}).json():
        if record["event"]["id"] == event_id:
            return record
    return None


def _decided(client: httpx.Client, event_id: str) -> dict[str, Any] | None:
    found = _listed(client, event_id)
    return found if found and found["decision"]["final_action"] else None


def _results(client: httpx.Client, event_id: str) -> list[Any] | None:
    return (_listed(client, event_id) or {}).get("results") or None


def _time_answers(client: httpx.Client, events: int) -> AnswerLatency:
    latencies, round_trips, not_offered = [], [], 0
    start = time.time()
    for i in range(events):
        record = {
            "time": start + i,
            "source": "answer-latency",
            "kind": "browser",
            "app": "Firefox",
            "text": f"The user searches for '{QUERIES[i]}'",
        }
        [event_id] = client.post("/v1/events", json=record).json()["accepted"]
        decided = _wait(partial(_decided, client, event_id), 30, "a decision")
        if decided["decision"]["final_action"] != "intervene" or not decided["decision"]["offer"]:
            not_offered += 1
            continue
        sent = time.perf_counter()
        client.post("/v1/feedback", json={"event_id": event_id, "outcome": "accepted"})
        _wait(partial(_results, client, event_id), 30, "a result")
        latencies.append((time.perf_counter() - sent) * 1000)
        asked = time.perf_counter()
        client.get("/v1/decisions", params={"limit": 5})
        round_trips.append((time.perf_counter() - asked) * 1000)
    if not latencies:
        raise RuntimeError("the daemon offered help on none of the events")
    return AnswerLatency(
        offers=len(latencies),
        not_offered=not_offered,
        answer_to_result_ms_p50=float(np.percentile(latencies, 50)),
        answer_to_result_ms_p95=float(np.percentile(latencies, 95)),
        answer_to_result_ms_max=float(max(latencies)),
        listing_round_trip_ms_p50=float(np.percentile(round_trips, 50)),
    )


def format_result(result: AnswerLatency) -> str:
    return (
        f"accepted offers timed: {result.offers} (not offered: {result.not_offered})\n"
        f"answer -> result listed: p50 {result.answer_to_result_ms_p50:.0f} ms, "
        f"p95 {result.answer_to_result_ms_p95:.0f} ms, "
        f"max {result.answer_to_result_ms_max:.0f} ms\n"
        f"floor (one GET /v1/decisions, same run): p50 {result.listing_round_trip_ms_p50:.0f} ms"
    )


def as_dict(result: AnswerLatency) -> dict[str, Any]:
    return asdict(result)
