"""Choose the gate model the runtime uses."""

from __future__ import annotations

import logging
from pathlib import Path

from gate.base import GateModel
from gate.cues import CueGate
from gate.registry import DEFAULT_MODEL_DIR, find_model_dir, is_usable, read_manifest

logger = logging.getLogger("festina.gate")

CUE_GATE = "cues"
"""`gate.model` value that asks for the untrained cue gate (no model at all)."""
DEFAULT_MODEL = "default"
"""`gate.model` value that names the default gate shipped inside the package."""


def choose_model_dir(model: str, models_dir: Path) -> Path | None:
    """The model folder `model` names (a registered version, a folder, or "default"),
    else the registry's current model (one the user trained), else the shipped default;
    None for the cue gate, or when the package ships no usable model."""
    if model == CUE_GATE:
        return None
    if model == DEFAULT_MODEL:
        return DEFAULT_MODEL_DIR
    chosen = find_model_dir(models_dir, model)
    if chosen is not None:
        return chosen
    return DEFAULT_MODEL_DIR if is_usable(DEFAULT_MODEL_DIR) else None


def describe_choice(model: str, models_dir: Path) -> str:
    """Which gate `load_gate` would run, in words, without loading it."""
    model_dir = choose_model_dir(model, models_dir)
    if model_dir is None:
        return f"{CueGate.version} (the untrained cue gate)"
    version = read_manifest(model_dir).version
    if model_dir == DEFAULT_MODEL_DIR:
        return f"{version} (shipped with festina)"
    return f"{version} ({model_dir})"


def load_gate(model: str, models_dir: Path, device: str = "auto", threads: int = 0) -> GateModel:
    """The gate `choose_model_dir` picks, else the untrained cue gate (with a warning
    unless the cue gate was asked for); `threads`: per onnxruntime session (see
    `gate.runtime.open_session`)."""
    model_dir = choose_model_dir(model, models_dir)
    if model_dir is None:
        if model != CUE_GATE:
            logger.warning(
                "no gate model in %s and none shipped with festina; using the untrained cue "
                "gate (run `festina gate train`)",
                models_dir,
            )
        return CueGate()
    from gate.onnx_gate import OnnxGate

    gate = OnnxGate(model_dir, device=device, threads=threads)
    logger.info("gate %s on %s", gate.version, ", ".join(gate.providers))
    return gate
