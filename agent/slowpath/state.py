"""What a deliberation carries from one node of the reasoning graph to the next: the
LangGraph state, checkpointed per event (so only JSON-ready values)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from core.events import Event


class DeliberationState(TypedDict, total=False):
    window: list[dict[str, Any]]
    decision: dict[str, Any]
    recalled: list[str]
    lessons: list[str]
    rejected_tasks: list[str]
    accepted_tasks: list[str]
    offered_tasks: list[list[str]]
    """[event time (ISO), task] of offers made within the repeat window before this event."""
    proposal: dict[str, Any] | None
    draft_error: str | None
    attempts: int
    counterfactual: dict[str, Any]
    capability: dict[str, Any]
    lesson: str | None
    verdict: dict[str, str]
    answer: str
    step: int
    executions: Annotated[list[dict[str, Any]], operator.add]
    trace: Annotated[list[dict[str, Any]], operator.add]


def window_of(state: DeliberationState) -> list[Event]:
    """The events the deliberation is about, the last one deciding."""
    return [Event.model_validate(e) for e in state["window"]]


def plan_of(state: DeliberationState) -> list[dict[str, Any]]:
    """The drafted proposal's tool calls (none without a proposal)."""
    return (state.get("proposal") or {}).get("tool_plan", [])
