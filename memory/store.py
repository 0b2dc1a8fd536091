"""The runtime's persistent memory, behind one class that owns the database engine.

All methods are synchronous and short; the pipeline calls them from a single worker
thread so SQLite sees one writer at a time while readers (the dashboard) use WAL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    Engine,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from core.decision import SLOW_PATH_FALLBACK, Action, Decision
from core.events import Event
from core.offer import Offer
from core.outcome import StepOutcome, outcomes_of
from core.sources import Rejection
from memory.by_hand import DONE_WITHIN_S, done_by_hand
from memory.feedback import (
    DECLINED,
    GIVEN,
    AlreadyAnswered,
    Outcome,
    Reason,
    context_of,
    lesson_for,
)
from memory.migrate import upgrade
from memory.personal import PersonalModel
from memory.preferences import Preferences
from memory.schema import (
    ConfirmationRow,
    DecisionRow,
    DeliberationRow,
    EpisodeVectorRow,
    EventRow,
    FeedbackRow,
    PersonalModelRow,
    PersonalUpdateRow,
    ProfileRow,
    ReflectionRow,
    RejectedInputRow,
    RunRow,
    utcnow,
)

_ID_QUERY_CHUNK = 500


@dataclass(frozen=True)
class AppliedFeedback:
    """An answer the learner has just taken in: on which offer, its time, and why."""

    event_id: str
    event_time: datetime
    reason: Reason | None


@dataclass(frozen=True)
class RunCounts:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    decided: int = 0
    excluded: int = 0
    paused: int = 0


def _enable_sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while the daemon writes; the timeout rides out checkpoints.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _enable_sqlite_wal)
    return engine


def _event_values(item: Event, run_id: int | None) -> dict[str, Any]:
    """An event as the column values of its row, for bulk inserts."""
    return {
        "id": item.id,
        "time": item.time,
        "source": item.source,
        "kind": item.kind.value,
        "app": item.app,
        "title": item.title,
        "url": item.url,
        "text": item.text,
        "attributes": item.attributes,
        "run_id": run_id,
    }


def _event_from_row(row: EventRow) -> Event:
    return Event.model_validate(
        {
            "id": row.id,
            "time": row.time,
            "source": row.source,
            "kind": row.kind,
            "app": row.app,
            "title": row.title,
            "url": row.url,
            "text": row.text,
            "attributes": row.attributes,
        }
    )


def _decision_from_row(row: DecisionRow) -> Decision:
    return Decision.model_validate({name: getattr(row, name) for name in Decision.model_fields})


class Store:
    """Events, decisions, rejected inputs and runs in one SQLAlchemy database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def _session(self) -> Session:
        return self._sessions()

    def start_run(self, source: str, pid: int) -> int:
        with self._session() as session, session.begin():
            run = RunRow(source=source, pid=pid, status="running")
            session.add(run)
            session.flush()
            return run.id

    def finish_run(self, run_id: int, counts: RunCounts, status: str) -> None:
        with self._session() as session, session.begin():
            session.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(status=status, ended_at=utcnow(), **counts.__dict__)
            )

    def end_dead_runs(self, alive_pid: int | None) -> int:
        """Mark runs still "running" whose process is gone (killed, crashed) as "crashed",
        ended at their last stored event (or their start); returns how many. `alive_pid`
        is the daemon holding the pid lock now, whose run is alive."""
        with self._session() as session, session.begin():
            dead = session.scalars(
                select(RunRow).where(RunRow.status == "running", RunRow.pid != (alive_pid or -1))
            ).all()
            for run in dead:
                last = session.scalar(
                    select(func.max(EventRow.received_at)).where(EventRow.run_id == run.id)
                )
                run.status = "crashed"
                run.ended_at = last or run.started_at
                run.decided = (
                    session.scalar(
                        select(func.count())
                        .select_from(DecisionRow)
                        .join(EventRow, EventRow.id == DecisionRow.event_id)
                        .where(EventRow.run_id == run.id)
                    )
                    or 0
                )
            return len(dead)

    def existing_events(self, event_ids: Iterable[str]) -> set[str]:
        """Which of these events memory holds."""
        return set(self._event_rows(event_ids, EventRow.id))

    def stored_digests(self, event_ids: Iterable[str]) -> dict[str, str]:
        """The content digest (`Event.content_hash`) of each of these events memory holds:
        an id sent again names the same event only if its content has the same digest."""
        rows = self._event_rows(event_ids, EventRow)
        return {row.id: _event_from_row(row).content_hash() for row in rows}

    def _event_rows(self, event_ids: Iterable[str], column: Any) -> list[Any]:
        # In chunks: a database caps the parameters of one statement.
        wanted = list(event_ids)
        found: list[Any] = []
        with self._session() as session:
            for start in range(0, len(wanted), _ID_QUERY_CHUNK):
                chunk = wanted[start : start + _ID_QUERY_CHUNK]
                found.extend(session.scalars(select(column).where(EventRow.id.in_(chunk))))
        return found

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
            session.execute(insert(EventRow), [_event_values(item, run_id) for item in events])

    def add_decisions(
        self,
        pairs: Sequence[tuple[Event, Decision]],
        vectors: tuple[str, np.ndarray] | None = None,
    ) -> set[str]:
        """Store decisions on stored events (and, given `(encoder_id, matrix)`, their
        embeddings) atomically; returns the ids of events forgotten since they were
        stored, whose decisions are dropped with them."""
        with self._session() as session, session.begin():
            return self._add_decisions(session, pairs, vectors)

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
                    {
                        "event_id": pairs[i][0].id,
                        "encoder": encoder,
                        "vector": matrix[i].astype(np.float32).tobytes(),
                    }
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
            values = [_event_values(item, run_id) for item, _ in pairs]
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
        return [_event_from_row(rows[i]) for i in event_ids if i in rows]

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
            return [(_event_from_row(e), _decision_from_row(d)) for e, d in rows]

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
            return [(_event_from_row(e), _decision_from_row(d)) for e, d in rows]

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
        return [(_event_from_row(e), _decision_from_row(d), answers.get(e.id)) for e, d in rows]

    def latest_answers(self, event_ids: Sequence[str]) -> dict[str, str]:
        """The user's latest answer (an Outcome's value) to each of these events that has one."""
        answers: dict[str, str] = {}
        with self._session() as session:
            for event_id, outcome in session.execute(
                select(FeedbackRow.event_id, FeedbackRow.outcome)
                .where(FeedbackRow.event_id.in_(list(event_ids)))
                .order_by(FeedbackRow.id)
            ):
                answers[event_id] = outcome  # later answers replace earlier ones
        return answers

    def rejections(self, limit: int = 100) -> list[RejectedInputRow]:
        with self._session() as session:
            return list(
                session.scalars(
                    select(RejectedInputRow).order_by(RejectedInputRow.id.desc()).limit(limit)
                )
            )

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
                self._profile(session).forgets += 1
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
                    "event": _event_from_row(event_row).model_dump(mode="json"),
                    "decision": None
                    if decision_row is None
                    else _decision_from_row(decision_row).model_dump(mode="json"),
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
                offered_on = _event_from_row(event_row)
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

    @staticmethod
    def _profile(session: Session) -> ProfileRow:
        """The profile row, locked for the update to come; a new one (default preferences)
        before the first."""
        row = session.get(ProfileRow, 1, with_for_update=True)
        if row is None:
            row = ProfileRow(
                id=1, preferences=Preferences().model_dump(mode="json"), revision=0, forgets=0
            )
            session.add(row)
        return row

    @staticmethod
    def _set_preferences(row: ProfileRow, preferences: Preferences) -> None:
        row.preferences = preferences.model_dump(mode="json")
        row.revision += 1
        row.updated_at = utcnow()

    def _mute(self, session: Session, app: str) -> None:
        row = self._profile(session)
        preferences = Preferences.model_validate(row.preferences)
        if app.casefold() not in {muted.casefold() for muted in preferences.muted_apps}:
            preferences.muted_apps.append(app)
        self._set_preferences(row, preferences)

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

    @staticmethod
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
        return [_event_from_row(row) for row in reversed(earlier)] + [_event_from_row(event_row)]

    def apply_feedback(
        self, personal: PersonalModel, now: datetime, window: int
    ) -> list[AppliedFeedback]:
        """Feed not-yet-applied answers to the personal model in arrival order, at the
        stream's clock `now`, and persist the model, its update history, the lessons and
        the applied marks in one transaction. Answers beyond the model's hourly budget
        stay unapplied for a later call. Returns what was answered (the etiquette frees
        contexts and holds after "not now")."""
        with self._session() as session, session.begin():
            rows = session.execute(
                select(FeedbackRow, EventRow, DecisionRow)
                .join(EventRow, EventRow.id == FeedbackRow.event_id)
                .join(DecisionRow, DecisionRow.event_id == FeedbackRow.event_id)
                .where(FeedbackRow.applied_at.is_(None))
                .order_by(FeedbackRow.id)
            ).all()
            applied: list[AppliedFeedback] = []
            for feedback, event_row, decision in rows:
                event = _event_from_row(event_row)
                outcome = Outcome(feedback.outcome)
                reason = None if feedback.reason is None else Reason(feedback.reason)
                seen = self._window_of(session, event_row, window)
                # The population's chance of a welcome offer, before any personal shift.
                p_need = decision.p_need if decision.p_need_model is None else decision.p_need_model
                p_accept = (
                    decision.p_accept
                    if decision.p_accept_model is None
                    else decision.p_accept_model
                )
                before = personal.welcome(seen, p_need * p_accept)
                if not personal.learn(seen, p_need * p_accept, outcome, now, reason):
                    break  # this hour's budget is spent: the rest waits, in order
                session.add(
                    PersonalUpdateRow(
                        event_id=event.id,
                        outcome=outcome.value,
                        reason=feedback.reason,
                        welcome_before=before,
                        welcome_after=personal.welcome(seen, p_need * p_accept),
                    )
                )
                if lesson := lesson_for(event, outcome, reason):
                    session.add(
                        ReflectionRow(context=context_of(event), event_id=event.id, lesson=lesson)
                    )
                feedback.applied_at = utcnow()
                applied.append(AppliedFeedback(event.id, event.time, reason))
            if applied:
                row = session.get(PersonalModelRow, 1) or PersonalModelRow(id=1)
                row.state = personal.to_state()
                row.answers = personal.answers
                row.updated_at = utcnow()
                session.add(row)
            return applied

    def feedback_reasons(self, event_ids: Sequence[str]) -> dict[str, Reason]:
        """The latest reason given for each of these offers, where one was."""
        reasons: dict[str, Reason] = {}
        with self._session() as session:
            for event_id, reason in session.execute(
                select(FeedbackRow.event_id, FeedbackRow.reason)
                .where(FeedbackRow.event_id.in_(list(event_ids)))
                .order_by(FeedbackRow.id)
            ):
                if reason is None:
                    reasons.pop(event_id, None)
                else:
                    reasons[event_id] = Reason(reason)
        return reasons

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
        with self._session() as session, session.begin():
            session.execute(
                update(DeliberationRow)
                .where(DeliberationRow.event_id == event_id)
                .values(executions=executions)
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

    def episode_vectors(
        self, encoder: str, after_id: int = 0
    ) -> tuple[list[int], list[str], list[datetime], np.ndarray]:
        """Vectors stored by `encoder` with row id > `after_id`: (row ids, event ids,
        received times, matrix), for the recall index to load incrementally."""
        with self._session() as session:
            rows = session.execute(
                select(
                    EpisodeVectorRow.id,
                    EpisodeVectorRow.event_id,
                    EventRow.received_at,
                    EpisodeVectorRow.vector,
                )
                .join(EventRow, EventRow.id == EpisodeVectorRow.event_id)
                .where(EpisodeVectorRow.encoder == encoder, EpisodeVectorRow.id > after_id)
                .order_by(EpisodeVectorRow.id)
            ).all()
        if not rows:
            return [], [], [], np.zeros((0, 0), dtype=np.float32)
        matrix = np.stack([np.frombuffer(r.vector, dtype=np.float32) for r in rows])
        return (
            [r.id for r in rows],
            [r.event_id for r in rows],
            [r.received_at for r in rows],
            matrix,
        )

    def event_vectors(self, event_ids: Sequence[str], encoder: str) -> dict[str, np.ndarray]:
        """The vectors `encoder` stored for these events, by event id."""
        with self._session() as session:
            rows = session.execute(
                select(EpisodeVectorRow.event_id, EpisodeVectorRow.vector).where(
                    EpisodeVectorRow.encoder == encoder,
                    EpisodeVectorRow.event_id.in_(list(event_ids)),
                )
            ).all()
        return {event_id: np.frombuffer(vector, dtype=np.float32) for event_id, vector in rows}

    def recent_embeddings(self, encoder: str, limit: int) -> tuple[list[str], np.ndarray]:
        """The event summaries and vectors `encoder` stored last (at most `limit`, oldest
        first): what a restarted gate would otherwise embed again."""
        with self._session() as session:
            rows = session.execute(
                select(EventRow, EpisodeVectorRow.vector)
                .join(EpisodeVectorRow, EpisodeVectorRow.event_id == EventRow.id)
                .where(EpisodeVectorRow.encoder == encoder)
                .order_by(EpisodeVectorRow.id.desc())
                .limit(limit)
            ).all()
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        rows.reverse()
        summaries = [_event_from_row(event).summary() for event, _ in rows]
        return summaries, np.stack([np.frombuffer(vector, dtype=np.float32) for _, vector in rows])

    def vector_count(self, encoder: str) -> int:
        with self._session() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(EpisodeVectorRow)
                    .where(EpisodeVectorRow.encoder == encoder)
                )
                or 0
            )

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
                e.id: (_event_from_row(e), _decision_from_row(d), outcomes.get(e.id, []))
                for e, d in rows
            }

    def profile_marks(self) -> tuple[int, int]:
        """(preferences revision, forgets so far): what a running daemon watches for
        changes made by other surfaces."""
        with self._session() as session:
            row = session.execute(
                select(ProfileRow.revision, ProfileRow.forgets).where(ProfileRow.id == 1)
            ).first()
            return (row.revision, row.forgets) if row is not None else (0, 0)

    def preferences(self) -> tuple[int, Preferences]:
        """The user's preferences and their revision (0: never set)."""
        with self._session() as session:
            row = session.get(ProfileRow, 1)
            if row is None:
                return 0, Preferences()
            return row.revision, Preferences.model_validate(row.preferences)

    def save_preferences(self, preferences: Preferences) -> int:
        """Replace the preferences; returns the new revision the daemon will notice."""
        with self._session() as session, session.begin():
            row = self._profile(session)
            self._set_preferences(row, preferences)
            session.flush()
            return row.revision

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
            if proposal and context_of(_event_from_row(event_row)) == context
        ]
        return list(dict.fromkeys(tasks))[:limit]

    def reflections(self, context: str | None = None, limit: int = 20) -> list[ReflectionRow]:
        """The newest lessons, optionally for one context."""
        with self._session() as session:
            query = select(ReflectionRow).order_by(ReflectionRow.id.desc()).limit(limit)
            if context is not None:
                query = query.where(ReflectionRow.context == context)
            return list(session.scalars(query))

    def last_run(self) -> RunRow | None:
        with self._session() as session:
            return session.scalars(select(RunRow).order_by(RunRow.id.desc()).limit(1)).first()

    def totals(self) -> dict[str, int]:
        """Row counts and the split of final actions, for status displays."""
        with self._session() as session:
            totals = {
                "events": session.scalar(select(func.count()).select_from(EventRow)) or 0,
                "rejected_inputs": session.scalar(
                    select(func.count()).select_from(RejectedInputRow)
                )
                or 0,
            }
            for action, count in session.execute(
                select(DecisionRow.final_action, func.count()).group_by(DecisionRow.final_action)
            ):
                totals[f"final_{action or 'pending'}"] = count
            totals["slow_path_failures"] = (
                session.scalar(
                    select(func.count())
                    .select_from(DecisionRow)
                    .where(DecisionRow.decided_by == SLOW_PATH_FALLBACK)
                )
                or 0
            )
            return totals
