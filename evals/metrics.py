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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


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


@dataclass(frozen=True)
class Discrimination:
    """How well scores rank positives above negatives, held out per recording.

    `pooled`: AUC over all events, with a 95 % interval from resampling whole recordings
    (events of one recording are not independent); `within`: the mean of per-recording
    AUCs, which a difference in base rates between recordings cannot drag down;
    `best_f1`: the highest F1 any one threshold reaches over all events while false alarm
    stays at or below `MAX_FALSE_ALARM`, the threshold picked in hindsight: an upper bound
    for any decision rule that reads these scores (0 where no threshold keeps it)."""

    pooled: float
    low: float
    high: float
    within: float
    events: int
    best_f1: float


# The false-alarm ceiling the gate's F1 target is set under (issue #14).
MAX_FALSE_ALARM = 0.5


def best_f1_threshold(
    scores: np.ndarray, labels: np.ndarray, max_false_alarm: float = MAX_FALSE_ALARM
) -> tuple[float, float]:
    """The highest F1 of `scores >= t` over thresholds t with false alarm <= the bound, and
    that t: (0, inf) where no threshold keeps false alarm within it."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    # The last point (precision 1, recall 0) has no threshold: offering nothing.
    precision, recall = precision[:-1], recall[:-1]
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    allowed = np.flatnonzero(precision >= 1 - max_false_alarm)
    if not allowed.size:
        return 0.0, float("inf")
    best = allowed[np.argmax(f1[allowed])]
    return float(f1[best]), float(thresholds[best])


def best_f1(
    scores: np.ndarray, labels: np.ndarray, max_false_alarm: float = MAX_FALSE_ALARM
) -> float:
    """The highest F1 of `scores >= t` over thresholds t with false alarm <= the bound."""
    return best_f1_threshold(scores, labels, max_false_alarm)[0]


def discrimination(
    scores: Sequence[np.ndarray], labels: Sequence[np.ndarray], *, resamples: int = 2000
) -> Discrimination:
    """AUC of per-recording `scores` against `labels` (NaN scores are left out)."""
    from sklearn.metrics import roc_auc_score

    pairs = []
    for s, y in zip(scores, labels, strict=True):
        s, y = np.asarray(s, dtype=float), np.asarray(y, dtype=bool)
        known = ~np.isnan(s)
        pairs.append((s[known], y[known]))
    all_s = np.concatenate([s for s, _ in pairs])
    all_y = np.concatenate([y for _, y in pairs])
    rng = np.random.default_rng(0)
    resampled = []
    for _ in range(resamples):
        picked = [pairs[i] for i in rng.integers(0, len(pairs), len(pairs))]
        y = np.concatenate([p[1] for p in picked])
        if 0 < y.sum() < len(y):
            resampled.append(roc_auc_score(y, np.concatenate([p[0] for p in picked])))
    within = [roc_auc_score(y, s) for s, y in pairs if 0 < y.sum() < len(y)]
    return Discrimination(
        pooled=float(roc_auc_score(all_y, all_s)),
        low=float(np.percentile(resampled, 2.5)),
        high=float(np.percentile(resampled, 97.5)),
        within=float(np.mean(within)),
        events=len(all_y),
        best_f1=best_f1(all_s, all_y),
    )
