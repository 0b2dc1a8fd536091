from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from core.decision import Action
from gate.policy import GatePolicy


def test_tau_follows_the_cost_formula():
    policy = GatePolicy(cost_false_alarm=1.0, cost_missed_help=3.0, delta=0.0)
    assert policy.welcome_threshold == pytest.approx(0.25)
    assert policy.threshold(p_need=1.0) == pytest.approx(0.25)
    assert policy.threshold(p_need=0.5) == pytest.approx(0.5)
    assert policy.threshold(p_need=0.2) > 1.0  # no acceptance can make an offer pay
    assert policy.threshold(p_need=0.0) > 1e6  # finite, never a division error


@given(
    p_need=st.floats(0.0, 1.0),
    p_accept=st.floats(0.0, 1.0),
    c_fa=st.floats(0.1, 20.0),
    c_fn=st.floats(0.1, 20.0),
)
def test_the_rule_takes_the_cheaper_action_in_expectation(p_need, p_accept, c_fa, c_fn):
    policy = GatePolicy(cost_false_alarm=c_fa, cost_missed_help=c_fn, delta=0.0)
    welcome = p_need * p_accept
    cost_of_offering = c_fa * (1 - welcome)
    cost_of_silence = c_fn * welcome
    action, _ = policy.decide(p_need, p_accept)
    if abs(cost_of_offering - cost_of_silence) > 1e-9:  # exact ties may go either way
        expected = Action.INTERVENE if cost_of_offering < cost_of_silence else Action.SILENT
        assert action is expected


@pytest.mark.parametrize("ratio", [1.0, 2.0, 3.0, 5.0, 8.0, 13.0])
def test_a_gate_without_signal_falls_back_to_the_better_constant_policy(ratio):
    base_rate = 0.406  # the 18 labelled recordings' share of events needing help
    policy = GatePolicy(cost_false_alarm=1.0, cost_missed_help=ratio, delta=0.0)
    always, never = 1 - base_rate, ratio * base_rate  # cost per event of each constant policy
    action, _ = policy.decide(base_rate, 1.0)
    assert action is (Action.INTERVENE if always < never else Action.SILENT)


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
