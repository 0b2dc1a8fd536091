from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agent.cli import cli
from evals.gate_benchmark import judge, score_annotators, score_peers
from gate.data import load_traces
from gate.registry import list_versions


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


def test_the_second_human_label_is_judged_on_every_trace_event(proactivebench):
    annotators = score_annotators(proactivebench, load_traces(proactivebench))
    assert annotators.events == 152  # every trace event has reward items, none is lost
    assert annotators.tp + annotators.fn == 57  # the traces' task_status positives
    # The two human labels of one event agree little (the README's figure).
    assert annotators.f1 < 0.55 and annotators.false_alarm > 0.45


def test_the_benchmark_evaluates_the_named_model_and_writes_its_report_and_plot(
    trained_home, proactivebench, tmp_path, monkeypatch
):
    monkeypatch.setenv("FESTINA_HOME", str(trained_home))
    [version] = [m.version for m in list_versions(trained_home / "data" / "models")]
    runner = CliRunner()
    refused = runner.invoke(cli, ["gate", "eval", "--model", "gate-nope", "--no-latency"])
    assert refused.exit_code == 1 and "no gate model 'gate-nope'" in refused.output
    args = ["gate", "eval", "--data", str(proactivebench), "--out", str(tmp_path)]
    result = runner.invoke(cli, [*args, "--model", version, "--no-latency", "--json"])
    assert result.exit_code == 0, result.output
    assert f"model: {version}" in result.stderr
    report = json.loads(result.stdout)
    assert report["gate"]["events"] == 152
    assert report["always_propose"]["f1"] == pytest.approx(0.545, abs=0.001)
    assert report["annotators"]["events"] == 152
    assert set(report["need_feature_ablation"]) == {
        "cues",
        "activity",
        "cues+activity",
        "embedding",
        "all",
    }
    sweep = report["cost_sweep"]
    assert [r["cost_ratio"] for r in sweep] == sorted(r["cost_ratio"] for r in sweep)
    # A higher cost of missed help can only lower tau, so proposals never shrink.
    rates = [r["proposal_rate"] for r in sweep]
    assert rates == sorted(rates)
    saved = json.loads((tmp_path / "gate_benchmark.json").read_text())
    assert saved == report
    assert (tmp_path / "reliability.png").stat().st_size > 1000
