"""The gate benchmark: quality held out three ways, cost against every reference, speed.

Recordings (`evals.splits`). Four of the 18 labelled ProactiveBench recordings are the
confirmation split, scored only by `--confirm` for the shipped configuration; everything
below uses the other 14 alone. Each run is appended to the variants log
(`evals.variants`).

Quality. For each tuning recording, the need head (and its vocabulary, calibration and
evidence spread) is trained on everything that shares no event with that recording,
reward items whose history overlaps it included, then the recording's events are scored
(leave one recording out). Across collections, each collection's recordings are scored by
a head trained on the other's: different people and times, the closest there is to a new
user. Decisions follow the cost rule at each C_FN/C_FA, trusting p_need as far as its
evidence goes (`gate.policy`), beside the same rule on p_need as it is; escalations are
settled by the gate rule. An event counts as a true positive when the gate offers and
its human `task_status` is true.

References. "Always offer", "never offer", each published peer agent on its own cut of
the recordings, the peers' consensus and the reward annotators' votes as predictors of
the same label (the level at which people and LLMs read these labels), and the reward
data's `help_needed` taken as a decision. For the F1 target at false alarm <= 0.50: the
best F1 any threshold reaches on each reader's scores (picked in hindsight), and p_need
offered from the threshold chosen for it on the training recordings, priced beside the
cost rule.

Ablation. The held-out AUC of the need head with each feature family, with logistic
regression in place of naive Bayes, with its smoothing chosen inside each fold, and with
soft targets from the peers or annotators of the *training* recordings added to its
labels: the model keeps only what raised it.

Speed. Per-event latency (one window at a time, as the daemon sees a quiet stream) and
batched throughput from a cold cache for the ONNX gate, the same with the event embedded
for memory recall, and the encoder in PyTorch for comparison.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler

from core.decision import Action
from evals.cost_table import (
    ALWAYS,
    COST_RATIOS,
    NEVER,
    CostRow,
    at_ratio,
    cost_row,
    cost_table,
    format_table,
    plot_costs,
    verdict,
)
from evals.metrics import (
    MAX_FALSE_ALARM,
    Discrimination,
    best_f1_threshold,
    discrimination,
    timing,
)
from evals.metrics import BenchScores as Scores
from evals.peers import annotator_votes, load_peer_answers, peer_consensus
from evals.splits import Scheme, confirmation_names, confirmation_scheme, tuning_schemes
from evals.variants import log_variant
from gate.base import NeedEvidence
from gate.calibration import expected_calibration_error, reliability_curve
from gate.data import Trace, load_reward_items, load_traces
from gate.features import ACTIVITY_NAMES, CUE_NAMES, FeatureBuilder
from gate.heads_gate import POPULATION_ACCEPT, need_evidence
from gate.policy import GatePolicy
from gate.static_export import STATIC_PREFIX
from gate.training import (
    NEED_ALPHA,
    Dataset,
    TrainedHead,
    build_dataset,
    grouped_oof,
    make_estimator,
    train_head,
)

# The rows each scheme's cost table holds for festina: the shipped rule, trusting p_need
# as far as its evidence goes, and the same rule on p_need as it is.
FESTINA, POINT_ESTIMATE = "festina", "festina, p_need as it is"


def judge(name: str, proposed: Sequence[bool], labels: Sequence[bool]) -> Scores:
    """Timing metrics: TP = proposed and needed; false alarm = FP / (TP + FP)."""
    return timing(name, proposed, labels)


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
    """Held-out scores, one array per recording, in trace order."""

    p_need: list[np.ndarray]
    labels: list[np.ndarray]
    # What each recording's head says of how its p_need transfers (gate.base.NeedEvidence).
    evidence: list[NeedEvidence | None]
    draft_held_out: np.ndarray
    draft_labels: np.ndarray
    # Offers from the threshold with the best F1 at false alarm <= 0.50 on the training
    # recordings' held-out predictions: chasing that target without the scored labels.
    chasing_f1: list[np.ndarray]

    @property
    def pooled_need(self) -> np.ndarray:
        return np.concatenate(self.p_need)

    @property
    def pooled_labels(self) -> np.ndarray:
        return np.concatenate(self.labels)

    @property
    def pooled_evidence(self) -> list[NeedEvidence | None]:
        return [e for p, e in zip(self.p_need, self.evidence, strict=True) for _ in p]


def leave_one_trace_out(
    dataset: Dataset,
    builder: FeatureBuilder,
    trace_names: Sequence[str],
    progress: Callable[[str], None],
) -> LotoResult:
    p_need, labels, evidence, chasing_f1 = [], [], [], []
    draft_held_out, draft_labels = [], []
    for name in trace_names:
        progress(f"fold {name}")
        train = dataset.without(name)
        fold = builder.with_lexical(train.lexical())
        test = dataset.need.subset(dataset.need.touching(name))
        need = train_head("need", train, fold)
        p_need.append(need.predict(fold.need(test.windows)))
        labels.append(test.labels)
        evidence.append(need_evidence(need.metrics))
        chasing_f1.append(p_need[-1] >= best_f1_threshold(*need.held_out)[1])
        # The draft head's own labels: reward judgements whose first trace is this one.
        judged = dataset.tasks.subset(
            np.array([min(g) == name for g in dataset.tasks.groups], dtype=bool)
        )
        if judged.windows:
            draft = train_head("accept_task", train, fold)
            draft_held_out.extend(draft.predict(fold.accept_task(judged.windows, judged.tasks)))
            draft_labels.extend(judged.labels)
    return LotoResult(
        p_need,
        labels,
        evidence,
        np.asarray(draft_held_out),
        np.asarray(draft_labels, dtype=bool),
        chasing_f1,
    )


def decisions(
    p_need: np.ndarray,
    policy: GatePolicy,
    evidence: Sequence[NeedEvidence | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Offers and escalations at `policy`'s costs, with each p_need's `evidence` (None:
    p_need as it is); escalations settled by the gate rule."""
    evidence = evidence if evidence is not None else [None] * len(p_need)
    calls = [
        policy.decide(float(p), POPULATION_ACCEPT, e) for p, e in zip(p_need, evidence, strict=True)
    ]
    offered = np.array([GatePolicy.offering_pays(POPULATION_ACCEPT, c.tau) for c in calls])
    escalated = np.array([c.action is Action.ESCALATE for c in calls])
    return offered, escalated


