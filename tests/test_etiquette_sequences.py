"""Etiquette over generated days: events in several contexts, offers, escalations the
slow path withdraws, answers, "not now", restarts, and a clock that jumps forwards and
backwards (a replay of older data). What must hold whatever the sequence:

- no offer while its context holds an unanswered offer younger than the pending timeout
  (an offer lets go of its context at the first event past that timeout, and an older
  event arriving after that one finds it free), and none within the cooldown after one
  that was shown;
- a withdrawn escalation gives back its daily-cap slot and its repeat entry, and does not
  count for the cooldown (the user never saw it);
- after a restart, etiquette rebuilt from what memory holds (`restore`, in the order the
  decisions were made) is the etiquette that was running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.config import EtiquetteSettings
from agent.etiquette import Etiquette
from core.events import Event
from memory.feedback import context_of

SETTINGS = EtiquetteSettings(
    cooldown_s=60,
    pending_timeout_s=600,
    not_now_s=1800,
    repeat_window_s=3600,
    max_offers_per_day=4,
    busy_hold_s=300,
)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PLACES = [("browser", "Firefox"), ("editor", "Code"), ("terminal", "xterm"), ("window", "zoom")]
TEXTS = ["searches for 'ruby capitalize'", "reads the docs", "runs pytest", "writes a note"]


@dataclass
class Entry:
    """What memory holds of one decision, as `Pipeline.start` reads it back."""

    event: Event
    offered: bool = False
    answered: bool = False
    not_now_at: datetime | None = None
    withdrawn: bool = False


def snapshot(etiquette: Etiquette) -> dict:
    history = etiquette.history
    return {
        "away_since": etiquette.away_since,
        "held_until": etiquette.held_until,
        "pending": dict(etiquette.pending),
        "recent": {k: (when, key) for k, (when, key, _) in history.recent.items()},
        "per_day": {day: dict(offers) for day, offers in history.per_day.items() if offers},
        "busy": (etiquette.busy.seen_at, etiquette.busy.what),
    }


class EtiquetteDay(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.etiquette = Etiquette(SETTINGS)
        self.now = START
        self.log: list[Entry] = []
        self.count = 0

    def _event(self, place: int, text: int, afk: str | None) -> Event:
        self.count += 1
        kind, app = ("afk", None) if afk else PLACES[place]
        record = {
            "time": self.now.timestamp(),
            "source": "s",
            "kind": kind,
            "app": app,
            "title": app or afk,
            "text": "" if afk else f"The user {TEXTS[text]} ({self.count % 3})",
            "attributes": {"status": afk} if afk else {},
        }
        event = Event.model_validate(record)
        return event.model_copy(update={"id": f"e{self.count}"})

    def _counted(self) -> list[Entry]:
        """Offers made or reserved for the slow path, and not withdrawn, in order."""
        return [e for e in self.log if e.offered and not e.withdrawn]

    def _let_go(self, offer: Entry) -> bool:
        """An event since `offer` came at or past its pending timeout."""
        since = self.log[self.log.index(offer) + 1 :]
        timeout = timedelta(seconds=SETTINGS.pending_timeout_s)
        return any(e.event.time - offer.event.time >= timeout for e in since)

    def _remembered(self, offer: Entry) -> bool:
        """Each event forgets offers from days before its yesterday (local days)."""
        made = offer.event.time.astimezone().date()
        since = self.log[self.log.index(offer) + 1 :]
        return all(made >= e.event.time.astimezone().date() - timedelta(days=1) for e in since)

    @rule(step=st.integers(-900, 5000))
    def clock_moves(self, step: int) -> None:
        self.now += timedelta(seconds=step)

    @rule(
        place=st.integers(0, len(PLACES) - 1),
        text=st.integers(0, len(TEXTS) - 1),
        afk=st.sampled_from([None, None, None, "afk", "not-afk"]),
        offer=st.booleans(),
    )
    def an_event(self, place: int, text: int, afk: str | None, offer: bool) -> None:
        event = self._event(place, text, afk)
        self.etiquette.observe(event)
        entry = Entry(event)
        self.log.append(entry)
        if afk or self.etiquette.hold_reason(event) is not None:
            return
        context = context_of(event)
        in_context = [e for e in self._counted() if context_of(e.event) == context]
        if in_context and not in_context[-1].answered and not self._let_go(in_context[-1]):
            waited = (event.time - in_context[-1].event.time).total_seconds()
            assert not 0 <= waited < SETTINGS.pending_timeout_s, "an offer in a held context"
        for shown in self._counted():
            gap = (event.time - shown.event.time).total_seconds()
            assert not (self._remembered(shown) and 0 <= gap < SETTINGS.cooldown_s), "cooldown"
        if offer:
            self.etiquette.offered(event)
            entry.offered = True

    def _open(self) -> list[Entry]:
        return [e for e in self._counted() if not e.answered]

    @precondition(lambda self: self._open())
    @rule(data=st.data(), not_now=st.booleans())
    def an_answer(self, data: st.DataObject, not_now: bool) -> None:
        entry = data.draw(st.sampled_from(self._open()))
        entry.answered = True
        self.etiquette.answered([entry.event.id])
        if not_now:
            entry.not_now_at = self.now
            self.etiquette.not_now(entry.event.time, self.now)

    @precondition(lambda self: self._open())
    @rule(data=st.data())
    def the_slow_path_withdraws(self, data: st.DataObject) -> None:
        entry = data.draw(st.sampled_from(self._open()))
        self.etiquette.withdrawn(entry.event)
        entry.withdrawn = True
        history = self.etiquette.history
        assert entry.event.id not in history.recent
        assert all(entry.event.id not in ids for ids in history.per_day.values())
        assert entry.event.id not in {i for i, _ in self.etiquette.pending.values()}

    @rule()
    def a_restart(self) -> None:
        restored = Etiquette(SETTINGS)
        restored.restore(
            (e.event, e.offered and not e.withdrawn, e.answered, e.not_now_at) for e in self.log
        )
        assert snapshot(restored) == snapshot(self.etiquette)
        self.etiquette = restored

    @invariant()
    def the_daily_cap_holds(self) -> None:
        for ids in self.etiquette.history.per_day.values():
            assert len(ids) <= SETTINGS.max_offers_per_day


EtiquetteDay.TestCase.settings = settings(max_examples=400, stateful_step_count=50, deadline=None)
test_etiquette_over_generated_days = EtiquetteDay.TestCase


def test_an_older_event_after_the_timeout_finds_the_context_free():
    """The day hypothesis found: an offer, an event 600 s later in its context (the
    offer lets go), then one stamped a second earlier, which may be offered on."""
    day = EtiquetteDay()
    day.an_event(place=0, text=0, afk=None, offer=True)
    day.clock_moves(step=600)
    day.an_event(place=0, text=0, afk=None, offer=False)
    day.clock_moves(step=-1)
    late = day._event(0, 0, None)
    day.etiquette.observe(late)
    assert day.etiquette.hold_reason(late) is None
    day.a_restart()  # and a restart keeps it so
    assert day.etiquette.hold_reason(late) is None
