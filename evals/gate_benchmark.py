"""The gate benchmark: quality under leave-one-trace-out, peers, ablations, speed.

Quality. For each ProactiveBench trace, heads are trained (and calibrated, on held-out
predictions inside the training set) on everything that shares no event with that trace,
then the trace is replayed through the decision rule. An event counts as a true positive
when the final action is to intervene and its human `task_status` is true. Escalated
events are settled by the gate rule, as the runtime's default slow path does.

Peers. The 15 published agents in peer_traces/ are judged the same way: an event is
proposed when the agent's response holds a task, scored against the labels of the
peer's own trace file. "Always propose" is scored on the same traces as the gate, and so
is the reward data's second human label of the same events (`help_needed`): how well
one human label predicts the other is a reference no model of the labels should be
expected to pass by far.

Speed. Per-event latency (one window at a time, as the daemon sees a quiet stream) and
batched throughput from a cold cache, for the ONNX gate and for the same encoder run
in PyTorch in the same process when torch is installed (for a static encoder, the
transformer it was distilled from).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from evals.metrics import BenchScores as Scores
from evals.metrics import timing
from gate.calibration import expected_calibration_error, reliability_curve
from gate.data import Trace, load_reward_items, load_traces
from gate.features import ACTIVITY_NAMES, CUE_NAMES, FeatureBuilder
from gate.policy import Action, GatePolicy
from gate.static_export import STATIC_PREFIX
from gate.training import Dataset, build_dataset, features_for, make_estimator, train_head


def judge(name: str, proposed: Sequence[bool], labels: Sequence[bool]) -> Scores:
    """Timing metrics: TP = proposed and needed; false alarm = FP / (TP + FP)."""
    return timing(name, proposed, labels)


def _peer_proposed(response: object) -> bool:
    if isinstance(response, list):
        return any(
            isinstance(t, str) and t.strip() and t.strip().lower() != "null" for t in response
        )
    return (
        isinstance(response, str) and bool(response.strip()) and response.strip().lower() != "null"
    )


def score_peers(root: Path) -> list[Scores]:
    results = []
    for folder in sorted(p for p in (root / "peer_traces").iterdir() if p.is_dir()):
        proposed, labels = [], []
        for trace in sorted(folder.glob("*.json")):
            for step in json.loads(trace.read_text()):
                proposed.append(_peer_proposed(step.get("agent_response")))
                labels.append(bool(step["task_status"]))
        results.append(judge(folder.name, proposed, labels))
    return sorted(results, key=lambda s: -s.f1)


def score_annotators(root: Path, traces: Sequence[Trace]) -> Scores:
    """The reward data's other human label of the same events, judged like an agent:
    `help_needed` (every annotator accepted a candidate there) as the proposal. How far
    two human labels of one event agree bounds what any model of `task_status` can show."""
    help_needed: dict[tuple[str, str], bool] = {}
    path = root / "reward_data" / "train_data.jsonl"
    for line in path.read_text().splitlines():
        row = json.loads(line)
        last = row["obs"][-1]
        help_needed[(str(last["time"]), last["event"])] = bool(row["help_needed"])
    proposed, labels = [], []
    for trace in traces:
        for observation, label in zip(trace.observations, trace.needs, strict=True):
            key = (str(observation["time"]), observation["event"])
            if key in help_needed:
                proposed.append(help_needed[key])
                labels.append(label)
    return judge("annotators (help_needed)", proposed, labels)


@dataclass
class LotoResult:
    scores: Scores
    p_need: np.ndarray
    p_accept: np.ndarray
    labels: np.ndarray
    escalated_fraction: float
    need_auc: float
    need_ece: float
    accept_held_out: np.ndarray
    accept_labels: np.ndarray


def leave_one_trace_out(
    dataset: Dataset,
    builder: FeatureBuilder,
    policy: GatePolicy,
    trace_names: Sequence[str],
    progress: Callable[[str], None],
) -> LotoResult:
    p_need, p_accept, labels, actions = [], [], [], []
    accept_held_out, accept_labels = [], []
    for name in trace_names:
        progress(f"fold {name}")
        train = dataset.without(name)
        heads = {head: train_head(head, train, builder) for head in ("need", "accept")}
        test = dataset.need.subset(dataset.need.touching(name))
        need = heads["need"].predict(builder.need(test.windows))
        accept = heads["accept"].predict(builder.accept(test.windows))
        for n, a in zip(need, accept, strict=True):
            actions.append(policy.decide(float(n), float(a))[0])
        # The accept head's own labels: reward judgements whose first trace is this one.
        judged = dataset.accept.subset(
            np.array([min(g) == name for g in dataset.accept.groups], dtype=bool)
        )
        if judged.windows:
            accept_held_out.extend(heads["accept"].predict(builder.accept(judged.windows)))
            accept_labels.extend(judged.labels)
        p_need.extend(need)
        p_accept.extend(accept)
        labels.extend(test.labels)
    p_need_arr, p_accept_arr = np.asarray(p_need), np.asarray(p_accept)
    y = np.asarray(labels, dtype=bool)
    tau = np.array([policy.threshold(n) for n in p_need_arr])
    # Escalations are settled by the gate rule, like the runtime's default slow path.
    proposed = p_accept_arr >= tau
    return LotoResult(
        scores=judge("festina gate (LOTO)", proposed, y),
        p_need=p_need_arr,
        p_accept=p_accept_arr,
        labels=y,
        escalated_fraction=float(np.mean([a is Action.ESCALATE for a in actions])),
        need_auc=float(roc_auc_score(y, p_need_arr)),
        need_ece=expected_calibration_error(p_need_arr, y),
        accept_held_out=np.asarray(accept_held_out),
        accept_labels=np.asarray(accept_labels, dtype=bool),
    )


COST_RATIOS = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0)


def cost_sweep(loto: LotoResult, policy: GatePolicy) -> list[dict[str, float]]:
    """Decisions from the same held-out probabilities as C_FN / C_FA varies (delta kept)."""
    rows = []
    for ratio in COST_RATIOS:
        swept = policy.model_copy(update={"cost_false_alarm": 1.0, "cost_missed_help": ratio})
        tau = np.array([swept.threshold(n) for n in loto.p_need])
        scores = judge(f"C_FN/C_FA={ratio:g}", loto.p_accept >= tau, loto.labels)
        escalated = np.abs(loto.p_accept - tau) <= swept.delta
        rows.append(
            {
                "cost_ratio": ratio,
                "f1": scores.f1,
                "precision": scores.precision,
                "recall": scores.recall,
                "false_alarm": scores.false_alarm,
                "proposal_rate": scores.proposed / scores.events,
                "escalated_fraction": float(escalated.mean()),
            }
        )
    return rows


def ablate_need_features(
    dataset: Dataset, builder: FeatureBuilder, trace_names: Sequence[str]
) -> dict[str, float]:
    """LOTO AUC of the need head restricted to each feature family, and all together."""
    X = features_for("need", builder, dataset.need)
    y = dataset.need.labels.astype(np.int64)
    n_cues, n_activity = len(CUE_NAMES), len(ACTIVITY_NAMES)
    families = {
        "cues": slice(0, n_cues),
        "activity": slice(n_cues, n_cues + n_activity),
        "cues+activity": slice(0, n_cues + n_activity),
        "embedding": slice(n_cues + n_activity, X.shape[1]),
        "all": slice(0, X.shape[1]),
    }
    results = {}
    for family, columns in families.items():
        estimator = make_estimator("need")
        if X[:, columns].shape[1] <= estimator.named_steps["pca"].n_components:
            estimator.set_params(pca="passthrough")
        p = np.zeros(len(y))
        for name in trace_names:
            test = dataset.need.touching(name)
            model = clone(estimator).fit(X[~test][:, columns], y[~test])
            p[test] = model.predict_proba(X[test][:, columns])[:, 1]
        results[family] = float(roc_auc_score(y, p))
    return results


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure_latency(
    model_dir: Path, windows: Sequence[list], *, batch: int = 32
) -> dict[str, float]:
    """ONNX gate: per-event latency (batch of one) and batched throughput, cold cache."""
    from gate.onnx_gate import OnnxGate

    gate = OnnxGate(model_dir, device="cpu")
    gate.score(windows[:4])  # warm-up: session initialisation is not per-event cost
    gate.encoder.clear_cache()
    per_event = []
    for window in windows:
        started = time.perf_counter()
        gate.score([window])
        per_event.append((time.perf_counter() - started) * 1000)
    gate.encoder.clear_cache()
    started = time.perf_counter()
    for i in range(0, len(windows), batch):
        gate.score(windows[i : i + batch])
    elapsed = time.perf_counter() - started
    return {
        "p50_ms": _percentile(per_event, 50),
        "p99_ms": _percentile(per_event, 99),
        "batched_events_per_s": len(windows) / elapsed,
    }


def measure_torch_encoder(
    source: str, texts: Sequence[str], *, batch: int = 32
) -> dict[str, float] | None:
    """The same encoder in PyTorch: per-text latency and batched throughput."""
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError:
        return None
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source).eval()

    def encode(chunk: Sequence[str]) -> None:
        inputs = tokenizer(
            list(chunk), padding=True, truncation=True, max_length=128, return_tensors="pt"
        )
        with torch.inference_mode():
            hidden = model(**inputs).last_hidden_state
            mask = inputs["attention_mask"].unsqueeze(-1)
            torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)

    encode(texts[:4])
    per_text = []
    for text in texts:
        started = time.perf_counter()
        encode([text])
        per_text.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        encode(texts[i : i + batch])
    return {
        "p50_ms": _percentile(per_text, 50),
        "p99_ms": _percentile(per_text, 99),
        "batched_events_per_s": len(texts) / (time.perf_counter() - started),
    }


def plot_reliability(curves: dict[str, list[dict[str, float]]], path: Path) -> bool:
    """Write the reliability diagram as PNG; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for label, curve in curves.items():
        x = [b["confidence"] for b in curve]
        y = [b["frequency"] for b in curve]
        ax.plot(x, y, label=label)
        # Marker area follows the bin's size: a lone event's bin should not look like evidence.
        ax.scatter(x, y, s=[10 + 2 * b["count"] for b in curve], alpha=0.6)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title("festina gate reliability (leave-one-trace-out)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


@dataclass
class BenchmarkReport:
    policy: dict[str, float]
    gate: Scores
    always_propose: Scores
    annotators: Scores
    peers: list[Scores]
    escalated_fraction: float
    need_auc: float
    need_ece: float
    accept_auc: float
    accept_ece: float
    need_feature_ablation: dict[str, float]
    cost_sweep: list[dict[str, float]]
    latency_onnx: dict[str, float] | None
    latency_torch_encoder: dict[str, float] | None
    reliability: dict[str, list[dict[str, float]]]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def table(self) -> str:
        rows = [self.gate, self.always_propose, self.annotators, *self.peers]
        lines = [
            f"{'agent':30} {'events':>6} {'prec':>6} {'recall':>6} {'F1':>6} {'FA':>6}",
            *(
                f"{s.name:30} {s.events:6d} {s.precision:6.3f} {s.recall:6.3f} "
                f"{s.f1:6.3f} {s.false_alarm:6.3f}"
                for s in rows
            ),
            "",
            f"escalated fraction {self.escalated_fraction:.3f}; p_need AUC {self.need_auc:.3f}, "
            f"ECE {self.need_ece:.3f}; p_accept AUC {self.accept_auc:.3f}, "
            f"ECE {self.accept_ece:.3f}",
            "need-head LOTO AUC by feature family: "
            + ", ".join(f"{k} {v:.3f}" for k, v in self.need_feature_ablation.items()),
            "",
            "cost sweep (same held-out probabilities):",
            f"{'C_FN/C_FA':>10} {'F1':>6} {'prec':>6} {'recall':>6} {'FA':>6} "
            f"{'propose':>8} {'escal.':>7}",
            *(
                f"{r['cost_ratio']:10g} {r['f1']:6.3f} {r['precision']:6.3f} {r['recall']:6.3f} "
                f"{r['false_alarm']:6.3f} {r['proposal_rate']:8.3f} {r['escalated_fraction']:7.3f}"
                for r in self.cost_sweep
            ),
            "",
        ]
        for label, figures in (
            ("ONNX gate", self.latency_onnx),
            ("PyTorch transformer", self.latency_torch_encoder),
        ):
            if figures:
                lines.append(
                    f"{label:19} p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms, "
                    f"batched {figures['batched_events_per_s']:.0f} events/s"
                )
        return "\n".join(lines)


def run_benchmark(
    proactivebench: Path,
    builder: FeatureBuilder,
    policy: GatePolicy,
    *,
    model_dir: Path | None,
    encoder_source: str | None,
    out_dir: Path,
    window: int,
    progress: Callable[[str], None] = lambda _: None,
) -> BenchmarkReport:
    traces = load_traces(proactivebench)
    reward = load_reward_items(proactivebench / "reward_data" / "train_data.jsonl", traces)
    dataset = build_dataset(traces, reward, window)
    names = [t.name for t in traces]
    loto = leave_one_trace_out(dataset, builder, policy, names, progress)
    progress("feature ablation")
    ablation = ablate_need_features(dataset, builder, names)
    windows = dataset.need.windows
    latency = None
    if model_dir is not None:
        progress("latency (ONNX)")
        latency = measure_latency(model_dir, windows)
    torch_latency = None
    if encoder_source:
        progress("latency (PyTorch)")
        # A static encoder is timed against the transformer it was distilled from.
        torch_latency = measure_torch_encoder(
            encoder_source.removeprefix(STATIC_PREFIX), [w[-1].summary() for w in windows]
        )
    curves = {
        "p_need vs task_status": reliability_curve(loto.p_need, loto.labels),
        "p_accept vs reward judgement": reliability_curve(loto.accept_held_out, loto.accept_labels),
    }
    report = BenchmarkReport(
        policy=policy.model_dump(),
        gate=loto.scores,
        always_propose=judge("always propose", [True] * len(loto.labels), loto.labels),
        annotators=score_annotators(proactivebench, traces),
        peers=score_peers(proactivebench),
        escalated_fraction=loto.escalated_fraction,
        need_auc=loto.need_auc,
        need_ece=loto.need_ece,
        accept_auc=float(roc_auc_score(loto.accept_labels, loto.accept_held_out)),
        accept_ece=expected_calibration_error(loto.accept_held_out, loto.accept_labels),
        need_feature_ablation=ablation,
        cost_sweep=cost_sweep(loto, policy),
        latency_onnx=latency,
        latency_torch_encoder=torch_latency,
        reliability=curves,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gate_benchmark.json").write_text(report.to_json())
    (out_dir / "gate_benchmark.txt").write_text(report.table() + "\n")
    plot_reliability(curves, out_dir / "reliability.png")
    return report
