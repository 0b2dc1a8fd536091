"""The cost-sensitive decision rule that turns two probabilities into an action.

Intervening costs C_FA when the offer is unwanted; staying silent costs C_FN when help
was needed. With p_need the chance help is needed, intervening is worth it when
p_accept >= tau = C_FA / (C_FA + p_need * C_FN). Decisions within `delta` of tau are
too close to call cheaply and go to the slow path.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat


class Action(StrEnum):
    SILENT = "silent"
    INTERVENE = "intervene"
    ESCALATE = "escalate"


class GatePolicy(BaseModel):
    """The user's costs and the width of the escalation band."""

    model_config = ConfigDict(extra="forbid")

    cost_false_alarm: PositiveFloat = Field(1.0, description="C_FA: cost of an unwanted offer")
    cost_missed_help: PositiveFloat = Field(3.0, description="C_FN: cost of missing needed help")
    delta: float = Field(0.1, ge=0.0, lt=0.5, description="half-width of the escalation band")

    def threshold(self, p_need: float) -> float:
        """tau: the p_accept an offer must reach for intervening to pay off."""
        return self.cost_false_alarm / (self.cost_false_alarm + p_need * self.cost_missed_help)

    def decide(self, p_need: float, p_accept: float) -> tuple[Action, float]:
        """The fast-path action and the tau it was taken against."""
        tau = self.threshold(p_need)
        if abs(p_accept - tau) <= self.delta:
            return Action.ESCALATE, tau
        return (Action.INTERVENE if p_accept >= tau else Action.SILENT), tau
