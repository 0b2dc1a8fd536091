"""The user's answers to offers, and the personal model they teach: the rows only (the
learning loop is `memory.learning`'s)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.decision import Action
from core.events import Event
from core.offer import Offer
from memory.by_hand import DONE_WITHIN_S, done_by_hand
from memory.feedback import (
    DECLINED,
    GIVEN,
    AlreadyAnswered,
    Outcome,
    Reason,
)
from memory.personal import PersonalModel
from memory.preferences import Preferences
from memory.schema import (
    DecisionRow,
    DeliberationRow,
    EventRow,
    FeedbackRow,
    PersonalModelRow,
    PersonalUpdateRow,
    ReflectionRow,
    utcnow,
)
from memory.stores.base import StoreBase, event_from_row
from memory.stores.preferences import profile_row, set_preferences


def _window_of(session: Session, event_row: EventRow, size: int) -> list[Event]:
    """The event and the ones of its source before it: what the gate saw."""
    earlier = session.scalars(
        select(EventRow)
        .where(
            EventRow.source == event_row.source,
            EventRow.time <= event_row.time,
            EventRow.id != event_row.id,
        )
        .order_by(EventRow.time.desc(), EventRow.received_at.desc())
        .limit(size - 1)
    ).all()
    return [event_from_row(row) for row in reversed(earlier)] + [event_from_row(event_row)]


@dataclass(frozen=True)
class UnappliedAnswer:
    """An answer not yet learnt from, with what the offer was made on: its event, the
    window the gate saw, and the population's figures before any personal shift."""

    event: Event
    outcome: Outcome
    reason: Reason | None
    window: list[Event]
    p_need: float
    p_accept: float
    row: FeedbackRow = field(repr=False, compare=False)


class AnswersToLearn:
    """One learning transaction's reads and writes (`FeedbackMemory.learning_transaction`):
    the rows only; what to learn and when to stop is `memory.learning`'s."""

    def __init__(self, session: Session, window: int) -> None:
        self._session = session
        self._window = window

    def unapplied(self) -> Iterator[UnappliedAnswer]:
        """The answers not yet applied, in arrival order; each window is read as it is
        reached, after the writes for the answers before it."""
        rows = self._session.execute(
            select(FeedbackRow, EventRow, DecisionRow)
            .join(EventRow, EventRow.id == FeedbackRow.event_id)
            .join(DecisionRow, DecisionRow.event_id == FeedbackRow.event_id)
            .where(FeedbackRow.applied_at.is_(None))
            .order_by(FeedbackRow.id)
        ).all()
        for feedback, event_row, decision in rows:
            event = event_from_row(event_row)
            outcome = Outcome(feedback.outcome)
            reason = None if feedback.reason is None else Reason(feedback.reason)
            seen = _window_of(self._session, event_row, self._window)
            # The population's figures, before any personal shift: the gate's own, which a
            # decision keeps beside the shifted ones (rows older than the personal model
            # have none, and were never shifted).
            p_need = decision.p_need if decision.p_need_model is None else decision.p_need_model
            p_accept = (
                decision.p_accept if decision.p_accept_model is None else decision.p_accept_model
            )
            yield UnappliedAnswer(event, outcome, reason, seen, p_need, p_accept, feedback)

    def record_update(
        self, answer: UnappliedAnswer, welcome_before: float, welcome_after: float
    ) -> None:
        """The personal model's history: this answer moved the welcome from/to."""
        self._session.add(
            PersonalUpdateRow(
                event_id=answer.event.id,
                outcome=answer.outcome.value,
                reason=answer.row.reason,
                welcome_before=welcome_before,
                welcome_after=welcome_after,
            )
        )

    def record_lesson(self, answer: UnappliedAnswer, context: str, lesson: str) -> None:
        self._session.add(ReflectionRow(context=context, event_id=answer.event.id, lesson=lesson))

    def mark_applied(self, answer: UnappliedAnswer) -> None:
        answer.row.applied_at = utcnow()

    def save_model(self, personal: PersonalModel) -> None:
        row = self._session.get(PersonalModelRow, 1) or PersonalModelRow(id=1)
        row.state = personal.to_state()
        row.answers = personal.answers
        row.updated_at = utcnow()
        self._session.add(row)


