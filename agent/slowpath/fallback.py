"""Words for an offer whose deliberation failed."""

from __future__ import annotations

from agent.slowpath.drafter import DraftRequest
from agent.slowpath.template_drafter import TemplateDrafter
from core.events import Event
from core.offer import Offer
from tools.pool import ToolPool


def fallback_offer(pool: ToolPool, window: list[Event]) -> Offer:
    """The templates' best for this window, drawing on nothing the failure may have come
    from (no encoder, no memory, no model), else plain words about the event."""
    for ranked in TemplateDrafter(pool).rank(DraftRequest(window)):
        candidate = ranked.candidate
        try:
            return Offer(
                speak=candidate.speak,
                task=candidate.task,
                plan=candidate.plan,
                drafted_by="templates (fallback)",
            )
        except ValueError:  # a filled template too long for an offer: the next one
            continue
    summary = window[-1].summary()
    return Offer(
        speak=f"Can I help with this? {summary}"[:300],
        task=f"Help with: {summary}"[:200],
        drafted_by="fallback",
    )
