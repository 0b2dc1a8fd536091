"""What every part of memory shares: the engine, sessions and row conversions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from core.decision import Decision
from core.events import Event
from memory.schema import DecisionRow, EventRow, FeedbackRow

_ID_QUERY_CHUNK = 500


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


def event_values(item: Event, run_id: int | None) -> dict[str, Any]:
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


def event_from_row(row: EventRow) -> Event:
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


def decision_from_row(row: DecisionRow) -> Decision:
    return Decision.model_validate({name: getattr(row, name) for name in Decision.model_fields})


class StoreBase:
    """Sessions on one engine, for the parts of memory to share (see `memory.store`)."""

    _sessions: sessionmaker[Session]

    def _session(self) -> Session:
        return self._sessions()

    def _latest_feedback(self, column: Any, event_ids: Sequence[str]) -> dict[str, Any]:
        """`column` of the latest answer to each of these events that has one."""
        latest: dict[str, Any] = {}
        with self._session() as session:
            for event_id, value in session.execute(
                select(FeedbackRow.event_id, column)
                .where(FeedbackRow.event_id.in_(list(event_ids)))
                .order_by(FeedbackRow.id)
            ):
                latest[event_id] = value  # later answers replace earlier ones
        return latest

    def _event_rows(self, event_ids: Iterable[str], column: Any) -> list[Any]:
        # In chunks: a database caps the parameters of one statement.
        wanted = list(event_ids)
        found: list[Any] = []
        with self._session() as session:
            for start in range(0, len(wanted), _ID_QUERY_CHUNK):
                chunk = wanted[start : start + _ID_QUERY_CHUNK]
                found.extend(session.scalars(select(column).where(EventRow.id.in_(chunk))))
        return found
