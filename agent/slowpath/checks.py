"""The graph's checks of a draft: the counterfactual (speaking against silence, and
repeats of offers turned down or made lately) and what its plan needs from the pool."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from agent.slowpath.drafter import REPEAT_SIMILARITY, about_other_things
from agent.slowpath.state import DeliberationState, window_of
from core.decision import Action, Decision
from gate.base import Embedder, GateModel
from gate.policy import GatePolicy
from tools.pool import ToolPool

_WORD = re.compile(r"[a-z0-9]+")


def _jaccard(a: str, b: str) -> float:
    left, right = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(left & right) / len(left | right) if left | right else 0.0


def closest(gate: GateModel, task: str, others: list[str]) -> tuple[float, int | None]:
    """The similarity of `task` to the closest of `others` about the same thing (see
    `about_other_things`), and its index: by the gate's embeddings when it has them, else
    by shared words."""
    candidates = [i for i, other in enumerate(others) if not about_other_things(task, other)]
    if not candidates:
        return 0.0, None
    if isinstance(gate, Embedder):
        vectors = gate.embed_texts([task, *(others[i] for i in candidates)])
        scores = vectors[1:] @ vectors[0]
    else:
        scores = np.array([_jaccard(task, others[i]) for i in candidates])
    best = int(np.argmax(scores))
    return float(scores[best]), candidates[best]


def counterfactual(state: DeliberationState, *, gate: GateModel) -> dict[str, Any]:
    """Whether speaking beats silence for the drafted task, and whether it repeats an
    offer turned down here or made within the repeat window."""
    proposal = state["proposal"] or {}
    decision = Decision.model_validate(state["decision"])
    window = window_of(state)
    score_tasks = getattr(gate, "score_tasks", None)
    p_task = score_tasks([window], [proposal["task"]])[0] if score_tasks else decision.p_accept
    # The bar the gate set for this event (its tau, from the p_need it trusted).
    tau = decision.tau
    rejected = state.get("rejected_tasks", [])
    similarity, nearest = closest(gate, proposal["task"], rejected)
    offered = state.get("offered_tasks", [])
    like_offered, twin = closest(gate, proposal["task"], [task for _, task in offered])
    says_something = bool(proposal["speak"].strip())
    # The gate's own offers passed the cost rule by more than delta already.
    gate_offer = decision.gate_action is Action.INTERVENE
    return {
        "counterfactual": {
            "model_says_speak": says_something,
            "gate_offer": gate_offer,
            "p_accept_task": round(float(p_task), 4),
            "tau": round(tau, 4),
            "speaking_beats_silence": says_something
            and (gate_offer or GatePolicy.offering_pays(p_task, tau)),
            "repeat_of_rejected": similarity >= REPEAT_SIMILARITY,
            "closest_rejected": None if nearest is None else rejected[nearest],
            "similarity": round(similarity, 4),
            "repeat_of_offered": like_offered >= REPEAT_SIMILARITY,
            "offered_before": None if twin is None else offered[twin],
        }
    }


def capability(state: DeliberationState, *, pool: ToolPool) -> dict[str, Any]:
    """The tools the plan calls, and those that wait for the user's confirmation."""
    plan = (state["proposal"] or {}).get("tool_plan", [])
    tools = [pool.get(call["tool"]) for call in plan]
    return {
        "capability": {
            # parse_proposal already checked every tool exists and accepts its arguments
            "feasible": True,
            "tools": [t.name for t in tools],
            "needs_confirmation": [t.name for t in tools if t.side_effect],
        }
    }
