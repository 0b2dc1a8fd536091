"""Scoring windows with calibrated heads over one feature builder, whatever runs the heads.

The runtime's `OnnxGate` runs exported ONNX heads; evaluations' `FoldGate` runs the
scikit-learn heads it has just trained. Both score the same way, here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from gate.base import EventWindow, GateScores
from gate.features import FeatureBuilder


class Head(Protocol):
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, one per row."""
        ...


class HeadsGate:
    """p_need and p_accept per window, and p_accept of a proposed task (the slow path)."""

    def __init__(self, heads: Mapping[str, Head], features: FeatureBuilder, window: int) -> None:
        self._heads = heads
        self.features = features
        self.window = window

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings; event summaries just scored are cache hits."""
        return self.features.encoder.encode(texts)

    def preload_embeddings(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Seed the encoder's cache with embeddings it computed before (see `OnnxEncoder`)."""
        self.features.encoder.preload(texts, vectors)

    def _recent(self, windows: Sequence[EventWindow]) -> list[list]:
        return [list(w)[-self.window :] for w in windows]

    def _predict(self, head: str, features: np.ndarray) -> np.ndarray:
        return np.clip(self._heads[head].predict(features), 0.0, 1.0)

    def score(self, windows: Sequence[EventWindow]) -> list[GateScores]:
        need, accept = self.features.need_and_accept(self._recent(windows))
        p_need, p_accept = self._predict("need", need), self._predict("accept", accept)
        return [GateScores(float(n), float(a)) for n, a in zip(p_need, p_accept, strict=True)]

    def score_tasks(self, windows: Sequence[EventWindow], tasks: Sequence[str]) -> list[float]:
        """p_accept for concrete proposed tasks, one per window."""
        features = self.features.accept_task(self._recent(windows), tasks)
        return [float(p) for p in self._predict("accept_task", features)]
