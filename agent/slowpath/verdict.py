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
        decision = state["decision"]
        reason = (
            f"offer: {proposal['task']} (gate: p_accept {decision['p_accept']:.3f} >= "
            f"tau {decision['tau']:.3f} beyond the band; {proposal['why_now']})"
        )
    else:
        reason = (
            f"offer: {proposal['task']} (p_accept {counterfactual['p_accept_task']:.3f} >= "
            f"tau {counterfactual['tau']:.3f}; {proposal['why_now']})"
        )
    return {"verdict": {"action": "intervene", "reason": reason}}
