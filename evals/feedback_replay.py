"""Does feedback make festina less annoying? A replay with a simulated user.

The eight ProactiveBench traces are replayed in order through the full pipeline. The
simulated user accepts an offer when the event's human label says help was needed,
except that they reject *every* offer of one kind (browser activity by default), as a
user who does not want to be interrupted while browsing would. The same replay runs
twice, with and without learning from feedback, and the false-alarm rate (rejected
offers / offers) is reported per segment of the session.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agent.slowpath import GateRuleSlowPath
from core.decision import Decision
from core.events import Event, EventKind
from core.outcome import StepOutcome
from evals.runtime_replay import replay_events
from gate.base import GateModel
from gate.data import load_traces
from gate.policy import GatePolicy
from memory.feedback import Outcome
from memory.store import Store


@dataclass
class SimulatedUser:
    """A surface that answers every offer at once and, if `remember`, records the answer
    in memory (where the runtime learns from it)."""

    store: Store
    needs: dict[str, bool]
    refused_kind: EventKind | None
    remember: bool = True
    answers: list[tuple[str, bool]] = field(default_factory=list)

    def offer(self, event: Event, decision: Decision) -> None:
        accepted = self.needs.get(event.id, False) and event.kind is not self.refused_kind
        if self.remember:
            self.store.record_feedback(
                event.id, Outcome.ACCEPTED if accepted else Outcome.REJECTED, 2.0
            )
        self.answers.append((event.id, accepted))

    def result(self, event_id: str, outcomes: list[StepOutcome]) -> None:
        """Results are not scored here: the replay measures false alarms."""


@dataclass
class ReplayResult:
    learning: bool
    offers: int
    false_alarm: float
    false_alarm_by_segment: list[float | None]
    offers_by_segment: list[int]
    refused_kind_offers_by_segment: list[int]


def _segments(
    order: dict[str, int],
    answers: list[tuple[str, bool]],
    kinds: dict[str, EventKind],
    refused: EventKind,
    n_events: int,
    count: int,
) -> tuple[list, list, list]:
    size = n_events / count
    fa: list[float | None] = []
    offers, refused_offers = [], []
    for segment in range(count):
        inside = [(i, ok) for i, ok in answers if int(order[i] // size) == segment]
        offers.append(len(inside))
        refused_offers.append(sum(kinds[i] is refused for i, _ in inside))
        fa.append(sum(not ok for _, ok in inside) / len(inside) if inside else None)
    return fa, offers, refused_offers


async def _replay(
    events: list[Event],
    needs: dict[str, bool],
    gate: GateModel,
    policy: GatePolicy,
    refused: EventKind,
    learning: bool,
    segments: int,
) -> ReplayResult:
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(f"sqlite:///{Path(scratch) / 'replay.db'}")
        user = SimulatedUser(store, needs, refused)
        # Batches of one: each answer is learned from before the next event is scored.
        await replay_events(
            events,
            "feedback-replay",
            gate=gate,
            policy=policy,
            store=store,
            slow_path=GateRuleSlowPath(),
            surface=user,
            learn=learning,
        )
        store.close()
    order = {e.id: i for i, e in enumerate(events)}
    kinds = {e.id: e.kind for e in events}
    fa, offers, refused_offers = _segments(
        order, user.answers, kinds, refused, len(events), segments
    )
    rejected = sum(not ok for _, ok in user.answers)
    return ReplayResult(
        learning=learning,
        offers=len(user.answers),
        false_alarm=rejected / len(user.answers) if user.answers else 0.0,
        false_alarm_by_segment=fa,
        offers_by_segment=offers,
        refused_kind_offers_by_segment=refused_offers,
    )


def run_feedback_replay(
    proactivebench: Path,
    gate: GateModel,
    policy: GatePolicy,
    *,
    refused: EventKind = EventKind.BROWSER,
    segments: int = 4,
) -> tuple[ReplayResult, ReplayResult]:
    """(without learning, with learning) over the same replay."""
    traces = load_traces(proactivebench, ["test_data"])
    events = [e for t in traces for e in t.events]
    needs = {e.id: need for t in traces for e, need in zip(t.events, t.needs, strict=True)}
    return (
        asyncio.run(_replay(events, needs, gate, policy, refused, False, segments)),
        asyncio.run(_replay(events, needs, gate, policy, refused, True, segments)),
    )


def format_results(results: tuple[ReplayResult, ReplayResult], refused: EventKind) -> str:
    lines = [f"simulated user rejects every offer on {refused.value} events", ""]
    for result in results:
        label = "with learning" if result.learning else "no learning"
        fa = " ".join("  -  " if v is None else f"{v:5.2f}" for v in result.false_alarm_by_segment)
        lines.append(
            f"{label:14} offers {result.offers:3d}  false alarm {result.false_alarm:.3f}  "
            f"by segment [{fa}]  "
            f"{refused.value} offers by segment {result.refused_kind_offers_by_segment}"
        )
    return "\n".join(lines)


def as_dict(results: tuple[ReplayResult, ReplayResult]) -> list[dict]:
    return [asdict(r) for r in results]
