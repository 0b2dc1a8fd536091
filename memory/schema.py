"""Table definitions (SQLAlchemy 2.x declarative)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# None is stored as SQL NULL, not as the JSON document `null`: otherwise `IS NULL` and
# `IS NOT NULL` in queries would not see a column written with None.
NULLABLE_JSON = JSON(none_as_null=True)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: NULLABLE_JSON,
    }


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    time: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(512), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    app: Mapped[str | None] = mapped_column(String(512))
    title: Mapped[str | None] = mapped_column(String(512))
    url: Mapped[str | None] = mapped_column(String(2048))
    text: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class DecisionRow(Base):
    """The gate's verdict on an event and, for escalations, the slow path's final word."""

    __tablename__ = "decisions"

    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), primary_key=True)
    p_need: Mapped[float] = mapped_column(Float)
    p_accept: Mapped[float] = mapped_column(Float)
    # p_need and p_accept as the model gave them, before the user's learned adjustment.
    p_need_model: Mapped[float | None] = mapped_column(Float)
    p_accept_model: Mapped[float | None] = mapped_column(Float)
    tau: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    gate_action: Mapped[str] = mapped_column(String(16), index=True)
    final_action: Mapped[str | None] = mapped_column(String(16), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(String(128))
    gate_latency_ms: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # The drafted offer of an intervention (speak, task, plan, drafted_by): what the user saw.
    offer: Mapped[dict[str, Any] | None]


class RejectedInputRow(Base):
    """Input that could not become an event, stored whole so nothing is lost."""

    __tablename__ = "rejected_inputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(512))
    position: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunRow(Base):
    """One daemon run over one source, with its counters."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(512))
    pid: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    decided: Mapped[int] = mapped_column(Integer, default=0)
    # Events only counted, never stored: excluded by a privacy rule, or taken while paused.
    excluded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paused: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class FeedbackRow(Base):
    """What the user did with an offer. `applied_at` is set once the learner used it."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    # Why a rejected offer was turned down (memory.feedback.Reason), if the user said.
    reason: Mapped[str | None] = mapped_column(String(16))
    latency_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(index=True)


class PersonalModelRow(Base):
    """The personal model's posterior (`memory.personal`), one row per user of this memory."""

    __tablename__ = "personal_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[dict[str, Any]]
    answers: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonalUpdateRow(Base):
    """One answer the personal model learnt from: its history, for export and review."""

    __tablename__ = "personal_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(16))
    welcome_before: Mapped[float] = mapped_column(Float)
    welcome_after: Mapped[float] = mapped_column(Float)
    learnt_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReflectionRow(Base):
    """A lesson drawn from feedback, for the slow path to consult."""

    __tablename__ = "reflections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    context: Mapped[str] = mapped_column(String(600), index=True)
    event_id: Mapped[str | None] = mapped_column(ForeignKey("events.id"))
    lesson: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EpisodeVectorRow(Base):
    """The encoder's embedding of an event, for recalling similar past episodes."""

    __tablename__ = "episode_vectors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), unique=True)
    encoder: Mapped[str] = mapped_column(String(64), index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    # float16 since migration 0013 (half the bytes; recall ranks the same); older rows
    # keep the float32 they were written with.
    dtype: Mapped[str] = mapped_column(String(8), server_default="float32")


class ProfileRow(Base):
    """The user's preferences as one validated JSON document; `revision` counts changes,
    `forgets` the forgets that deleted events (a running daemon then drops the forgotten
    events it still holds in its windows)."""

    __tablename__ = "user_profile"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    preferences: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(Integer, default=0)
    forgets: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliberationRow(Base):
    """One slow-path run: what was proposed, the counterfactual check, and the node trace."""

    __tablename__ = "deliberations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), unique=True)
    backend: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    proposal: Mapped[dict[str, Any] | None]
    counterfactual: Mapped[dict[str, Any] | None]
    trace: Mapped[list[Any]] = mapped_column(NULLABLE_JSON)
    executions: Mapped[list[Any] | None] = mapped_column(NULLABLE_JSON)
    partial: Mapped[dict[str, Any] | None]
    """The step being run while its output is still arriving ({"step", "tool", "text"}):
    the dashboard runs in another process and reads it from here. None once the plan
    has finished (its `executions` hold the whole output)."""
    progress: Mapped[dict[str, Any] | None]
    """Where an accepted plan stands while it runs or waits for the person's confirmation:
    {"done": [execution records so far], "to_come": [{"step", "tool", "args", "confirm"}]}
    (`confirm`: the step waits for the person's go). None before the plan starts (and in
    rows older than revision 0015) and once it has finished (`executions` then)."""
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConfirmationRow(Base):
    """A side-effecting step of an accepted plan, waiting for (or given) the user's go."""

    __tablename__ = "confirmations"
    __table_args__ = (UniqueConstraint("event_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    tool: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
