"""Asking now and then where festina has long been silent, so that it can learn.

The person's model learns only from answers, and answers come only to offers made: a
gate that is silent for someone (their costs make offering rarely pay, or the population
model underrates how often they need help) hears nothing, so it never learns that it
should speak. After `after_minutes` of stream time with no offer made, the next moment
the rule leaves silent but whose p_need is at least the population's base rate is
offered anyway, saying why. Each exploratory offer doubles the wait before the next (up
to `max_backoff` times), so a person who turns them down or never answers hears one
every few hours at most; an accepted one resets it. Preferences and etiquette still
apply: exploring never speaks over a pause, a call or an away user.

Each exploratory offer costs, in expectation, what offering at the base rate costs
against silence (at C_FN/C_FA 1 and a base rate of 0.43, 0.14 of a false alarm), once an
hour at most: cheap against staying silent for good for a person who wants help.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from agent.config import ExplorationSettings
from memory.feedback import Outcome

# Exploratory offers remembered for their answers: the newest only, since one the slow
# path kept silent, or one never answered, is never answered and would stay for good.
REMEMBERED = 64


class Exploration:
    """When to explore: the time of the newest offer, and how many times the wait
    exploratory offers have doubled."""

    def __init__(self, settings: ExplorationSettings) -> None:
        self.settings = settings
        self.backoff = 1
        self.last_offer: datetime | None = None
        """The stream time of the newest offer made (or, before any, of the first event)."""
        self._explored: dict[str, None] = {}  # insertion-ordered: the oldest first

    @property
    def wait(self) -> timedelta:
        return timedelta(minutes=self.settings.after_minutes * self.backoff)

    def due(self, when: datetime, p_need: float, base_rate: float) -> bool:
        """Whether an event at `when` the rule leaves silent should be offered anyway."""
        if self.last_offer is None:
            self.last_offer = when  # the clock starts with the stream
            return False
        return when - self.last_offer >= self.wait and p_need >= base_rate

    def reason(self, when: datetime) -> str:
        assert self.last_offer is not None
        minutes = (when - self.last_offer).total_seconds() / 60.0
        return (
            f"exploring: no offer for {minutes:.0f} min; an answer tells festina whether "
            "you want more of them"
        )

    def explored(self, event_id: str) -> None:
        """`event_id` is to be offered because of exploring (not yet made: drafting may
        still keep it silent)."""
        self._explored[event_id] = None
        if len(self._explored) > REMEMBERED:
            del self._explored[next(iter(self._explored))]

    def offered(self, event_id: str, when: datetime) -> None:
        """An offer was made on `event_id` at `when`; an exploratory one doubles the wait."""
        if self.last_offer is None or when > self.last_offer:
            self.last_offer = when
        if event_id in self._explored:
            self.backoff = min(2 * self.backoff, self.settings.max_backoff)

    def answered(self, answers: Iterable[tuple[str, Outcome]]) -> None:
        """Answers to offers: an exploratory offer accepted resets the wait."""
        for event_id, outcome in answers:
            if event_id in self._explored:
                del self._explored[event_id]
                if outcome is Outcome.ACCEPTED:
                    self.backoff = 1

    def remembered(self) -> set[str]:
        """The exploratory offers kept for their answers."""
        return set(self._explored)

    def forget(self, event_ids: set[str]) -> None:
        for event_id in event_ids & self._explored.keys():
            del self._explored[event_id]
