"""The cost-sensitive decision rule that turns two probabilities into an action.

An offer is welcome when the user needs help now (N) and takes the offer (A). Any other
offer is a false alarm and costs C_FA; staying silent at a welcome moment is missed help
and costs C_FN. With p_need = P(N) and p_accept = P(A | N), an offer is welcome with
probability p_need * p_accept, so offering costs C_FA * (1 - p_need * p_accept) in
expectation and silence C_FN * p_need * p_accept. Offering is the cheaper choice exactly
when

    p_accept >= tau = C_FA / ((C_FA + C_FN) * p_need)

(tau above 1: no offer can pay). A gate with no signal at all predicts the base rate
everywhere and so makes the same choice at every event: the better constant policy.
Decisions within `delta` of tau are too close to call cheaply and go to the slow path.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from core.decision import Action

# A p_need this small makes tau astronomically large; the floor keeps it a finite float.
_MIN_NEED = 1e-9


class GatePolicy(BaseModel):
    """The user's costs and the width of the escalation band."""

    model_config = ConfigDict(extra="forbid")

    cost_false_alarm: PositiveFloat = Field(1.0, description="C_FA: cost of an unwanted offer")
    cost_missed_help: PositiveFloat = Field(3.0, description="C_FN: cost of missing needed help")
    delta: float = Field(0.1, ge=0.0, lt=0.5, description="half-width of the escalation band")

    @property
    def welcome_threshold(self) -> float:
        """The chance of a welcome offer above which offering pays: C_FA / (C_FA + C_FN)."""
        return self.cost_false_alarm / (self.cost_false_alarm + self.cost_missed_help)

    def threshold(self, p_need: float) -> float:
        """tau: the p_accept an offer must reach for intervening to pay off."""
        return self.welcome_threshold / max(p_need, _MIN_NEED)

    def decide(self, p_need: float, p_accept: float) -> tuple[Action, float]:
        """The fast-path action and the tau it was taken against."""
        tau = self.threshold(p_need)
        if abs(p_accept - tau) <= self.delta:
            return Action.ESCALATE, tau
        return (Action.INTERVENE if p_accept >= tau else Action.SILENT), tau
