"""What every gate model offers the runtime."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from core.events import Event

EventWindow = Sequence[Event]
"""Recent events of one context, oldest first; the last one is being decided on."""


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True)
class NeedEvidence:
    """How far a population p_need can be trusted on a person it has never seen.

    `spread`: the standard deviation, in logit units, of how far each training recording's
    own rate of need sat from the head's calibrated p_need (one offset per recording,
    fitted to its held-out predictions): people differ by about that much, whatever the
    model reads in their events. `prior`: the rate of need the head was trained at, which
    is all a gate without evidence would go by (the better constant policy's choice)."""

    spread: float
    prior: float

    def interval(self, p_need: float, width: float) -> tuple[float, float]:
        """p_need moved down and up by `width` spreads, in logit units."""
        centre, half = _logit(p_need), width * self.spread
        return _sigmoid(centre - half), _sigmoid(centre + half)

    def moved(self, before: float, after: float) -> NeedEvidence:
        """The same evidence after this person's model moved p_need from `before` to
        `after`: their own answers move the prior they are compared with alike."""
        if after == before:
            return self
        return NeedEvidence(
            self.spread, _sigmoid(_logit(self.prior) + _logit(after) - _logit(before))
        )


@dataclass(frozen=True)
class GateScores:
    p_need: float
    p_accept: float
    evidence: NeedEvidence | None = None
    """None: a gate that says nothing of how its p_need transfers (the cue gate)."""


class GateModel(Protocol):
    """Scores a batch of windows; batching is what makes the fast path fast."""

    @property
    def version(self) -> str: ...

    def score(self, windows: Sequence[EventWindow]) -> list[GateScores]: ...


@runtime_checkable
class Embedder(Protocol):
    """A gate that can also embed events, so memory can recall similar episodes."""

    @property
    def encoder_id(self) -> str: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def preload_embeddings(self, texts: Sequence[str], vectors: np.ndarray) -> None: ...
