"""`festina eval report`: every evaluation, its figures, and a report people can read.

Sections (each can run alone):
* proactivebench: the runtime replayed over the labelled recordings, judged, peers side by
  side, cost; F1 against escalation fraction as delta varies; F1, false alarm and cost per
  event against C_FN/C_FA next to always/never offer and every peer; the reliability
  diagram;
* reward: the gate as ProactiveBench's judge on reward_data/test_data.jsonl, and the
  offline reward judge (`evals.reward_judge`) validated three ways;
* pira: the shipped PIRA-style set, with and without memory and state tracking;
* mobile: the shipped ProactiveMobile-style set, function-sequence success;
* personal: a panel of simulated users, cost per event against answers given for the
  population gate, the context offsets and the personal model (`evals.personal`).

Everything is deterministic on CPU (seeded generators, one event a batch, LLM answers
cached), so the same command on a clean checkout gives the same figures. Output:
results.json (machines), report.md and report.html (people), PNG plots.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.slowpath.llm import ChatModel
from evals.cost_table import (
    COST_RATIOS,
    at_ratio,
    cost_table,
    format_table,
    plot_costs,
    verdict,
)
from evals.fold_gate import FoldGate, train_fold_gate
from evals.judges import HumanJudge, Judge
from evals.metrics import BenchScores
from evals.peers import load_peer_answers
from evals.progress import Bars
from evals.reward_judge import PRISM, DisjointJudge, Embeddings, build_judge
from evals.runtime_replay import (
    Cost,
    ReplayedEvent,
    ReplayReport,
    SlowPathFactory,
    replay_all,
    score_replay,
)
from evals.slowpath_bench import slow_path_stats
from evals.splits import Scheme, confirmation_names, tuning_schemes
from evals.variants import default_log, log_variant
from gate.calibration import reliability_curve
from gate.data import Trace, load_reward_items, load_traces
from gate.features import FeatureBuilder
from gate.policy import GatePolicy
from gate.training import Dataset, build_dataset
from tools.pool import ToolPool

SECTIONS = ("proactivebench", "reward", "pira", "mobile", "personal")
DELTAS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.49)
# PIRA and the mobile set also run at this cost ratio: at the default costs the gate
# rarely offers anything, and a comparison of two silent runtimes says nothing.
EAGER_RATIO = 13.0


@dataclass
class ReportInputs:
    root: Path
    out_dir: Path
    builder: FeatureBuilder
    encoder_id: str
    policy: GatePolicy
    window: int
    judge: Judge
    slow_path: tuple[str, SlowPathFactory]
    """(name, factory) of the slow path the replays use."""
    pool: ToolPool
    chat: ChatModel | None = None
    """A model for the mobile set's drafting planner (None: the offline baseline only)."""
    traces: list[str] | None = None
    """Replay only these traces (tests); None: every trace in splits.json."""
    judge_embeddings: Embeddings | None = None
    """Text embeddings for the offline reward judge (`evals.reward_judge`), trained in the
    run; it judges the replay beside `judge` and is validated in the reward section.
    None: no offline judge."""


class _Folds:
    """Held-out gates, trained once per set of held-out traces and shared by every
    section. None is ever trained on the confirmation split (`evals.splits`)."""

    def __init__(self, inputs: ReportInputs, traces: list[Trace]) -> None:
        self._inputs = inputs
        reward = load_reward_items(inputs.root / "reward_data" / "train_data.jsonl", traces)
        confirmation = sorted(confirmation_names(traces))
        self.dataset: Dataset = build_dataset(traces, reward, inputs.window).without(*confirmation)
        self._gates: dict[frozenset[str], FoldGate] = {}

    def without(self, names: frozenset[str]) -> FoldGate:
        if names not in self._gates:
            self._gates[names] = train_fold_gate(
                self.dataset, self._inputs.builder, names, encoder_id=self._inputs.encoder_id
            )
        return self._gates[names]


def _sweep_row(events: list[ReplayedEvent], scores: BenchScores, **setting: float) -> dict:
    return {
        **setting,
        "f1": scores.f1,
        "precision": scores.precision,
        "recall": scores.recall,
        "false_alarm": scores.false_alarm,
        "escalated_fraction": Cost.of(events).escalated_fraction,
    }


