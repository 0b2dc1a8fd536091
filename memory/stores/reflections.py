"""The slow path's deliberations, and the lessons and tasks it reflects on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, not_, select

from core.decision import Action
from memory.feedback import DECLINED, Reason, context_of
from memory.schema import DecisionRow, DeliberationRow, EventRow, FeedbackRow, ReflectionRow
from memory.stores.base import StoreBase, event_from_row


class ReflectionMemory(StoreBase):
    """The slow path's deliberations, and the lessons and tasks it reflects on."""

    def record_reflection(self, context: str, event_id: str | None, lesson: str) -> None:
        with self._session() as session, session.begin():
            session.add(ReflectionRow(context=context, event_id=event_id, lesson=lesson))

    def record_deliberation(
        self,
        event_id: str,
        backend: str,
        action: str,
        reason: str,
        proposal: dict[str, Any] | None,
        counterfactual: dict[str, Any] | None,
        trace: list[dict[str, Any]],
    ) -> None:
        """Keep a slow-path run; a resumed run replaces the record of its cut-off start."""
        with self._session() as session, session.begin():
            session.execute(delete(DeliberationRow).where(DeliberationRow.event_id == event_id))
            session.add(
                DeliberationRow(
                    event_id=event_id,
                    backend=backend,
                    action=action,
                    reason=reason,
                    proposal=proposal,
                    counterfactual=counterfactual,
                    trace=trace,
                    tokens=sum(int(step.get("tokens", 0)) for step in trace),
                )
            )

    def deliberation(self, event_id: str) -> DeliberationRow | None:
        with self._session() as session:
            return session.scalars(
                select(DeliberationRow).where(DeliberationRow.event_id == event_id)
            ).first()

    def turned_down_tasks(self, context: str, limit: int = 20) -> list[str]:
        """Tasks the slow path offered in `context` that the user did not accept; an offer
        answered "not now" is not turned down (the same offer is welcome later)."""
        not_now = and_(FeedbackRow.reason.is_not(None), FeedbackRow.reason == Reason.NOT_NOW.value)
        declined = FeedbackRow.outcome.in_([o.value for o in DECLINED])
        return self._answered_tasks(context, and_(declined, not_(not_now)), limit)

    def offered_tasks(self, since: datetime, until: datetime) -> list[tuple[datetime, str]]:
        """(event time, task) of the offers made on events from `since` up to, not
        including, `until`, newest first: what "the same thing twice" is judged against."""
        with self._session() as session:
            rows = session.execute(
                select(EventRow.time, DecisionRow.offer)
                .join(DecisionRow, DecisionRow.event_id == EventRow.id)
                .where(
                    DecisionRow.final_action == Action.INTERVENE.value,
                    DecisionRow.offer.is_not(None),
                    EventRow.time >= since,
                    EventRow.time < until,
                )
                .order_by(EventRow.time.desc())
            ).all()
        return [(time, offer["task"]) for time, offer in rows if offer]

    def accepted_tasks(self, context: str, limit: int = 20) -> list[str]:
        """Tasks the slow path offered in `context` that the user accepted."""
        return self._answered_tasks(context, FeedbackRow.outcome == "accepted", limit)

    def _answered_tasks(self, context: str, answered: Any, limit: int) -> list[str]:
        with self._session() as session:
            rows = session.execute(
                select(EventRow, DeliberationRow.proposal)
                .join(DeliberationRow, DeliberationRow.event_id == EventRow.id)
                .join(FeedbackRow, FeedbackRow.event_id == EventRow.id)
                .where(DeliberationRow.action == "intervene", answered)
                .order_by(FeedbackRow.id.desc())
                .limit(limit * 5)
            ).all()
        tasks = [
            proposal["task"]
            for event_row, proposal in rows
            if proposal and context_of(event_from_row(event_row)) == context
        ]
        return list(dict.fromkeys(tasks))[:limit]

    def reflections(self, context: str | None = None, limit: int = 20) -> list[ReflectionRow]:
        """The newest lessons, optionally for one context."""
        with self._session() as session:
            query = select(ReflectionRow).order_by(ReflectionRow.id.desc()).limit(limit)
            if context is not None:
                query = query.where(ReflectionRow.context == context)
            return list(session.scalars(query))