class FeedbackMemory(StoreBase):
    """The user's answers to offers, and the personal model they teach."""

    def record_feedback(
        self,
        event_id: str,
        outcome: Outcome,
        latency_s: float | None = None,
        reason: Reason | None = None,
    ) -> int:
        """Store the user's answer to the offer made on `event_id`, with the reason for a
        rejection. "Never for this app" mutes the event's app in the preferences at once,
        in the same transaction. A second answer of a person's (`GIVEN`) to the same offer
        raises `AlreadyAnswered`."""
        if reason is not None and outcome is not Outcome.REJECTED:
            raise ValueError(f"a reason goes with a rejection, not with {outcome.value}")
        with self._session() as session, session.begin():
            final = session.scalar(
                select(DecisionRow.final_action).where(DecisionRow.event_id == event_id)
            )
            if final != "intervene":
                raise ValueError(f"no offer was made on event {event_id}")
            if outcome in GIVEN and (
                given := session.scalar(
                    select(FeedbackRow.outcome).where(
                        FeedbackRow.event_id == event_id,
                        FeedbackRow.outcome.in_([o.value for o in GIVEN]),
                    )
                )
            ):
                raise AlreadyAnswered(
                    f"the offer on event {event_id} was already answered ({given}); "
                    "an offer takes one answer"
                )
            if reason is Reason.NEVER_APP:
                app = session.scalar(select(EventRow.app).where(EventRow.id == event_id))
                if not app:
                    raise ValueError("this offer's event names no app to mute")
                self._mute(session, app)
            row = FeedbackRow(
                event_id=event_id,
                outcome=outcome.value,
                reason=None if reason is None else reason.value,
                latency_s=latency_s,
            )
            session.add(row)
            session.flush()
            return row.id

    def record_done_by_hand(self, events: Sequence[Event]) -> list[str]:
        """Record `did_by_hand` on each declined offer (rejected, ignored, unanswered; not
        an app muted for good) and each draft the slow path held back, whose task one of
        `events` shows the user doing by hand soon after (memory.by_hand), once per offer.
        A held-back draft done by hand is a missed offer: the personal model learns that
        an offer was welcome there. Returns those events' ids."""
        if not events:
            return []
        earliest = min(e.time for e in events) - timedelta(seconds=DONE_WITHIN_S)
        with self._session() as session, session.begin():
            matched = []
            for event_row, offer in self._unwelcome_offers(session, earliest):
                offered_on = event_from_row(event_row)
                if any(done_by_hand(offer, offered_on, later) for later in events):
                    session.add(
                        FeedbackRow(event_id=event_row.id, outcome=Outcome.DID_BY_HAND.value)
                    )
                    matched.append(event_row.id)
            return matched

    @staticmethod
    def _unwelcome_offers(session: Session, since: datetime) -> list[tuple[EventRow, Offer]]:
        """Offers since `since` the user declined (latest answer) and drafts the slow path
        held back unanswered: what doing a task by hand can still answer."""
        rows = session.execute(
            select(EventRow, DecisionRow.offer, FeedbackRow.outcome, FeedbackRow.reason)
            .join(DecisionRow, DecisionRow.event_id == EventRow.id)
            .join(FeedbackRow, FeedbackRow.event_id == EventRow.id)
            .where(EventRow.time >= since)
            .order_by(FeedbackRow.id)
        ).all()
        latest = {row.id: (row, offer, outcome, reason) for row, offer, outcome, reason in rows}
        found = [
            (row, Offer.model_validate(offer))
            for row, offer, outcome, reason in latest.values()
            # nothing drafted, accepted, already done by hand, or muted for good
            if offer is not None and outcome in DECLINED and reason != Reason.NEVER_APP.value
        ]
        held_back = session.execute(
            select(EventRow, DeliberationRow.proposal, DeliberationRow.backend)
            .join(DeliberationRow, DeliberationRow.event_id == EventRow.id)
            .outerjoin(FeedbackRow, FeedbackRow.event_id == EventRow.id)
            .where(
                EventRow.time >= since,
                DeliberationRow.action == Action.SILENT.value,
                DeliberationRow.proposal.is_not(None),
                FeedbackRow.id.is_(None),
            )
        ).all()
        found += [
            (row, Offer.from_proposal(proposal, backend))
            for row, proposal, backend in held_back
            if proposal.get("speak", "").strip()  # a draft, not an explicit silence
        ]
        return found

    def _mute(self, session: Session, app: str) -> None:
        row = profile_row(session)
        preferences = Preferences.model_validate(row.preferences)
        if app.casefold() not in {muted.casefold() for muted in preferences.muted_apps}:
            preferences.muted_apps.append(app)
        set_preferences(row, preferences)

    def personal_model(self) -> PersonalModel:
        """The personal model as last learnt (a fresh one before any answer)."""
        with self._session() as session:
            row = session.get(PersonalModelRow, 1)
            return PersonalModel() if row is None else PersonalModel.from_state(row.state)

    def reset_personal_model(self) -> int:
        """Forget what this user's answers taught (the history of updates goes too);
        returns how many answers it had learnt from."""
        with self._session() as session, session.begin():
            row = session.get(PersonalModelRow, 1)
            answers = 0 if row is None else row.answers
            session.execute(delete(PersonalModelRow))
            session.execute(delete(PersonalUpdateRow))
            return answers

    def personal_updates(self, limit: int = 20) -> list[PersonalUpdateRow]:
        """The newest answers the personal model learnt from."""
        with self._session() as session:
            query = select(PersonalUpdateRow).order_by(PersonalUpdateRow.id.desc()).limit(limit)
            return list(session.scalars(query))

    @contextmanager
    def learning_transaction(self, window: int) -> Iterator[AnswersToLearn]:
        """The answers not yet learnt from, and the writes learning them makes, in one
        transaction: committed when the `with` block ends, none of it if it raises (see
        `memory.learning`). `window` is how many events of the offer's source the gate
        saw, the offer's own included."""
        with self._session() as session, session.begin():
            yield AnswersToLearn(session, window)

    def feedback_reasons(self, event_ids: Sequence[str]) -> dict[str, Reason]:
        """The latest reason given for each of these offers, where one was."""
        latest = self._latest_feedback(FeedbackRow.reason, event_ids)
        return {
            event_id: Reason(reason) for event_id, reason in latest.items() if reason is not None
        }

    def not_now_clocks(self, event_ids: Sequence[str]) -> dict[str, datetime]:
        """For each of these offers whose latest answer is "not now": the stream's clock
        when it was given, the newest event time received by then (what a running daemon
        held offers from), so a restart holds them as long."""
        reasons = self.feedback_reasons(event_ids)
        clocks: dict[str, datetime] = {}
        with self._session() as session:
            for event_id in (e for e, reason in reasons.items() if reason is Reason.NOT_NOW):
                given = session.scalar(
                    select(func.max(FeedbackRow.created_at)).where(FeedbackRow.event_id == event_id)
                )
                newest = session.scalar(
                    select(func.max(EventRow.time)).where(EventRow.received_at <= given)
                )
                if newest is not None:
                    clocks[event_id] = newest
        return clocks

    def latest_feedback(self, event_id: str) -> Outcome | None:
        with self._session() as session:
            outcome = session.scalar(
                select(FeedbackRow.outcome)
                .where(FeedbackRow.event_id == event_id)
                .order_by(FeedbackRow.id.desc())
                .limit(1)
            )
        return Outcome(outcome) if outcome else None
