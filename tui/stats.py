"""Figures for the dashboard's stats panel, from recent activity (newest first)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from core.decision import Action, Decision
from core.events import Event

Activity = Sequence[tuple[Event, Decision, str | None]]


@dataclass(frozen=True)
class Stats:
    decisions: int
    intervention_rate: float
    escalation_rate: float
    answered: int
    acceptance_rate: float | None
    false_alarm_rate: float | None
    # The gate's time per event: a batch's measured time shared among its events.
    latency_p50_ms: float | None
    p_accept_series: list[float]
    offer_series: list[float]


def summarize(activity: Activity, series_length: int = 60) -> Stats:
    """Rates over the given decisions; false alarms are offers the user turned down."""
    decisions = [d for _, d, _ in activity]
    offers = [(d, answer) for _, d, answer in activity if d.final_action is Action.INTERVENE]
    answers = [answer for _, answer in offers if answer is not None]
    accepted = sum(answer == "accepted" for answer in answers)
    count = len(decisions)
    chronological = list(reversed(decisions[:series_length]))
    return Stats(
        decisions=count,
        intervention_rate=len(offers) / count if count else 0.0,
        escalation_rate=sum(d.gate_action is Action.ESCALATE for d in decisions) / count
        if count
        else 0.0,
        answered=len(answers),
        acceptance_rate=accepted / len(answers) if answers else None,
        false_alarm_rate=(len(answers) - accepted) / len(answers) if answers else None,
        latency_p50_ms=statistics.median(per_event_latencies(decisions)) if decisions else None,
        p_accept_series=[d.p_accept for d in chronological],
        offer_series=[float(d.final_action is Action.INTERVENE) for d in chronological],
    )


def per_event_latencies(decisions: Sequence[Decision]) -> list[float]:
    """Each decision's share of its batch's gate time. A decision stores the time of the
    whole batch it was scored in (`gate_latency_ms`), measured once: the decisions of one
    batch hold exactly the same figure, so equal figures are counted as one batch."""
    batch_sizes = Counter(d.gate_latency_ms for d in decisions)
    return [d.gate_latency_ms / batch_sizes[d.gate_latency_ms] for d in decisions]
