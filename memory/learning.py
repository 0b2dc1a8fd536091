"""Learning from the user's answers: feeds the ones not yet learnt from to the personal
model, in arrival order, and keeps what it learnt.

The loop lives here, in the memory layer that owns learning; the feedback store
(`memory.stores.feedback`) only reads the answers and writes the rows. The model, its
update history, the lessons and the applied marks are written in one transaction, so an
answer is either learnt and marked or neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from memory.feedback import Outcome, Reason, context_of, lesson_for
from memory.personal import PersonalModel
from memory.stores.feedback import FeedbackMemory


@dataclass(frozen=True)
class AppliedFeedback:
    """An answer the learner has just taken in: on which offer, its time, what it was
    and why."""

    event_id: str
    event_time: datetime
    outcome: Outcome
    reason: Reason | None


def learn_from_answers(
    store: FeedbackMemory, personal: PersonalModel, now: datetime, window: int
) -> list[AppliedFeedback]:
    """Feed not-yet-applied answers to `personal` in arrival order, at the stream's clock
    `now`, and persist the model, its update history, the lessons and the applied marks
    in one transaction. Answers beyond the model's hourly budget stay unapplied for a
    later call. Returns what was answered (the etiquette frees contexts and holds after
    "not now")."""
    with store.learning_transaction(window) as answers:
        applied: list[AppliedFeedback] = []
        for answer in answers.unapplied():
            welcome_population = answer.p_need * answer.p_accept
            before = personal.welcome(answer.window, welcome_population)
            if not personal.learn(
                answer.window, welcome_population, answer.outcome, now, answer.reason
            ):
                break  # this hour's budget is spent: the rest waits, in order
            answers.record_update(
                answer, before, personal.welcome(answer.window, welcome_population)
            )
            if lesson := lesson_for(answer.event, answer.outcome, answer.reason):
                answers.record_lesson(answer, context_of(answer.event), lesson)
            answers.mark_applied(answer)
            applied.append(
                AppliedFeedback(answer.event.id, answer.event.time, answer.outcome, answer.reason)
            )
        if applied:
            answers.save_model(personal)
        return applied
