"""What the runtime decided about one event, and who decided it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from core.offer import Offer


class Action(StrEnum):
    """What is done about an event: nothing, an offer, or deliberation first."""

    SILENT = "silent"
    INTERVENE = "intervene"
    ESCALATE = "escalate"


# `decided_by` of a decision the slow path failed on: the gate's own action stood.
SLOW_PATH_FALLBACK = "slow-path-fallback"


class Decision(BaseModel):
    """The gate's scores and action; escalations get their final action from the slow path.
    An intervention carries the drafted `offer` (None for offers made with no draft)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str
    p_need: float = Field(ge=0.0, le=1.0)
    p_accept: float = Field(ge=0.0, le=1.0)
    p_need_model: float | None = Field(None, ge=0.0, le=1.0)
    p_accept_model: float | None = Field(None, ge=0.0, le=1.0)
    tau: float
    delta: float
    gate_action: Action
    final_action: Action | None = None
    decided_by: str | None = None
    reason: str | None = None
    model_version: str
    gate_latency_ms: float = Field(ge=0.0)
    offer: Offer | None = None

    @property
    def resolved(self) -> bool:
        return self.final_action is not None
