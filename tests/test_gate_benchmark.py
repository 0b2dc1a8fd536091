from __future__ import annotations

import json

import pytest

from evals.gate_benchmark import judge, run_benchmark, score_peers
from gate.build import ensure_encoder
from gate.encoder import OnnxEncoder
from gate.features import FeatureBuilder
from gate.policy import GatePolicy


def test_judge_counts_false_alarms_among_proposals():
    scores = judge("x", [True, True, True, False, False], [True, False, False, True, False])
    assert (scores.precision, scores.recall) == (pytest.approx(1 / 3), pytest.approx(1 / 2))
    assert scores.f1 == pytest.approx(0.4)
    assert scores.false_alarm == pytest.approx(2 / 3)


def test_judge_of_silence_is_zero_not_an_error():
    scores = judge("silent", [False, False], [True, False])
    assert (scores.f1, scores.false_alarm, scores.proposed) == (0.0, 0.0, 0)


def test_peer_scores_match_the_published_range(proactivebench):
    # The data README measures the 15 peers at F1 0.48-0.59, best Qwen2-72B; our judge
    # must agree before its verdict on the gate can be compared with theirs.
    peers = score_peers(proactivebench)
    assert len(peers) == 15
    assert peers[0].name == "qwen2-72b-instruct"
    assert peers[0].f1 == pytest.approx(0.59, abs=0.01)
    assert all(0.53 <= p.false_alarm <= 0.63 for p in peers if p.f1 >= 0.48)


def test_the_benchmark_writes_its_report_and_plot(trained_home, proactivebench, tmp_path):
    encoder_dir = ensure_encoder(trained_home / "data" / "models")
    report = run_benchmark(
        proactivebench,
        FeatureBuilder(OnnxEncoder(encoder_dir, device="cpu")),
        GatePolicy(),
        model_dir=None,
        encoder_source=None,
        out_dir=tmp_path,
        window=8,
    )
    assert report.gate.events == 152
    assert report.always_propose.f1 == pytest.approx(0.545, abs=0.001)
    assert set(report.need_feature_ablation) == {
        "cues",
        "activity",
        "cues+activity",
        "embedding",
        "all",
    }
    assert [r["cost_ratio"] for r in report.cost_sweep] == sorted(
        r["cost_ratio"] for r in report.cost_sweep
    )
    # A higher cost of missed help can only lower tau, so proposals never shrink.
    rates = [r["proposal_rate"] for r in report.cost_sweep]
    assert rates == sorted(rates)
    saved = json.loads((tmp_path / "gate_benchmark.json").read_text())
    assert saved["gate"]["f1"] == report.gate.f1
    assert (tmp_path / "reliability.png").stat().st_size > 1000
