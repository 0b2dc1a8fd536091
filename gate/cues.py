"""An untrained, transparent gate over window cues.

It exists so the runtime decides sensibly before a trained model is installed; its
weights are hand-set, documented here, and its version says so. The trained ONNX gate
replaces it whenever a model is available.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gate.base import EventWindow, GateScores
from gate.features import window_cues
from gate.heads_gate import POPULATION_ACCEPT

_NEED_WEIGHTS = {
    "is_error": 1.5,
    "is_help_seeking": 1.0,
    "is_search": 0.6,
    "repeated_query": 1.0,
    "errors_in_window": 0.3,
    "is_first_in_window": 0.5,
}
_NEED_BIAS = -1.0


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _linear(cues: dict[str, float], weights: dict[str, float], bias: float) -> float:
    return bias + sum(weight * cues[name] for name, weight in weights.items())


class CueGate:
    """Hand-weighted logistic scores over `gate.features.window_cues`."""

    version = "cues-untrained-0"

    def score(self, windows: Sequence[EventWindow]) -> list[GateScores]:
        scores = []
        for window in windows:
            cues = window_cues(window)
            scores.append(
                GateScores(
                    p_need=_sigmoid(_linear(cues, _NEED_WEIGHTS, _NEED_BIAS)),
                    p_accept=POPULATION_ACCEPT,
                )
            )
        return scores
