"""What several test modules share: records and files, ports, waiting with a deadline, a
pipeline on a scripted gate, the template drafter's first offer, and the `festina` command
(and its daemon on the HTTP source) in a subprocess.

Test modules import from here, never from each other or from product modules that merely
happen to hold a useful function (evals' load test, say).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import resource
import socket
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from textual.pilot import Pilot

from agent.pipeline import Pipeline, PipelineOptions
from agent.slowpath import GateRuleSlowPath
from agent.slowpath.facts import read_facts
from agent.slowpath.templates import TEMPLATES, Candidate
from core.decision import Action, Decision
from core.events import Event
from festina_cli import cli
from gate.base import GateScores
from gate.data import default_data_dir
from gate.policy import GatePolicy
from memory.store import Store

REPOSITORY = Path(__file__).resolve().parents[1]


# FESTINA_PROACTIVEBENCH, else shared/ beside the checkout, as the CLI's --data default.
PROACTIVEBENCH = default_data_dir()


# --- records and files ---------------------------------------------------------------


def event_record(i: int, *, text: str | None = None, start: float = 1_700_000_000.0) -> dict:
    """A valid festina event record, one second after the previous one."""
    return {
        "time": start + i,
        "source": "test",
        "kind": "editor",
        "app": "Editor",
        "text": text or f"The user edits line {i} of notes.md",
    }


def write_jsonl(path: Path, lines: list[dict | str]) -> Path:
    """Write records (dicts) and raw lines (str, written as-is) to a JSONL file."""
    path.write_text(
        "".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


def event_at(
    seconds: float, text: str = "I need help", *, app: str = "Editor", **fields: object
) -> Event:
    """An editor event `seconds` after a fixed start; `fields` set or override the rest."""
    return Event.model_validate(
        {
            "time": 1_700_000_000.0 + seconds,
            "source": "t",
            "kind": "editor",
            "app": app,
            "text": text,
            **fields,
        }
    )


def gate_decision(event: Event, action: Action = Action.SILENT, **fields: object) -> Decision:
    """A decision of the gate's on `event` to store directly: settled by the gate, except an
    escalation, which waits for the slow path. `fields` override the scores and the rest."""
    settled = action is not Action.ESCALATE
    return Decision.model_validate(
        {
            "event_id": event.id,
            "p_need": 0.6,
            "p_accept": 0.7,
            "tau": 0.4,
            "delta": 0.1,
            "gate_action": action,
            "final_action": action if settled else None,
            "decided_by": "gate" if settled else None,
            "model_version": "test",
            "gate_latency_ms": 4.0,
            **fields,
        }
    )


def run_daemon_here(path: Path, records: list[dict]) -> None:
    """`festina daemon run` in this process (FESTINA_HOME as the test set it) over
    `records`, written to `path`; the run must succeed."""
    trace = write_jsonl(path, records)
    result = CliRunner().invoke(cli, ["daemon", "run", "--source", f"jsonl:{trace}"])
    assert result.exit_code == 0, result.output


def bag_of_words(texts: list[str]) -> np.ndarray:
    """A stand-in sentence encoder: unit vectors of hashed words (256 buckets), so texts
    sharing words are close. For logic that needs similar texts close, not MiniLM."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-z0-9']+", text.lower()):
            out[row, zlib.crc32(word.encode()) % 256] += 1.0
        out[row] /= max(float(np.linalg.norm(out[row])), 1e-9)
    return out


