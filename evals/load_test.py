"""Load test on loopback: the real daemon, its HTTP API, and a busy slow path.

The daemon runs as users run it (`festina daemon run`, its own process, SQLite memory,
the configured gate). This process is the sender: `senders` concurrent clients each
post batches of events and wait for the "stored" answer, so the measured rate is what
the daemon sustains with nothing lost. The daemon acknowledges an event once it is
stored and decides it after, so a run also waits until every event is decided and
reports that time apart: how far decisions lag the acknowledgements. With a `rate`, the
senders offer that many events per second instead, each batch on its schedule (an open
load, as a burst from real sources arrives), and a late answer counts from the schedule.

Escalations go to the OpenAI backend, pointed at a stand-in LLM on loopback that answers
after `llm_latency_s`: the slow path stays busy the whole run, as it would with a real
model.

Etiquette is off (no cooldown, no pending hold) so that escalations keep reaching the
slow path; beyond its room (slow_path.max_waiting) they are settled by the gate's rule.

Three runs, same daemon settings:
- http, recurring texts: event texts recycled from the bundled demo stream, as a real
  day repeats window titles and pages (the encoder's cache absorbs repeats);
- http, unique texts: every text new, the encoder's worst case;
- baseline, JSONL replay: the recurring stream read from a file, no HTTP at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import numpy as np
import psutil

from agent.control import FESTINA_MODULE
from agent.sources import bundled_stream_path
from evals.stand_in_llm import ChatCompletionHandler

TOKEN = "load-test-token-0123456789"
START_TIMEOUT_S = 120.0
DECIDED_TIMEOUT_S = 600.0


def festina_module(tree: Path | None) -> str:
    """The module that runs `festina` in `tree` (None: this one): a baseline from before
    festina_cli.py ran it as agent.cli."""
    if tree is None or (tree / f"{FESTINA_MODULE}.py").is_file():
        return FESTINA_MODULE
    return "agent.cli"


@dataclass(frozen=True)
class DaemonSetup:
    """How each daemon of a run is started: its gate, threads, the stand-in LLM, and the
    code it runs (`tree`: a checkout of another version, run with this environment's
    packages; None: this one)."""

    model: str
    threads: int
    llm_url: str
    code: str = "this tree"
    tree: Path | None = None

    def home(self, workdir: Path, scenario: str) -> Path:
        return (
            workdir
            / self.code.replace(" ", "-")
            / f"{Path(self.model).name}-{self.threads}"
            / scenario
        )


@dataclass
class LoadResult:
    gate: str
    threads: int
    """onnxruntime threads per session (gate.threads; 0: onnxruntime's own choice)."""
    code: str
    scenario: str
    sent: int
    stored: int
    lost: int
    seconds: float
    events_per_s: float
    # Seconds from the first event sent until every event was decided (replay: from the
    # first event stored), and how long after the last acknowledgement that was.
    decided_s: float
    decision_lag_s: float
    ack_ms_p50: float | None
    ack_ms_p99: float | None
    gate_ms_p50: float
    gate_ms_p99: float
    busy_retries: int
    escalated: int
    deliberated: int
    settled_busy: int
    unresolved: int
    # The daemon's own CPU time (user + system) per event sent, from its first event until
    # all are decided (replay: its whole life, start-up included), and its resident memory
    # then.
    cpu_ms_per_event: float
    rss_mb: float
    start_s: float | None = None
    """From spawning the daemon until its API answered (http runs): a cold start."""


def demo_texts() -> list[dict]:
    """The bundled stream's records: the vocabulary of the recurring-text runs."""
    path = bundled_stream_path()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def make_stream(count: int, *, unique_texts: bool, contexts: int = 8, first: int = 0) -> list[dict]:
    """`count` distinct events (ids differ by time) spread over `contexts` sources, from
    the `first`-th event of an endless stream on."""
    base = demo_texts()
    start = 1_800_000_000.0
    stream = []
    for i in range(first, first + count):
        record = dict(base[i % len(base)])
        record.pop("id", None)
        record["time"] = start + i * 0.01
        record["source"] = f"load:context-{i % contexts}"
        if unique_texts:
            record["text"] = f"{record.get('text', '')} (step {i})"
        stream.append(record)
    return stream


class StandInLLM(ChatCompletionHandler):
    """Answers every chat completion after a delay, with a draft the graph refuses."""

    latency_s = 0.5
    usage: ClassVar[dict[str, int]] = {"prompt_tokens": 200, "completion_tokens": 2}

    def reply(self, body: dict) -> str:
        time.sleep(self.latency_s)
        return "{}"


def start_stand_in_llm(latency_s: float) -> tuple[ThreadingHTTPServer, str]:
    """A stand-in LLM on loopback answering after `latency_s`, serving in a thread until
    `shutdown()`; and the base URL to configure the slow path with."""
    handler = type("StandIn", (StandInLLM,), {"latency_s": latency_s})
    llm = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=llm.serve_forever, daemon=True).start()
    return llm, f"http://127.0.0.1:{llm.server_port}/v1"


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


