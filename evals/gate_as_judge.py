"""Reward-judgement benchmark: the gate as ProactiveBench's judge, against human judgements.

Each item of reward_data/test_data.jsonl is an observation history with a proposed task
(or null: the agent stayed silent) and the annotators' verdict `valid`. The gate judges:
a task is valid iff its task-aware p_accept >= 0.5; silence is valid iff p_need < 0.5
(calibrated probabilities, so 0.5 is the threshold that maximises expected agreement).
Items whose histories share events with a test trace are judged by a gate trained
without that trace. An LLM judge (`evals.judges.LLMJudge`) can be scored on the same
items in the same run; the published figures in the data README are printed alongside.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evals.fold_gate import FoldGate
from evals.judges import Judge, JudgeCase
from gate.data import RewardItem, load_reward_items, load_traces

CATEGORIES = ("Missed-Need", "Correct-Rejection", "Correct-Detection", "False-Alarm")
# Data README: agreement with humans on reward_data/test_data (all 120 items, of which
# this copy holds those not drawn from the held-back traces), F1 with "valid" positive.
PUBLISHED_F1 = {
    "GPT-4o (published)": 0.6704,
    "Llama-3.1-70B (published)": 0.6748,
    "ProactiveBench reward model (published)": 0.9180,
}


@dataclass(frozen=True)
class Agreement:
    items: int
    accuracy: float
    precision: float
    recall: float
    f1: float


def agreement(predicted: Sequence[bool], truth: Sequence[bool]) -> Agreement:
    """Agreement with the annotators, "valid" as the positive class."""
    pairs = list(zip(predicted, truth, strict=True))
    tp = sum(p and t for p, t in pairs)
    fp = sum(p and not t for p, t in pairs)
    fn = sum(t and not p for p, t in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return Agreement(
        items=len(pairs),
        accuracy=sum(p == t for p, t in pairs) / len(pairs) if pairs else 0.0,
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    )


def agreement_header(first: str, width: int) -> str:
    """The header of an agreement table whose first column, `first`, is `width` wide."""
    return f"{first:{width}} {'items':>5} {'acc':>6} {'prec':>6} {'recall':>6} {'F1':>6}"


def agreement_row(label: str, a: Agreement, width: int) -> str:
    """One row of an agreement table (see `agreement_header`)."""
    return (
        f"{label:{width}} {a.items:5d} {a.accuracy:6.3f} {a.precision:6.3f} "
        f"{a.recall:6.3f} {a.f1:6.3f}"
    )


def published_rows(published_f1: dict[str, float], width: int) -> list[str]:
    """Published judges' F1 (on the release's 120 items) as agreement-table rows."""
    return [
        f"{name:{width}} {120:5d} {'':>6} {'':>6} {'':>6} {f1:6.3f}"
        for name, f1 in published_f1.items()
    ]


@dataclass
class JudgeResult:
    judge: str
    overall: Agreement
    by_category: dict[str, Agreement]


def _result(name: str, items: Sequence[RewardItem], predicted: Sequence[bool]) -> JudgeResult:
    by_category = {}
    for category in CATEGORIES:
        # The data names categories with an abbreviation: "Missed-Need (MN)".
        index = [i for i, item in enumerate(items) if item.category.startswith(category)]
        if index:
            by_category[category] = agreement(
                [predicted[i] for i in index], [items[i].valid for i in index]
            )
    return JudgeResult(name, agreement(predicted, [i.valid for i in items]), by_category)


def gate_verdicts(
    items: Sequence[RewardItem],
    gate_for: Callable[[frozenset[str]], FoldGate],
    progress: Callable[[str], None] = lambda _: None,
) -> list[bool]:
    """The gate's verdict on each item, from `gate_for(traces the item touches)`."""
    verdicts: list[bool | None] = [None] * len(items)
    for groups in sorted({item.groups for item in items}, key=sorted):
        progress("fold without " + ("+".join(sorted(groups)) or "nothing"))
        gate = gate_for(groups)
        index = [i for i, item in enumerate(items) if item.groups == groups]
        windows = [items[i].history[-gate.window :] for i in index]
        scores = gate.score(windows)
        tasks = [(i, w) for i, w in zip(index, windows, strict=True) if items[i].task]
        p_task = gate.score_tasks([w for _, w in tasks], [items[i].task or "" for i, _ in tasks])
        for i, s in zip(index, scores, strict=True):
            verdicts[i] = s.p_need < 0.5  # silence judged right
        for (i, _), p in zip(tasks, p_task, strict=True):
            verdicts[i] = p >= 0.5
    return [bool(v) for v in verdicts]


def judge_verdicts(
    items: Sequence[RewardItem], judge: Judge, on_item: Callable[[], None] = lambda: None
) -> list[bool]:
    verdicts = []
    for item in items:
        history = tuple(
            {"time": f"{e.timestamp:.3f}".rstrip("0").rstrip("."), "event": e.text}
            for e in item.history
        )
        verdicts.append(judge.accepts(JudgeCase(history, item.task, item.help_needed)))
        on_item()
    return verdicts


@dataclass
class RewardReport:
    items: int
    results: list[JudgeResult]
    published_f1: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        lines = [
            agreement_header("judge", 42),
            *(agreement_row(r.judge, r.overall, 42) for r in self.results),
            *published_rows(self.published_f1, 42),
        ]
        for r in self.results:
            lines += [
                "",
                f"by category ({r.judge}; 'valid' is the positive class, so a "
                "category whose items are all invalid has precision and recall 0)",
                agreement_header("category", 42),
            ]
            lines += [agreement_row(c, a, 42) for c, a in r.by_category.items()]
        return "\n".join(lines)


def run_reward_benchmark(
    root: Path,
    gate_for: Callable[[frozenset[str]], FoldGate],
    *,
    judges: Sequence[Judge] = (),
    progress: Callable[[str], None] = lambda _: None,
) -> RewardReport:
    """`gate_for(traces)` gives a gate trained without those traces (see `evals.report`)."""
    items = load_reward_items(root / "reward_data" / "test_data.jsonl", load_traces(root))
    results = [
        _result(
            "festina gate (p_accept / p_need, LOTO)",
            items,
            gate_verdicts(items, gate_for, progress),
        )
    ]
    for judge in judges:
        progress(judge.name)
        results.append(_result(judge.name, items, judge_verdicts(items, judge)))
    return RewardReport(len(items), results, dict(PUBLISHED_F1))
