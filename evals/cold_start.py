"""Cold start: `festina daemon run` on a few events it has not seen, in a home whose
database already exists, timed from exec to exit.

This is what a user pays each time the daemon starts (a login, a restart after an
update) before it has decided anything: the interpreter, the imports (LangGraph's among
them with the default slow path), opening memory, loading the gate, building the slow
path, deciding the events (drafting the offers among them through the reasoning graph)
and exiting. Each run replays `events` records of the bundled stream, their texts made
new with a per-run mark so that nothing comes from the encoder's or memory's caches.

Runs of this tree and of a baseline (another checkout, run with this environment's
packages) are interleaved, the order alternating each round, so that both see the same
machine: on a shared machine the load moves more than the code does, and the load
average is reported beside the figures. The daemon's CPU time (its user and system time,
all threads) moves less with the load than its wall time does.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agent.sources import bundled_stream_path
from evals.load_test import festina_module

RUN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Tree:
    """Code to start: `path` None for this tree, else another checkout; `name` for reports."""

    name: str
    path: Path | None = None


@dataclass
class ColdStarts:
    """The timed runs of one tree with one slow path."""

    code: str
    backend: str
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    offers: list[int] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    """The one-minute load average after each run."""

    def summary(self) -> dict[str, float | int | str]:
        """Median and range of wall and CPU seconds, and the runs' count."""
        return {
            "code": self.code,
            "backend": self.backend,
            "runs": len(self.wall_s),
            "wall_s_median": statistics.median(self.wall_s),
            "wall_s_min": min(self.wall_s),
            "wall_s_max": max(self.wall_s),
            "cpu_s_median": statistics.median(self.cpu_s),
            "cpu_s_min": min(self.cpu_s),
            "cpu_s_max": max(self.cpu_s),
        }


def _records() -> list[dict]:
    path = bundled_stream_path()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def new_events(records: list[dict], first: int, count: int) -> list[dict]:
    """`count` records of the stream from the `first`-th on (wrapping), their texts made
    new with a mark of their own: events no memory or cache has seen."""
    mark = uuid.uuid4().hex[:8]
    events = []
    for i in range(first, first + count):
        record = dict(records[i % len(records)])
        record.pop("id", None)
        record["text"] = f"{record.get('text', '')} ({mark})"
        events.append(record)
    return events


def _prepare_home(home: Path, *, model: str, backend: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    config.write_text(
        f"[gate]\nmodel = {json.dumps(model)}\n[slow_path]\nbackend = {json.dumps(backend)}\n",
        encoding="utf-8",
    )
    return config


def _offers(stdout: str) -> int:
    """The offers a run reports ("... escalated, 2 offers made")."""
    first = stdout.splitlines()[0] if stdout else ""
    words = first.rsplit(", ", 1)[-1].split()
    return int(words[0]) if words and words[0].isdigit() else 0


def start_once(
    tree: Tree, home: Path, config: Path, events: list[dict]
) -> tuple[float, float, int]:
    """One `festina daemon run` of `tree` on `events`: (wall seconds from exec to exit,
    the daemon's CPU seconds, offers made)."""
    replay = home / "events.jsonl"
    replay.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    env = {**os.environ, "FESTINA_HOME": str(home)}
    if tree.path is not None:  # its packages ahead of the installed ones
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree.path), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", festina_module(tree.path), "--config", str(config)]
    command += ["daemon", "run", "--source", f"jsonl:{replay}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        command, env=env, cwd=tree.path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{tree.name}: festina daemon run failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, _offers(done.stdout)


def run_cold_starts(
    workdir: Path,
    trees: list[Tree],
    *,
    model: str,
    backends: list[str],
    runs: int,
    events: int = 10,
) -> list[ColdStarts]:
    """`runs` timed cold starts of each tree with each slow path backend, interleaved;
    each home's database is made by a first run, untimed."""
    records = _records()
    cases = [(tree, backend) for backend in backends for tree in trees]
    homes = {}
    for number, (tree, backend) in enumerate(cases):
        home = workdir / f"{number}-{backend}"
        config = _prepare_home(home, model=model, backend=backend)
        start_once(tree, home, config, new_events(records, len(records) - events, events))
        homes[tree.name, backend] = home, config
    results = {key: ColdStarts(key[0], key[1]) for key in homes}
    for round_ in range(runs):
        # The same events for every case of a round; the order alternates between rounds.
        first = round_ * events
        for tree, backend in cases if round_ % 2 == 0 else cases[::-1]:
            home, config = homes[tree.name, backend]
            wall, cpu, offers = start_once(tree, home, config, new_events(records, first, events))
            result = results[tree.name, backend]
            result.wall_s.append(wall)
            result.cpu_s.append(cpu)
            result.offers.append(offers)
            result.load.append(os.getloadavg()[0])
    return list(results.values())


def format_cold_starts(results: list[ColdStarts]) -> str:
    lines = [
        f"{'code':<24} {'slow path':<10} {'runs':>4} {'wall s median (range)':>24} "
        f"{'CPU s median (range)':>24} {'offers':>7}"
    ]
    for result in results:
        s = result.summary()
        lines.append(
            f"{result.code[:24]:<24} {result.backend:<10} {s['runs']:>4} "
            f"{s['wall_s_median']:>9.2f} ({s['wall_s_min']:.2f}-{s['wall_s_max']:.2f}) "
            f"{'':>2}{s['cpu_s_median']:>9.2f} ({s['cpu_s_min']:.2f}-{s['cpu_s_max']:.2f}) "
            f"{sum(result.offers):>7}"
        )
    loads = [value for result in results for value in result.load]
    lines.append(
        f"wall: from exec to exit; CPU: the daemon's user + system time; offers: made over "
        f"all runs. Load average (1 min) after the runs: {min(loads):.2f}-{max(loads):.2f} "
        f"on {os.cpu_count()} CPUs."
    )
    return "\n".join(lines)


def as_dicts(results: list[ColdStarts]) -> list[dict]:
    return [{**result.summary(), **asdict(result)} for result in results]
