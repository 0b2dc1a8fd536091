"""The decision core's edges that mutation testing (`make mutation`) found untested: the
evidence rule at a width other than the default, an escalation's reason, the boundaries of
the "not now" hold, of the repeat window and of the similarity threshold, the day edge of
the cooldown, and what etiquette remembers."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from agent.config import EtiquetteSettings
from agent.etiquette import Etiquette
from agent.repeats import OfferHistory
from core.decision import Action
from core.events import Event
from gate.base import NeedEvidence
from gate.policy import GatePolicy
from tests.helpers import event_at

EVIDENCE = NeedEvidence(spread=1.0, prior=0.4)
WINDOW_S = 3600.0


def test_the_evidence_rule_applies_at_any_width_above_zero():
    # p_need 0.3 is above the default costs' threshold (0.25) but one spread down is not.
    assert GatePolicy(min_evidence=1.0).trusted_need(0.3, 1.0, EVIDENCE)[0] == 0.4
    assert GatePolicy(min_evidence=0.0).trusted_need(0.3, 1.0, EVIDENCE)[0] == 0.3


def test_an_escalation_at_the_base_rate_says_why():
    call = GatePolicy().decide(0.3, 0.6, EVIDENCE)  # tau at the base rate: 0.625
    assert call.action is Action.ESCALATE
    assert call.reason is not None and "decided at the base rate 0.400" in call.reason


def test_not_now_holds_until_its_end_exactly():
    etiquette = Etiquette(EtiquetteSettings(cooldown_s=0, not_now_s=1800))
    etiquette.not_now(event_at(0).time, event_at(100).time)
    assert "not now" in etiquette.hold_reason(event_at(1899, app="Other"))
    assert etiquette.hold_reason(event_at(1900, app="Other")) is None


def test_a_pending_offer_is_named_by_its_short_id():
    etiquette = Etiquette(EtiquetteSettings(cooldown_s=0))
    offered = event_at(0)
    etiquette.offered(offered)
    reason = etiquette.hold_reason(event_at(10, "more"))
    assert reason == f"offer {offered.id[:12]} in this context still awaits an answer"


def test_etiquette_remembers_pending_reservations_and_recent_offers():
    etiquette = Etiquette(EtiquetteSettings(cooldown_s=0))
    answered, reserved = event_at(0, app="A"), event_at(5, app="B")
    etiquette.offered(answered)
    etiquette.answered([answered.id])
    etiquette.reserve(reserved)
    assert etiquette.remembered() == {answered.id, reserved.id}


def _history(**settings: float) -> OfferHistory:
    return OfferHistory(EtiquetteSettings(repeat_window_s=WINDOW_S, **settings))


def test_the_repeat_window_starts_at_the_offer_and_ends_before_its_length():
    history = _history()
    offered = event_at(0, "same words")
    history.made(offered, None)
    assert history.repeat_of(event_at(0, "same words", source="another"), None) == offered.time
    assert history.repeat_of(event_at(WINDOW_S - 1, "same words"), None) == offered.time
    assert history.repeat_of(event_at(WINDOW_S, "same words"), None) is None


def test_an_old_offer_does_not_hide_a_recent_one():
    history = _history()
    history.made(event_at(-2 * WINDOW_S, "same words"), None)  # out of the window
    recent = event_at(0, "same words", source="another")
    history.made(recent, None)
    assert history.repeat_of(event_at(10, "same words"), None) == recent.time


def test_vectors_compare_only_with_vectors_and_at_the_threshold_itself():
    history = _history(repeat_similarity=1.0)
    history.made(event_at(0, "one text"), np.array([2.0, 0.0]))
    assert history.repeat_of(event_at(10, "another text"), None) is None
    assert history.repeat_of(event_at(10, "a third text"), np.array([5.0, 0.0])) is not None


def test_unlike_vectors_are_not_repeats_whatever_their_lengths():
    history = _history(repeat_similarity=0.9)
    history.made(event_at(0, "one text"), np.array([3.0, 0.0]))
    assert history.repeat_of(event_at(10, "another text"), np.array([1.5, 3.0])) is None


def test_vectors_are_kept_as_float32_units_and_a_zero_vector_as_none():
    history = _history()
    history.made(event_at(0, "one"), np.array([3.0, 4.0], dtype=np.float64))
    history.made(event_at(1, "two"), np.zeros(2))
    units = [unit for _, _, unit in history.recent.values()]
    assert units[0].dtype == np.float32
    np.testing.assert_allclose(units[0], [0.6, 0.8], rtol=1e-6)
    assert units[1] is None


def _local(day: int, hour: int, minute: int, second: int, text: str = "x") -> Event:
    moment = datetime(2026, 3, day, hour, minute, second).astimezone()
    return Event.model_validate(
        {"time": moment.timestamp(), "source": "t", "kind": "editor", "app": "A", "text": text}
    )


def test_the_cooldown_holds_across_midnight():
    etiquette = Etiquette(EtiquetteSettings(cooldown_s=60, pending_timeout_s=0))
    offered = _local(2, 23, 59, 50)
    etiquette.observe(offered)
    etiquette.offered(offered)
    after_midnight = _local(3, 0, 0, 10, "other")
    etiquette.observe(after_midnight)
    assert "cooldown" in etiquette.hold_reason(after_midnight)


def test_an_offer_at_the_window_s_edge_is_still_a_repeat_for_an_earlier_event():
    # An event exactly one window after the offer prunes nothing; a replay that then goes
    # back a second still finds the offer.
    etiquette = Etiquette(EtiquetteSettings(cooldown_s=0, pending_timeout_s=0))
    older, offered = event_at(-1, "older words"), event_at(0, "same words")
    for event in (older, offered):
        etiquette.observe(event)
        etiquette.offered(event)
    etiquette.observe(event_at(WINDOW_S, "unrelated", app="B"))  # forgets `older` only
    back = event_at(WINDOW_S - 1, "same words")
    etiquette.observe(back)
    assert "like offer" in etiquette.hold_reason(back)


def test_withdrawing_an_offer_of_another_day_leaves_the_others():
    history = _history()
    first, second = event_at(0, "a"), event_at(86_400 + 60, "b")
    history.made(first, None)
    history.made(second, None)
    history.unmade(first.id)
    assert [set(offers) for offers in history.per_day.values() if offers] == [{second.id}]
    assert history.last_within(second.time + timedelta(seconds=1), 60) == second.time


def test_forgotten_events_leave_etiquette_but_not_the_daily_count():
    etiquette = Etiquette(EtiquetteSettings(cooldown_s=0, max_offers_per_day=1))
    offered = event_at(0, "forgotten words")
    etiquette.offered(offered)
    etiquette.forget({offered.id, "an-event-never-offered"})
    assert etiquette.remembered() == set()
    assert etiquette.pending == {}
    again = event_at(10, "forgotten words", app="Other")
    assert "daily cap" in etiquette.hold_reason(again)  # a forget buys no more offers


def test_an_offer_unanswered_for_the_pending_timeout_is_let_go_at_the_next_event():
    etiquette = Etiquette(EtiquetteSettings(cooldown_s=0, pending_timeout_s=600))
    offered = event_at(0)
    etiquette.offered(offered)
    etiquette.answered([])  # nothing answered: it stays pending
    etiquette.observe(event_at(599, app="Other"))
    assert offered.id in {event_id for event_id, _ in etiquette.pending.values()}
    etiquette.observe(event_at(600, app="Other"))
    assert etiquette.pending == {}
    # Restored from the same events, a restart keeps the same: nothing pending.
    restored = Etiquette(etiquette.settings)
    restored.restore(
        [(offered, True, False, None), (event_at(600, app="Other"), False, False, None)]
    )
    assert restored.pending == {}