def _judged_by(
    inputs: ReportInputs, events: list[ReplayedEvent], judge: DisjointJudge, bars: Bars
) -> dict[str, Any]:
    """The replay judged by the offline reward judge (ProactiveBench's official protocol),
    with PRISM's published figures and what the slow path's check changed."""
    with bars.step(f"judging festina, peers ({judge.name})", None) as tick:
        scores = score_replay(inputs.root, events, judge, inputs.out_dir, on_step=tick)
    cost = Cost.of(events)
    replay = ReplayReport(
        judge.name, inputs.slow_path[0], inputs.policy.model_dump(), scores, cost, 0
    )
    festina = scores["all"][0]
    slow = slow_path_stats(events, judge)
    reference = (
        f"festina under {judge.name}: F1 {festina.f1:.3f}, false alarm "
        f"{festina.false_alarm:.3f}, {cost.escalated_fraction:.0%} of events escalated; "
        f"PRISM (published, official reward model, 12 recordings): F1 {PRISM['f1']:.3f}, "
        f"false alarm {PRISM['false_alarm']:.3f}, about {PRISM['escalated']:.0%} escalated"
    )
    table = "\n".join(
        [f"judge: {judge.name}", replay.table().split("\ncost:")[0], reference, slow.table()]
    )
    return {"replay": replay.to_dict(), "slow_path": slow.to_dict(), "table": table}


def _transfer(
    inputs: ReportInputs,
    traces: list[Trace],
    schemes: Sequence[Scheme],
    folds: _Folds,
    bars: Bars,
) -> list[dict[str, Any]]:
    """The whole runtime across collections: each collection's recordings replayed with
    gates trained on the other's, at every C_FN/C_FA, priced beside the constant policies."""
    results = []
    for scheme in schemes:
        scored = [t for t in traces if t.name in scheme.held_out]
        if not scored:
            continue
        gates = {t.name: folds.without(scheme.held_out[t.name]) for t in scored}
        offers = {}
        with bars.step(f"replay across collections: {scheme.name}", len(COST_RATIOS)) as tick:
            for ratio in COST_RATIOS:
                policy = at_ratio(inputs.policy, ratio)
                run = replay_all(scored, gates, policy, inputs.slow_path[1])
                offers[ratio] = [e.task is not None for e in run]
                tick()
        needed = [needed for t in scored for needed in t.needs]
        costs = cost_table(offers, needed)
        results.append(
            {
                "scheme": scheme.name,
                "recordings": [t.name for t in scored],
                "costs": [asdict(r) for r in costs],
                "cost_verdict": verdict(costs),
                "table": format_table(
                    costs, lambda r: r.cost_per_event, f"cost/event, {scheme.name}"
                ),
            }
        )
    return results


