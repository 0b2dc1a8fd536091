"""What memory lets go of, and what it hands over: forget and export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update

from memory.schema import (
    ConfirmationRow,
    DecisionRow,
    DeliberationRow,
    EpisodeVectorRow,
    EventRow,
    FeedbackRow,
    PersonalModelRow,
    PersonalUpdateRow,
    ReflectionRow,
    RejectedInputRow,
)
from memory.stores.base import StoreBase, decision_from_row, event_from_row
from memory.stores.preferences import profile_row


class RetentionMemory(StoreBase):
    """What memory lets go of, and what it hands over: forget and export."""

    def forget(
        self,
        *,
        before: datetime | None = None,
        source: str | None = None,
        since: datetime | None = None,
    ) -> dict[str, int]:
        """Delete events (with their decisions) and rejected inputs stored before `before`
        and/or from `source`; with neither, delete them all. Returns rows deleted.

        Age counts from when festina received a row, not from the event's own time, so a
        replayed old trace is kept as long as a live event would be. `since` ("forget the
        last N minutes") takes both: what happened or arrived since then. Lessons quoting
        an event forgotten this way are deleted with it."""
        event_filter = [EventRow.id.is_not(None)]
        rejection_filter = [RejectedInputRow.id.is_not(None)]
        if before is not None:
            event_filter.append(EventRow.received_at < before)
            rejection_filter.append(RejectedInputRow.received_at < before)
        if since is not None:
            event_filter.append(or_(EventRow.received_at >= since, EventRow.time >= since))
            rejection_filter.append(RejectedInputRow.received_at >= since)
        if source is not None:
            event_filter.append(EventRow.source == source)
            rejection_filter.append(RejectedInputRow.source == source)
        doomed = select(EventRow.id).where(*event_filter)
        with self._session() as session, session.begin():
            session.execute(delete(FeedbackRow).where(FeedbackRow.event_id.in_(doomed)))
            session.execute(delete(EpisodeVectorRow).where(EpisodeVectorRow.event_id.in_(doomed)))
            session.execute(delete(DeliberationRow).where(DeliberationRow.event_id.in_(doomed)))
            session.execute(delete(ConfirmationRow).where(ConfirmationRow.event_id.in_(doomed)))
            session.execute(delete(PersonalUpdateRow).where(PersonalUpdateRow.event_id.in_(doomed)))
            if since is not None:
                session.execute(delete(ReflectionRow).where(ReflectionRow.event_id.in_(doomed)))
            session.execute(
                update(ReflectionRow)
                .where(ReflectionRow.event_id.in_(doomed))
                .values(event_id=None)
            )
            decisions = session.execute(delete(DecisionRow).where(DecisionRow.event_id.in_(doomed)))
            events = session.execute(delete(EventRow).where(*event_filter))
            rejected = session.execute(delete(RejectedInputRow).where(*rejection_filter))
            if events.rowcount:
                profile_row(session).forgets += 1
        return {
            "events": events.rowcount,
            "decisions": decisions.rowcount,
            "rejected_inputs": rejected.rowcount,
        }

    def export_records(self) -> Iterator[dict[str, Any]]:
        """Everything remembered, oldest first, as JSON-ready records."""
        with self._session() as session:
            rows = session.execute(
                select(EventRow, DecisionRow)
                .outerjoin(DecisionRow, DecisionRow.event_id == EventRow.id)
                .order_by(EventRow.time, EventRow.id)
                .execution_options(yield_per=500)
            )
            for event_row, decision_row in rows:
                yield {
                    "type": "event",
                    "event": event_from_row(event_row).model_dump(mode="json"),
                    "decision": None
                    if decision_row is None
                    else decision_from_row(decision_row).model_dump(mode="json"),
                }
            if (personal := session.get(PersonalModelRow, 1)) is not None:
                yield {"type": "personal_model", **personal.state}
            for update_row in session.scalars(
                select(PersonalUpdateRow).order_by(PersonalUpdateRow.id)
            ):
                yield {
                    "type": "personal_update",
                    "event_id": update_row.event_id,
                    "outcome": update_row.outcome,
                    "reason": update_row.reason,
                    "welcome_before": update_row.welcome_before,
                    "welcome_after": update_row.welcome_after,
                    "learnt_at": update_row.learnt_at.isoformat(),
                }
            for rejected in session.scalars(
                select(RejectedInputRow)
                .order_by(RejectedInputRow.id)
                .execution_options(yield_per=500)
            ):
                yield {
                    "type": "rejected_input",
                    "source": rejected.source,
                    "position": rejected.position,
                    "reason": rejected.reason,
                    "raw": rejected.raw,
                    "received_at": rejected.received_at.isoformat(),
                }
