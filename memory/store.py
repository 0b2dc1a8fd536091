"""The runtime's persistent memory, behind one class that owns the database engine.

All methods are synchronous and short, and each opens its own session, so any thread may
call them. The pipeline makes its own calls from a single worker thread; the slow path's
deliberations and accepted plans write from threads of their own, a few rows each, which
SQLite serialises (WAL, with a busy timeout) while readers (the dashboard) go on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from core.decision import SLOW_PATH_FALLBACK
from memory.learning import AppliedFeedback
from memory.migrate import upgrade
from memory.schema import DecisionRow, EventRow, RejectedInputRow, RunRow, utcnow
from memory.stores.base import StoreBase, make_engine
from memory.stores.events import EventMemory
from memory.stores.feedback import FeedbackMemory
from memory.stores.plans import PlanMemory
from memory.stores.preferences import PreferenceMemory
from memory.stores.reflections import ReflectionMemory
from memory.stores.retention import RetentionMemory
from memory.stores.vectors import VectorMemory

__all__ = ["AppliedFeedback", "RunCounts", "Store", "make_engine"]


@dataclass
class RunCounts:
    """What memory keeps with a run: how many events it took in, and what became of them."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    decided: int = 0
    # Events only counted, never stored: left out by a privacy rule, or taken while paused.
    excluded: int = 0
    paused: int = 0


class Store(
    EventMemory,
    RetentionMemory,
    FeedbackMemory,
    PreferenceMemory,
    PlanMemory,
    VectorMemory,
    ReflectionMemory,
    StoreBase,
):
    """Events, decisions, rejected inputs and runs in one SQLAlchemy database.

    Each part of memory lives in its own class (`memory.stores`); this one owns the
    engine they share and the runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

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
