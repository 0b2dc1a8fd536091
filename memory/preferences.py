"""The user's standing preferences, kept in memory so every surface can change them live.

Costs and delta override the config file's gate settings; do-not-disturb, muted apps and
quiet hours silence offers outright (the gate still scores, so the record shows what it
would have done).
"""

from __future__ import annotations

from datetime import datetime, time

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    model_validator,
)

from core.events import Event
from gate.policy import GatePolicy


class QuietHours(BaseModel):
    """A daily window in the daemon's local time; it may wrap past midnight."""

    model_config = ConfigDict(extra="forbid")

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours need different start and end times")
        return self

    def contains(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cost_false_alarm: PositiveFloat | None = None
    cost_missed_help: PositiveFloat | None = None
    delta: float | None = Field(None, ge=0.0, lt=0.5)
    do_not_disturb: bool = False
    muted_apps: list[str] = Field(default_factory=list)
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    # Private mode: while paused, festina takes in nothing at all (events are only counted).
    paused: bool = False
    # When the pause ends by itself; None with `paused`: until resumed.
    paused_until: AwareDatetime | None = None

    def paused_at(self, now: datetime) -> bool:
        """Whether festina is paused at `now` (wall-clock time)."""
        return self.paused and (self.paused_until is None or now < self.paused_until)

    def policy(self, base: GatePolicy) -> GatePolicy:
        """`base` with any costs or delta the user set."""
        overrides = {
            name: value
            for name in ("cost_false_alarm", "cost_missed_help", "delta")
            if (value := getattr(self, name)) is not None
        }
        return base.model_copy(update=overrides) if overrides else base

    def silence_reason(self, event: Event, now: datetime) -> str | None:
        """Why an offer on `event` must not be made now, or None."""
        if self.do_not_disturb:
            return "do not disturb is on"
        muted = {app.casefold() for app in self.muted_apps}
        if event.app and event.app.casefold() in muted:
            return f"app {event.app!r} is muted"
        local = now.astimezone().time()
        for window in self.quiet_hours:
            if window.contains(local):
                return f"quiet hours {window}"
        return None
