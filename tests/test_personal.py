"""The personal model: what it learns from one user's answers, its bounds, its benchmark."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.events import Event
from evals.personal import PANEL, run_personal
from gate.policy import GatePolicy
from memory.feedback import Outcome
from memory.personal import PersonalModel
from tests.helpers import event_record


def window(text: str, *, kind: str = "editor", app: str = "Editor", at: float = 0.0) -> list[Event]:
    record = {**event_record(0, text=text, start=1_700_000_000.0 + at), "kind": kind, "app": app}
    return [Event.model_validate(record)]


CODE = window("The user edits parse.py in the code editor", app="VS Code")
ARTICLE = window("The user reads an article about gardening", kind="browser", app="Firefox")


def test_answers_move_what_they_are_about_more_than_the_rest():
    model = PersonalModel()
    for i in range(10):
        when = CODE[-1].time + timedelta(minutes=i)
        assert model.learn(CODE, 0.5, Outcome.REJECTED, when)
        assert model.learn(ARTICLE, 0.5, Outcome.ACCEPTED, when)
    code, article = model.welcome(CODE, 0.5), model.welcome(ARTICLE, 0.5)
    assert code < 0.2 and article > 0.8
    # A new window that shares the article's app but not its words moves less.
    other = window("The user reads the news", kind="browser", app="Firefox")
    assert 0.5 < model.welcome(other, 0.5) < article


def test_a_user_who_accepts_more_than_the_population_raises_p_need():
    model = PersonalModel()
    assert model.adjust(CODE, 0.2, 1.0) == (0.2, 1.0)  # no answers: the population's numbers
    for i in range(10):
        model.learn(CODE, 0.2, Outcome.ACCEPTED, CODE[-1].time + timedelta(minutes=i))
    need, accept = model.adjust(CODE, 0.2, 1.0)
    assert need > 0.5 and accept == pytest.approx(1.0)
    for i in range(40):
        model.learn(
            CODE, need * accept, Outcome.REJECTED, CODE[-1].time + timedelta(hours=2, minutes=i)
        )
    need, accept = model.adjust(CODE, 0.2, 1.0)
    assert need == pytest.approx(0.2) and accept < 0.5  # rejections lower acceptance only


def test_a_burst_of_answers_is_learnt_at_most_at_the_stated_rate():
    model = PersonalModel()
    start = CODE[-1].time.replace(minute=0, second=0)
    taken = [model.learn(CODE, 0.3, Outcome.ACCEPTED, start) for _ in range(1000)]
    assert sum(taken) == model.max_answers_per_hour == model.answers
    # With unit-norm features each answer moves any window's logit by at most
    # 1 / prior_precision: the hour's bound.
    shift = model.shift(CODE)
    assert 0 < shift <= model.max_answers_per_hour / model.prior_precision
    assert model.learn(CODE, 0.3, Outcome.ACCEPTED, start + timedelta(hours=1))


def test_answers_dated_in_the_past_cannot_reopen_the_budget():
    """1000 answers whose times alternate between two hours (a script, or a replay of
    older data) move the model no more than the 30 an hour allows in order."""
    start = CODE[-1].time.replace(minute=0, second=0)
    in_order = PersonalModel()
    for _ in range(1000):
        in_order.learn(CODE, 0.3, Outcome.ACCEPTED, start)
    scrambled = PersonalModel()
    taken = [
        scrambled.learn(CODE, 0.3, Outcome.ACCEPTED, start - timedelta(hours=i % 2))
        for i in range(1000)
    ]
    assert sum(taken) == scrambled.answers == in_order.answers == 30
    assert scrambled.shift(CODE) == pytest.approx(in_order.shift(CODE))
    # And through a restart: the clock is part of the saved state.
    restored = PersonalModel.from_state(scrambled.to_state())
    assert not restored.learn(CODE, 0.3, Outcome.ACCEPTED, start - timedelta(hours=5))
    assert restored.learn(CODE, 0.3, Outcome.ACCEPTED, start + timedelta(hours=1))


def test_the_model_survives_a_round_trip_through_its_state():
    model = PersonalModel()
    for i in range(5):
        model.learn(ARTICLE, 0.4, Outcome.REJECTED, ARTICLE[-1].time + timedelta(minutes=i))
    copy = PersonalModel.from_state(model.to_state())
    assert copy.welcome(ARTICLE, 0.4) == model.welcome(ARTICLE, 0.4)
    assert copy.to_state() == model.to_state()


def test_the_benchmark_learns_a_narrow_user_and_leaves_an_eager_one_no_worse(proactivebench):
    users = [u for u in PANEL if u.name in {"errors-only", "eager"}]
    report = run_personal(proactivebench, GatePolicy(), seeds=(0,), users=users)
    by_user = {r.user: r for r in report.users}
    narrow = by_user["errors-only"].after
    # Errors are ~1 event in 10: the population gate offers at most events and pays for it.
    assert narrow["personal model"] < 0.7 * narrow["population gate"]
    assert report.worse_than_population == []
    assert report.events_per_day > 352  # the 18 recordings and the PIRA trajectories
    assert set(report.timing) == {"gate_ms", "personal_adjust_ms", "learn_ms"}
    assert "cost per event after 30 answers" in report.table()


def test_the_report_renders_the_personal_section_and_its_plot(tmp_path):
    from evals.personal import PersonalReport, UserResult
    from evals.report_render import render

    row = {"0-10": 0.7, "10-20": 0.5, "20-30": None, "30-50": None, "50-100": None, "100+": None}
    user = UserResult(
        "u",
        "a rule",
        0.3,
        dict.fromkeys(("population gate", "context offsets", "personal model"), row),
        {"population gate": 0.7, "context offsets": 0.6, "personal model": 0.5},
        {"population gate": 9.0, "context offsets": 9.0, "personal model": 9.0},
    )
    report = PersonalReport(
        {"cost_false_alarm": 1.0, "cost_missed_help": 3.0},
        [0],
        10,
        [user],
        user.after,
        user.by_answers,
        [],
        {"gate_ms": 1.0, "personal_adjust_ms": 0.1, "learn_ms": 0.1},
    )
    results = {
        "policy": {"cost_false_alarm": 1.0, "cost_missed_help": 3.0, "delta": 0.1},
        "judge": "human labels",
        "personal": {**report.to_dict(), "table": report.table()},
    }
    render(results, tmp_path)
    assert PersonalReport.from_dict(results["personal"]) == report
    assert "## Learning one user" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "personal.png").stat().st_size > 1000
