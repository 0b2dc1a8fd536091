"""Training the gate's heads: datasets, grouped cross-validation, calibration, ONNX export.

Heads (each one chosen by the measurements in the gate benchmark):
* need: multinomial naive Bayes over the lexical features (TF-IDF of the event and the
  one before) -> p_need, learned from the traces' human `task_status` labels: help was needed
  here and the offered help was taken;
* accept_task: logistic regression over cues, activity and the proposed task's similarity
  to the event and its history -> how likely a concrete draft is accepted, learned from the
  reward judgements of proposed tasks (the slow path's counterfactual check).
There is no population head for p_accept: see `gate.policy` for why it is 1 until the
user's own answers say otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from core.events import Event
from gate.calibration import (
    CalibrationChoice,
    choose_calibrator,
    expected_calibration_error,
    recording_offsets,
)
from gate.data import RewardItem, Trace
from gate.features import FeatureBuilder
from gate.lexical import LexicalFeatures

HEAD_NAMES = ("need", "accept_task")
# Naive Bayes over logistic regression: with 352 labelled events and a vocabulary several
# times that size, the generative model's stronger assumptions pay (held-out AUC 0.660 vs
# 0.636, gate benchmark ablation). Smoothing chosen by nested leave-one-recording-out AUC
# over the benchmark's SMOOTHING_GRID: every one of the 18 inner searches chose 0.1.
NEED_ALPHA = 0.1


def make_estimator(head: str) -> Pipeline:
    if head == "need":
        # Counts-like, non-negative TF-IDF rows as they are: naive Bayes needs no scaling.
        return make_pipeline(MultinomialNB(alpha=NEED_ALPHA))
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))


@dataclass
class HeadData:
    """Rows for one head. `groups` holds every trace (or scene) a row's events belong to:
    a row is held out from any fold that scores one of those groups."""

    windows: list[list[Event]]
    labels: np.ndarray
    groups: list[frozenset[str]]
    tasks: list[str] = field(default_factory=list)

    def subset(self, mask: np.ndarray) -> HeadData:
        index = np.flatnonzero(mask)
        return HeadData(
            [self.windows[i] for i in index],
            self.labels[index],
            [self.groups[i] for i in index],
            [self.tasks[i] for i in index] if self.tasks else [],
        )

    def touching(self, group: str) -> np.ndarray:
        return np.array([group in g for g in self.groups], dtype=bool)

    def lexical(self) -> LexicalFeatures:
        """The lexical vocabulary of these rows' events (fit it on training rows only)."""
        return LexicalFeatures.fit([window[-1].summary() for window in self.windows])


@dataclass
class Dataset:
    """`need`: every labelled trace event; `tasks`: judged proposals (the draft head's)."""

    need: HeadData
    tasks: HeadData
    window: int

    def without(self, *groups: str) -> Dataset:
        """Everything that shares no event with any of `groups` (training for a gate that
        scores them)."""
        need, tasks = self.need, self.tasks
        for group in groups:
            need, tasks = need.subset(~need.touching(group)), tasks.subset(~tasks.touching(group))
        return Dataset(need, tasks, self.window)

    def lexical(self) -> LexicalFeatures:
        """The lexical vocabulary of this dataset's events (fitted on training texts only)."""
        return self.need.lexical()


def _scene_group(item: RewardItem) -> frozenset[str]:
    if item.groups:
        return item.groups
    # Synthetic scenes share no events with the traces; their first event names the scene.
    first = item.history[0]
    return frozenset({"scene:" + hashlib.sha1(first.text.encode()).hexdigest()[:10]})


def build_dataset(traces: Sequence[Trace], reward: Sequence[RewardItem], window: int) -> Dataset:
    need_windows, need_labels, need_groups = [], [], []
    for trace in traces:
        for i, label in enumerate(trace.needs):
            need_windows.append(trace.events[max(0, i - window + 1) : i + 1])
            need_labels.append(label)
            need_groups.append(frozenset({trace.name}))
    proposals = [item for item in reward if item.task]
    return Dataset(
        need=HeadData(need_windows, np.array(need_labels, dtype=bool), need_groups),
        tasks=HeadData(
            [item.history[-window:] for item in proposals],
            np.array([item.valid for item in proposals], dtype=bool),
            [_scene_group(item) for item in proposals],
            [item.task or "" for item in proposals],
        ),
        window=window,
    )


