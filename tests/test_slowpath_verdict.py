"""The graph's verdict says why an offer of the gate's was made: the rule's comparison,
or, for an offer made exploring (below tau), the gate's own reason."""

from __future__ import annotations

from agent.slowpath.verdict import verdict

PROPOSAL = {"task": "Note where you are", "why_now": "you are reading a page"}
MAY_SPEAK = {"model_says_speak": True, "speaking_beats_silence": True, "gate_offer": True}


def _reason(p_accept: float, tau: float, gate_reason: str | None) -> str:
    state = {
        "proposal": PROPOSAL,
        "counterfactual": MAY_SPEAK,
        "decision": {"p_accept": p_accept, "tau": tau, "reason": gate_reason},
    }
    out = verdict(state)["verdict"]
    assert out["action"] == "intervene"
    return out["reason"]


def test_an_offer_the_rule_made_gives_the_rule_s_comparison():
    assert _reason(0.858, 0.534, None) == (
        "offer: Note where you are (gate: p_accept 0.858 >= tau 0.534 beyond the band; "
        "you are reading a page)"
    )
    # At tau exactly, the rule offers (offering costs no more than silence).
    assert "gate: p_accept 0.500 >= tau 0.500" in _reason(0.5, 0.5, "exploring: no offer")


def test_an_exploratory_offer_below_tau_says_it_was_exploring_not_that_the_rule_offered():
    why = "exploring: no offer for 75 min; an answer tells festina whether you want more"
    reason = _reason(0.292, 0.681, why)
    assert reason == f"offer: Note where you are (gate: {why}; you are reading a page)"
    assert ">= tau" not in reason
    # With no reason recorded, it still does not claim the rule's comparison.
    assert _reason(0.292, 0.681, None) == (
        "offer: Note where you are (gate: offered below tau; you are reading a page)"
    )
