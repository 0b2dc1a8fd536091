"""The graph's decide node: intervene or stay silent, with the reason, from the draft
and its checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.slowpath.state import DeliberationState


def verdict(state: DeliberationState) -> dict[str, Any]:
    """Silent without a usable proposal, for a repeat within the window, when the draft
    has nothing to say or silence is better; otherwise the offer, and why it pays."""
    proposal = state.get("proposal")
    if not proposal:
        tries = state.get("attempts", 0)
        reason = f"no usable proposal after {tries} tries: {state.get('draft_error')}"
        return {"verdict": {"action": "silent", "reason": reason}}
    counterfactual = state["counterfactual"]
    if counterfactual.get("repeat_of_offered"):
        when, task = counterfactual["offered_before"]
        reason = (
            f"the same offer was made at {datetime.fromisoformat(when):%H:%M:%S}, within "
            f"the repeat window: {task!r}"
        )
        return {"verdict": {"action": "silent", "reason": reason}}
    if not counterfactual["model_says_speak"]:
        reason = f"silence is better: the draft has nothing to say ({proposal['why_now']})"
        return {"verdict": {"action": "silent", "reason": reason}}
    if not counterfactual["speaking_beats_silence"]:
        reason = (
            f"silence is better: p_accept of the draft {counterfactual['p_accept_task']:.3f} "
            f"vs tau {counterfactual['tau']:.3f}"
        )
        return {"verdict": {"action": "silent", "reason": reason}}
    if counterfactual.get("gate_offer"):
        reason = (
            f"offer: {proposal['task']} ({_why_the_gate_offered(state)}; {proposal['why_now']})"
        )
    else:
        reason = (
            f"offer: {proposal['task']} (p_accept {counterfactual['p_accept_task']:.3f} >= "
            f"tau {counterfactual['tau']:.3f}; {proposal['why_now']})"
        )
    return {"verdict": {"action": "intervene", "reason": reason}}


def _why_the_gate_offered(state: DeliberationState) -> str:
    """The rule's comparison where the rule offered, else (exploring) the gate's own
    reason: an exploratory offer is made below tau, and its record must say so."""
    decision = state["decision"]
    if decision["p_accept"] >= decision["tau"]:
        p_accept, tau = decision["p_accept"], decision["tau"]
        return f"gate: p_accept {p_accept:.3f} >= tau {tau:.3f} beyond the band"
    return f"gate: {decision.get('reason') or 'offered below tau'}"