# --- ports and waiting ---------------------------------------------------------------


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stand_in_opener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str | None = None
) -> Path:
    """A display, and a stand-in xdg-open first on PATH (the desktop's handler cannot run
    here, and must not open tabs on the machine running the tests). By default it records
    each call's arguments, a line each, in the file returned; `script` replaces that."""
    record = tmp_path / "opened"
    handler = tmp_path / "bin" / "xdg-open"
    handler.parent.mkdir(exist_ok=True)
    body = script if script is not None else f'printf "%s\\n" "$*" >> {record}'
    handler.write_text(f"#!/bin/sh\n{body}\n")
    handler.chmod(0o755)
    monkeypatch.setenv("PATH", f"{handler.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":99")
    return record


def ok(result):
    """A tool call's output, after asserting it succeeded (its message says why not)."""
    assert result.ok, result.message
    return result.output


def wait_for(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll `predicate` until it holds; fail the test if it does not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


async def collect_items(source, count: int, timeout: float = 30.0) -> list:
    """The first `count` items of a live source, then close it."""
    items = []

    async def read() -> None:
        async for item in source.items():
            items.append(item)
            if len(items) >= count:
                return

    try:
        await asyncio.wait_for(read(), timeout)
    finally:
        await source.close()
    return items


async def eventually(
    predicate: Callable[[], object],
    timeout: float = 30.0,
    *,
    unless: asyncio.Future | None = None,
) -> None:
    """The asyncio `wait_for`: poll until `predicate` holds or fail after `timeout` s.
    `unless`, a task the condition depends on, fails the wait at once if it ends first."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if unless is not None and unless.done():
            outcome = unless.exception() or unless.result()
            raise AssertionError(f"ended before the condition held: {outcome!r}")
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def first_offer(event: Event) -> Candidate:
    """The template drafter's best offer with no encoder or memory: the highest prior."""
    facts = read_facts([event])
    built = [
        (template.prior, candidate)
        for template in TEMPLATES
        if (candidate := template.build(facts)) is not None
    ]
    return max(built, key=lambda pair: pair[0])[1]


# --- a pipeline on a scripted gate ---------------------------------------------------


class FixedGate:
    """Scores from the event text: 'boom' raises, 'edge' lands on tau, 'help' is clear."""

    version = "fixed-test"

    def score(self, windows):
        scores = []
        for window in windows:
            text = window[-1].text
            if "boom" in text:
                raise RuntimeError("model exploded")
            if "edge" in text:
                scores.append(GateScores(p_need=1.0, p_accept=0.5))
            elif "help" in text:
                scores.append(GateScores(p_need=1.0, p_accept=0.95))
            else:
                scores.append(GateScores(p_need=0.1, p_accept=0.05))
        return scores


class RecordingSurface:
    def __init__(self) -> None:
        self.offers: list[tuple[Event, Decision]] = []
        self.results: list[tuple[str, list]] = []

    def offer(self, event, decision):
        self.offers.append((event, decision))

    def result(self, event_id, outcomes):
        self.results.append((event_id, outcomes))


def make_pipeline(url, source, *, gate=None, slow_path=None, surface=None, pacing=None, **options):
    """A pipeline over `source` storing in `url`: FixedGate, equal costs, delta 0.1;
    paced as the daemon is unless `pacing` says otherwise (evals.lockstep.Lockstep)."""
    store = Store(url)
    pipeline = Pipeline(
        source=source,
        gate=gate or FixedGate(),
        policy=GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.1),
        store=store,
        slow_path=slow_path or GateRuleSlowPath(),
        surface=surface or RecordingSurface(),
        options=PipelineOptions(**options),
        pacing=pacing,
    )
    return pipeline, store


# --- the festina command -------------------------------------------------------------

FESTINA = [sys.executable, "-m", "festina_cli"]


def festina_without(*modules: str) -> list[str]:
    """The festina command with these top-level modules unimportable, as in an install that
    lacks them: a finder refuses them (ModuleNotFoundError, as when they are not
    installed); a None in sys.modules would break libraries that only look there."""
    script = f"""
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {set(modules)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Refuse())
from festina_cli import main
main()
"""
    return [sys.executable, "-c", script]


# torch, transformers and sentence-transformers: the runtime install has none of them, and
# tests run the daemon and `gate train` this way to show that they need none.
FESTINA_WITHOUT_TORCH = festina_without("torch", "transformers", "sentence_transformers")


def festina(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FESTINA_HOME": str(home)}
    return subprocess.run(
        [*FESTINA, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def database(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "data" / "festina.db")


def count(home: Path, sql: str) -> int:
    with database(home) as db:
        return db.execute(sql).fetchone()[0]


def learnt_shift(store: Store) -> float:
    """How far the personal model's answers moved the logit of the offers they were
    about, summed over its update history."""

    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    return sum(
        logit(update.welcome_after) - logit(update.welcome_before)
        for update in store.personal_updates(limit=1000)
    )


def press_without_toasts(*keys: str) -> Callable[[Pilot], Awaitable[None]]:
    """Key presses for a snapshot, with the toasts they raise dismissed: a toast is mounted
    after the press returns and expires on the wall clock, so whether (and how far laid out)
    it is on screen when the picture is taken depends on the machine's speed."""

    async def press(pilot: Pilot) -> None:
        await pilot.press(*keys)
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    return press


# --- the daemon on its HTTP source, as a subprocess ----------------------------------

TOKEN = "fault-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    url: str
    home: Path

    def post(self, body: object, **kwargs) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/events", json=body, headers=AUTH, timeout=60, **kwargs)


@contextmanager
def http_daemon(
    home: Path,
    port: int,
    *,
    also: tuple[str, ...] = (),
    max_open_files: int | None = None,
    output: Path | None = None,
    config: str = "",
) -> Iterator[Daemon]:
    """`festina daemon run` with the http source (and the sources `also` names), up and
    answering; `max_open_files` lowers its descriptor limit (as `ulimit -n` would);
    `output`: where its stdout and stderr go (default: daemon.out in `home`); `config`:
    more of the config file (sections other than daemon, api and etiquette)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f"[daemon]\nsource = {json.dumps(['http', *also])}\n"
        f'[api]\nport = {port}\ntoken = "{TOKEN}"\n'
        # Offers every few events: the slow path and etiquette are on the hot path too.
        "[etiquette]\ncooldown_s = 5.0\n" + config,
        encoding="utf-8",
    )
    env = {**os.environ, "FESTINA_HOME": str(home)}
    output = output or home / "daemon.out"
    log = output.open("ab")

    def limit_files() -> None:
        if max_open_files is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, hard))

    process = subprocess.Popen(
        [*FESTINA, "daemon", "run"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=limit_files,
    )
    daemon = Daemon(process, f"http://127.0.0.1:{port}", home)

    def answering() -> bool:
        assert process.poll() is None, output.read_text()
        try:
            return httpx.get(f"{daemon.url}/v1/status", headers=AUTH, timeout=1).is_success
        except httpx.HTTPError:
            return False

    try:
        wait_for(answering, timeout=60)
        yield daemon
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)
        log.close()
