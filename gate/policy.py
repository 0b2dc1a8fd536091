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

A population p_need is trusted only as far as it transfers to a person it has never
seen (`NeedEvidence`): where p_need moved `min_evidence` spreads up or down would fall
on different sides of the rule, the evidence does not clear its uncertainty and the
decision is the one the base rate gives, the better constant policy's. Measured on
recordings never trained on (`festina gate eval`, cross-collection), the point estimate
alone cost more than the constant policy at the default costs.

`GatePolicy.offering_pays` is the one comparison every part of festina that settles an
offer makes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from core.decision import Action
from gate.base import NeedEvidence

# A p_need this small makes tau astronomically large; the floor keeps it a finite float.
_MIN_NEED = 1e-9


@dataclass(frozen=True)
class GateCall:
    """The fast path's action, the tau it was taken against, and why, when the reason is
    not the plain rule."""

    action: Action
    tau: float
    reason: str | None = None


class GatePolicy(BaseModel):
    """The user's costs, the width of the escalation band, and how much evidence a
    population p_need must show before festina departs from the constant policy."""

    model_config = ConfigDict(extra="forbid")

    cost_false_alarm: PositiveFloat = Field(1.0, description="C_FA: cost of an unwanted offer")
    cost_missed_help: PositiveFloat = Field(3.0, description="C_FN: cost of missing needed help")
    delta: float = Field(0.1, ge=0.0, lt=0.5, description="half-width of the escalation band")
    min_evidence: float = Field(
        1.645,
        ge=0.0,
        le=10.0,
        description=(
            "spreads by which p_need must clear the rule's threshold before the gate departs "
            "from the base rate's decision (0: trust the point estimate)"
        ),
    )

    @property
    def welcome_threshold(self) -> float:
        """The chance of a welcome offer above which offering pays: C_FA / (C_FA + C_FN)."""
        return self.cost_false_alarm / (self.cost_false_alarm + self.cost_missed_help)

    def threshold(self, p_need: float) -> float:
        """tau: the p_accept an offer must reach for intervening to pay off."""
        return self.welcome_threshold / max(p_need, _MIN_NEED)

    @staticmethod
    def offering_pays(p_accept: float, tau: float) -> bool:
        """The cost rule: offering costs no more than silence in expectation."""
        return p_accept >= tau

    def trusted_need(
        self, p_need: float, p_accept: float, evidence: NeedEvidence | None
    ) -> tuple[float, str | None]:
        """The p_need the rule goes by: `p_need` where its evidence clears the threshold,
        the prior (the base rate) where it does not, and why."""
        if evidence is None or self.min_evidence == 0.0:
            return p_need, None
        low, high = evidence.interval(p_need, self.min_evidence)
        if self.offering_pays(p_accept, self.threshold(low)) == self.offering_pays(
            p_accept, self.threshold(high)
        ):
            return p_need, None
        return evidence.prior, (
            f"p_need {p_need:.3f} is within its uncertainty ({low:.3f}-{high:.3f}) of the "
            f"threshold; decided at the base rate {evidence.prior:.3f}"
        )

    def decide(
        self, p_need: float, p_accept: float, evidence: NeedEvidence | None = None
    ) -> GateCall:
        """The fast-path action on (p_need, p_accept), trusting p_need as far as
        `evidence` says it transfers."""
        trusted, reason = self.trusted_need(p_need, p_accept, evidence)
        tau = self.threshold(trusted)
        if abs(p_accept - tau) <= self.delta:
            return GateCall(Action.ESCALATE, tau, reason)
        action = Action.INTERVENE if self.offering_pays(p_accept, tau) else Action.SILENT
        return GateCall(action, tau, reason)
