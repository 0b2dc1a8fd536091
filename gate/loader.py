"""Choose the gate model the runtime uses."""

from __future__ import annotations

from gate.base import GateModel
from gate.cues import CueGate


def load_gate() -> GateModel:
    """The installed gate model; the untrained cue gate until a trained one exists."""
    return CueGate()
