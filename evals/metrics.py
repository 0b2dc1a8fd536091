"""ProactiveBench's metrics over judged events.

Each event is judged once: the agent either proposed tasks or stayed silent, and the
judge either accepts that behaviour or not.

* TP: proposed and the judge accepts a proposed task;
* FP: proposed and the judge accepts none;
* TN: silent and the judge says silence was right;
* FN: silent and the judge says help was needed.

recall = TP/(TP+FN), precision = TP/(TP+FP), accuracy = (TP+TN)/N,
false alarm = FP/(TP+FP), F1 the harmonic mean of precision and recall, and accept rate
= accepted tasks / proposed tasks. Accept rate counts tasks, not events: an agent that
proposes five tasks at once has one of them accepted at best five times less often.
Under a timing judge (human labels) every task at an event gets the event's verdict, so
accept rate equals precision there; an LLM judge tells them apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class JudgedEvent:
    proposed_tasks: int
    accepted_tasks: int
    accepted: bool
    """Proposed: some task was accepted. Silent: silence was judged right."""


@dataclass(frozen=True)
class BenchScores:
    name: str
    events: int
    tp: int
    fp: int
    tn: int
    fn: int
    recall: float
    precision: float
    accuracy: float
    false_alarm: float
    f1: float
    accept_rate: float

    @property
    def proposed(self) -> int:
        return self.tp + self.fp


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def score(name: str, judged: Iterable[JudgedEvent]) -> BenchScores:
    tp = fp = tn = fn = tasks = accepted_tasks = 0
    for event in judged:
        if event.proposed_tasks:
            tasks += event.proposed_tasks
            accepted_tasks += event.accepted_tasks
            tp, fp = (tp + 1, fp) if event.accepted else (tp, fp + 1)
        else:
            tn, fn = (tn + 1, fn) if event.accepted else (tn, fn + 1)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return BenchScores(
        name=name,
        events=tp + fp + tn + fn,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        recall=recall,
        precision=precision,
        accuracy=_ratio(tp + tn, tp + fp + tn + fn),
        false_alarm=_ratio(fp, tp + fp),
        f1=_ratio(2 * precision * recall, precision + recall),
        accept_rate=_ratio(accepted_tasks, tasks),
    )


def timing(name: str, proposed: Iterable[bool], needed: Iterable[bool]) -> BenchScores:
    """Scores under the human timing labels: a proposal is right iff help was needed."""
    return score(
        name,
        (
            JudgedEvent(int(p), int(p and n), n if p else not n)
            for p, n in zip(proposed, needed, strict=True)
        ),
    )


def table(rows: Iterable[BenchScores], *, title: str = "agent") -> str:
    """A fixed-width table, one agent a row."""
    lines = [
        f"{title:30} {'events':>6} {'recall':>6} {'prec':>6} {'acc':>6} {'FA':>6} "
        f"{'F1':>6} {'accept':>6}"
    ]
    lines.extend(
        f"{s.name:30} {s.events:6d} {s.recall:6.3f} {s.precision:6.3f} {s.accuracy:6.3f} "
        f"{s.false_alarm:6.3f} {s.f1:6.3f} {s.accept_rate:6.3f}"
        for s in rows
    )
    return "\n".join(lines)