def scheme_costs(
    p_need: np.ndarray,
    labels: np.ndarray,
    evidence: Sequence[NeedEvidence | None],
    policy: GatePolicy,
) -> list[CostRow]:
    """Cost per event at every ratio: festina as shipped, festina on p_need as it is,
    and both constant policies, on the same events."""
    rows = []
    for ratio in COST_RATIOS:
        at = at_ratio(policy, ratio)
        point = at.model_copy(update={"min_evidence": 0.0})
        truth = labels.tolist()
        rows += [
            cost_row(FESTINA, ratio, decisions(p_need, at, evidence)[0].tolist(), truth),
            cost_row(POINT_ESTIMATE, ratio, decisions(p_need, point)[0].tolist(), truth),
            cost_row(ALWAYS, ratio, [True] * len(truth), truth),
            cost_row(NEVER, ratio, [False] * len(truth), truth),
        ]
    return rows


@dataclass
class SchemeResult:
    """One way of holding recordings out, scored: its cost table and its verdicts."""

    name: str
    recordings: list[str]
    events: int
    base_rate: float
    need_auc: Discrimination
    costs: list[CostRow]
    verdict: dict[str, int]
    point_estimate_verdict: dict[str, int]

    @classmethod
    def of(
        cls,
        name: str,
        recordings: list[str],
        p_need: list[np.ndarray],
        labels: list[np.ndarray],
        evidence: Sequence[NeedEvidence | None],
        policy: GatePolicy,
    ) -> SchemeResult:
        """Score held-out p_need (one array per recording) and each event's evidence."""
        pooled, truth = np.concatenate(p_need), np.concatenate(labels)
        costs = scheme_costs(pooled, truth, evidence, policy)
        return cls(
            name=name,
            recordings=recordings,
            events=len(truth),
            base_rate=float(truth.mean()),
            need_auc=discrimination(p_need, labels, resamples=200),
            costs=costs,
            verdict=verdict(costs, FESTINA),
            point_estimate_verdict=verdict(costs, POINT_ESTIMATE),
        )

    def table(self) -> str:
        auc = self.need_auc
        return "\n".join(
            [
                f"{self.name}: {len(self.recordings)} recordings, {self.events} events, base rate "
                f"{self.base_rate:.3f}; p_need AUC {auc.pooled:.3f}, within {auc.within:.3f}",
                format_table(self.costs, lambda r: r.cost_per_event, "cost per event at C_FN/C_FA"),
                _verdict_line(FESTINA, self.verdict),
                _verdict_line(POINT_ESTIMATE, self.point_estimate_verdict),
            ]
        )


