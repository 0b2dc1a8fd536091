"""Gates trained without one trace, so a replay never scores what the gate has seen.

The runtime's model is trained on every ProactiveBench trace; replaying those traces
through it would score the gate on its training data (see the data README). A
`FoldGate` holds heads trained (and calibrated) on everything that shares no event with
one trace, over the same exported encoder, and offers the runtime's gate interface.
Heads run in scikit-learn here rather than ONNX; `festina gate train` measures the
difference between the two (below 1e-5).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from gate.base import EventWindow, GateScores
from gate.features import FeatureBuilder
from gate.training import HEAD_NAMES, Dataset, TrainedHead, train_head


class FoldGate:
    def __init__(
        self,
        heads: dict[str, TrainedHead],
        builder: FeatureBuilder,
        *,
        window: int,
        version: str,
        encoder_id: str,
    ) -> None:
        self._heads = heads
        self._builder = builder
        self.window = window
        self._version = version
        self._encoder_id = encoder_id

    @property
    def version(self) -> str:
        return self._version

    @property
    def encoder_id(self) -> str:
        return self._encoder_id

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._builder.encoder.encode(texts)

    def _recent(self, windows: Sequence[EventWindow]) -> list[list]:
        return [list(w)[-self.window :] for w in windows]

    def score(self, windows: Sequence[EventWindow]) -> list[GateScores]:
        windows = self._recent(windows)
        need, accept = self._builder.need_and_accept(windows)
        p_need = self._heads["need"].predict(need)
        p_accept = self._heads["accept"].predict(accept)
        return [
            GateScores(float(np.clip(n, 0, 1)), float(np.clip(a, 0, 1)))
            for n, a in zip(p_need, p_accept, strict=True)
        ]

    def score_tasks(self, windows: Sequence[EventWindow], tasks: Sequence[str]) -> list[float]:
        features = self._builder.accept_task(self._recent(windows), tasks)
        return [float(np.clip(p, 0, 1)) for p in self._heads["accept_task"].predict(features)]


def train_fold_gate(
    dataset: Dataset, builder: FeatureBuilder, exclude: Iterable[str], *, encoder_id: str
) -> FoldGate:
    """A gate trained on everything that shares no event with the traces in `exclude`."""
    names = sorted(exclude)
    train = dataset
    for name in names:
        train = train.without(name)
    heads = {head: train_head(head, train, builder) for head in HEAD_NAMES}
    return FoldGate(
        heads,
        builder,
        window=dataset.window,
        version="loto-without-" + "+".join(names),
        encoder_id=encoder_id,
    )
