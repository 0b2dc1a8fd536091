"""What every gate model offers the runtime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from core.events import Event

EventWindow = Sequence[Event]
"""Recent events of one context, oldest first; the last one is being decided on."""


@dataclass(frozen=True)
class GateScores:
    p_need: float
    p_accept: float


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
