"""`festina eval online`: does learning from one person's real answers pay?

Each collection's tuning recordings are replayed end to end as one person's day through
the whole runtime: a gate trained on the other collection (never on this person), the
template drafter drafting every offer, and the real feedback path. Every offer is
answered at once with the human label, accepted where help was needed and rejected
elsewhere, through `Store.record_feedback`; the pipeline learns it before the next event
as the daemon does (hourly budget included), and explores as the daemon does (an offer
where the rule has been silent for an hour, `agent/exploration.py`). Etiquette is off,
as in every measurement of decisions. The same day runs with learning and without it
(the population gate alone, which never explores).

Reported per C_FN/C_FA: cost per event over the whole day and over the events after the
person's 10th and 30th answer, beside both constant policies over the same events; and
how many decisions the slow path failed on (it must never fail silently).

Recordings are laid end to end: each keeps its own gaps between events (a step back in
time counts as one second), with half an hour between recordings, so that the day's
clock runs forward as the learner's and the etiquette's clocks expect.
"""

from __future__ import annotations

import asyncio
import tempfile
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from agent.config import ExplorationSettings
from core.decision import SLOW_PATH_FALLBACK, Action, Decision
from core.events import Event
from core.outcome import StepOutcome
from evals.cost_table import ALWAYS, COST_RATIOS, NEVER, at_ratio
from evals.fold_gate import FoldGate, train_fold_gate
from evals.runtime_replay import SlowPathFactory, graph_slow_path, replay_events
from evals.splits import confirmation_names, tuning_schemes
from evals.variants import log_variant
from gate.data import Trace, load_reward_items, load_traces
from gate.features import FeatureBuilder
from gate.policy import GatePolicy
from gate.training import build_dataset
from memory.feedback import Outcome
from memory.store import Store

ANSWERS_SEEN = (0, 10, 30)
"""Cost is reported over the events after this many answers (0: the whole day)."""
BETWEEN_RECORDINGS = timedelta(minutes=30)
SMALLEST_STEP = timedelta(seconds=1)


def one_day(traces: Sequence[Trace]) -> tuple[list[Event], list[bool]]:
    """The recordings' events laid end to end on one clock, and their labels."""
    events, needs = [], []
    clock = None
    for trace in traces:
        previous = None
        for event, needed in zip(trace.events, trace.needs, strict=True):
            if clock is None:
                clock = event.time
            elif previous is None:
                clock += BETWEEN_RECORDINGS
            else:
                clock += max(event.time - previous, SMALLEST_STEP)
            previous = event.time
            # The id is derived from the content, the new time included.
            events.append(Event.model_validate({**event.model_dump(), "time": clock, "id": None}))
            needs.append(needed)
    return events, needs


@dataclass
class LabelledPerson:
    """A surface that answers every offer at once, as the human label says, through the
    store's feedback path."""

    store: Store
    needs: dict[str, bool]
    answered: list[str] = field(default_factory=list)

    def offer(self, event: Event, decision: Decision) -> None:
        assert event.id is not None
        needed = self.needs[event.id]
        self.store.record_feedback(event.id, Outcome.ACCEPTED if needed else Outcome.REJECTED)
        self.answered.append(event.id)

    def result(self, event_id: str, outcomes: list[StepOutcome]) -> None:
        """Results are not scored here: the replay measures when festina speaks."""


@dataclass(frozen=True)
class EventRecord:
    """What was decided at one event of a day, and why: to say where a day's cost comes
    from (the gate's rule, the person's model, exploring, the slow path)."""

    needed: bool
    offered: bool
    p_need_model: float | None
    p_need: float
    p_accept_model: float | None
    p_accept: float
    tau: float
    gate_action: str
    decided_by: str | None
    reason: str | None
    answers_before: int
    """How many answers the person had given before this event."""


@dataclass(frozen=True)
class DayRun:
    """One day replayed at one cost ratio."""

    offered: list[bool]
    answered_at: list[int]
    """Event positions of the answers, in order."""
    slow_path_failures: int
    events: list[EventRecord] = field(default_factory=list)


