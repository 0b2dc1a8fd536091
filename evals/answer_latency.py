"""`festina eval answer`: from "yes" to a result, on a quiet HTTP source.

The real daemon (`festina daemon run`, its own process, SQLite, the template drafter) on
the HTTP source alone, etiquette off so that each event can be offered. For each event:
post it, wait until its offer is listed (`GET /v1/decisions`), accept it (`POST
/v1/feedback`), then poll the listing every 10 ms until the plan's results are there. No
other event arrives meanwhile: the answer must act on its own. Reported beside the floor
measured in the same run: one `GET /v1/decisions` round trip.

With `busy`, another accepted plan's step runs all along: the daemon drafts with a
stand-in model server (`[slow_path] backend = "openai"`), an error is offered and accepted
first, and its explanation is held mid-answer by the server until the timing ends. Each
search's offer then runs a notes search; the figure says whether one plan's long step
holds the others back. Whether the explanation was still held at the end is reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import numpy as np

from agent.control import FESTINA_MODULE
from evals.load_test import free_port
from evals.stand_in_llm import ChatCompletionHandler

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
# The busy run's error, whose accepted explanation is held while the searches are timed.
ERROR_TEXT = "The user runs pytest: FAILED tests/test_invoice.py::test_total - KeyError: 'price'"
HOLD_S = 600.0  # the longest the stand-in holds the explanation
T = TypeVar("T")


@dataclass
class AnswerLatency:
    offers: int
    not_offered: int
    answer_to_result_ms_p50: float
    answer_to_result_ms_p95: float
    answer_to_result_ms_max: float
    listing_round_trip_ms_p50: float
    busy: bool = False
    """Another accepted plan's step (a held explanation) ran while these were timed."""
    held_throughout: bool | None = None
    """With `busy`: that step was still running when the timing ended."""


def _wait(condition: Callable[[], T], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(POLL_S)
    raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")


def measure(events: int = 20, *, busy: bool = False) -> AnswerLatency:
    """Run the daemon in a scratch home and time `events` accepted offers; with `busy`,
    while another accepted plan's step is held (see the module)."""
    with tempfile.TemporaryDirectory(prefix="festina-answer-") as scratch, _model(busy) as model:
        home = Path(scratch)
        port = free_port()
        slow_path = (
            f'[slow_path]\nbackend = "openai"\nurl = "{model.url}"\nmodel = "stand-in"\n'
            f"timeout_s = {HOLD_S}\n"
            if model
            else ""
        )
        (home / "config.toml").write_text(
            f'[daemon]\nsource = "http"\n[api]\nport = {port}\ntoken = "{TOKEN}"\n'
            "[gate]\ncost_missed_help = 13.0\n"
            "[etiquette]\ncooldown_s = 0.0\npending_timeout_s = 0.0\nrepeat_window_s = 0.0\n"
            "max_offers_per_day = 0\n" + slow_path
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
            if model is None:
                return _time_answers(client, events)
            held = _hold_an_explanation(client, model)
            result = _time_answers(client, events)
            plan = (_listed(client, held, limit=events + 5) or {}).get("plan")
            result.busy = True
            result.held_throughout = plan is not None and not plan["finished"]
            return result
        finally:
            client.close()
            daemon.terminate()
            daemon.wait(timeout=60)
            log.close()


class _HoldingModel(ChatCompletionHandler):
    """A stand-in OpenAI-compatible server: drafts an explanation of the busy run's error
    and a notes search for anything else, and streams an explanation's first words, then
    holds it until `release` is set (`streaming` says it has begun)."""

    release: ClassVar[threading.Event] = threading.Event()
    streaming: ClassVar[threading.Event] = threading.Event()

    def reply(self, body: dict) -> str:
        return json.dumps(_proposal(body["messages"][-1]["content"]))

    def stream(self, body: dict) -> Iterator[str]:
        yield "The key 'price' is missing from an item; "
        self.streaming.set()
        self.release.wait(HOLD_S)
        yield "build the items with it."


def _proposal(asked: str) -> dict[str, Any]:
    # A search's prompt may show the error too, among the events before it.
    if "The user searches for" not in asked:
        return {
            "speak": "That test failed with KeyError: 'price'. Shall I explain it?",
            "task": "Explain the KeyError: 'price' in test_total",
            "why_now": "the test just failed",
            "tool_plan": [
                {"tool": "explain_error", "args": {"error": "KeyError: 'price'", "context": ""}}
            ],
            "expected_benefit": "the cause of the failure",
        }
    return {
        "speak": "Shall I look in your notes for what you are searching?",
        "task": "Look in the notes for the search",
        "why_now": "the user is searching",
        "tool_plan": [{"tool": "search_notes", "args": {"query": "how to"}}],
        "expected_benefit": "an answer already written down",
    }


@dataclass
class _Model:
    url: str
    handler: type[_HoldingModel]


@contextmanager
def _model(busy: bool) -> Iterator[_Model | None]:
    """With `busy`, the holding stand-in model, released and shut down at the end;
    otherwise none."""
    if not busy:
        yield None
        return
    handler = type(
        "Holding", (_HoldingModel,), {"release": threading.Event(), "streaming": threading.Event()}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield _Model(f"http://127.0.0.1:{server.server_port}/v1", handler)
    finally:
        handler.release.set()
        server.shutdown()
        server.server_close()


def _hold_an_explanation(client: httpx.Client, model: _Model) -> str:
    """Post the busy run's error, accept its offer, and wait until its explanation is
    being written (held by the stand-in); the error's event id."""
    record = {
        "time": time.time() - 60,
        "source": "answer-latency",
        "kind": "terminal",
        "app": "Terminal",
        "text": ERROR_TEXT,
    }
    [event_id] = client.post("/v1/events", json=record).json()["accepted"]
    decided = _wait(partial(_decided, client, event_id), 30, "the error's decision")
    if decided["decision"]["final_action"] != "intervene":
        raise RuntimeError("the daemon offered no help on the error to hold")
    client.post("/v1/feedback", json={"event_id": event_id, "outcome": "accepted"})
    if not model.handler.streaming.wait(30):
        raise TimeoutError("the held explanation did not start within 30 s")
    return event_id


def _answers(client: httpx.Client, daemon: subprocess.Popen[bytes]) -> bool:
    if daemon.poll() is not None:
        raise RuntimeError(f"the daemon exited with {daemon.returncode}")
    try:
        return client.get("/v1/status").is_success
    except httpx.HTTPError:
        return False


def _listed(client: httpx.Client, event_id: str, limit: int = 5) -> dict[str, Any] | None:
    for record in client.get("/v1/decisions", params={"limit": limit}).json():
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
    busy = ""
    if result.busy:
        held = "held throughout" if result.held_throughout else "NOT held throughout"
        busy = f"while another accepted plan's explanation was {held}\n"
    return (
        busy + f"accepted offers timed: {result.offers} (not offered: {result.not_offered})\n"
        f"answer -> result listed: p50 {result.answer_to_result_ms_p50:.0f} ms, "
        f"p95 {result.answer_to_result_ms_p95:.0f} ms, "
        f"max {result.answer_to_result_ms_max:.0f} ms\n"
        f"floor (one GET /v1/decisions, same run): p50 {result.listing_round_trip_ms_p50:.0f} ms"
    )


def as_dict(result: AnswerLatency) -> dict[str, Any]:
    return asdict(result)
