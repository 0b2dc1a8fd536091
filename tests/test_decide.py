"""The decision chain at its edges: what settling does to etiquette's bookkeeping."""

from __future__ import annotations

from agent.config import EtiquetteSettings
from agent.decide import DecisionChain
from agent.slowpath import Verdict
from core.decision import SLOW_PATH_FALLBACK, Action
from core.offer import Offer
from gate.base import GateScores, NeedEvidence
from gate.policy import GatePolicy
from memory.feedback import Outcome, Reason
from memory.store import AppliedFeedback
from tests.helpers import event_at

EQUAL_COSTS = GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.1)
CLEAR, EDGE = GateScores(1.0, 0.95), GateScores(1.0, 0.5)
OFFER = Offer(speak="Shall I help?", task="Help with this", drafted_by="templates")


def chain(**etiquette: float) -> DecisionChain:
    settings = EtiquetteSettings(cooldown_s=0, max_offers_per_day=1, **etiquette)
    return DecisionChain(EQUAL_COSTS, settings, model_version="t", draft_offers=True)


def relaxed(**etiquette: float) -> DecisionChain:
    """No cooldown, the default daily cap, no drafting: gate offers are made at once."""
    settings = EtiquetteSettings(cooldown_s=0, **etiquette)
    return DecisionChain(EQUAL_COSTS, settings, model_version="t")


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
        first, decisions.decide(first, [first], CLEAR, 1.0), ValueError("x"), OFFER
    )
    assert (kept.final_action, kept.decided_by) == (Action.INTERVENE, SLOW_PATH_FALLBACK)
    assert kept.offer == OFFER  # what could still be drafted
    assert kept.reason == "slow path failed (ValueError('x')); the gate's action stands"
    assert first.id in decisions.remembered()
    second = event_at(0, "help", app="B")
    plain = relaxed()
    escalated = plain.decide(second, [second], EDGE, 1.0)
    silent = plain.settle(second, escalated, Verdict(Action.SILENT, "no", "graph"))
    assert silent.final_action is Action.SILENT and second.id not in plain.remembered()


def test_a_decision_at_the_base_rate_says_why():
    decisions = DecisionChain(GatePolicy(cost_missed_help=3.0), None, model_version="t")
    event = event_at(0)
    unclear = GateScores(0.2, 1.0, NeedEvidence(spread=0.5, prior=0.4))
    decided = decisions.decide(event, [event], unclear, 1.0)
    assert decided.gate_action is Action.INTERVENE and decided.p_need == 0.2
    assert decided.tau == GatePolicy(cost_missed_help=3.0).threshold(0.4)
    assert "base rate 0.400" in decided.reason


def test_a_gate_that_cannot_score_leaves_a_silent_decision_that_says_why():
    decisions = chain()
    event = event_at(0)
    failed = decisions.decide(event, [event], ValueError("boom"), 2.5)
    assert failed.model_dump(exclude={"decided_at"}) == {
        **failed.model_dump(exclude={"decided_at"}),
        "event_id": event.id,
        "p_need": 0.0,
        "p_accept": 0.0,
        "tau": 1.0,
        "delta": EQUAL_COSTS.delta,
        "gate_action": Action.SILENT,
        "final_action": Action.SILENT,
        "decided_by": "gate-error",
        "reason": "gate failed: ValueError('boom')",
        "model_version": "t",
        "gate_latency_ms": 2.5,
    }


def test_the_chain_s_clock_never_goes_back_and_times_a_not_now_from_it():
    decisions = relaxed(not_now_s=600)
    offered, later = event_at(0, "help", app="A"), event_at(1000, "more", app="B")
    decisions.decide(offered, [offered], CLEAR, 1.0)
    decisions.decide(later, [later], GateScores(0.0, 0.0), 1.0)
    earlier = event_at(500, "back", app="C")
    decisions.decide(earlier, [earlier], GateScores(0.0, 0.0), 1.0)
    assert decisions.clock == later.time
    # The answer came when the stream stood at 1000: offers wait until 1600, not 600.
    decisions.answered(
        [AppliedFeedback(offered.id, offered.time, Outcome.REJECTED, Reason.NOT_NOW)]
    )
    held, free = event_at(1599, "help", app="D"), event_at(1600, "help", app="E")
    assert "not now" in decisions.decide(held, [held], CLEAR, 1.0).reason
    assert decisions.decide(free, [free], CLEAR, 1.0).decided_by == "gate"


def test_busy_settles_say_why():
    decisions = chain()
    offer_event, edge_event = event_at(0, "help", app="A"), event_at(0, "edge", app="B")
    dropped = decisions.settle_busy(
        offer_event, decisions.decide(offer_event, [offer_event], CLEAR, 1.0), waiting=5
    )
    assert dropped.reason == "slow path busy (5 waiting); no time to draft the offer"
    plain = relaxed()
    ruled = plain.settle_busy(edge_event, plain.decide(edge_event, [edge_event], EDGE, 1.0), 2)
    assert ruled.reason == "slow path busy (2 waiting); settled by p_accept vs tau"


def test_a_failed_escalation_follows_the_rule_and_drops_the_offer_when_silent():
    plain = relaxed()
    below, above = event_at(0, "edge", app="A"), event_at(0, "edge", app="B")
    silent = plain.fall_back(
        below, plain.decide(below, [below], GateScores(1.0, 0.45), 1.0), ValueError(), OFFER
    )
    assert (silent.gate_action, silent.final_action) == (Action.ESCALATE, Action.SILENT)
    assert silent.offer is None
    made = plain.fall_back(above, plain.decide(above, [above], EDGE, 1.0), ValueError(), OFFER)
    assert (made.final_action, made.offer) == (Action.INTERVENE, OFFER)


def test_without_drafting_a_gate_offer_is_made_at_once_and_forgetting_frees_it():
    plain = relaxed()
    event = event_at(0, "help", app="A")
    made = plain.decide(event, [event], CLEAR, 1.0)
    assert (made.final_action, made.decided_by) == (Action.INTERVENE, "gate")
    assert event.id in plain.remembered()
    plain.forget({event.id})
    assert plain.remembered() == set()
