"""The trained gate at run time: onnxruntime and numpy only, never torch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gate.base import EventWindow, GateScores
from gate.calibration import Calibrator
from gate.encoder import OnnxEncoder
from gate.features import FeatureBuilder
from gate.registry import load_manifest
from gate.runtime import open_session


class _Head:
    def __init__(self, path: Path, calibrator: Calibrator, device: str, n_features: int) -> None:
        self._session = open_session(path, device)
        self._input = self._session.get_inputs()[0].name
        self._calibrator = calibrator
        self.n_features = n_features

    def predict(self, features: np.ndarray) -> np.ndarray:
        if features.shape[1] != self.n_features:
            raise ValueError(f"head expects {self.n_features} features, got {features.shape[1]}")
        outputs = self._session.run(None, {self._input: features.astype(np.float32)})
        probabilities = next(o for o in outputs if o.ndim == 2)[:, 1]
        return np.clip(self._calibrator.apply(probabilities), 0.0, 1.0)


class OnnxGate:
    """Calibrated p_need and p_accept from the exported encoder and heads."""

    def __init__(self, model_dir: Path, *, device: str = "auto") -> None:
        self.manifest = load_manifest(model_dir)
        self.model_dir = model_dir
        self.encoder = OnnxEncoder(
            (model_dir / self.manifest.encoder.directory).resolve(), device=device
        )
        self.features = FeatureBuilder(self.encoder)
        self._heads = {
            name: _Head(model_dir / head.file, head.calibrator, device, len(head.features))
            for name, head in self.manifest.heads.items()
        }

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def window(self) -> int:
        return self.manifest.window

    @property
    def encoder_id(self) -> str:
        return self.manifest.encoder.sha256[:12]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings; event summaries just scored are cache hits."""
        return self.encoder.encode(texts)

    @property
    def providers(self) -> list[str]:
        return self.encoder.providers

    def score(self, windows: Sequence[EventWindow]) -> list[GateScores]:
        windows = [list(w)[-self.window :] for w in windows]
        need, accept = self.features.need_and_accept(windows)
        p_need = self._heads["need"].predict(need)
        p_accept = self._heads["accept"].predict(accept)
        return [GateScores(float(n), float(a)) for n, a in zip(p_need, p_accept, strict=True)]

    def score_tasks(self, windows: Sequence[EventWindow], tasks: Sequence[str]) -> list[float]:
        """p_accept for concrete proposed tasks, one per window."""
        windows = [list(w)[-self.window :] for w in windows]
        features = self.features.accept_task(windows, tasks)
        return [float(p) for p in self._heads["accept_task"].predict(features)]