def features_for(head: str, builder: FeatureBuilder, data: HeadData) -> np.ndarray:
    if head == "need":
        return builder.need(data.windows)
    return builder.accept_task(data.windows, data.tasks)


def head_data(dataset: Dataset, head: str) -> HeadData:
    return dataset.need if head == "need" else dataset.tasks


def grouped_oof(
    data: HeadData, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """Held-out probabilities: each row is predicted by `fit_predict(train_mask, test_mask)`
    trained without any row that shares a group with it."""
    oof = np.full(len(data.labels), np.nan)
    for group in sorted(set().union(*data.groups)):
        test = data.touching(group) & np.isnan(oof)
        train = ~data.touching(group)
        if not test.any() or len(set(data.labels[train])) < 2:
            continue
        oof[test] = fit_predict(train, test)
    return oof


def out_of_fold(head: str, builder: FeatureBuilder, data: HeadData) -> np.ndarray:
    """`head`'s held-out probabilities for `data` by `grouped_oof` (NaN where a group
    cannot be held out), the predictions its calibration is fitted to."""
    labels = data.labels.astype(np.int64)
    if head == "need":
        # The vocabulary is refitted without the held-out rows, as the deployed head meets
        # new text: a word only they use is then unknown, where a vocabulary fitted with
        # them would keep it as a zero count that naive Bayes reads as evidence for the
        # rarer class, and the calibration fitted to these predictions would be skewed.
        def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            rows = data.subset(train)
            fold = builder.with_lexical(rows.lexical())
            model = make_estimator(head).fit(fold.need(rows.windows), labels[train])
            held_out: np.ndarray = model.predict_proba(fold.need(data.subset(test).windows))[:, 1]
            return held_out

        return grouped_oof(data, fit_predict)
    X = features_for(head, builder, data)
    return grouped_oof(
        data,
        lambda train, test: (
            make_estimator(head).fit(X[train], labels[train]).predict_proba(X[test])[:, 1]
        ),
    )


@dataclass
class TrainedHead:
    name: str
    estimator: Pipeline
    feature_names: list[str]
    calibration: CalibrationChoice
    metrics: dict[str, float]
    # Calibrated out-of-fold probabilities of the training rows, and their labels.
    held_out: tuple[np.ndarray, np.ndarray]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, as the exported model gives them at run time."""
        return self.calibration.calibrator.apply(self.estimator.predict_proba(features)[:, 1])


def train_head(head: str, dataset: Dataset, builder: FeatureBuilder) -> TrainedHead:
    data = head_data(dataset, head)
    oof = out_of_fold(head, builder, data)
    known = ~np.isnan(oof)
    y = data.labels[known].astype(float)
    primary = [sorted(g)[0] for g, k in zip(data.groups, known, strict=True) if k]
    calibration = choose_calibrator(oof[known], y, primary)
    calibrated = calibration.calibrator.apply(oof[known])
    metrics = {
        "rows": float(len(data.labels)),
        "positive_rate": float(data.labels.mean()),
        "oof_auc": float(roc_auc_score(y, oof[known])) if len(set(y)) == 2 else float("nan"),
        "oof_ece_raw": expected_calibration_error(oof[known], y),
        "oof_ece_calibrated": expected_calibration_error(calibrated, y),
    }
    if head == "need":
        # How far a recording's own rate of need strays from the calibrated p_need: what
        # the gate's p_need is worth on a person it has never seen (gate.base.NeedEvidence).
        offsets = recording_offsets(calibrated, y, primary)
        metrics["offset_spread"] = float(np.std(list(offsets.values())))
    X = features_for(head, builder, data)
    estimator = make_estimator(head).fit(X, data.labels.astype(np.int64))
    names = builder.need_names if head == "need" else builder.accept_task_names
    return TrainedHead(head, estimator, names, calibration, metrics, (calibrated, y.astype(bool)))


def export_head(trained: TrainedHead, path: Path) -> None:
    """Write the estimator as ONNX with a plain probability tensor output."""
    from skl2onnx import to_onnx

    sample = np.zeros((1, len(trained.feature_names)), dtype=np.float32)
    onnx_model = to_onnx(
        trained.estimator, sample, options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3}
    )
    path.write_bytes(onnx_model.SerializeToString())


def data_fingerprint(paths: Sequence[Path]) -> str:
    """sha256 over the training files, in order, so a model names the data it saw."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
