"""The gate's small refusals and fall-backs: what each says when given too little or the
wrong thing, and the shapes of input it skips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from festina_cli import cli
from gate.calibration import Calibrator, expected_calibration_error
from gate.data import default_data_dir, load_labelled_jsonl, load_traces
from gate.encoder import OnnxEncoder
from gate.features import FeatureBuilder
from gate.heads_gate import need_evidence
from gate.loader import CUE_GATE, describe_choice, load_gate
from gate.onnx_gate import OnnxGate
from gate.registry import DEFAULT_MODEL_DIR, list_versions
from gate.runtime import open_session
from tests.helpers import event_record


def test_the_identity_calibrator_leaves_probabilities_and_no_data_has_no_error():
    p = np.array([0.1, 0.5, 0.9])
    assert Calibrator(method="identity").apply(p).tolist() == p.tolist()
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_the_data_folder_can_be_named_by_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FESTINA_PROACTIVEBENCH", str(tmp_path / "pb"))
    assert default_data_dir() == (tmp_path / "pb").resolve()
    assert load_traces(tmp_path / "pb") == []  # no splits.json in any folder: nothing


def test_labelled_lines_skip_blanks_and_name_a_bad_event(tmp_path):
    good = {"event": event_record(1), "need": True}
    path = tmp_path / "labelled.jsonl"
    path.write_text(json.dumps(good) + "\n\n   \n" + json.dumps(good | {"need": False}) + "\n")
    [trace] = load_labelled_jsonl(path)
    assert trace.needs == [True, False]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"event": {"time": "soon", "kind": "editor"}, "need": True}) + "\n")
    with pytest.raises(ValueError, match=r"bad:1:1: time"):
        load_labelled_jsonl(bad)


def test_features_say_what_they_lack():
    builder = FeatureBuilder(None)
    with pytest.raises(ValueError, match="context and draft features need an encoder"):
        builder.context_names()
    with pytest.raises(ValueError, match="need head's features need a fitted vocabulary"):
        builder.need_names()


def test_a_model_trained_before_the_spread_was_measured_has_no_evidence_rule():
    assert need_evidence({"positive_rate": 0.4}) is None
    evidence = need_evidence({"positive_rate": 0.4, "offset_spread": 0.8})
    assert evidence is not None and (evidence.spread, evidence.prior) == (0.8, 0.4)


def test_the_cue_gate_is_described_without_loading_anything(tmp_path):
    assert describe_choice(CUE_GATE, tmp_path) == "cues-untrained-0 (the untrained cue gate)"
    assert list_versions(tmp_path / "no-registry-yet") == []


def test_a_head_given_the_wrong_number_of_features_refuses_them():
    gate = OnnxGate(DEFAULT_MODEL_DIR)
    head = gate._heads["need"]
    with pytest.raises(ValueError, match=rf"head expects {head.n_features} features, got 3"):
        head.predict(np.zeros((1, 3)))


def test_the_encoder_keeps_at_most_its_cache_size_and_a_session_takes_a_thread_count():
    encoder = OnnxEncoder(DEFAULT_MODEL_DIR / "encoder", cache_size=2)
    first = encoder.encode(["one", "two", "three"])
    assert first.shape[0] == 3 and len(encoder._cache) == 2
    assert np.allclose(encoder.encode(["one"]), first[:1], atol=1e-6)  # recomputed alike
    session = open_session(DEFAULT_MODEL_DIR / "encoder" / "encoder.onnx", "cpu", threads=1)
    assert session.get_session_options().intra_op_num_threads == 1


def test_the_thread_count_reaches_every_session_of_the_gate(tmp_path):
    gate = load_gate("default", tmp_path, "cpu", threads=1)
    sessions = [gate.encoder._session, *(head._session for head in gate._heads.values())]
    assert [s.get_session_options().intra_op_num_threads for s in sessions] == [1, 1, 1]


def test_using_a_version_that_does_not_exist_is_refused(festina_home):
    done = CliRunner().invoke(cli, ["gate", "use", "gate-19700101-000000-nothing"])
    assert done.exit_code == 1 and "gate-19700101-000000-nothing" in done.output
