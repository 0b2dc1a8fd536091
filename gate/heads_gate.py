"""Scoring windows with calibrated heads over one feature builder, whatever runs the heads.

The runtime's `OnnxGate` runs exported ONNX heads; evaluations' `FoldGate` runs the
scikit-learn heads it has just trained. Both score the same way, here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from core.events import Event
from gate.base import EventWindow, GateScores, NeedEvidence
from gate.features import FeatureBuilder


class Head(Protocol):
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, one per row."""
        ...


# ProactiveBench's `task_status`, the only event-level label there is, marks an event
# only where help was needed *and* the proposed help was taken: no labelled event says
# "needed, but the offer was turned down", so a population model has nothing to learn
# P(accept | need) from. It starts at 1 (p_need alone is the chance of a welcome offer)
# and the user's own answers move it (memory/feedback.py).
POPULATION_ACCEPT = 1.0


def need_evidence(metrics: Mapping[str, float]) -> NeedEvidence | None:
    """What a trained need head's metrics say of how its p_need transfers to a new
    person; None for a model trained before the spread was measured."""
    if "offset_spread" not in metrics:
        return None
    return NeedEvidence(spread=metrics["offset_spread"], prior=metrics["positive_rate"])


class HeadsGate:
    """p_need and p_accept per window, and p_accept of a proposed task (the slow path).

    `draft_base_rate` is how often the judged drafts the draft head learnt from were
    accepted: a draft is scored relative to that average one. `evidence` goes with every
    p_need (see `gate.policy` for how the rule uses it)."""

    def __init__(
        self,
        heads: Mapping[str, Head],
        features: FeatureBuilder,
        window: int,
        draft_base_rate: float,
        evidence: NeedEvidence | None = None,
    ) -> None:
        self._heads = heads
        self.features = features
        self.window = window
        self.draft_base_rate = draft_base_rate
        self.evidence = evidence

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings; event summaries just scored are cache hits."""
        return self.features.require_encoder().encode(texts)

    def preload_embeddings(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Seed the encoder's cache with embeddings it computed before (see `OnnxEncoder`)."""
        self.features.require_encoder().preload(texts, vectors)

    def _recent(self, windows: Sequence[EventWindow]) -> list[list[Event]]:
        return [list(w)[-self.window :] for w in windows]

    def _predict(self, head: str, features: np.ndarray) -> np.ndarray:
        clipped: np.ndarray = np.clip(self._heads[head].predict(features), 0.0, 1.0)
        return clipped

    def score(self, windows: Sequence[EventWindow]) -> list[GateScores]:
        p_need = self._predict("need", self.features.need(self._recent(windows)))
        return [GateScores(float(n), POPULATION_ACCEPT, self.evidence) for n in p_need]

    def score_tasks(self, windows: Sequence[EventWindow], tasks: Sequence[str]) -> list[float]:
        """p_accept for concrete proposed tasks, one per window.

        The population p_accept (1) is what the labels say of *some* offer at a moment of
        need; a concrete draft is as likely to be taken as the draft head says relative to
        an average judged draft, so a better-than-average draft keeps p_accept at 1 and a
        worse one lowers it in proportion."""
        features = self.features.accept_task(self._recent(windows), tasks)
        p_task = self._predict("accept_task", features)
        relative = POPULATION_ACCEPT * p_task / max(self.draft_base_rate, 1e-6)
        return [float(p) for p in np.minimum(relative, 1.0)]
