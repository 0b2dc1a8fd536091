"""The graph's draft node: one attempt of the drafter, parsed against the tool pool;
a failed attempt is retried once with its error."""

from __future__ import annotations

from typing import Any

from agent.slowpath.drafter import Drafter, DraftRequest
from agent.slowpath.llm import ChatError
from agent.slowpath.proposal import ProposalError, parse_proposal
from agent.slowpath.state import DeliberationState, window_of
from tools.pool import ToolPool

MAX_DRAFTS = 2


def draft(state: DeliberationState, *, drafter: Drafter, pool: ToolPool) -> dict[str, Any]:
    """The next attempt's proposal, or why there is none (`_tokens`: what it cost)."""
    attempts = state.get("attempts", 0) + 1
    request = DraftRequest(
        window=window_of(state),
        recalled=state.get("recalled", []),
        lessons=state.get("lessons", []),
        rejected_tasks=state.get("rejected_tasks", []),
        accepted_tasks=state.get("accepted_tasks", []),
        offered_tasks=[task for _, task in state.get("offered_tasks", [])],
        attempt=attempts,
        error=state.get("draft_error"),
    )
    try:
        reply = drafter.draft(request)
    except ChatError as error:
        return {
            "attempts": attempts,
            "proposal": None,
            "draft_error": f"model unavailable: {error}",
        }
    tokens = reply.tokens
    try:
        proposal = parse_proposal(reply.text, pool)
    except ProposalError as error:
        return {
            "attempts": attempts,
            "proposal": None,
            "draft_error": str(error),
            "_tokens": tokens,
        }
    return {
        "attempts": attempts,
        "proposal": proposal.model_dump(mode="json"),
        "draft_error": None,
        "_tokens": tokens,
    }


def after_draft(state: DeliberationState) -> str:
    """On to the checks with a proposal; else another attempt, or a silent decision."""
    if state.get("proposal"):
        return "counterfactual"
    return "draft" if state.get("attempts", 0) < MAX_DRAFTS else "decide"
