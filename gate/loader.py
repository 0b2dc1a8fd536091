"""Choose the gate model the runtime uses."""

from __future__ import annotations

import logging
from pathlib import Path

from gate.base import GateModel
from gate.cues import CueGate
from gate.registry import current_model_dir

logger = logging.getLogger("festina.gate")


def load_gate(model: str, models_dir: Path, device: str = "auto") -> GateModel:
    """The model folder `model` names, else the registry's current model, else the
    untrained cue gate (with a warning saying how to train one)."""
    model_dir = Path(model).expanduser() if model else current_model_dir(models_dir)
    if model_dir is None:
        logger.warning(
            "no trained gate model in %s; using the untrained cue gate (run `festina gate train`)",
            models_dir,
        )
        return CueGate()
    from gate.onnx_gate import OnnxGate

    gate = OnnxGate(model_dir, device=device)
    logger.info("gate %s on %s", gate.version, ", ".join(gate.providers))
    return gate
