"""The interface to deliberate reasoning for events near the gate's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.decision import Action, Decision
from core.events import Event
from core.offer import Offer
from gate.policy import GatePolicy


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str
    decided_by: str
    offer: Offer | None = None
    """The drafted offer, when the action is to intervene and something drafted it."""


def rule_action(decision: Decision) -> Action:
    """An escalation settled by the cost rule alone, against the tau it was decided at."""
    pays = GatePolicy.offering_pays(decision.p_accept, decision.tau)
    return Action.INTERVENE if pays else Action.SILENT


class SlowPath(Protocol):
    """Settles escalations, and drafts the gate's own offers when the pipeline is asked
    to (`PipelineOptions.draft_offers`; the decision's gate_action then is intervene).
    An implementation may also run accepted plans (`answered` and `advance`, see
    `agent.plan_runs.Plans`), which the pipeline uses to act on the user's answers within
    a second, each plan on a thread of its own, and `fallback_offer(window) -> Offer`,
    the words the pipeline shows when `deliberate` raised and the gate's action stands."""

    async def deliberate(self, window: list[Event], decision: Decision) -> Verdict: ...


class GateRuleSlowPath:
    """Settles escalations by the gate's own rule (p_accept >= tau), saying so.

    Used when no reasoning graph is configured, so escalated events still get a final,
    explained action instead of waiting forever.
    """

    name = "gate-rule"

    async def deliberate(self, window: list[Event], decision: Decision) -> Verdict:
        action = rule_action(decision)
        relation = ">=" if action is Action.INTERVENE else "<"
        return Verdict(
            action=action,
            reason=(
                f"no reasoning graph configured; p_accept {decision.p_accept:.3f} "
                f"{relation} tau {decision.tau:.3f}"
            ),
            decided_by=self.name,
        )
