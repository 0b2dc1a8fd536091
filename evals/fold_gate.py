"""Gates trained without one trace, so a replay never scores what the gate has seen.

The runtime's model is trained on every ProactiveBench trace; replaying those traces
through it would score the gate on its training data (see the data README). A
`FoldGate` holds heads trained (and calibrated) on everything that shares no event with
one trace, over the same exported encoder, and offers the runtime's gate interface.
Heads run in scikit-learn here rather than ONNX; `festina gate train` measures the
difference between the two (below 1e-5).
"""

from __future__ import annotations

from collections.abc import Iterable

from gate.features import FeatureBuilder
from gate.heads_gate import HeadsGate, need_evidence
from gate.training import HEAD_NAMES, Dataset, TrainedHead, train_head


class FoldGate(HeadsGate):
    def __init__(
        self,
        heads: dict[str, TrainedHead],
        builder: FeatureBuilder,
        *,
        window: int,
        version: str,
        encoder_id: str,
    ) -> None:
        super().__init__(
            heads,
            builder,
            window,
            draft_base_rate=heads["accept_task"].metrics["positive_rate"],
            evidence=need_evidence(heads["need"].metrics),
        )
        self.version = version
        self.encoder_id = encoder_id


def train_fold_gate(
    dataset: Dataset, builder: FeatureBuilder, exclude: Iterable[str], *, encoder_id: str
) -> FoldGate:
    """A gate trained on everything that shares no event with the traces in `exclude`."""
    names = sorted(exclude)
    train = dataset.without(*names)
    fold = builder.with_lexical(train.lexical())
    heads = {head: train_head(head, train, fold) for head in HEAD_NAMES}
    return FoldGate(
        heads,
        fold,
        window=dataset.window,
        version="loto-without-" + "+".join(names),
        encoder_id=encoder_id,
    )
