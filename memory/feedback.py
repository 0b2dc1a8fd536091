"""Learning from feedback: a per-context shift of p_accept, and lessons for the slow path.

An answer says whether an offer was welcome: the user needed help and took it, with
probability p_need * p_accept (see `gate.policy`). Each feedback moves one context's
offset on the logit of that product by a step of stochastic gradient descent on its
log-loss, and the shifted chance is given back as p_accept (p_need stays the model's: an
answer cannot tell "not needed" from "not wanted", and a welcome offer needs both). Steps
are weighted by how clear the signal is (an
ignored offer says less than a rejected one), offsets are clipped so no amount of
feedback silences or forces a context for good, and they live in the database, where
`festina feedback reset` undoes them.

A rejection may say why (`Reason`), and each reason weighs differently: "not now" is about
timing, not the offer (a tenth of a rejection; the pipeline's etiquette holds offers for
a while), "not useful" and "wrong" are full rejections (with their own lessons), and
"never for this app" teaches nothing here: the store mutes the app in the preferences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from core.events import Event


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IGNORED = "ignored"
    TIMED_OUT = "timed_out"


class Reason(StrEnum):
    """Why the user turned an offer down."""

    NOT_NOW = "not_now"
    NOT_USEFUL = "not_useful"
    WRONG = "wrong"
    NEVER_APP = "never_app"


# How much of a rejection each reason is worth to the learner.
REASON_WEIGHT = {
    Reason.NOT_NOW: 0.1,
    Reason.NOT_USEFUL: 1.0,
    Reason.WRONG: 1.0,
    Reason.NEVER_APP: 0.0,
}

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

    def adjust(self, event: Event, p_need: float, p_accept: float) -> float:
        """p_accept after this user's answers in the event's context."""
        offset = self.offsets.get(context_of(event), 0.0)
        if offset == 0.0:
            return p_accept
        welcome = _sigmoid(_logit(p_need * p_accept) + offset)
        # An offer is never more welcome than help is needed: p_accept tops out at 1.
        return min(1.0, welcome / max(p_need, _EPS))

    def learn(
        self, context: str, welcome_model: float, outcome: Outcome, reason: Reason | None = None
    ) -> float:
        """Update `context` from one outcome on an offer the model gave a chance
        `welcome_model` (p_need * p_accept) of being welcome, weighted by the reason given
        for a rejection; returns the new offset."""
        target, weight = _SIGNAL[outcome]
        if reason is not None:
            weight *= REASON_WEIGHT[reason]
        offset = self.offsets.get(context, 0.0)
        if weight == 0.0:
            return offset
        predicted = _sigmoid(_logit(welcome_model) + offset)
        offset += LEARNING_RATE * weight * (target - predicted)
        offset = max(-MAX_OFFSET, min(MAX_OFFSET, offset))
        self.offsets[context] = offset
        return offset


def lesson_for(event: Event, outcome: Outcome, reason: Reason | None = None) -> str | None:
    """A short lesson for the slow path, from offers the user turned down; none for a
    "not now" (the timing was wrong, not the offer) or a muted app (nothing is offered)."""
    if outcome is Outcome.ACCEPTED or reason in (Reason.NOT_NOW, Reason.NEVER_APP):
        return None
    verb = {"rejected": "rejected", "ignored": "ignored", "timed_out": "did not answer"}[outcome]
    where = f"during {event.kind.value} activity in {event.app or 'an app'}"
    seen = f"('{event.summary()[:160]}')"
    if reason is Reason.WRONG:
        return (
            f"The user said an offer {where} {seen} was wrong: it misread what they were "
            "doing. Do not assume the same need from similar activity in this context."
        )
    if reason is Reason.NOT_USEFUL:
        return (
            f"The user said an offer {where} {seen} was not useful. Do not offer that kind "
            "of help in this context; offer something else only if clearly needed."
        )
    return (
        f"The user {verb} an offer {where} {seen}. Do not repeat a similar offer in this "
        "context unless the situation clearly changed."
    )
