"""The graph's recall node: what memory knows that bears on this event's offer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agent.slowpath.state import DeliberationState, window_of
from gate.base import GateModel
from memory.feedback import context_of
from memory.retrieval import EpisodeIndex
from memory.store import Store


def recall(
    state: DeliberationState,
    *,
    store: Store,
    gate: GateModel,
    index: EpisodeIndex | None,
    repeat_window_s: float,
) -> dict[str, Any]:
    """Similar past episodes (with the user's answers; only with an embedding gate, which
    gives `index`), lessons for this context, the tasks the user accepted or turned down
    here, and the offers made within the repeat window (0: none looked up)."""
    event = window_of(state)[-1]
    recalled: list[str] = []
    if index is not None:
        query = gate.embed_texts([event.summary()])[0]  # type: ignore[attr-defined]
        for episode in index.recall(query, 3, exclude={event.id}):
            said = ", ".join(episode.outcomes) or "no answer"
            action = episode.decision.final_action or "pending"
            recalled.append(f"{episode.event.summary()[:150]} -> {action} ({said})")
    context = context_of(event)
    offered = (
        store.offered_tasks(event.time - timedelta(seconds=repeat_window_s), event.time)
        if repeat_window_s > 0
        else []
    )
    return {
        "recalled": recalled,
        "lessons": [r.lesson for r in store.reflections(context, limit=5)],
        "rejected_tasks": store.turned_down_tasks(context, limit=20),
        "accepted_tasks": store.accepted_tasks(context, limit=20),
        "offered_tasks": [[when.isoformat(), task] for when, task in offered],
    }
