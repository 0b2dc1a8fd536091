"""Which gate the daemon runs: the one `gate.model` names, else the one the user trained
(the registry's current), else the default shipped in the package, else the cue gate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gate.cues import CueGate
from gate.loader import CUE_GATE, DEFAULT_MODEL, choose_model_dir, load_gate
from gate.onnx_gate import OnnxGate
from gate.registry import (
    DEFAULT_MODEL_DIR,
    read_manifest,
    save_manifest,
    set_current,
)
from tests.helpers import festina

SHIPPED = read_manifest(DEFAULT_MODEL_DIR).version


def _trained(models: Path, version: str) -> Path:
    """A registered model of the user's own (the shipped files under another version)."""
    folder = models / version
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    manifest = read_manifest(folder)
    manifest.version = version
    save_manifest(folder, manifest)
    return folder


def test_a_fresh_install_runs_the_shipped_gate(tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert choose_model_dir("", models) == DEFAULT_MODEL_DIR
    gate = load_gate("", models, "cpu")
    assert isinstance(gate, OnnxGate) and gate.version == SHIPPED


def test_a_model_the_user_trained_is_preferred_and_names_choose(tmp_path: Path) -> None:
    models = tmp_path / "models"
    mine = _trained(models, "gate-mine")
    set_current(models, "gate-mine")
    assert choose_model_dir("", models) == mine
    assert load_gate("", models, "cpu").version == "gate-mine"
    assert choose_model_dir(DEFAULT_MODEL, models) == DEFAULT_MODEL_DIR
    assert choose_model_dir(CUE_GATE, models) is None
    assert isinstance(load_gate(CUE_GATE, models, "cpu"), CueGate)


def test_without_a_usable_shipped_model_the_cue_gate_runs_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("gate.loader.DEFAULT_MODEL_DIR", tmp_path / "not-shipped")
    assert isinstance(load_gate("", tmp_path / "models", "cpu"), CueGate)
    assert "none shipped with festina" in caplog.text


def test_version_names_festina_and_the_gate_it_runs(tmp_path: Path) -> None:
    done = festina("--version", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == f"gate {SHIPPED} (shipped with festina)"
    _trained(tmp_path / "data" / "models", "gate-mine")
    set_current(tmp_path / "data" / "models", "gate-mine")
    assert festina("--version", home=tmp_path).stdout.splitlines()[1].startswith("gate gate-mine (")