async def _replay(
    events: list[Event],
    needs: list[bool],
    gate: FoldGate,
    policy: GatePolicy,
    slow_path: SlowPathFactory,
    exploration: ExplorationSettings | None,
) -> DayRun:
    """`exploration` None: the population gate alone, learning nothing."""
    with tempfile.TemporaryDirectory(prefix="festina-online-") as scratch:
        work = Path(scratch)
        store = Store(f"sqlite:///{work / 'memory.db'}")
        try:
            person = LabelledPerson(store, {e.id: n for e, n in zip(events, needs, strict=True)})
            # Each answer is learnt before the next event is decided.
            await replay_events(
                events,
                "online",
                gate=gate,
                policy=policy,
                store=store,
                slow_path=slow_path(store, gate, work),
                surface=person,
                learn=exploration is not None,
                exploration=exploration,
            )
            decided = {e.id: d for e, d in store.decisions(limit=10**6)}
        finally:
            store.close()
    position = {e.id: i for i, e in enumerate(events)}
    answered_at = sorted(position[i] for i in person.answered)
    offered = [decided[e.id].final_action is Action.INTERVENE for e in events]
    return DayRun(
        offered=offered,
        answered_at=answered_at,
        slow_path_failures=sum(d.decided_by == SLOW_PATH_FALLBACK for d in decided.values()),
        events=[
            EventRecord(
                needed=needed,
                offered=made,
                p_need_model=d.p_need_model,
                p_need=d.p_need,
                p_accept_model=d.p_accept_model,
                p_accept=d.p_accept,
                tau=d.tau,
                gate_action=d.gate_action.value,
                decided_by=d.decided_by,
                reason=d.reason,
                answers_before=bisect_left(answered_at, i),
            )
            for i, (d, needed, made) in enumerate(
                zip((decided[e.id] for e in events), needs, offered, strict=True)
            )
        ],
    )


@dataclass(frozen=True)
class OnlineRow:
    person: str
    learning: bool
    cost_ratio: float
    after_answers: int
    events: int
    """Events after that many answers (0 when the day never got that many)."""
    cost_per_event: dict[str, float]
    """festina, always offer, never offer: over the same events."""
    slow_path_failures: int


def _cost(offered: Sequence[bool], needed: Sequence[bool], ratio: float) -> float:
    unwanted = sum(o and not n for o, n in zip(offered, needed, strict=True))
    missed = sum(n and not o for o, n in zip(offered, needed, strict=True))
    return (unwanted + ratio * missed) / len(needed) if needed else float("nan")


def rows_of(
    person: str, learning: bool, ratio: float, run: DayRun, needs: list[bool]
) -> list[OnlineRow]:
    """Cost over the events after each count of answers in `ANSWERS_SEEN`."""
    rows = []
    for seen in ANSWERS_SEEN:
        if seen == 0:
            start = 0
        elif seen <= len(run.answered_at):
            start = run.answered_at[seen - 1] + 1
        else:  # the day never got that many answers
            start = len(needs)
        offered, needed = run.offered[start:], needs[start:]
        rows.append(
            OnlineRow(
                person=person,
                learning=learning,
                cost_ratio=ratio,
                after_answers=seen,
                events=len(needed),
                cost_per_event={
                    "festina": _cost(offered, needed, ratio),
                    ALWAYS: _cost([True] * len(needed), needed, ratio),
                    NEVER: _cost([False] * len(needed), needed, ratio),
                },
                slow_path_failures=run.slow_path_failures,
            )
        )
    return rows


