"""`festina eval online`: one person's day answered with the human labels."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from agent.config import ExplorationSettings
from core.events import Event
from evals.online import BETWEEN_RECORDINGS, SMALLEST_STEP, _replay, one_day, rows_of
from evals.runtime_replay import gate_rule_slow_path
from festina_cli import cli
from gate.base import GateScores
from gate.data import Trace
from gate.policy import GatePolicy

START = datetime(2024, 6, 2, 9, 0, tzinfo=UTC)


def _trace(name: str, offsets_s: list[float]) -> Trace:
    events = [
        Event(time=START + timedelta(seconds=s), source=name, kind="editor", text=f"{name} {i}")
        for i, s in enumerate(offsets_s)
    ]
    return Trace(name, events, [i % 2 == 0 for i in range(len(events))])


def test_recordings_are_laid_end_to_end_on_one_forward_clock():
    # The second recording starts before the first, and steps back once.
    first, second = _trace("a", [0, 60, 90]), _trace("b", [-600, -500, -700, -650])
    events, needs = one_day([first, second])
    times = [e.time for e in events]
    assert times[:3] == [e.time for e in first.events]  # the first keeps its own clock
    assert times[3] == times[2] + BETWEEN_RECORDINGS
    assert times[4] - times[3] == timedelta(seconds=100)  # its own gap
    assert times[5] - times[4] == SMALLEST_STEP  # a step back counts as one second
    assert times[6] - times[5] == timedelta(seconds=50)
    assert needs == first.needs + second.needs
    # Ids follow the times: the first recording keeps its ids, moved events get new ones.
    assert [e.id for e in events[:3]] == [e.id for e in first.events]
    assert not {e.id for e in events[3:]} & {e.id for e in second.events}


class Eager:
    """A gate sure that every event needs help: every event is offered."""

    version = "eager"
    window = 8

    def score(self, windows):
        return [GateScores(p_need=1.0, p_accept=1.0) for _ in windows]


def test_every_offer_is_answered_through_the_feedback_path_and_priced_after_each_count():
    events, needs = one_day([_trace("a", list(range(0, 1200, 60)))])
    run = asyncio.run(
        _replay(events, needs, Eager(), GatePolicy(), gate_rule_slow_path, ExplorationSettings())
    )
    assert run.offered == [True] * 20 and run.slow_path_failures == 0
    assert run.answered_at == list(range(20))  # each offer answered at its own event
    rows = {r.after_answers: r for r in rows_of("a", True, 3.0, run, needs)}
    assert [rows[n].events for n in (0, 10, 30)] == [20, 10, 0]
    # Offering everywhere: festina costs what "always offer" does, over the same events.
    after_ten = rows[10].cost_per_event
    assert after_ten["festina"] == after_ten["always offer"] == pytest.approx(5 / 10)
    assert after_ten["never offer"] == pytest.approx(3 * 5 / 10)
    # Each event's record says what was decided, by what, and how many answers came before.
    assert [e.answers_before for e in run.events] == list(range(20))
    assert [e.needed for e in run.events] == needs
    assert all(e.offered and e.gate_action == "intervene" for e in run.events)
    assert {e.decided_by for e in run.events} == {"gate"}


def test_the_command_replays_each_collection_as_a_day(
    trained_home, proactivebench, tmp_path, monkeypatch, variants_log
):
    monkeypatch.setenv("FESTINA_HOME", str(trained_home))
    args = ["eval", "online", "--data", str(proactivebench), "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "--ratio", "3", "--events", "--note", "x", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # Each collection's tuning recordings, the confirmation split left out.
    assert report["persons"] == {
        "extra_traces -> test_data": [
            "code_11",
            "code_12",
            "code_13",
            "writing_11",
            "writing_12",
            "writing_13",
        ],
        "test_data -> extra_traces": [f"code_{i}" for i in range(1, 8)] + ["writing_1"],
    }
    rows = report["rows"]
    assert {(r["learning"], r["cost_ratio"], r["after_answers"]) for r in rows} == {
        (learning, 3, n) for learning in (False, True) for n in (0, 10, 30)
    }
    assert all(r["slow_path_failures"] == 0 for r in rows)
    whole_days = [r for r in rows if r["after_answers"] == 0]
    assert sorted(r["events"] for r in whole_days) == [112, 112, 160, 160]
    assert json.loads((tmp_path / "online.json").read_text()) == report
    [logged] = [json.loads(line) for line in variants_log.read_text().splitlines()]
    assert logged["what"].startswith("festina eval online")
    assert "; x; cost after" in logged["what"]  # the note says what the run varied
    # --events: every run's decision at each event, its label beside it.
    assert {name: len(run) for name, run in report["events"].items()} == {
        f"{person}, learning {on}, ratio 3": n
        for person, n in (("extra_traces -> test_data", 112), ("test_data -> extra_traces", 160))
        for on in ("on", "off")
    }
    assert len(logged["figures"]) == 4  # two people, learning on and off, one ratio