def _verdict_line(name: str, counts: dict[str, int]) -> str:
    return (
        f"{name}: at most the better constant policy's cost at {counts['not_worse']} of "
        f"{counts['ratios']} ratios, lower at {counts['better']}"
    )


def score_scheme(
    dataset: Dataset,
    builder: FeatureBuilder,
    scheme: Scheme,
    policy: GatePolicy,
    progress: Callable[[str], None],
) -> SchemeResult:
    """Each recording of `scheme` scored by a need head trained without what the scheme
    holds out with it (one head per distinct held-out set)."""
    p_need, labels, evidence = [], [], []
    heads: dict[frozenset[str], tuple[TrainedHead, FeatureBuilder]] = {}
    for name, excluded in scheme.held_out.items():
        progress(f"{scheme.name}: {name}")
        if excluded not in heads:
            train = dataset.without(*sorted(excluded))
            fold = builder.with_lexical(train.lexical())
            heads[excluded] = train_head("need", train, fold), fold
        need, fold = heads[excluded]
        test = dataset.need.subset(dataset.need.touching(name))
        p_need.append(need.predict(fold.need(test.windows)))
        labels.append(test.labels)
        evidence += [need_evidence(need.metrics)] * len(test.labels)
    return SchemeResult.of(scheme.name, scheme.scored, p_need, labels, evidence, policy)


def _soft_fit(X: np.ndarray, target: np.ndarray, estimator: object) -> object:
    """Fit a classifier to probabilities: each row once as positive, once as negative,
    weighted by the target (the log-loss of soft labels)."""
    rows = np.vstack([X, X])
    y = np.r_[np.ones(len(target)), np.zeros(len(target))]
    weights = np.r_[target, 1 - target]
    step = estimator.steps[-1][0]  # type: ignore[attr-defined]
    return estimator.fit(rows, y, **{f"{step}__sample_weight": weights})  # type: ignore[attr-defined]


def _fold_auc(
    trace_names: Sequence[str],
    dataset: Dataset,
    predict: Callable[[Dataset, np.ndarray, np.ndarray], np.ndarray],
) -> Discrimination:
    """Discrimination of `predict(train, train_mask, test_mask)` held out per recording."""
    scores, labels = [], []
    for name in trace_names:
        test = dataset.need.touching(name)
        scores.append(predict(dataset.without(name), ~test, test))
        labels.append(dataset.need.labels[test])
    return discrimination(scores, labels, resamples=200)


# The need head's smoothing (`gate.training.NEED_ALPHA`) is chosen from these.
SMOOTHING_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


def _inner_smoothing(train: Dataset, X: np.ndarray) -> float:
    """The naive Bayes smoothing with the best leave-one-recording-out AUC inside `train`."""
    labels = train.need.labels

    def auc(alpha: float) -> float:
        oof = grouped_oof(
            train.need,
            lambda fit, held: (
                MultinomialNB(alpha=alpha).fit(X[fit], labels[fit]).predict_proba(X[held])[:, 1]
            ),
        )
        return float(roc_auc_score(labels, oof))

    return max(SMOOTHING_GRID, key=auc)