def _proactivebench(
    inputs: ReportInputs,
    traces: list[Trace],
    folds: _Folds,
    bars: Bars,
    offline: DisjointJudge | None = None,
    across: Sequence[Scheme] = (),
) -> dict:
    gates = {}
    with bars.step("LOTO gates", len(traces)) as tick:
        for trace in traces:
            gates[trace.name] = folds.without(frozenset({trace.name}))
            tick()
    slow_name, slow_path = inputs.slow_path
    with bars.step("replay (configured policy)", len(traces)) as tick:
        events = replay_all(traces, gates, inputs.policy, slow_path, tick)
    with bars.step("judging festina, peers", None) as tick:
        scores = score_replay(inputs.root, events, inputs.judge, inputs.out_dir, on_step=tick)
    replay = ReplayReport(
        inputs.judge.name,
        slow_name,
        inputs.policy.model_dump(),
        scores,
        Cost.of(events),
        getattr(inputs.judge, "tokens", 0),
    )

    by_offline = _judged_by(inputs, events, offline, bars) if offline is not None else None

    def festina_scores(run: list[ReplayedEvent], label: str) -> BenchScores:
        folder = inputs.out_dir / "sweeps" / label
        return score_replay(inputs.root, run, inputs.judge, folder, peers=False)["all"][0]

    delta_rows, cost_rows, offers = [], [], {}
    with bars.step("sweep: delta", len(DELTAS)) as tick:
        for delta in DELTAS:
            run = replay_all(
                traces, gates, inputs.policy.model_copy(update={"delta": delta}), slow_path
            )
            delta_rows.append(_sweep_row(run, festina_scores(run, f"delta-{delta:g}"), delta=delta))
            tick()
    with bars.step("sweep: C_FN/C_FA", len(COST_RATIOS)) as tick:
        for ratio in COST_RATIOS:
            policy = at_ratio(inputs.policy, ratio)
            run = replay_all(traces, gates, policy, slow_path)
            cost_rows.append(
                _sweep_row(run, festina_scores(run, f"cost-{ratio:g}"), cost_ratio=ratio)
            )
            offers[ratio] = [e.task is not None for e in run]
            tick()
    needed = [e.needed for e in events]
    peers = load_peer_answers(inputs.root, recordings={t.name for t in traces})
    costs = cost_table(offers, needed, peers)
    plot_costs(costs, inputs.out_dir / "costs.png", title="cost per event, whole runtime")
    cost_text = "\n".join(
        [
            format_table(costs, lambda r: r.cost_per_event, "cost/event (task_status)"),
            format_table([r for r in costs if r.agent == "festina"], lambda r: r.f1, "festina F1"),
            format_table(
                [r for r in costs if r.agent == "festina"],
                lambda r: r.false_alarm,
                "festina false alarm",
            ),
            format_table(
                [r for r in costs if r.agent == "festina"],
                lambda r: r.offer_rate,
                "festina offer rate",
            ),
        ]
    )
    reliability = {
        "p_need vs task_status": reliability_curve([e.p_need for e in events], needed),
    }
    transfer = _transfer(inputs, traces, across, folds, bars)
    tables = [
        replay.table(),
        *([by_offline["table"]] if by_offline else []),
        cost_text,
        *(t["table"] for t in transfer),
    ]
    return {
        "transfer": transfer,
        "replay": replay.to_dict(),
        "offline_judge": by_offline,
        "table": "\n\n".join(tables),
        "delta_sweep": delta_rows,
        "cost_sweep": cost_rows,
        "costs": [asdict(r) for r in costs],
        "cost_verdict": verdict(costs),
        "reliability": reliability,
    }


def _reward(inputs: ReportInputs, folds: _Folds, bars: Bars) -> dict:
    from evals.gate_as_judge import run_reward_benchmark

    with bars.step("reward judgement", None) as tick:
        report = run_reward_benchmark(
            inputs.root,
            folds.without,
            # The human labels are the answer key here: only a model judge is compared.
            judges=[] if isinstance(inputs.judge, HumanJudge) else [inputs.judge],
            progress=lambda _: tick(),
        )
    out = {**report.to_dict(), "table": report.table()}
    if inputs.judge_embeddings is not None:
        from evals.reward_judge import validate

        with bars.step("offline reward judge: three validations", None) as tick:
            _, validation = validate(
                inputs.root, inputs.judge_embeddings, progress=lambda _: tick()
            )
        out["offline_judge"] = validation.to_dict()
        out["table"] += "\n\n" + validation.table()
    return out


def _pira(inputs: ReportInputs, folds: _Folds, bars: Bars) -> dict:
    from evals.pira import format_results, load_set, run_pira, shipped_set_path

    trajectories = load_set(shipped_set_path())
    if inputs.traces is not None:
        trajectories = [
            t
            for t in trajectories
            if {v["trace"] for v in t.threads.values()} <= set(inputs.traces)
        ]

    def gate_for(trajectory: Any) -> FoldGate:
        return folds.without(frozenset(v["trace"] for v in trajectory.threads.values()))

    out = {}
    for label, policy in _policies(inputs.policy).items():
        with bars.step(f"PIRA ({label})", 2 * len(trajectories)) as tick:
            results = run_pira(
                trajectories, gate_for, policy, slow_path=inputs.slow_path[1], on_run=tick
            )
        out[label] = {"results": [asdict(r) for r in results], "table": format_results(results)}
    return {"trajectories": len(trajectories), "by_policy": out}


def _policies(policy: GatePolicy) -> dict[str, GatePolicy]:
    eager = at_ratio(policy, EAGER_RATIO)
    ratio = policy.cost_missed_help / policy.cost_false_alarm
    return {f"C_FN/C_FA={ratio:g} (configured)": policy, f"C_FN/C_FA={EAGER_RATIO:g}": eager}


