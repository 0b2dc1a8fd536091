"""PIRA-style evaluation: long trajectories with interleaved intents, noise and switching.

The generator (seeded, deterministic) builds each trajectory from 2-4 ProactiveBench
test traces, one *thread* a trace: a contiguous run of 6-12 of its events, keeping the
human `task_status` labels (need points) and the original gaps between events:

* threads interleave in runs of 2-5 events: the user switches task and comes back;
* noise (notifications, battery, music, calendar reminders, idle) is sprinkled between
  events with probability 0.25 and belongs to no thread: help is never needed there;
* a switch costs 1-5 minutes; gaps inside a run are the recording's own (1 s to 5 min).

Why the traces and not scenes.yaml: the scenes' example streams alternate user and agent
events and carry no need labels; taking "the agent acts next" as a need would mark 84%
of user events (measured on the file), which is no label at all.

The shipped set (`evals/data/pira-v1.jsonl`, seed 7, 12 trajectories) is what the
report scores; `festina eval pira --generate` rebuilds it byte for byte from the data.
Each trajectory is scored by a gate trained without its traces (leave-traces-out).

Scores: event-level timing (ProactiveBench metrics), per-thread intent detection (an
offer on a need point or within the next two events of its thread), timing (thread
events from the first need point to the first offer at or after it), premature offers
(in a thread before its first need point), and false triggers (offers on noise / noise
events). The runtime (gate and slow path, as in the ProactiveBench replay) is compared
with and without memory and state tracking. A simulated user accepts offers at need
points and rejects the rest. With: the gate sees the last 8 events and the answers are
stored, so the gate's feedback offsets and the slow path's memory (turned-down offers,
lessons) use them. Without: the gate sees only the current event, nothing is stored.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.events import Event
from core.records import RecordAdapter, record_to_item
from evals.feedback_replay import SimulatedUser
from evals.metrics import BenchScores, timing
from evals.runtime_replay import SlowPathFactory, gate_rule_slow_path, replay_events
from gate import proactivebench
from gate.base import GateModel
from gate.data import Trace
from gate.policy import GatePolicy
from memory.store import Store

SET_VERSION = "pira-v1"
DEFAULT_SEED = 7
DEFAULT_TRAJECTORIES = 12
NOISE_RATE = 0.25
DETECTION_SLACK = 2
START = 1_735_689_600.0  # 2025-01-01T00:00:00Z; trajectories are a day apart

_NOISE: tuple[tuple[str, str, str], ...] = (
    ("notification", "Slack", "A Slack notification from {name}: '{chat}'"),
    ("notification", "Mail", "A new email from {name} arrives with the subject '{subject}'"),
    ("device", "Battery", "The battery is at {percent}% and discharging"),
    ("device", "Spotify", "Spotify moves on to the next track in the playlist"),
    ("calendar", "Calendar", "A calendar reminder: '{subject}' starts in {minutes} minutes"),
    ("device", "System", "The system reports that updates are available"),
    ("afk", "Session", "The user is away from the keyboard for {minutes} minutes"),
)
_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hiro")
_CHATS = ("lunch at 1?", "can you review my PR later", "meeting moved", "thanks!", "ping")
_SUBJECTS = ("Weekly sync", "Invoice #4821", "Team offsite", "1:1", "Quarterly review")


@dataclass(frozen=True)
class PiraEvent:
    time: float
    text: str
    thread: str | None
    need: bool
    kind: str | None = None
    app: str | None = None


@dataclass
class Trajectory:
    id: str
    threads: dict[str, dict[str, str]]
    events: list[PiraEvent] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Trajectory:
        raw = json.loads(line)
        return cls(raw["id"], raw["threads"], [PiraEvent(**e) for e in raw["events"]])

    def festina_events(self) -> list[Event]:
        """The trajectory as the runtime sees it: no thread, no need label."""
        events = []
        for step, e in enumerate(self.events, start=1):
            adapt: RecordAdapter | None = None
            if e.kind is None:  # a scene event: kind and app inferred like ProactiveBench's
                record: dict[str, Any] = {"observation": {"time": str(e.time), "event": e.text}}
                adapt = proactivebench.to_event_record
            else:
                record = {"time": e.time, "kind": e.kind, "app": e.app, "text": e.text}
            item = record_to_item(record, origin=self.id, position=step, raw="", adapt=adapt)
            if not isinstance(item, Event):
                raise ValueError(f"{self.id}:{step}: {item.reason}")
            events.append(item.model_copy(update={"source": f"pira:{self.id}"}))
        return events


def _noise(rng: random.Random, time: float) -> PiraEvent:
    kind, app, template = rng.choice(_NOISE)
    text = template.format(
        name=rng.choice(_NAMES),
        chat=rng.choice(_CHATS),
        subject=rng.choice(_SUBJECTS),
        percent=rng.randint(8, 95),
        minutes=rng.choice((5, 10, 15, 30)),
    )
    return PiraEvent(round(time, 3), text, None, False, kind, app)


def _segment(rng: random.Random, trace: Trace) -> tuple[int, list[tuple[float, str, bool]]]:
    """A contiguous run of the trace: (start, [(gap before, text, need)])."""
    length = min(len(trace.events), rng.randint(6, 12))
    start = rng.randint(0, len(trace.events) - length)
    run = []
    for i in range(start, start + length):
        gap = trace.events[i].timestamp - trace.events[i - 1].timestamp if i > start else 0.0
        run.append((min(max(gap, 1.0), 300.0), trace.events[i].text, trace.needs[i]))
    return start, run


def generate(
    traces: Sequence[Trace],
    *,
    seed: int = DEFAULT_SEED,
    trajectories: int = DEFAULT_TRAJECTORIES,
) -> list[Trajectory]:
    rng = random.Random(seed)
    out = []
    for number in range(trajectories):
        chosen = rng.sample(list(traces), rng.randint(2, min(4, len(traces))))
        trajectory = Trajectory(f"{SET_VERSION}-{number:02d}", {})
        queues = {}
        for t, trace in enumerate(chosen):
            thread = f"t{t}"
            start, run = _segment(rng, trace)
            trajectory.threads[thread] = {"trace": trace.name, "start": str(start)}
            queues[thread] = run
        time = START + number * 86_400.0
        current: str | None = None
        while any(queues.values()):
            open_threads = sorted(t for t, q in queues.items() if q)
            if current not in open_threads or rng.random() < 0.5:
                current = rng.choice(open_threads)
                time += rng.uniform(60, 300)
            for _ in range(rng.randint(2, 5)):
                if not queues[current]:
                    break
                if rng.random() < NOISE_RATE:
                    time += rng.uniform(1, 30)
                    trajectory.events.append(_noise(rng, time))
                gap, text, need = queues[current].pop(0)
                time += gap
                trajectory.events.append(PiraEvent(round(time, 3), text, current, need))
        out.append(trajectory)
    return out


def write_set(trajectories: Sequence[Trajectory], path: Path) -> None:
    path.write_text("".join(t.to_json() + "\n" for t in trajectories))


def load_set(path: Path) -> list[Trajectory]:
    return [Trajectory.from_json(line) for line in path.read_text().splitlines() if line]


def shipped_set_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("evals.data").joinpath(f"{SET_VERSION}.jsonl")))


@dataclass(frozen=True)
class Variant:
    name: str
    window: int
    memory: bool
    """Answers are stored: the gate's feedback offsets and the slow path's memory of
    turned-down offers and lessons use them."""


VARIANTS = (
    Variant("with memory + state", 8, True),
    Variant("without (current event only)", 1, False),
)


@dataclass
class PiraScores:
    variant: str
    events: BenchScores
    threads: int
    threads_detected: int
    detection_rate: float
    mean_delay_events: float | None
    premature_offers: int
    noise_events: int
    noise_offers: int
    false_trigger_rate: float


def _offers(
    trajectory: Trajectory,
    gate: GateModel,
    policy: GatePolicy,
    variant: Variant,
    slow_path: SlowPathFactory,
) -> list[bool]:
    """Whether the runtime made an offer at each event of the trajectory."""
    events = trajectory.festina_events()
    needs = {e.id: p.need for e, p in zip(events, trajectory.events, strict=True)}
    with tempfile.TemporaryDirectory(prefix="festina-pira-") as scratch:
        work = Path(scratch)
        store = Store(f"sqlite:///{work / 'memory.db'}")
        user = SimulatedUser(store, needs, refused_kind=None, remember=variant.memory)
        try:
            asyncio.run(
                replay_events(
                    events,
                    f"pira:{trajectory.id}",
                    gate=gate,
                    policy=policy,
                    store=store,
                    slow_path=slow_path(store, gate, work),
                    surface=user,
                    window=variant.window,
                    learn=variant.memory,
                    # PIRA measures when the runtime speaks, not what a drafter says.
                    draft_offers=False,
                )
            )
        finally:
            store.close()
    offered = {event_id for event_id, _ in user.answers}
    return [event.id in offered for event in events]


def score_variant(
    trajectories: Sequence[Trajectory],
    offers: Sequence[Sequence[bool]],
    name: str,
) -> PiraScores:
    """`offers[k][i]`: an offer was made at event i of trajectory k."""
    proposed, needed = [], []
    threads = detected = premature = noise = noise_offers = 0
    delays: list[int] = []
    for trajectory, flags in zip(trajectories, offers, strict=True):
        proposed += flags
        needed += [e.need for e in trajectory.events]
        for e, flag in zip(trajectory.events, flags, strict=True):
            if e.thread is None:
                noise += 1
                noise_offers += flag
        for thread in trajectory.threads:
            steps = [
                (e.need, flag)
                for e, flag in zip(trajectory.events, flags, strict=True)
                if e.thread == thread
            ]
            need_points = [i for i, (need, _) in enumerate(steps) if need]
            if not need_points:
                continue
            threads += 1
            premature += sum(flag for _, flag in steps[: need_points[0]])
            if any(flag for i in need_points for _, flag in steps[i : i + DETECTION_SLACK + 1]):
                detected += 1
            later = [i for i, (_, flag) in enumerate(steps) if flag and i >= need_points[0]]
            if later:
                delays.append(later[0] - need_points[0])
    return PiraScores(
        variant=name,
        events=timing(name, proposed, needed),
        threads=threads,
        threads_detected=detected,
        detection_rate=detected / threads if threads else 0.0,
        mean_delay_events=sum(delays) / len(delays) if delays else None,
        premature_offers=premature,
        noise_events=noise,
        noise_offers=noise_offers,
        false_trigger_rate=noise_offers / noise if noise else 0.0,
    )


def run_pira(
    trajectories: Sequence[Trajectory],
    gate_for: Callable[[Trajectory], GateModel],
    policy: GatePolicy,
    *,
    variants: Sequence[Variant] = VARIANTS,
    slow_path: SlowPathFactory = gate_rule_slow_path,
    on_run: Callable[[], None] = lambda: None,
) -> list[PiraScores]:
    """Score each variant; `gate_for` gives the gate that never saw a trajectory's traces."""
    gates = [gate_for(t) for t in trajectories]
    results = []
    for variant in variants:
        offers = []
        for trajectory, gate in zip(trajectories, gates, strict=True):
            offers.append(_offers(trajectory, gate, policy, variant, slow_path))
            on_run()
        results.append(score_variant(trajectories, offers, variant.name))
    return results


def format_results(results: Sequence[PiraScores]) -> str:
    lines = [
        f"{'runtime':30} {'F1':>6} {'FA':>6} {'threads':>8} {'detected':>9} {'delay':>6} "
        f"{'early':>6} {'noise FT':>9}"
    ]
    for r in results:
        delay = "-" if r.mean_delay_events is None else f"{r.mean_delay_events:.2f}"
        lines.append(
            f"{r.variant:30} {r.events.f1:6.3f} {r.events.false_alarm:6.3f} {r.threads:8d} "
            f"{r.detection_rate:9.3f} {delay:>6} {r.premature_offers:6d} "
            f"{r.false_trigger_rate:9.3f}"
        )
    return "\n".join(lines)
