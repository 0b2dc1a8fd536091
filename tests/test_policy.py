from __future__ import annotations

import pytest
from pydantic import ValidationError

from gate.policy import Action, GatePolicy


def test_tau_follows_the_cost_formula():
    policy = GatePolicy(cost_false_alarm=1.0, cost_missed_help=3.0, delta=0.0)
    assert policy.threshold(p_need=1.0) == pytest.approx(0.25)
    assert policy.threshold(p_need=0.5) == pytest.approx(1 / 2.5)
    assert policy.threshold(p_need=0.0) == pytest.approx(1.0)


def test_decide_intervenes_above_tau_and_stays_silent_below():
    policy = GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.05)
    # p_need = 1 gives tau = 0.5
    assert policy.decide(1.0, 0.9) == (Action.INTERVENE, pytest.approx(0.5))
    assert policy.decide(1.0, 0.1) == (Action.SILENT, pytest.approx(0.5))


def test_decide_escalates_inside_the_band_on_both_sides():
    policy = GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.1)
    assert policy.decide(1.0, 0.59)[0] is Action.ESCALATE
    assert policy.decide(1.0, 0.41)[0] is Action.ESCALATE
    assert policy.decide(1.0, 0.61)[0] is Action.INTERVENE


def test_higher_cost_of_missed_help_lowers_the_bar():
    cautious = GatePolicy(cost_false_alarm=5.0, cost_missed_help=1.0)
    eager = GatePolicy(cost_false_alarm=1.0, cost_missed_help=5.0)
    assert eager.threshold(0.6) < cautious.threshold(0.6)


@pytest.mark.parametrize(
    "settings",
    [
        {"cost_false_alarm": 0},
        {"cost_missed_help": -1},
        {"delta": 0.5},
        {"delta": -0.01},
        {"temperature": 2},
    ],
)
def test_invalid_settings_are_refused(settings):
    with pytest.raises(ValidationError):
        GatePolicy(**settings)
