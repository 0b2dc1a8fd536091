"""Accepted plans: the confirmations their side effects wait for, and their results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from core.outcome import StepOutcome, outcomes_of
from memory.schema import ConfirmationRow, DeliberationRow, utcnow
from memory.stores.base import StoreBase


class PlanMemory(StoreBase):
    """Accepted plans: the confirmations their side effects wait for, and their results."""

    def request_confirmation(
        self, event_id: str, step: int, tool: str, args: dict[str, Any]
    ) -> None:
        """Ask the user to confirm step `step` of an accepted plan (once per step)."""
        with self._session() as session, session.begin():
            exists = session.scalar(
                select(ConfirmationRow.id).where(
                    ConfirmationRow.event_id == event_id, ConfirmationRow.step == step
                )
            )
            if exists is None:
                session.add(ConfirmationRow(event_id=event_id, step=step, tool=tool, args=args))

    def pending_confirmations(self, event_id: str | None = None) -> list[ConfirmationRow]:
        with self._session() as session:
            query = select(ConfirmationRow).where(ConfirmationRow.status == "pending")
            if event_id is not None:
                query = query.where(ConfirmationRow.event_id == event_id)
            return list(session.scalars(query.order_by(ConfirmationRow.id)))

    def answer_confirmation(self, confirmation_id: int, approved: bool) -> None:
        with self._session() as session, session.begin():
            row = session.get(ConfirmationRow, confirmation_id)
            if row is None or row.status != "pending":
                raise ValueError(f"no pending confirmation {confirmation_id}")
            row.status = "approved" if approved else "denied"
            row.answered_at = utcnow()

    def confirmation(self, event_id: str, step: int) -> ConfirmationRow | None:
        with self._session() as session:
            return session.scalars(
                select(ConfirmationRow).where(
                    ConfirmationRow.event_id == event_id, ConfirmationRow.step == step
                )
            ).first()

    def offers_awaiting_execution(self) -> list[str]:
        """Events whose slow-path offer has a plan that has not finished running."""
        with self._session() as session:
            return list(
                session.scalars(
                    select(DeliberationRow.event_id).where(
                        DeliberationRow.action == "intervene", DeliberationRow.executions.is_(None)
                    )
                )
            )

    def record_executions(self, event_id: str, executions: list[dict[str, Any]]) -> None:
        """The finished plan's steps; what was shown of a step still running goes."""
        with self._session() as session, session.begin():
            session.execute(
                update(DeliberationRow)
                .where(DeliberationRow.event_id == event_id)
                .values(executions=executions, partial=None)
            )

    def record_partial(self, event_id: str, step: int, tool: str, text: str) -> None:
        """What step `step` of an accepted plan has produced so far (a streamed answer),
        for the surfaces in other processes to show while it runs."""
        with self._session() as session, session.begin():
            session.execute(
                update(DeliberationRow)
                .where(DeliberationRow.event_id == event_id)
                .values(partial={"step": step, "tool": tool, "text": text})
            )

    def plan_results(self, event_ids: Sequence[str]) -> dict[str, list[StepOutcome]]:
        """What each of these offers' accepted plans did, step by step; offers whose plan
        has not run (not accepted, or not yet) are absent."""
        with self._session() as session:
            rows = session.execute(
                select(DeliberationRow.event_id, DeliberationRow.executions).where(
                    DeliberationRow.event_id.in_(list(event_ids)),
                    DeliberationRow.executions.is_not(None),
                )
            ).all()
        return {event_id: outcomes_of(executions) for event_id, executions in rows}
