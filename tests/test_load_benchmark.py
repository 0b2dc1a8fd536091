"""The load benchmark runs end to end (figures themselves belong to `festina eval load`)."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest
from click.testing import CliRunner

from evals.checkout import CHECKOUT_ROOT, checked_out
from evals.load_test import festina_module, format_results, make_stream, run_load_test
from evals.soak import run_soak
from festina_cli import cli
from gate.registry import DEFAULT_MODEL_DIR, read_manifest


def test_streams_are_distinct_events_and_unique_texts_really_are(tmp_path):
    recurring = make_stream(400, unique_texts=False)
    unique = make_stream(400, unique_texts=True)
    assert len({(r["time"], r["source"]) for r in recurring}) == 400
    assert len({r["text"] for r in recurring}) < 200  # the demo stream's vocabulary recurs
    assert len({r["text"] for r in unique}) == 400


def test_a_small_load_run_loses_nothing_and_reports_every_scenario(tmp_path, festina_home):
    results = run_load_test(
        tmp_path, models=[""], threads=[1], events=120, batch=20, senders=3, llm_latency_s=0.05
    )
    # No model named: the daemon runs the gate shipped with festina, and says so.
    assert {r.gate for r in results} == {read_manifest(DEFAULT_MODEL_DIR).version}
    assert {r.threads for r in results} == {1}  # the daemons took gate.threads
    assert [r.scenario for r in results] == [
        "http, recurring texts",
        "http, unique texts",
        "baseline: jsonl replay, recurring texts",
    ]
    for result in results:
        assert (result.sent, result.stored, result.lost) == (120, 120, 0)
        assert result.events_per_s > 0 and result.gate_ms_p99 >= result.gate_ms_p50 > 0
        # Every event was decided, after (or as) it was acknowledged.
        assert result.decided_s >= result.seconds - 0.01 and result.decision_lag_s >= 0
        # The drain on SIGTERM left no escalation without a final action.
        assert result.unresolved == 0
        assert result.deliberated + result.settled_busy <= result.escalated
        assert result.cpu_ms_per_event > 0 and result.rss_mb > 50
    assert "events/s" in format_results(results)


@pytest.mark.skipif(
    not (CHECKOUT_ROOT / ".git").exists(), reason="a baseline is checked out of a git checkout"
)
def test_a_baseline_runs_each_scenario_on_the_other_version_right_after(tmp_path, festina_home):
    with checked_out("HEAD", tmp_path / "baseline") as baseline:
        assert (baseline[1] / "agent" / "pipeline.py").is_file()
        results = run_load_test(
            tmp_path,
            models=[""],
            events=60,
            batch=20,
            senders=2,
            llm_latency_s=0.05,
            baseline=baseline,
        )
    assert not (tmp_path / "baseline").exists()  # the checkout is removed after
    head = subprocess.run(
        ["git", "-C", str(CHECKOUT_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert baseline[0] == f"HEAD ({head})"
    assert [r.code for r in results] == ["this tree"] * 3 + [baseline[0]] * 3
    assert [r.scenario for r in results[:3]] == [r.scenario for r in results[3:]]
    assert all(r.lost == 0 and r.stored == 60 for r in results)


def test_a_baseline_that_is_not_a_version_is_refused_with_git_s_reason(festina_home):
    result = CliRunner().invoke(
        cli, ["eval", "load", "--baseline", "no-such-ref", "--events", "10"]
    )
    assert result.exit_code == 1
    assert "no-such-ref" in result.output


def test_the_load_command_refuses_a_gate_that_is_not_there(festina_home):
    result = CliRunner().invoke(cli, ["eval", "load", "--model", "gate-nope", "--events", "10"])
    assert result.exit_code == 1
    assert "no gate model 'gate-nope'" in result.output


def test_a_short_soak_samples_memory_descriptors_queues_and_database(tmp_path, festina_home):
    report = run_soak(tmp_path, model="", minutes=0.1, rate=100.0, every_s=1.0, llm_latency_s=0.05)
    assert report.gate == read_manifest(DEFAULT_MODEL_DIR).version
    assert len(report.samples) >= 5  # about every second for six seconds
    seconds = [s.seconds for s in report.samples]
    assert seconds == sorted(seconds) and seconds[-1] >= 5.0
    last = report.samples[-1]
    assert last.sent == 600  # 100 events/s offered for 6 s, in batches of 50, all taken
    assert all(s.rss_mb > 50 and s.open_files > 3 and s.database_mb > 0 for s in report.samples)
    assert report.rss_growth is None  # under two minutes: no settled trend to report
    assert "RSS growth after the first minute: -" in report.table()


def test_a_baseline_from_before_festina_cli_runs_festina_as_agent_cli(tmp_path):
    assert festina_module(None) == "festina_cli"
    assert festina_module(tmp_path) == "agent.cli"
    (tmp_path / "festina_cli.py").write_text("")
    assert festina_module(tmp_path) == "festina_cli"


def test_cold_starts_time_each_tree_on_events_memory_has_not_seen(tmp_path, festina_home):
    from evals.cold_start import Tree, format_cold_starts, new_events, run_cold_starts

    records = [{"text": "edits notes.md"}]
    one, other = new_events(records, 0, 2), new_events(records, 0, 1)
    # Within a run the stream may recur; from one run to the next no text does.
    assert one[0]["text"] == one[1]["text"] != other[0]["text"]
    assert one[0]["text"].startswith("edits notes.md")

    results = run_cold_starts(
        tmp_path, [Tree("this tree")], model="default", backends=["gate-rule"], runs=2
    )
    [result] = results
    assert (result.code, result.backend) == ("this tree", "gate-rule")
    assert len(result.wall_s) == len(result.cpu_s) == len(result.load) == 2
    assert all(wall > 0 for wall in result.wall_s) and all(cpu > 0 for cpu in result.cpu_s)
    # The home's database was made first, untimed; every timed run stored 10 new events.
    database = tmp_path / "0-gate-rule" / "data" / "festina.db"
    with sqlite3.connect(database) as db:
        assert db.execute("select count(*) from events").fetchone()[0] == 30
    assert "this tree" in format_cold_starts(results)
