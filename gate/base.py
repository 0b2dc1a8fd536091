"""What every gate model offers the runtime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.events import Event

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
