"""What festina says and proposes to do when it interrupts: the offer every surface shows.

Kept free of the slow path's imports, so the decision model (and memory) can carry an
offer without pulling in the reasoning graph.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class PlannedCall(BaseModel):
    """One step of a plan: a pool tool and the arguments it will be called with."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(min_length=1, max_length=64)
    args: dict[str, JsonValue] = Field(default_factory=dict)


class Offer(BaseModel):
    """The drafted offer behind an intervention: the words shown to the user (`speak`),
    the task they are asked to accept, and the tool calls that would carry it out."""

    model_config = ConfigDict(extra="forbid")

    speak: str = Field(min_length=1, max_length=300)
    task: str = Field(min_length=3, max_length=200)
    plan: list[PlannedCall] = Field(default_factory=list, max_length=3)
    drafted_by: str = Field(min_length=1, max_length=200)

    @classmethod
    def from_proposal(cls, proposal: dict[str, Any], drafted_by: str) -> Offer:
        """The user-facing part of a validated proposal (see agent.slowpath.proposal)."""
        return cls(
            speak=proposal["speak"],
            task=proposal["task"],
            plan=proposal.get("tool_plan", []),
            drafted_by=drafted_by,
        )

    def plan_summary(self) -> str:
        """The plan's tools in order, for one-line displays."""
        return ", ".join(call.tool for call in self.plan) or "no tools"