class DaemonUnderLoad:
    def __init__(self, home: Path, setup: DaemonSetup, source: str, port: int) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.url = f"http://127.0.0.1:{port}"
        config = home / "config.toml"
        config.write_text(
            f"[daemon]\nsource = {json.dumps(source)}\nqueue_size = 4096\n"
            f"[api]\nport = {port}\ntoken = {json.dumps(TOKEN)}\n"
            # threads only when set: a tree older than the setting would refuse the key.
            f"[gate]\nmodel = {json.dumps(setup.model)}\n"
            + (f"threads = {setup.threads}\n" if setup.threads else "")
            +
            # Etiquette would hold nearly every offer of a stream this dense; the point
            # here is to keep the slow path busy.
            "[etiquette]\ncooldown_s = 0.0\npending_timeout_s = 0.0\n"
            f'[slow_path]\nbackend = "openai"\nurl = {json.dumps(setup.llm_url)}\n'
            'model = "stand-in"\ntimeout_s = 30.0\n',
            encoding="utf-8",
        )
        self.log = (home / "daemon.out").open("wb")
        env = {**os.environ, "FESTINA_HOME": str(home)}
        if setup.tree is not None:  # its packages ahead of the installed ones
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(setup.tree), env.get("PYTHONPATH")])
            )
        command = ["-m", festina_module(setup.tree), "--config", str(config), "daemon", "run"]
        self.spawned = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, *command],
            env=env,
            cwd=setup.tree,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def usage(self) -> tuple[float, float]:
        """(CPU seconds so far, resident MB now) of the running daemon."""
        process = psutil.Process(self.process.pid)
        with process.oneshot():
            times = process.cpu_times()
            return times.user + times.system, process.memory_info().rss / 1e6

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=300)
        self.log.close()

    def failure(self) -> str:
        return (self.home / "daemon.out").read_text(errors="replace")[-3000:]

    def decided(self) -> int:
        """Events decided so far (0 before memory is set up)."""
        path = self.home / "data" / "festina.db"
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                return db.execute("select count(*) from decisions").fetchone()[0]
        except sqlite3.OperationalError:  # no file or no tables yet
            return 0

    def memory(self) -> dict:
        with sqlite3.connect(self.home / "data" / "festina.db") as db:
            gate_ms = [row[0] for row in db.execute("select gate_latency_ms from decisions")]
            # Of escalations only: the gate's own offers are drafted by the slow path too.
            deciders = dict(
                db.execute(
                    "select decided_by, count(*) from decisions "
                    "where gate_action = 'escalate' group by 1"
                )
            )
            return {
                "gates": sorted(
                    r[0] for r in db.execute("select distinct model_version from decisions")
                ),
                "stored": db.execute("select count(*) from events").fetchone()[0],
                "gate_ms": gate_ms,
                "escalated": db.execute(
                    "select count(*) from decisions where gate_action = 'escalate'"
                ).fetchone()[0],
                "deliberated": db.execute(
                    "select count(*) from deliberations join decisions using (event_id) "
                    "where gate_action = 'escalate'"
                ).fetchone()[0],
                "settled_busy": deciders.get("gate-busy", 0),
                "unresolved": db.execute(
                    "select count(*) from decisions where final_action is null"
                ).fetchone()[0],
                "first": db.execute("select min(received_at) from events").fetchone()[0],
                "last": db.execute("select max(received_at) from events").fetchone()[0],
            }


async def wait_until_up(url: str, daemon: DaemonUnderLoad) -> float:
    """Seconds from the daemon's spawn until its API answered."""
    deadline = time.monotonic() + START_TIMEOUT_S
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while time.monotonic() < deadline:
            if daemon.process.poll() is not None:
                raise RuntimeError(f"daemon exited while starting:\n{daemon.failure()}")
            try:
                if (await client.get(f"{url}/v1/status", timeout=1)).is_success:
                    return time.monotonic() - daemon.spawned
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError(f"daemon did not answer within {START_TIMEOUT_S:.0f}s")


