"""The trained gate at run time: onnxruntime and numpy only, never torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gate.calibration import Calibrator
from gate.encoder import OnnxEncoder
from gate.features import FeatureBuilder
from gate.heads_gate import HeadsGate, need_evidence
from gate.lexical import LexicalFeatures
from gate.registry import encoder_dir_of, load_manifest
from gate.runtime import open_session


class _Head:
    def __init__(
        self, path: Path, calibrator: Calibrator, device: str, n_features: int, threads: int = 0
    ) -> None:
        self._session = open_session(path, device, threads)
        self._input = self._session.get_inputs()[0].name
        self._calibrator = calibrator
        self.n_features = n_features

    def predict(self, features: np.ndarray) -> np.ndarray:
        if features.shape[1] != self.n_features:
            raise ValueError(f"head expects {self.n_features} features, got {features.shape[1]}")
        outputs = self._session.run(None, {self._input: features.astype(np.float32)})
        probabilities = next(o for o in outputs if o.ndim == 2)[:, 1]
        return self._calibrator.apply(probabilities)  # HeadsGate clips to [0, 1]


class OnnxGate(HeadsGate):
    """Calibrated p_need and p_accept from the exported encoder and heads."""

    def __init__(self, model_dir: Path, *, device: str = "auto", threads: int = 0) -> None:
        self.manifest = load_manifest(model_dir)
        self.model_dir = model_dir
        self.encoder = OnnxEncoder(encoder_dir_of(model_dir), device=device, threads=threads)
        heads = {
            name: _Head(model_dir / head.file, head.calibrator, device, len(head.features), threads)
            for name, head in self.manifest.heads.items()
        }
        super().__init__(
            heads,
            FeatureBuilder(self.encoder, LexicalFeatures.load(model_dir)),
            self.manifest.window,
            draft_base_rate=self.manifest.heads["accept_task"].metrics["positive_rate"],
            evidence=need_evidence(self.manifest.heads["need"].metrics),
        )

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def encoder_id(self) -> str:
        return self.manifest.encoder.sha256[:12]

    @property
    def providers(self) -> list[str]:
        return self.encoder.providers
