"""What the user's answers are, what each says to a learner, and lessons for the slow path.

An answer says whether an offer was welcome: the user needed help and took it (see
`gate.policy`). `signal` weighs answers by how clear they are (an ignored offer says less
than a rejected one); the personal model (`memory.personal`) learns from them.

A rejection may say why (`Reason`), and each reason weighs differently: "not now" is about
timing, not the offer (a tenth of a rejection; the pipeline's etiquette holds offers for
a while), "not useful" and "wrong" are full rejections (with their own lessons), and
"never for this app" teaches nothing here: the store mutes the app in the preferences.
"""

from __future__ import annotations

from enum import StrEnum

from core.events import Event


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IGNORED = "ignored"
    TIMED_OUT = "timed_out"
    DID_BY_HAND = "did_by_hand"
    """Not given by the user: festina saw them do a declined offer's task (memory.by_hand)."""


DECLINED = frozenset({Outcome.REJECTED, Outcome.IGNORED, Outcome.TIMED_OUT})
"""The answers that turn an offer down, said or not."""

GIVEN = frozenset({Outcome.ACCEPTED, Outcome.REJECTED, Outcome.IGNORED})
"""What a person answers from a surface: one of these per offer. (The others are what
festina notes itself: no answer in time, the task done by hand afterwards.)"""


class AlreadyAnswered(ValueError):
    """A second answer to an offer: refused, so one offer is learnt from once and its
    plan runs (or not) on one answer."""


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

# (target, weight): acceptance is a 1, and so, less surely, is doing a declined offer's
# task by hand (the help was needed; the offer may still have come at the wrong moment);
# the rest are 0s of decreasing certainty.
_SIGNAL = {
    Outcome.ACCEPTED: (1.0, 1.0),
    Outcome.DID_BY_HAND: (1.0, 0.5),
    Outcome.REJECTED: (0.0, 1.0),
    Outcome.IGNORED: (0.0, 0.5),
    Outcome.TIMED_OUT: (0.0, 0.25),
}


def signal(outcome: Outcome, reason: Reason | None = None) -> tuple[float, float]:
    """(target, weight) of an answer for a learner: whether the offer was welcome, and
    how much the answer says about it."""
    target, weight = _SIGNAL[outcome]
    return target, weight * (1.0 if reason is None else REASON_WEIGHT[reason])


def context_of(event: Event) -> str:
    """The unit feedback generalises over: what kind of activity, in which app."""
    return f"{event.kind.value}:{event.app or '-'}"


def lesson_for(event: Event, outcome: Outcome, reason: Reason | None = None) -> str | None:
    """A short lesson for the slow path, from offers the user turned down; none for a
    "not now" (the timing was wrong, not the offer) or a muted app (nothing is offered)."""
    if outcome not in DECLINED or reason in (Reason.NOT_NOW, Reason.NEVER_APP):
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