def _wait_until_decided(daemon: DaemonUnderLoad, count: int) -> datetime:
    """Poll the daemon's memory until `count` events are decided (a replay may also end
    first: then its run decided them all); returns when that was seen."""
    deadline = time.monotonic() + DECIDED_TIMEOUT_S
    while time.monotonic() < deadline:
        if (code := daemon.process.poll()) is not None:
            if code == 0:
                return datetime.now(UTC)
            raise RuntimeError(f"daemon exited while deciding:\n{daemon.failure()}")
        if daemon.decided() >= count:
            return datetime.now(UTC)
        time.sleep(0.01)
    raise RuntimeError(f"{count} events not decided within {DECIDED_TIMEOUT_S:.0f}s")


async def _send(
    url: str, stream: list[dict], batch: int, senders: int, rate: float
) -> tuple[float, list[float], int]:
    """Post the stream in batches from `senders` clients; returns (seconds, per-request
    ack latencies in ms, 503 retries). With a `rate` (events/s), batch k is due k·batch/
    rate seconds after the start and its latency counts from then, so a daemon that
    falls behind its offered load is charged the wait, not only the request."""
    batches = [stream[i : i + batch] for i in range(0, len(stream), batch)]
    next_batch = iter(range(len(batches)))
    latencies: list[float] = []
    retries = 0
    start = time.perf_counter()

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal retries
        for number in next_batch:
            due = start + number * batch / rate if rate else None
            if due is not None:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            while True:
                began = due or time.perf_counter()
                response = await client.post("/v1/events", json=batches[number])
                if response.status_code == 503:
                    retries += 1
                    await asyncio.sleep(0.05)
                    continue
                if response.status_code != 200 or not response.json()["stored"]:
                    raise RuntimeError(f"batch {number}: {response.status_code} {response.text}")
                latencies.append((time.perf_counter() - began) * 1000.0)
                break

    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=120,
        limits=httpx.Limits(max_connections=senders),
    ) as client:
        await asyncio.gather(*(sender(client) for _ in range(senders)))
        return time.perf_counter() - start, latencies, retries


def _result(
    setup: DaemonSetup,
    scenario: str,
    sent: int,
    memory: dict,
    seconds: float,
    decided_s: float,
    acks: list[float],
    retries: int,
    usage: tuple[float, float],
    start_s: float | None = None,
) -> LoadResult:
    cpu_s, rss_mb = usage
    return LoadResult(
        gate=", ".join(memory["gates"]),
        threads=setup.threads,
        code=setup.code,
        scenario=scenario,
        sent=sent,
        stored=memory["stored"],
        lost=sent - memory["stored"],
        seconds=round(seconds, 2),
        events_per_s=round(sent / seconds, 1) if seconds > 0 else 0.0,
        decided_s=round(decided_s, 2),
        decision_lag_s=round(max(decided_s - seconds, 0.0), 2),
        ack_ms_p50=_percentile(acks, 50),
        ack_ms_p99=_percentile(acks, 99),
        gate_ms_p50=_percentile(memory["gate_ms"], 50) or 0.0,
        gate_ms_p99=_percentile(memory["gate_ms"], 99) or 0.0,
        busy_retries=retries,
        escalated=memory["escalated"],
        deliberated=memory["deliberated"],
        settled_busy=memory["settled_busy"],
        unresolved=memory["unresolved"],
        cpu_ms_per_event=round(cpu_s * 1000.0 / sent, 2) if sent else 0.0,
        rss_mb=round(rss_mb, 1),
        start_s=None if start_s is None else round(start_s, 2),
    )


def _run_http(
    scenario: str,
    stream: list[dict],
    workdir: Path,
    setup: DaemonSetup,
    batch: int,
    senders: int,
    rate: float,
) -> LoadResult:
    daemon = DaemonUnderLoad(setup.home(workdir, scenario), setup, "http", free_port())
    try:
        start_s = asyncio.run(wait_until_up(daemon.url, daemon))
        cpu_before, _ = daemon.usage()
        began = time.perf_counter()
        seconds, acks, retries = asyncio.run(_send(daemon.url, stream, batch, senders, rate))
        _wait_until_decided(daemon, len(stream))
        decided_s = time.perf_counter() - began
        cpu_after, rss_mb = daemon.usage()
    finally:
        daemon.stop()
    usage = (cpu_after - cpu_before, rss_mb)
    memory = daemon.memory()
    return _result(
        setup, scenario, len(stream), memory, seconds, decided_s, acks, retries, usage, start_s
    )


