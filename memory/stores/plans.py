"""Accepted plans: the confirmations their side effects wait for, and their results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from core.progress import Confirmation, PlanProgress, progress_of
from memory.schema import ConfirmationRow, DeliberationRow, utcnow
from memory.stores.base import StoreBase


class UnknownConfirmation(LookupError):
    """No confirmation has this id (never asked for, or its event was forgotten)."""

    def __init__(self, confirmation_id: int) -> None:
        super().__init__(f"no confirmation {confirmation_id}: see `festina decisions --offers`")


class ConfirmationAnswered(ValueError):
    """The confirmation was answered already: a step takes one answer."""

    def __init__(self, confirmation_id: int, status: str) -> None:
        super().__init__(
            f"confirmation {confirmation_id} was already answered ({status}): a step takes "
            "one answer"
        )


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

    def answer_confirmation(self, confirmation_id: int, approved: bool) -> ConfirmationRow:
        """Approve or deny a step waiting for the person's go (the daemon acts on it within
        a second); the confirmation as answered. UnknownConfirmation or
        ConfirmationAnswered, which say so in words, when there is nothing to answer."""
        with self._session() as session, session.begin():
            # One conditional update: of two surfaces answering at once, one answer holds.
            answered = session.execute(
                update(ConfirmationRow)
                .where(ConfirmationRow.id == confirmation_id, ConfirmationRow.status == "pending")
                .values(status="approved" if approved else "denied", answered_at=utcnow())
            )
            row = session.get(ConfirmationRow, confirmation_id)
            if row is None:
                raise UnknownConfirmation(confirmation_id)
            if answered.rowcount == 0:  # type: ignore[attr-defined]
                raise ConfirmationAnswered(confirmation_id, row.status)
            return row

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
        """The finished plan's steps; what was shown of a step still running, and of the
        plan's progress, goes."""
        with self._session() as session, session.begin():
            session.execute(
                update(DeliberationRow)
                .where(DeliberationRow.event_id == event_id)
                .values(executions=executions, partial=None, progress=None)
            )

    def record_progress(
        self, event_id: str, done: list[dict[str, Any]], to_come: list[dict[str, Any]]
    ) -> None:
        """Where an accepted plan stands as a step starts: the execution records of the
        steps done, and the steps to come ({"step", "tool", "args", "confirm"}). What the
        previous step wrote while running is part of its record now, so it goes."""
        with self._session() as session, session.begin():
            session.execute(
                update(DeliberationRow)
                .where(DeliberationRow.event_id == event_id)
                .values(progress={"done": done, "to_come": to_come}, partial=None)
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

    def plan_progress(self, event_ids: Sequence[str]) -> dict[str, PlanProgress]:
        """Where each of these offers' accepted plans stands (see `core.progress`); offers
        whose plan has not started (not accepted, or not yet picked up) are absent."""
        ids = list(event_ids)
        with self._session() as session:
            rows = session.execute(
                select(
                    DeliberationRow.event_id,
                    DeliberationRow.executions,
                    DeliberationRow.progress,
                    DeliberationRow.partial,
                ).where(DeliberationRow.event_id.in_(ids), DeliberationRow.action == "intervene")
            ).all()
            asked: dict[str, list[Confirmation]] = {}
            for row in session.scalars(
                select(ConfirmationRow)
                .where(ConfirmationRow.event_id.in_(ids))
                .order_by(ConfirmationRow.step)
            ):
                asked.setdefault(row.event_id, []).append(
                    Confirmation(
                        id=row.id, step=row.step, tool=row.tool, args=row.args, status=row.status
                    )
                )
        found = {}
        for event_id, executions, progress, partial in rows:
            plan = progress_of(
                executions=executions,
                progress=progress,
                partial=partial,
                confirmations=asked.get(event_id, []),
            )
            if plan is not None:
                found[event_id] = plan
        return found
