from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from core.decision import Action
from gate.base import NeedEvidence
from gate.policy import GateCall, GatePolicy


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
    action = policy.decide(p_need, p_accept).action
    if abs(cost_of_offering - cost_of_silence) > 1e-9:  # exact ties may go either way
        expected = Action.INTERVENE if cost_of_offering < cost_of_silence else Action.SILENT
        assert action is expected


@pytest.mark.parametrize("ratio", [1.0, 2.0, 3.0, 5.0, 8.0, 13.0])
def test_a_gate_without_signal_falls_back_to_the_better_constant_policy(ratio):
    base_rate = 0.406  # the 18 labelled recordings' share of events needing help
    policy = GatePolicy(cost_false_alarm=1.0, cost_missed_help=ratio, delta=0.0)
    always, never = 1 - base_rate, ratio * base_rate  # cost per event of each constant policy
    action = policy.decide(base_rate, 1.0).action
    assert action is (Action.INTERVENE if always < never else Action.SILENT)


def test_decide_intervenes_above_tau_and_stays_silent_below():
    policy = GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.05)
    # p_need = 1 gives tau = 0.5
    assert policy.decide(1.0, 0.9) == GateCall(Action.INTERVENE, pytest.approx(0.5))
    assert policy.decide(1.0, 0.1) == GateCall(Action.SILENT, pytest.approx(0.5))


def test_decide_escalates_inside_the_band_on_both_sides():
    policy = GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.1)
    assert policy.decide(1.0, 0.59).action is Action.ESCALATE
    assert policy.decide(1.0, 0.41).action is Action.ESCALATE
    assert policy.decide(1.0, 0.61).action is Action.INTERVENE


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


@given(
    p_need=st.floats(0.001, 0.999),
    prior=st.floats(0.01, 0.99),
    spread=st.floats(0.0, 3.0),
    width=st.floats(0.0, 3.0),
    ratio=st.sampled_from([1.0, 2.0, 3.0, 5.0, 8.0, 13.0]),
)
def test_the_gate_departs_from_the_base_rates_decision_only_on_clear_evidence(
    p_need, prior, spread, width, ratio
):
    policy = GatePolicy(cost_missed_help=ratio, delta=0.0, min_evidence=width)
    evidence = NeedEvidence(spread=spread, prior=prior)
    call = policy.decide(p_need, 1.0, evidence)
    constant = policy.decide(prior, 1.0)
    low, high = evidence.interval(p_need, width)
    ends = {policy.decide(low, 1.0).action, policy.decide(high, 1.0).action}
    if call.action is not constant.action:
        # A departure: the whole interval agrees with it.
        assert ends == {call.action}
    if len(ends) == 2:
        # The interval straddles the threshold: the base rate decides, and says so.
        assert call == GateCall(constant.action, constant.tau, call.reason)
        assert "base rate" in call.reason


def test_the_evidence_rule_in_numbers():
    # C_FN/C_FA 3: offering pays from p_need 0.25. A spread of 0.5 logits, 1.645 wide.
    policy = GatePolicy(cost_missed_help=3.0, delta=0.0)
    evidence = NeedEvidence(spread=0.5, prior=0.4)
    # 0.2 is below 0.25, but 0.2 moved up by 0.82 logits is 0.36: not clear; the base
    # rate 0.4 decides, and it offers.
    assert policy.decide(0.2, 1.0, evidence).action is Action.INTERVENE
    assert policy.decide(0.2, 1.0).action is Action.SILENT
    # 0.08 moved up is 0.17, still below: clear evidence for silence.
    assert policy.decide(0.08, 1.0, evidence).action is Action.SILENT
    # Without a width the point estimate is trusted as it is.
    trusting = policy.model_copy(update={"min_evidence": 0.0})
    assert trusting.decide(0.2, 1.0, evidence).action is Action.SILENT


def test_a_persons_own_answers_move_the_prior_with_p_need():
    evidence = NeedEvidence(spread=0.5, prior=0.4)
    assert evidence.moved(0.3, 0.3) is evidence
    moved = evidence.moved(0.2, 0.5)  # p_need's odds quadrupled
    assert moved.spread == 0.5
    assert moved.prior / (1 - moved.prior) == pytest.approx(4 * 0.4 / 0.6)


def test_offering_pays_at_tau_itself():
    assert GatePolicy.offering_pays(0.5, 0.5)
    assert not GatePolicy.offering_pays(0.5 - 1e-12, 0.5)


def test_the_documented_boundaries_hold_exactly():
    # tau = 0.5 at equal costs and p_need 1. A tie is inside any band, even one of width
    # 0, so it escalates; whoever settles it then offers (p_accept >= tau).
    exact = GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.0)
    assert exact.decide(1.0, 0.5) == GateCall(Action.ESCALATE, 0.5)
    assert GatePolicy.offering_pays(0.5, exact.decide(1.0, 0.5).tau)
    # The band includes its edges: |p_accept - tau| == delta escalates.
    banded = GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.25)
    assert banded.decide(1.0, 0.75).action is Action.ESCALATE
    assert banded.decide(1.0, 0.25).action is Action.ESCALATE
    assert banded.decide(1.0, 0.75 + 1e-9).action is Action.INTERVENE
    assert banded.decide(1.0, 0.25 - 1e-9).action is Action.SILENT
