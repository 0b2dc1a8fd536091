"""Learning from feedback: a per-context shift of p_accept, and lessons for the slow path.

Each feedback moves one context's logit offset by a step of stochastic gradient descent on
the log-loss of the adjusted p_accept. Steps are weighted by how clear the signal is (an
ignored offer says less than a rejected one), offsets are clipped so no amount of
feedback silences or forces a context for good, and they live in the database, where
`festina feedback reset` undoes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from agent.events import Event


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IGNORED = "ignored"
    TIMED_OUT = "timed_out"


# (target, weight): acceptance is a 1; the rest are 0s of decreasing certainty.
_SIGNAL = {
    Outcome.ACCEPTED: (1.0, 1.0),
    Outcome.REJECTED: (0.0, 1.0),
    Outcome.IGNORED: (0.0, 0.5),
    Outcome.TIMED_OUT: (0.0, 0.25),
}
LEARNING_RATE = 1.0
MAX_OFFSET = 3.0
_EPS = 1e-6


def context_of(event: Event) -> str:
    """The unit feedback generalises over: what kind of activity, in which app."""
    return f"{event.kind.value}:{event.app or '-'}"


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass
class FeedbackLearner:
    """Holds the offsets in memory; the store persists them."""

    offsets: dict[str, float]

    def adjust(self, event: Event, p_accept: float) -> float:
        offset = self.offsets.get(context_of(event), 0.0)
        return p_accept if offset == 0.0 else _sigmoid(_logit(p_accept) + offset)

    def learn(self, context: str, p_accept_model: float, outcome: Outcome) -> float:
        """Update `context` from one outcome on an offer whose model score was
        `p_accept_model`; returns the new offset."""
        target, weight = _SIGNAL[outcome]
        offset = self.offsets.get(context, 0.0)
        predicted = _sigmoid(_logit(p_accept_model) + offset)
        offset += LEARNING_RATE * weight * (target - predicted)
        offset = max(-MAX_OFFSET, min(MAX_OFFSET, offset))
        self.offsets[context] = offset
        return offset


def lesson_for(event: Event, outcome: Outcome) -> str | None:
    """A short lesson for the slow path, from offers the user turned down."""
    if outcome is Outcome.ACCEPTED:
        return None
    verb = {"rejected": "rejected", "ignored": "ignored", "timed_out": "did not answer"}[outcome]
    return (
        f"The user {verb} an offer during {event.kind.value} activity in {event.app or 'an app'} "
        f"('{event.summary()[:160]}'). Do not repeat a similar offer in this context "
        "unless the situation clearly changed."
    )