def _run_replay(stream: list[dict], workdir: Path, setup: DaemonSetup) -> LoadResult:
    home = setup.home(workdir, "replay")
    home.mkdir(parents=True, exist_ok=True)
    path = home / "stream.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in stream), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    daemon = DaemonUnderLoad(home, setup, f"jsonl:{path}", free_port())
    decided_at = _wait_until_decided(daemon, len(stream))
    code = daemon.process.wait(timeout=3600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    daemon.log.close()
    if code != 0:
        raise RuntimeError(f"replay daemon failed:\n{daemon.failure()}")
    memory = daemon.memory()
    # No sender to time: from the first event stored to the last stored, and to the
    # moment memory held every event's decision.
    first = datetime.fromisoformat(memory["first"]).replace(tzinfo=UTC)
    seconds = (datetime.fromisoformat(memory["last"]).replace(tzinfo=UTC) - first).total_seconds()
    decided_s = (decided_at - first).total_seconds()
    scenario = "baseline: jsonl replay, recurring texts"
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    # ru_maxrss of children is the largest any child reached (KB on Linux): the peak.
    usage = (cpu_s, after.ru_maxrss / 1000.0)
    return _result(setup, scenario, len(stream), memory, seconds, decided_s, [], 0, usage)


def run_load_test(
    workdir: Path,
    *,
    models: Sequence[str],
    threads: Sequence[int] = (0,),
    events: int = 3000,
    batch: int = 50,
    senders: int = 4,
    rate: float = 0.0,
    llm_latency_s: float = 0.5,
    baseline: tuple[str, Path] | None = None,
) -> list[LoadResult]:
    """The three runs described in the module docstring, for each gate model folder in
    `models` ("" for the configured one: the user's current model, else the shipped one)
    and each onnxruntime thread count in `threads`; with a `baseline` (its name and a
    checkout of it), each run on that code too, right after this tree's."""
    llm, llm_url = start_stand_in_llm(llm_latency_s)
    recurring = make_stream(events, unique_texts=False)
    unique = make_stream(events, unique_texts=True)
    sending = (batch, senders, rate)
    codes: list[tuple[str, Path | None]] = [("this tree", None)]
    if baseline is not None:
        codes.append(baseline)
    setups = [
        DaemonSetup(model, n, llm_url, code, tree)
        for model in models
        for n in threads
        for code, tree in codes
    ]
    try:
        return [
            result
            for setup in setups
            for result in (
                _run_http("http, recurring texts", recurring, workdir, setup, *sending),
                _run_http("http, unique texts", unique, workdir, setup, *sending),
                _run_replay(recurring, workdir, setup),
            )
        ]
    finally:
        llm.shutdown()


def format_results(results: list[LoadResult]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        f"{'gate':<30} {'thr':>3} {'code':<20} {'scenario':<40} {'events/s':>9} {'lost':>5} "
        f"{'ack p50':>8} {'ack p99':>8} {'lag s':>6} "
        f"{'gate p50':>9} {'gate p99':>9} {'cpu ms':>7} {'rss MB':>7} {'503s':>5} "
        f"{'escal.':>6} {'delib.':>6} {'busy':>5} {'start s':>7}"
    ]
    for r in results:
        lines.append(
            f"{r.gate:<30} {r.threads or '-':>3} {r.code[:20]:<20} {r.scenario:<40} "
            f"{r.events_per_s:>9.1f} "
            f"{r.lost:>5} "
            f"{ms(r.ack_ms_p50):>8} {ms(r.ack_ms_p99):>8} {r.decision_lag_s:>6.2f} "
            f"{r.gate_ms_p50:>9.1f} {r.gate_ms_p99:>9.1f} {r.cpu_ms_per_event:>7.2f} "
            f"{r.rss_mb:>7.1f} {r.busy_retries:>5} "
            f"{r.escalated:>6} {r.deliberated:>6} {r.settled_busy:>5} "
            f"{'-' if r.start_s is None else f'{r.start_s:.2f}':>7}"
        )
    lines.append(
        "thr: onnxruntime threads per session (-: its own choice); code: this tree, or the "
        "baseline's checkout run with the same packages; "
        "events/s: sent / seconds until the last 'stored' answer (replay: first to last stored); "
        "ack: per request of a batch, ms; lag s: from the last acknowledgement until every event "
        "was decided (replay: from the last stored); gate: model time "
        "per scored batch, ms; cpu ms: the "
        "daemon's CPU time per event (replay: start-up included); rss MB: its resident memory "
        "at the end (replay: its peak); escal./delib./busy: escalations, deliberations run, "
        "settled by the gate rule; start s: from spawning the daemon until its API answered."
    )
    return "\n".join(lines)


def as_dict(results: list[LoadResult]) -> list[dict]:
    return [asdict(r) for r in results]
