"""Events taken in, the decisions on them and the inputs rejected."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.decision import Action, Decision
from core.events import Event
from core.offer import Offer
from core.sources import Rejection
from memory.schema import DecisionRow, EpisodeVectorRow, EventRow, FeedbackRow, RejectedInputRow
from memory.stores.base import StoreBase, decision_from_row, event_from_row, event_values
from memory.stores.vectors import packed_vector

FORGET_RACE_RETRIES = 3


class EventMemory(StoreBase):
    """Events taken in, the decisions on them and the inputs rejected."""

    def existing_events(self, event_ids: Iterable[str]) -> set[str]:
        """Which of these events memory holds."""
        return set(self._event_rows(event_ids, EventRow.id))

    def stored_digests(self, event_ids: Iterable[str]) -> dict[str, str]:
        """The content digest (`Event.content_hash`) of each of these events memory holds:
        an id sent again names the same event only if its content has the same digest."""
        rows = self._event_rows(event_ids, EventRow)
        return {row.id: event_from_row(row).content_hash() for row in rows}

    def newest_event_time(self) -> datetime | None:
        """The newest event time memory holds: the stream's clock at a restart."""
        with self._session() as session:
            return session.scalar(select(func.max(EventRow.time)))

    def latest_event_times(self, source_prefix: str) -> dict[str, datetime]:
        """The newest stored event time of each source whose name starts with the prefix:
        where a live source resumes."""
        with self._session() as session:
            rows = session.execute(
                select(EventRow.source, func.max(EventRow.time))
                .where(EventRow.source.startswith(source_prefix, autoescape=True))
                .group_by(EventRow.source)
            ).all()
        return {source: newest for source, newest in rows}

    def record_events(self, run_id: int | None, events: Sequence[Event]) -> None:
        """Store events taken in, before they are decided: what memory holds is the
        daemon's to decide, now or (after a crash) at the next start."""
        with self._session() as session, session.begin():
            session.execute(insert(EventRow), [event_values(item, run_id) for item in events])

    def add_decisions(
        self, pairs: Sequence[tuple[Event, Decision]], vectors: tuple[str, np.ndarray] | None = None
    ) -> set[str]:
        """Store decisions on stored events (and, given `(encoder_id, matrix)`, their
        embeddings) atomically; returns the ids of events forgotten since they were
        stored, whose decisions are dropped with them."""
        retries = FORGET_RACE_RETRIES
        while True:
            try:
                with self._session() as session, session.begin():
                    return self._add_decisions(session, pairs, vectors)
            except IntegrityError:
                # A forget committed between the check of which events memory holds and
                # the insert (SQLite's driver and PostgreSQL's read-committed both allow
                # it): the whole batch rolled back, so check again.
                retries -= 1
                if retries < 0:
                    raise

    @staticmethod
    def _add_decisions(
        session: Session,
        pairs: Sequence[tuple[Event, Decision]],
        vectors: tuple[str, np.ndarray] | None,
    ) -> set[str]:
        held = set(
            session.scalars(select(EventRow.id).where(EventRow.id.in_([e.id for e, _ in pairs])))
        )
        kept = [i for i, (item, _) in enumerate(pairs) if item.id in held]
        if kept:
            session.execute(insert(DecisionRow), [pairs[i][1].model_dump() for i in kept])
        if kept and vectors is not None:
            encoder, matrix = vectors
            session.execute(
                insert(EpisodeVectorRow),
                [
                    {"event_id": pairs[i][0].id, "encoder": encoder, **packed_vector(matrix[i])}
                    for i in kept
                ],
            )
        return {item.id for item, _ in pairs if item.id not in held}

    def record_decisions(
        self,
        run_id: int | None,
        pairs: Sequence[tuple[Event, Decision]],
        vectors: tuple[str, np.ndarray] | None = None,
    ) -> None:
        """Store events with their decisions (and embeddings) atomically, in one step:
        for memory built from a replay's records rather than taken in live."""
        with self._session() as session, session.begin():
            values = [event_values(item, run_id) for item, _ in pairs]
            session.execute(insert(EventRow), values)
            self._add_decisions(session, pairs, vectors)

    def undecided_events(self) -> list[str]:
        """The ids of events stored but never decided (the daemon stopped between the
        two), in the order they were taken in."""
        with self._session() as session:
            return list(
                session.scalars(
                    select(EventRow.id)
                    .outerjoin(DecisionRow, DecisionRow.event_id == EventRow.id)
                    .where(DecisionRow.event_id.is_(None))
                    .order_by(EventRow.received_at, EventRow.time)
                )
            )

    def events_by_id(self, event_ids: Sequence[str]) -> list[Event]:
        """These events, in this order, leaving out those memory does not hold."""
        rows = {row.id: row for row in self._event_rows(event_ids, EventRow)}
        return [event_from_row(rows[i]) for i in event_ids if i in rows]

    def resolve(
        self,
        event_id: str,
        action: Action,
        decided_by: str,
        reason: str,
        offer: Offer | None = None,
    ) -> None:
        """Record the slow path's final action on an event, with the offer it drafted."""
        with self._session() as session, session.begin():
            session.execute(
                update(DecisionRow)
                .where(DecisionRow.event_id == event_id)
                .values(
                    final_action=action.value,
                    decided_by=decided_by,
                    reason=reason,
                    offer=None if offer is None else offer.model_dump(mode="json"),
                )
            )

    def record_rejections(self, run_id: int | None, rejections: Sequence[Rejection]) -> None:
        with self._session() as session, session.begin():
            session.add_all(
                RejectedInputRow(
                    source=r.source, position=r.position, reason=r.reason, raw=r.raw, run_id=run_id
                )
                for r in rejections
            )

    def unresolved_escalations(self) -> list[tuple[Event, Decision]]:
        """Events whose slow-path run never finished (e.g. after a crash): escalations,
        and the gate's offers still to be drafted."""
        with self._session() as session:
            rows = session.execute(
                select(EventRow, DecisionRow)
                .join(DecisionRow, DecisionRow.event_id == EventRow.id)
                .where(DecisionRow.final_action.is_(None))
                .order_by(EventRow.time)
            ).all()
            return [(event_from_row(e), decision_from_row(d)) for e, d in rows]

    def decisions(
        self, limit: int = 100, *, offers_only: bool = False, run_id: int | None = None
    ) -> list[tuple[Event, Decision]]:
        """The most recent decisions with their events, newest first; only interventions
        with `offers_only`, only events received by one run with `run_id`."""
        query = select(EventRow, DecisionRow).join(DecisionRow, DecisionRow.event_id == EventRow.id)
        if offers_only:
            query = query.where(DecisionRow.final_action == Action.INTERVENE.value)
        if run_id is not None:
            query = query.where(EventRow.run_id == run_id)
        with self._session() as session:
            rows = session.execute(
                query.order_by(EventRow.time.desc(), DecisionRow.decided_at.desc()).limit(limit)
            ).all()
            return [(event_from_row(e), decision_from_row(d)) for e, d in rows]

    def recent_activity(self, limit: int = 200) -> list[tuple[Event, Decision, str | None]]:
        """The newest decisions with the user's latest answer to each (None: no answer)."""
        with self._session() as session:
            rows = session.execute(
                select(EventRow, DecisionRow)
                .join(DecisionRow, DecisionRow.event_id == EventRow.id)
                .order_by(DecisionRow.decided_at.desc(), EventRow.time.desc())
                .limit(limit)
            ).all()
        answers = self.latest_answers([e.id for e, _ in rows])
        return [(event_from_row(e), decision_from_row(d), answers.get(e.id)) for e, d in rows]

    def latest_answers(self, event_ids: Sequence[str]) -> dict[str, str]:
        """The user's latest answer (an Outcome's value) to each of these events that has one."""
        return self._latest_feedback(FeedbackRow.outcome, event_ids)

    def rejections(self, limit: int = 100) -> list[RejectedInputRow]:
        with self._session() as session:
            return list(
                session.scalars(
                    select(RejectedInputRow).order_by(RejectedInputRow.id.desc()).limit(limit)
                )
            )

    def resolve_event_id(self, prefix: str) -> str:
        """The full id of the one stored event whose id starts with `prefix`."""
        with self._session() as session:
            matches = list(
                session.scalars(
                    select(EventRow.id)
                    .where(EventRow.id.startswith(prefix, autoescape=True))
                    .limit(2)
                )
            )
        if len(matches) != 1:
            found = "no" if not matches else "more than one"
            raise ValueError(f"{found} event id starts with {prefix!r}")
        return matches[0]

    def episodes(self, event_ids: Sequence[str]) -> dict[str, tuple[Event, Decision, list[str]]]:
        """Events with their decisions and feedback outcomes, by id."""
        with self._session() as session:
            rows = session.execute(
                select(EventRow, DecisionRow)
                .join(DecisionRow, DecisionRow.event_id == EventRow.id)
                .where(EventRow.id.in_(list(event_ids)))
            ).all()
            outcomes: dict[str, list[str]] = {}
            for event_id, outcome in session.execute(
                select(FeedbackRow.event_id, FeedbackRow.outcome)
                .where(FeedbackRow.event_id.in_(list(event_ids)))
                .order_by(FeedbackRow.id)
            ):
                outcomes.setdefault(event_id, []).append(outcome)
            return {
                e.id: (event_from_row(e), decision_from_row(d), outcomes.get(e.id, []))
                for e, d in rows
            }