def ablate_need(
    dataset: Dataset,
    builder: FeatureBuilder,
    trace_names: Sequence[str],
    soft_targets: dict[str, np.ndarray],
    progress: Callable[[str], None],
) -> dict[str, dict[str, float]]:
    """Held-out AUC (pooled and within-recording) of the need head with each feature
    family, and of the lexical head trained on labels mixed with soft targets."""
    progress("ablation: context features")
    context = builder.context(dataset.need.windows)
    n_cues, n_activity = len(CUE_NAMES), len(ACTIVITY_NAMES)
    families = {
        "cues": slice(0, n_cues),
        "activity": slice(n_cues, n_cues + n_activity),
        "cues+activity": slice(0, n_cues + n_activity),
        "embedding": slice(n_cues + n_activity, context.shape[1]),
        "cues+activity+embedding": slice(0, context.shape[1]),
    }
    y = dataset.need.labels.astype(float)
    results: dict[str, dict[str, float]] = {}

    def context_model(columns: slice) -> Callable[[Dataset, np.ndarray, np.ndarray], np.ndarray]:
        def predict(train: Dataset, fit: np.ndarray, test: np.ndarray) -> np.ndarray:
            estimator = make_estimator("accept_task")  # scaled logistic regression, C 0.1
            model = clone(estimator).fit(context[fit][:, columns], y[fit].astype(int))
            return model.predict_proba(context[test][:, columns])[:, 1]

        return predict

    for family, columns in families.items():
        results[family] = asdict(_fold_auc(trace_names, dataset, context_model(columns)))

    def lexical_model(
        extra: slice | None = None,
        target: np.ndarray | None = None,
        estimator: Pipeline | None = None,
    ) -> Callable[[Dataset, np.ndarray, np.ndarray], np.ndarray]:
        def predict(train: Dataset, fit: np.ndarray, test: np.ndarray) -> np.ndarray:
            lexical = train.lexical()
            X_fit, X_test = (
                lexical.transform(train.need.windows),
                lexical.transform(dataset.need.subset(test).windows),
            )
            if extra is not None:
                # Other families join at a small weight, scaled into [0, 1] on the training
                # rows (naive Bayes takes no negative inputs).
                scaler = MinMaxScaler(clip=True).fit(context[fit][:, extra])
                X_fit = np.hstack([X_fit, 0.3 * scaler.transform(context[fit][:, extra])])
                X_test = np.hstack([X_test, 0.3 * scaler.transform(context[test][:, extra])])
            goal = y[fit] if target is None else target[fit]
            model = _soft_fit(X_fit, goal, clone(estimator or make_estimator("need")))
            return model.predict_proba(X_test)[:, 1]  # type: ignore[attr-defined]

        return predict

    progress("ablation: lexical")
    results["lexical"] = asdict(_fold_auc(trace_names, dataset, lexical_model()))
    progress("ablation: smoothing chosen inside each fold")
    chosen: list[float] = []

    def nested(train: Dataset, fit: np.ndarray, test: np.ndarray) -> np.ndarray:
        lexical = train.lexical()
        X_fit, y_fit = lexical.transform(train.need.windows), train.need.labels
        alpha = _inner_smoothing(train, X_fit)
        chosen.append(alpha)
        model = MultinomialNB(alpha=alpha).fit(X_fit, y_fit)
        return model.predict_proba(lexical.transform(dataset.need.subset(test).windows))[:, 1]

    nested_auc = asdict(_fold_auc(trace_names, dataset, nested))
    counts = Counter(chosen).most_common()
    summary = ", ".join(f"{alpha:g} in {n}" for alpha, n in counts)
    results[f"lexical, smoothing chosen per fold ({summary} of {len(chosen)})"] = nested_auc
    # The head the gate had before naive Bayes, kept as the comparison that chose it.
    logistic = make_pipeline(LogisticRegression(C=3.0, max_iter=5000))
    results["lexical, logistic regression"] = asdict(
        _fold_auc(trace_names, dataset, lexical_model(estimator=logistic))
    )
    results["lexical+cues+activity"] = asdict(
        _fold_auc(trace_names, dataset, lexical_model(families["cues+activity"]))
    )
    results["lexical+embedding"] = asdict(
        _fold_auc(trace_names, dataset, lexical_model(families["embedding"]))
    )
    for name, soft in soft_targets.items():
        progress(f"ablation: soft targets from {name}")
        known = ~np.isnan(soft)
        # Where the teacher is silent the human label stands alone.
        mixed = np.where(known, (y + 0.5 * np.nan_to_num(soft)) / 1.5, y)
        results[f"lexical, labels + {name}"] = asdict(
            _fold_auc(trace_names, dataset, lexical_model(target=mixed))
        )
    return results


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure_latency(
    model_dir: Path, windows: Sequence[list], *, batch: int = 32
) -> dict[str, float]:
    """ONNX gate: per-event latency (batch of one) and batched throughput, cold cache;
    and per event with the embedding memory stores for recall (what the pipeline adds)."""
    from gate.onnx_gate import OnnxGate

    gate = OnnxGate(model_dir, device="cpu")
    gate.score(windows[:4])  # warm-up: session initialisation is not per-event cost
    gate.embed_texts([w[-1].summary() for w in windows[:4]])
    gate.features.encoder.clear_cache()
    per_event, with_recall = [], []
    for window in windows:
        started = time.perf_counter()
        gate.score([window])
        per_event.append((time.perf_counter() - started) * 1000)
        gate.embed_texts([window[-1].summary()])
        with_recall.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    for i in range(0, len(windows), batch):
        gate.score(windows[i : i + batch])
    elapsed = time.perf_counter() - started
    return {
        "p50_ms": _percentile(per_event, 50),
        "p99_ms": _percentile(per_event, 99),
        "batched_events_per_s": len(windows) / elapsed,
        "with_recall_p50_ms": _percentile(with_recall, 50),
        "with_recall_p99_ms": _percentile(with_recall, 99),
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
    traces: int
    gate: Scores
    always_propose: Scores
    annotators: Scores
    peers: list[Scores]
    costs: list[CostRow]
    cost_verdict: dict[str, int]
    # At the configured costs: the cost rule's offers, and p_need offered from the threshold
    # with the best F1 at false alarm <= 0.50, chosen on the training recordings and (a
    # bound) in hindsight on the scored ones: what chasing that target costs.
    rule_vs_best_f1: list[CostRow]
    escalated_fraction: float
    escalated_by_ratio: dict[str, float]
    need_auc: Discrimination
    need_ece: float
    references: dict[str, dict[str, float]]
    need_ablation: dict[str, dict[str, float]]
    draft_auc: float
    draft_ece: float
    latency_onnx: dict[str, float] | None
    latency_torch_encoder: dict[str, float] | None
    reliability: dict[str, list[dict[str, float]]]
    # Leave one recording out, then each collection scored by a head trained on the other.
    schemes: list[SchemeResult]
    confirmation_split: list[str]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def table(self) -> str:
        rows = [self.gate, self.always_propose, self.annotators, *self.peers]
        auc = self.need_auc
        ratio = self.policy["cost_missed_help"] / self.policy["cost_false_alarm"]
        lines = [
            f"{self.traces} recordings ({', '.join(self.confirmation_split)} kept out for "
            f"confirmation), {self.gate.events} events, leave-one-trace-out; "
            f"costs C_FA {self.policy['cost_false_alarm']:g}, "
            f"C_FN {self.policy['cost_missed_help']:g}, min_evidence "
            f"{self.policy['min_evidence']:g}",
            f"{'agent':30} {'events':>6} {'prec':>6} {'recall':>6} {'F1':>6} {'FA':>6}",
            *(
                f"{s.name:30} {s.events:6d} {s.precision:6.3f} {s.recall:6.3f} "
                f"{s.f1:6.3f} {s.false_alarm:6.3f}"
                for s in rows
            ),
            "",
            format_table(self.costs, lambda r: r.cost_per_event, "cost per event at C_FN/C_FA"),
            "",
            format_table(
                [r for r in self.costs if r.agent in ("festina", ALWAYS)],
                lambda r: r.f1,
                "F1 at C_FN/C_FA",
            ),
            format_table(
                [r for r in self.costs if r.agent == "festina"],
                lambda r: r.false_alarm,
                "false alarm at C_FN/C_FA",
            ),
            format_table(
                [r for r in self.costs if r.agent == "festina"],
                lambda r: r.offer_rate,
                "offer rate at C_FN/C_FA",
            ),
            "escalated at C_FN/C_FA     "
            + "".join(f"{v:8.3f}" for v in self.escalated_by_ratio.values()),
            f"escalated at the configured costs: {self.escalated_fraction:.3f}",
            f"festina's cost per event is at most the better constant policy's at "
            f"{self.cost_verdict['not_worse']} of {self.cost_verdict['ratios']} ratios, "
            f"lower at {self.cost_verdict['better']} (default ratio {ratio:g})",
            "",
            *(scheme.table() + "\n" for scheme in self.schemes),
            f"p_need AUC {auc.pooled:.3f} (95% CI {auc.low:.3f}-{auc.high:.3f}, resampling "
            f"recordings), within-recording {auc.within:.3f}; ECE {self.need_ece:.3f}",
            "references (same labels): "
            + "; ".join(
                f"{name} AUC {r['pooled']:.3f} (within {r['within']:.3f}, {r['events']} events)"
                for name, r in self.references.items()
            ),
            f"best F1 at false alarm <= {MAX_FALSE_ALARM:.2f}, threshold in hindsight (a bound "
            f"for any rule on these scores): p_need {auc.best_f1:.3f}; "
            + "; ".join(f"{name} {r['best_f1']:.3f}" for name, r in self.references.items()),
            f"p_need offered at C_FN/C_FA {ratio:g} by:",
            *(
                f"  {r.agent:48} cost per event {r.cost_per_event:.3f}, F1 {r.f1:.3f}, "
                f"false alarm {r.false_alarm:.3f}"
                for r in self.rule_vs_best_f1
            ),
            f"draft head (vs held-out reward judgements): AUC {self.draft_auc:.3f}, "
            f"ECE {self.draft_ece:.3f}",
            "need-head held-out AUC, pooled / within-recording:",
            *(
                f"  {name:38} {r['pooled']:.3f} / {r['within']:.3f}"
                for name, r in self.need_ablation.items()
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
        if self.latency_onnx:
            lines.append(
                f"{'+ recall embedding':19} p50 {self.latency_onnx['with_recall_p50_ms']:.2f} ms, "
                f"p99 {self.latency_onnx['with_recall_p99_ms']:.2f} ms per event"
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
    variants_log: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> BenchmarkReport:
    all_traces = load_traces(proactivebench)
    confirmation = confirmation_names(all_traces)
    # Model selection never sees the confirmation split: not trained on, not scored.
    traces = [t for t in all_traces if t.name not in confirmation]
    reward = load_reward_items(proactivebench / "reward_data" / "train_data.jsonl", all_traces)
    dataset = build_dataset(all_traces, reward, window).without(*sorted(confirmation))
    names = [t.name for t in traces]
    loto = leave_one_trace_out(dataset, builder, names, progress)
    p_need, labels = loto.pooled_need, loto.pooled_labels

    offered, escalated = decisions(p_need, policy, loto.pooled_evidence)
    ratio = policy.cost_missed_help / policy.cost_false_alarm
    by_ratio = {
        ratio: decisions(p_need, at_ratio(policy, ratio), loto.pooled_evidence)
        for ratio in COST_RATIOS
    }
    peers = load_peer_answers(proactivebench, recordings=set(names))
    costs = cost_table({q: o for q, (o, _) in by_ratio.items()}, labels.tolist(), peers)
    point = policy.model_copy(update={"min_evidence": 0.0})
    costs += [
        cost_row(POINT_ESTIMATE, q, decisions(p_need, at_ratio(point, q))[0].tolist(), labels)
        for q in COST_RATIOS
    ]
    schemes = [
        SchemeResult.of(
            "leave one recording out",
            names,
            loto.p_need,
            loto.labels,
            loto.pooled_evidence,
            policy,
        ),
        *(
            score_scheme(dataset, builder, scheme, policy, progress)
            for scheme in tuning_schemes(all_traces)[1:]
        ),
    ]

    consensus = peer_consensus(proactivebench, traces)
    votes = annotator_votes(proactivebench, traces)
    references = {
        "peer consensus": asdict(discrimination(consensus, loto.labels)),
        "annotator votes": asdict(discrimination(votes, loto.labels)),
    }
    ablation = ablate_need(
        dataset,
        builder,
        names,
        {"peers": np.concatenate(consensus), "annotators": np.concatenate(votes)},
        progress,
    )
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
        "p_need vs task_status": reliability_curve(p_need, labels),
        "draft head vs reward judgement": reliability_curve(loto.draft_held_out, loto.draft_labels),
    }
    report = BenchmarkReport(
        policy=policy.model_dump(),
        traces=len(traces),
        gate=judge("festina gate (LOTO)", offered.tolist(), labels.tolist()),
        always_propose=judge(ALWAYS, [True] * len(labels), labels.tolist()),
        annotators=score_annotators(proactivebench, traces),
        peers=sorted((judge(p.name, p.proposed, p.labels) for p in peers), key=lambda s: -s.f1),
        costs=costs,
        cost_verdict=verdict(costs),
        rule_vs_best_f1=[
            cost_row("cost rule", ratio, offered.tolist(), labels.tolist()),
            cost_row(
                "best-F1 threshold from the training recordings",
                ratio,
                np.concatenate(loto.chasing_f1).tolist(),
                labels.tolist(),
            ),
            cost_row(
                "best-F1 threshold in hindsight",
                ratio,
                (p_need >= best_f1_threshold(p_need, labels)[1]).tolist(),
                labels.tolist(),
            ),
        ],
        escalated_fraction=float(escalated.mean()),
        escalated_by_ratio={f"{q:g}": float(e.mean()) for q, (_, e) in by_ratio.items()},
        need_auc=discrimination(loto.p_need, loto.labels),
        need_ece=expected_calibration_error(p_need, labels),
        references=references,
        need_ablation=ablation,
        draft_auc=float(roc_auc_score(loto.draft_labels, loto.draft_held_out)),
        draft_ece=expected_calibration_error(loto.draft_held_out, loto.draft_labels),
        latency_onnx=latency,
        latency_torch_encoder=torch_latency,
        reliability=curves,
        schemes=schemes,
        confirmation_split=sorted(confirmation),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gate_benchmark.json").write_text(report.to_json())
    (out_dir / "gate_benchmark.txt").write_text(report.table() + "\n")
    plot_reliability(curves, out_dir / "reliability.png")
    plot_costs(
        costs, out_dir / "costs.png", title=f"cost per event, {len(traces)} recordings held out"
    )
    log_variant(
        variants_log,
        f"festina gate eval: {_configuration(policy)}",
        f"{len(traces)} tuning recordings",
        {
            "need_auc": round(report.need_auc.pooled, 3),
            "need_auc_within": round(report.need_auc.within, 3),
            **{scheme.name: _cost_figures(scheme.costs) for scheme in schemes},
            # Each ablation row is a variant scored on the same recordings too.
            "ablation_auc_pooled_within": {
                name: [round(r["pooled"], 3), round(r["within"], 3)] for name, r in ablation.items()
            },
        },
    )
    return report


def _configuration(policy: GatePolicy) -> str:
    return (
        f"need head naive Bayes alpha {NEED_ALPHA:g}, calibrated by log loss; min_evidence "
        f"{policy.min_evidence:g} (spread of per-recording offsets); delta {policy.delta:g}"
    )


def _cost_figures(rows: Sequence[CostRow]) -> dict[str, list[float]]:
    """Cost per event by agent, one figure per ratio (for the variants log)."""
    figures: dict[str, list[float]] = {}
    for row in rows:
        if row.agent in (FESTINA, POINT_ESTIMATE, ALWAYS, NEVER):
            figures.setdefault(row.agent, []).append(round(row.cost_per_event, 3))
    return figures


def run_confirmation(
    proactivebench: Path,
    builder: FeatureBuilder,
    policy: GatePolicy,
    *,
    out_dir: Path,
    window: int,
    variants_log: Path | None = None,
) -> SchemeResult:
    """The confirmation split scored by the shipped configuration trained on every tuning
    recording: once per release, never to choose anything."""
    traces = load_traces(proactivebench)
    reward = load_reward_items(proactivebench / "reward_data" / "train_data.jsonl", traces)
    dataset = build_dataset(traces, reward, window)
    result = score_scheme(dataset, builder, confirmation_scheme(traces), policy, lambda _: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "confirmation.json").write_text(json.dumps(asdict(result), indent=2))
    (out_dir / "confirmation.txt").write_text(result.table() + "\n")
    log_variant(
        variants_log,
        f"festina gate eval --confirm: {_configuration(policy)}",
        f"confirmation split: {', '.join(result.recordings)}",
        {result.name: _cost_figures(result.costs)},
    )
    return result