@dataclass
class OnlineReport:
    policy: dict[str, Any]
    exploration: dict[str, Any]
    """How the learning runs explored (`ExplorationSettings`)."""
    persons: dict[str, list[str]]
    """Person (the collection scored) -> its recordings, in replay order."""
    rows: list[OnlineRow]
    events: dict[str, list[EventRecord]] = field(default_factory=dict)
    """Per run ("<person>, learning on|off, ratio <r>"), what was decided at each event;
    kept only when asked (`run_online(keep_events=True)`)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        lines = []
        for person, recordings in self.persons.items():
            lines.append(f"{person}: one day of {len(recordings)} recordings")
            lines.append(
                f"{'learning':9} {'C_FN/C_FA':>9}  "
                + " ".join(f"{f'after {n} answers':>26}" for n in ANSWERS_SEEN)
            )
            for learning in (False, True):
                for ratio in sorted({r.cost_ratio for r in self.rows}):
                    cells = []
                    for r in self.rows:
                        if (r.person, r.learning, r.cost_ratio) != (person, learning, ratio):
                            continue
                        c = r.cost_per_event
                        better = min(c[ALWAYS], c[NEVER])
                        cells.append(f"{c['festina']:.3f} / {better:.3f} ({r.events:3d})".rjust(26))
                    lines.append(f"{'on' if learning else 'off':9} {ratio:9g}  " + " ".join(cells))
            failures = sum(r.slow_path_failures for r in self.rows if r.person == person)
            lines += [
                "cells: festina's cost per event / the better constant policy's (events), over "
                "the events after that many answers",
                f"slow-path failures over every run: {failures}",
                "",
            ]
        return "\n".join(lines)


def run_online(
    root: Path,
    builder: FeatureBuilder,
    policy: GatePolicy,
    *,
    encoder_id: str,
    window: int,
    ratios: Sequence[float] = COST_RATIOS,
    slow_path: SlowPathFactory | None = None,
    exploration: ExplorationSettings | None = None,
    keep_events: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> OnlineReport:
    """Every collection's tuning recordings as one person's day, gate trained on the
    other collection, with and without learning, at each of `ratios` (C_FN/C_FA). The
    learning runs explore as the daemon does by default, unless told otherwise;
    `keep_events`: the report keeps every run's decision at every event."""
    explores = exploration or ExplorationSettings()
    traces = load_traces(root)
    confirmation = sorted(confirmation_names(traces))
    reward = load_reward_items(root / "reward_data" / "train_data.jsonl", traces)
    dataset = build_dataset(traces, reward, window).without(*confirmation)
    by_name = {t.name: t for t in traces}
    # The daemon's slow path (templates), etiquette's repeat window off like the rest of it.
    slow = slow_path or graph_slow_path()
    persons, rows, kept = {}, [], {}
    for scheme in tuning_schemes(traces)[1:]:  # across collections
        [excluded] = set(scheme.held_out.values())
        gate = train_fold_gate(dataset, builder, excluded, encoder_id=encoder_id)
        day = [by_name[name] for name in scheme.scored]
        events, needs = one_day(day)
        persons[scheme.name] = scheme.scored
        for learning in (False, True):
            for ratio in ratios:
                progress(f"{scheme.name}: learning {'on' if learning else 'off'}, ratio {ratio:g}")
                at = at_ratio(policy, ratio)
                learns = explores if learning else None
                run = asyncio.run(_replay(events, needs, gate, at, slow, learns))
                rows += rows_of(scheme.name, learning, ratio, run, needs)
                if keep_events:
                    kept[_run_name(scheme.name, learning, ratio)] = run.events
    return OnlineReport(policy.model_dump(), explores.model_dump(), persons, rows, kept)


def _run_name(person: str, learning: bool, ratio: float) -> str:
    return f"{person}, learning {'on' if learning else 'off'}, ratio {ratio:g}"


def log_online(report: OnlineReport, log: Path | None, note: str = "") -> None:
    """The replay is a scored variant too (`evals.variants`): festina's cost after each
    count of answers, by person, learning and ratio; `note` says what was varied."""
    figures: dict[str, list[float]] = {}
    for row in report.rows:
        key = _run_name(row.person, row.learning, row.cost_ratio)
        figures.setdefault(key, []).append(round(row.cost_per_event["festina"], 3))
    log_variant(
        log,
        f"festina eval online: policy {report.policy}; exploration {report.exploration}; "
        + (f"{note}; " if note else "")
        + "cost after 0/10/30 answers",
        "14 tuning recordings, each collection one day",
        figures,
    )
