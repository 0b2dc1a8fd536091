"""The context event: the one record every source produces and every stage consumes."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

MAX_TEXT_CHARS = 4000

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]


class EventKind(StrEnum):
    """What part of the user's context an event describes."""

    WINDOW = "window"
    BROWSER = "browser"
    EDITOR = "editor"
    TERMINAL = "terminal"
    NOTIFICATION = "notification"
    CALENDAR = "calendar"
    DEVICE = "device"
    TEXT = "text"
    AFK = "afk"
    OTHER = "other"


class Event(BaseModel):
    """One observation of the user's screen or device context.

    `id` is stable: when a source does not supply one it is derived from the content,
    so replaying the same stream twice yields the same ids and duplicates are detected.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")] | None = None
    time: AwareDatetime
    source: ShortText
    kind: EventKind
    app: ShortText | None = None
    title: ShortText | None = None
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)] = ""
    attributes: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("time", mode="before")
    @classmethod
    def _parse_time(cls, value: Any) -> Any:
        # Unix seconds (as number or numeric string) are what most recorders emit.
        if isinstance(value, bool):
            raise ValueError("time must be unix seconds or an ISO-8601 timestamp, not a boolean")
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return value
        if isinstance(value, int | float):
            if not math.isfinite(value) or value < 0:
                raise ValueError("time must be a finite, non-negative number of unix seconds")
            try:
                return datetime.fromtimestamp(value, tz=UTC)
            except (OverflowError, OSError, ValueError) as error:
                # Not ValueErrors all: pydantic would let the others escape validation.
                raise ValueError(f"time {value!r} is out of range") from error
        return value

    @field_validator("source", "app", "title", "url", "text")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL cannot store NUL in text; refusing it here keeps both backends equal.
        if value is not None and "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        return value

    @field_validator("time")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _require_content_and_id(self) -> Event:
        if not (self.text or self.title or self.url):
            raise ValueError("an event needs at least one of text, title or url")
        if self.id is None:
            self.id = self.content_hash()
        return self

    def content_hash(self) -> str:
        """A digest of everything but the id: equal content gives an equal id."""
        payload = self.model_dump(mode="json", exclude={"id"})
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    @property
    def timestamp(self) -> float:
        """Unix seconds, for arithmetic on time gaps."""
        return self.time.timestamp()

    def summary(self) -> str:
        """A one-line human description, used in logs and as model input."""
        parts = [p for p in (self.app, self.title, self.text or self.url) if p]
        return " | ".join(parts)


def describe_validation_error(error: ValidationError, subject: str = "event") -> str:
    """Turn pydantic's error list into one short, readable reason."""
    reasons = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or subject
        reasons.append(f"{where}: {item['msg']}")
    return "; ".join(reasons)
