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

from core.jsonsafe import json_problem, strict_size, unsafe_char

MAX_TEXT_CHARS = 4000
#: Attributes are free-form but bounded: strict JSON of at most this many bytes and levels.
MAX_ATTRIBUTES_BYTES = 32_768
MAX_ATTRIBUTES_DEPTH = 16
#: Event times outside this range are refused: arithmetic and time-zone conversion near
#: datetime's limits (years 1 and 9999) would overflow further down.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9999, 1, 1, tzinfo=UTC)

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]


class EventKind(StrEnum):
    """What part of the user's context an event describes."""

    WINDOW = "window"
    BROWSER = "browser"
    EDITOR = "editor"
    TERMINAL = "terminal"
    #: A command that ended with a non-zero exit status (the shell hook sends these).
    FAILED_COMMAND = "failed-command"
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
            # math.isfinite would overflow on a huge int; only floats can be NaN or infinite.
            if (isinstance(value, float) and not math.isfinite(value)) or value < 0:
                raise ValueError("time must be a finite, non-negative number of unix seconds")
            try:
                return datetime.fromtimestamp(value, tz=UTC)
            except (OverflowError, OSError, ValueError) as error:
                # Not ValueErrors all: pydantic would let the others escape validation.
                shown = repr(value) if isinstance(value, float) or value < 10**20 else "> 1e20"
                raise ValueError(f"time {shown} is out of range") from error
        return value

    @field_validator("source", "app", "title", "url", "text", mode="before")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        # Before pydantic's own check, so the reason says what is wrong with the text.
        if isinstance(value, str) and (why := unsafe_char(value)):
            raise ValueError(f"text {why}")
        return value

    @field_validator("attributes", mode="before")
    @classmethod
    def _strict_json(cls, value: Any) -> Any:
        # Python's JSON reader takes NaN and Infinity, which no strict reader (nor the
        # export) accepts; unbounded attributes would let one event crowd out the rest.
        if not isinstance(value, dict):
            return value
        if why := json_problem(value, MAX_ATTRIBUTES_DEPTH):
            raise ValueError(why)
        if (size := strict_size(value)) > MAX_ATTRIBUTES_BYTES:
            raise ValueError(f"{size} bytes; at most {MAX_ATTRIBUTES_BYTES} as JSON")
        return value

    @field_validator("time")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        in_range = f"time must be from {EARLIEST_TIME:%Y-%m-%d} up to {LATEST_TIME:%Y-%m-%d} UTC"
        try:
            utc = value.astimezone(UTC)
        except OverflowError as error:  # e.g. 9999-12-31T23:59:59-01:00
            raise ValueError(in_range) from error
        if not EARLIEST_TIME <= utc < LATEST_TIME:
            raise ValueError(in_range)
        return utc

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
        return summary_of(self.app, self.title, self.text, self.url)


def summary_of(app: str | None, title: str | None, text: str | None, url: str | None) -> str:
    """`Event.summary` from the fields it reads: memory makes thousands at a start
    (the encoder's cache), where validating whole events took most of the time."""
    parts = [p for p in (app, title, text or url) if p]
    return " | ".join(parts)


def describe_validation_error(error: ValidationError, subject: str = "event") -> str:
    """Turn pydantic's error list into one short, readable reason."""
    reasons = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or subject
        reasons.append(f"{where}: {item['msg']}")
    return "; ".join(reasons)
