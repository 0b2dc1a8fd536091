"""onnxruntime sessions: the CUDA provider when present, the CPU otherwise."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

_PREFERRED = ("CUDAExecutionProvider", "CPUExecutionProvider")


def providers(device: str = "auto") -> list[str]:
    """Execution providers for `device` ("auto", "cpu" or "cuda"), best first."""
    available = set(ort.get_available_providers())
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise RuntimeError(
            "device 'cuda' requested but onnxruntime has no CUDA provider; "
            "install the gpu extra (onnxruntime-gpu)"
        )
    return [p for p in _PREFERRED if p in available]


def open_session(path: Path, device: str = "auto", threads: int = 0) -> ort.InferenceSession:
    """A session for `path` on `device`, with `threads` for its operators (0: one per
    core, onnxruntime's choice; `gate.threads`, measured in docs/load.md). Its
    threads sleep between runs instead of spinning: the daemon scores events as they
    come, and spinning threads burn a core while waiting for the next one."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused CUDA on CPU-only hosts are noise
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=options, providers=providers(device))
