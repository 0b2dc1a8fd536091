"""Manners on top of the gate: not too often, not while away, one question at a time,
not during a call, never the same thing twice in a while, not past a daily cap.

The gate says whether an offer is worth making; etiquette says whether now is the time.
All clocks here are event time, so a replay behaves as the live day did. The state is
rebuilt from memory on start (`restore`), so a restart does not reset the cooldown or
forget an offer still waiting for its answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from agent.config import EtiquetteSettings
from agent.interruptions import InterruptionDetector
from agent.repeats import OfferHistory
from core.events import Event, EventKind
from memory.feedback import context_of


@dataclass
class Etiquette:
    """Tracks offers and presence; `hold_reason` says why an offer must wait."""

    settings: EtiquetteSettings
    away_since: datetime | None = None
    # After a "not now": every offer waits until then.
    held_until: datetime | None = None
    # context -> (event id, when) of the offer still waiting for an answer there
    pending: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    busy: InterruptionDetector = field(init=False)
    history: OfferHistory = field(init=False)

    def __post_init__(self) -> None:
        self.busy = InterruptionDetector(self.settings)
        self.history = OfferHistory(self.settings)

    def observe(self, event: Event) -> None:
        """Follow presence from AFK events (ActivityWatch's afk watcher, or any source),
        and let go of what has expired by `event`'s time."""
        self.history.prune(event.time)
        # An offer unanswered for the pending timeout no longer holds its context; dropped
        # here, at each event, so that a restart (which observes the same events) keeps
        # exactly what the running etiquette keeps.
        timeout = timedelta(seconds=self.settings.pending_timeout_s)
        for context in [
            c for c, (_, since) in self.pending.items() if event.time - since >= timeout
        ]:
            del self.pending[context]
        self.busy.observe(event)
        if event.kind is not EventKind.AFK:
            return
        status = event.attributes.get("status")
        if status == "afk":
            self.away_since = self.away_since or event.time
        elif status == "not-afk":
            self.away_since = None

    def hold_reason(self, event: Event, vector: np.ndarray | None = None) -> str | None:
        """Why an offer on `event` (embedded as `vector`, when the gate embeds) must not be
        made now, or None."""
        now = event.time
        if self.settings.afk_suppression and self.away_since is not None:
            return f"user away since {self.away_since:%H:%M:%S}"
        if self.held_until is not None and now < self.held_until:
            return f"the user said 'not now'; offers wait until {self.held_until:%H:%M:%S}"
        if busy := self.busy.busy_reason(now):
            return f"not during {busy}"
        pending = self.pending.get(context_of(event))
        if pending is not None:
            event_id, since = pending
            if now - since < timedelta(seconds=self.settings.pending_timeout_s):
                return f"offer {event_id[:12]} in this context still awaits an answer"
        if (last := self.history.last_within(now, self.settings.cooldown_s)) is not None:
            return f"cooldown: last offer {(now - last).total_seconds():.0f}s ago"
        if (like := self.history.repeat_of(event, vector)) is not None:
            return f"a like offer was made at {like:%H:%M:%S}, within the repeat window"
        if self.history.over_cap(event):
            return f"daily cap: {self.settings.max_offers_per_day} offers made today"
        return None

    def reserve(self, event: Event) -> None:
        """`event` went to the slow path, which may make an offer: hold its context."""
        assert event.id is not None
        self.pending[context_of(event)] = (event.id, event.time)

    def offered(self, event: Event, vector: np.ndarray | None = None) -> None:
        """An offer was made on `event` (or reserved for the slow path to make)."""
        self.reserve(event)
        self.history.made(event, vector)

    def withdrawn(self, event: Event) -> None:
        """The slow path decided against the offer its context was held for: its cap
        slot, repeat entry and cooldown are given back."""
        if event.id:
            self.history.unmade(event.id)
            self.answered([event.id])

    def not_now(self, offered_at: datetime, answered_at: datetime) -> None:
        """The user answered an offer "not now": hold every offer for a while, from the
        answer (`answered_at`: the stream's clock, answers carry no event time of their
        own) or the offer, whichever is later."""
        start = max(offered_at, answered_at)
        until = start + timedelta(seconds=self.settings.not_now_s)
        if self.held_until is None or until > self.held_until:
            self.held_until = until

    def restore(
        self,
        history: Iterable[tuple[Event, bool, bool, datetime | None]],
        vectors: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Rebuild the state after a restart from what memory holds, oldest first:
        (event, an offer was made on it, the user answered it, the stream's clock when
        they answered "not now" or None), with the offered events' embeddings where
        memory has them."""
        vectors = vectors or {}
        for event, offered, answered, not_now_at in history:
            self.observe(event)
            if offered:
                self.offered(event, vectors.get(event.id or ""))
                if answered and event.id:
                    self.answered([event.id])
                if not_now_at is not None:
                    self.not_now(event.time, not_now_at)

    def remembered(self) -> set[str]:
        """Events this etiquette keeps something of: offers awaiting an answer and recent
        offers for the repeat check."""
        return self.history.remembered() | {event_id for event_id, _ in self.pending.values()}

    def forget(self, event_ids: set[str]) -> None:
        """These events were forgotten from memory: drop what is kept of them and free
        their contexts (a forgotten offer can no longer be answered)."""
        self.history.forget(event_ids)
        self.answered(event_ids)

    def answered(self, event_ids: Iterable[str]) -> None:
        """The user answered these offers; their contexts are free again."""
        done = set(event_ids)
        self.pending = {
            context: offer for context, offer in self.pending.items() if offer[0] not in done
        }
