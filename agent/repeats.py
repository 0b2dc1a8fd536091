"""Offers already made, for two manners: never the same thing twice within a period, and
no more than a daily number of offers.

"The same thing" is judged with the gate's encoder: an offer whose event embeds within
`repeat_similarity` (cosine) of an offered one is a repeat. Without an encoder (the
untrained cue gate) the events' summaries must be equal, ignoring case and spacing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from agent.config import EtiquetteSettings
from core.events import Event


def _key(event: Event) -> str:
    return " ".join(event.summary().casefold().split())


@dataclass
class OfferHistory:
    settings: EtiquetteSettings
    # event id -> (when, summary key, unit vector or None) of offers within the window
    recent: dict[str, tuple[datetime, str, np.ndarray | None]] = field(default_factory=dict)
    # event id -> when, of offers made, by the local day of their event (today's and
    # yesterday's: the daily cap, and the offers within the cooldown)
    per_day: dict[date, dict[str, datetime]] = field(default_factory=dict)

    def repeat_of(self, event: Event, vector: np.ndarray | None) -> datetime | None:
        """When an offer like one on `event` was last made within the window, or None."""
        window = timedelta(seconds=self.settings.repeat_window_s)
        key = _key(event)
        unit = _unit(vector)
        for when, other_key, other in self.recent.values():
            if not timedelta(0) <= event.time - when < window:
                continue
            if key == other_key:
                return when
            comparable = unit is not None and other is not None and other.shape == unit.shape
            if comparable and float(unit @ other) >= self.settings.repeat_similarity:
                return when
        return None

    def over_cap(self, event: Event) -> bool:
        cap = self.settings.max_offers_per_day
        return cap > 0 and len(self.per_day.get(_day(event.time), ())) >= cap

    def last_within(self, now: datetime, seconds: float) -> datetime | None:
        """When the latest offer made in the `seconds` before `now` was, or None; every
        offer counts, not only the newest, since a replay's clock may go back, and a
        withdrawn one is not counted (the user never saw it)."""
        made = [
            when
            for offers in self.per_day.values()
            for when in offers.values()
            if 0 <= (now - when).total_seconds() < seconds
        ]
        return max(made, default=None)

    def made(self, event: Event, vector: np.ndarray | None) -> None:
        """An offer was made (or reserved for the slow path) on `event`; once per event."""
        assert event.id is not None
        self.per_day.setdefault(_day(event.time), {})[event.id] = event.time
        if event.id not in self.recent:
            self.recent[event.id] = (event.time, _key(event), _unit(vector))

    def prune(self, now: datetime) -> None:
        """Drop offers that no longer matter at `now`, an event's time: those past the
        repeat window, and days before yesterday. Pruned as events are seen, not as offers
        are made, so that an offer made and then withdrawn prunes nothing (a restart, which
        never sees it, rebuilds the same history); and by each event's own time, so that
        after a replay goes back, offers made there are still remembered there."""
        horizon = now - timedelta(seconds=self.settings.repeat_window_s)
        if any(when < horizon for when, _, _ in self.recent.values()):
            self.recent = {k: v for k, v in self.recent.items() if v[0] >= horizon}
        for day in [d for d in self.per_day if d < _day(now) - timedelta(days=1)]:
            del self.per_day[day]

    def remembered(self) -> set[str]:
        """Events whose offers are kept for the repeat check (summaries, vectors)."""
        return set(self.recent)

    def forget(self, event_ids: set[str]) -> None:
        """Drop what is kept of these offers' events (forgotten from memory); the daily
        count keeps them: a forget must not buy more offers today."""
        for event_id in event_ids:
            self.recent.pop(event_id, None)

    def unmade(self, event_id: str) -> None:
        """The offer reserved on this event was not made after all."""
        self.recent.pop(event_id, None)
        for offers in self.per_day.values():
            offers.pop(event_id, None)


def _day(moment: datetime) -> date:
    # The user's day: local calendar date of the event.
    return moment.astimezone().date()


def _unit(vector: np.ndarray | None) -> np.ndarray | None:
    if vector is None:
        return None
    norm = float(np.linalg.norm(vector))
    return None if norm == 0.0 else (vector / norm).astype(np.float32)