def _mobile(inputs: ReportInputs, folds: _Folds, bars: Bars) -> dict:
    from evals.mobile import (
        drafting_planner,
        format_results,
        load_set,
        retrieval_planner,
        run_mobile,
        shipped_set_path,
        templates_planner,
    )

    instances = load_set(shipped_set_path())
    gate = folds.without(frozenset())  # trained on all of ProactiveBench, never on devices
    planners = [
        (f"gate+retrieval, {label}", retrieval_planner(gate, policy, inputs.pool))
        for label, policy in _policies(inputs.policy).items()
    ]
    planners += [
        (f"gate+templates, {label}", templates_planner(gate, policy, inputs.pool))
        for label, policy in _policies(inputs.policy).items()
    ]
    planners.append(("templates (no gate)", templates_planner(None, inputs.policy, inputs.pool)))
    if inputs.chat is not None:
        planners.append(
            (f"slow path ({inputs.chat.name})", drafting_planner(inputs.chat, inputs.pool))
        )
    results = []
    for name, planner in planners:
        with bars.step(f"mobile: {name}", len(instances)) as tick:
            results.append(run_mobile(instances, planner, name, tick))
    return {"results": [asdict(r) for r in results], "table": format_results(results)}


def _personal(inputs: ReportInputs, bars: Bars) -> dict:
    from evals.personal import run_personal

    with bars.step("personal: simulated users", None) as tick:
        report = run_personal(
            inputs.root, inputs.policy, window=inputs.window, progress=lambda _: tick()
        )
    return {**report.to_dict(), "table": report.table()}


def _festina_costs(rows: list[dict[str, Any]]) -> list[float]:
    return [round(r["cost_per_event"], 3) for r in rows if r["agent"] == "festina"]


def _log_replay(inputs: ReportInputs, traces: list[Trace], section: dict[str, Any]) -> None:
    """The whole-runtime replay is a scored variant too (`evals.variants`)."""
    log_variant(
        default_log(),
        f"festina eval report --section proactivebench: slow path {inputs.slow_path[0]}, "
        f"policy {inputs.policy.model_dump()}, exploring as the daemon does",
        f"{len(traces)} tuning recordings",
        {
            "leave one recording out": _festina_costs(section["costs"]),
            **{t["scheme"]: _festina_costs(t["costs"]) for t in section["transfer"]},
        },
    )


def run_report(
    inputs: ReportInputs, sections: tuple[str, ...] = SECTIONS, *, progress: bool = True
) -> dict[str, Any]:
    inputs.out_dir.mkdir(parents=True, exist_ok=True)
    all_traces = load_traces(inputs.root)
    folds = _Folds(inputs, all_traces)
    # Every figure here helps choose festina's configuration: the confirmation split stays
    # out (`festina gate eval --confirm` scores it).
    confirmation = confirmation_names(all_traces)
    traces = [t for t in all_traces if t.name not in confirmation]
    if inputs.traces is not None:
        traces = [t for t in traces if t.name in inputs.traces]
    results: dict[str, Any] = {"policy": inputs.policy.model_dump(), "judge": inputs.judge.name}
    try:
        with Bars(enabled=progress) as bars:
            if "proactivebench" in sections:
                offline = None
                if inputs.judge_embeddings is not None:
                    with bars.step("offline reward judge: training", None):
                        offline = build_judge(inputs.root, inputs.judge_embeddings)
                    results["second_judge"] = offline.name
                results["proactivebench"] = _proactivebench(
                    inputs, traces, folds, bars, offline, tuning_schemes(all_traces)[1:]
                )
                _log_replay(inputs, traces, results["proactivebench"])
            if "reward" in sections:
                results["reward"] = _reward(inputs, folds, bars)
            if "pira" in sections:
                results["pira"] = _pira(inputs, folds, bars)
            if "mobile" in sections:
                results["mobile"] = _mobile(inputs, folds, bars)
            if "personal" in sections:
                results["personal"] = _personal(inputs, bars)
    finally:
        # Verdicts already paid for survive a failed run (a judge endpoint going away).
        save = getattr(inputs.judge, "save", None)
        if save is not None:
            save()
        if inputs.judge_embeddings is not None:
            inputs.judge_embeddings.save()
    (inputs.out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    from evals.report_render import render

    render(results, inputs.out_dir)
    return results
