"""The decision chain at its edges: what settling does to etiquette's bookkeeping."""

from __future__ import annotations

from agent.config import EtiquetteSettings
from agent.decide import DecisionChain
from agent.slowpath import Verdict
from core.decision import SLOW_PATH_FALLBACK, Action
from gate.base import GateScores, NeedEvidence
from gate.policy import GatePolicy
from tests.helpers import event_at

EQUAL_COSTS = GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.1)
CLEAR, EDGE = GateScores(1.0, 0.95), GateScores(1.0, 0.5)


def chain(**etiquette: float) -> DecisionChain:
    settings = EtiquetteSettings(cooldown_s=0, max_offers_per_day=1, **etiquette)
    return DecisionChain(EQUAL_COSTS, settings, model_version="t", draft_offers=True)


def test_a_gate_offer_with_no_room_to_draft_gives_its_slot_back():
    decisions = chain()
    first = event_at(0, "help", app="A")
    waiting = decisions.decide(first, [first], CLEAR, 1.0)
    assert waiting.gate_action is Action.INTERVENE and not waiting.resolved
    dropped = decisions.settle_busy(first, waiting, waiting=5)
    assert (dropped.final_action, dropped.decided_by) == (Action.SILENT, "gate-busy")
    # The day's one slot was reserved for it and is free again.
    other = event_at(10, "help", app="B")
    assert decisions.decide(other, [other], CLEAR, 1.0).decided_by is None  # to the slow path


def test_an_escalation_settled_busy_by_the_rule_spends_the_slot_an_offer_does():
    decisions = chain()
    first = event_at(0, "edge", app="A")
    escalated = decisions.decide(first, [first], EDGE, 1.0)
    assert escalated.gate_action is Action.ESCALATE
    offered = decisions.settle_busy(first, escalated, waiting=5)
    assert offered.final_action is Action.INTERVENE  # p_accept 0.5 >= tau 0.5
    other = event_at(10, "help", app="B")
    held = decisions.decide(other, [other], CLEAR, 1.0)
    assert (held.final_action, held.decided_by) == (Action.SILENT, "etiquette")
    assert "daily cap" in held.reason


def test_a_failure_keeps_the_gates_offer_and_a_verdict_can_withdraw_it():
    decisions = chain()
    first = event_at(0, "help", app="A")
    kept = decisions.fall_back(
        first, decisions.decide(first, [first], CLEAR, 1.0), ValueError("x"), None
    )
    assert (kept.final_action, kept.decided_by) == (Action.INTERVENE, SLOW_PATH_FALLBACK)
    assert first.id in decisions.remembered()
    second = event_at(0, "help", app="B")
    relaxed = DecisionChain(EQUAL_COSTS, EtiquetteSettings(cooldown_s=0), model_version="t")
    escalated = relaxed.decide(second, [second], EDGE, 1.0)
    silent = relaxed.settle(second, escalated, Verdict(Action.SILENT, "no", "graph"))
    assert silent.final_action is Action.SILENT and second.id not in relaxed.remembered()


def test_a_decision_at_the_base_rate_says_why():
    decisions = DecisionChain(GatePolicy(cost_missed_help=3.0), None, model_version="t")
    event = event_at(0)
    unclear = GateScores(0.2, 1.0, NeedEvidence(spread=0.5, prior=0.4))
    decided = decisions.decide(event, [event], unclear, 1.0)
    assert decided.gate_action is Action.INTERVENE and decided.p_need == 0.2
    assert decided.tau == GatePolicy(cost_missed_help=3.0).threshold(0.4)
    assert "base rate 0.400" in decided.reason
