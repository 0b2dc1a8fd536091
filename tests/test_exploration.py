"""Exploring: where the rule has long been silent, festina asks now and then, so that a
person it underrates is ever heard; answers to those offers set how often."""

from __future__ import annotations

import itertools
from datetime import timedelta

from agent.config import EtiquetteSettings, ExplorationSettings
from agent.decide import DecisionChain
from agent.exploration import REMEMBERED
from agent.slowpath.base import Verdict
from core.decision import Action
from gate.base import GateScores, NeedEvidence
from gate.policy import GatePolicy
from memory.feedback import Outcome
from memory.preferences import Preferences
from memory.store import AppliedFeedback
from tests.helpers import event_at

# At equal costs and a base rate of 0.43, the better constant policy is silence.
EQUAL_COSTS = GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0)
EVIDENCE = NeedEvidence(spread=0.97, prior=0.43)
LIKELY, UNLIKELY = GateScores(0.47, 1.0, EVIDENCE), GateScores(0.30, 1.0, EVIDENCE)
HOUR = 3600.0


def exploring(after_minutes: float = 60.0, max_backoff: int = 4, **etiquette) -> DecisionChain:
    return DecisionChain(
        EQUAL_COSTS,
        EtiquetteSettings(cooldown_s=0, **etiquette) if etiquette else None,
        model_version="t",
        exploration=ExplorationSettings(after_minutes=after_minutes, max_backoff=max_backoff),
    )


def offers(chain: DecisionChain, seconds: list[float], scores=LIKELY) -> list[float]:
    """The times (s) of the events in `seconds` the chain offers on."""
    made = []
    for second in seconds:
        event = event_at(second, f"moment {second}", app=f"App {second}")
        decision = chain.decide(event, [event], scores, 1.0)
        if decision.final_action is Action.INTERVENE:
            assert decision.reason.startswith("exploring: no offer for")
            made.append(second)
    return made


def answer(chain: DecisionChain, second: float, outcome: Outcome) -> None:
    event = event_at(second, f"moment {second}", app=f"App {second}")
    chain.answered([AppliedFeedback(event.id, event.time, outcome, None)])


def drafting() -> DecisionChain:
    """An exploring chain whose offers go to the slow path to be drafted."""
    return DecisionChain(
        EQUAL_COSTS,
        None,
        model_version="t",
        draft_offers=True,
        exploration=ExplorationSettings(after_minutes=60),
    )


def asked(second: float) -> tuple:
    """(event id, time) of the moment `offers` decided at `second`."""
    event = event_at(second, f"moment {second}", app=f"App {second}")
    return event.id, event.time


def every_ten_minutes(hours: float, start: float = 0.0) -> list[float]:
    return [start + 600.0 * i for i in range(int(hours * 6))]


def test_the_rule_alone_is_silent_all_day_at_equal_costs():
    assert offers(exploring(after_minutes=0), every_ten_minutes(8)) == []


def test_after_an_hour_of_silence_it_asks_once_on_a_moment_over_the_base_rate():
    chain = exploring()
    assert offers(chain, every_ten_minutes(1.5), UNLIKELY) == []  # under the base rate
    assert offers(chain, [5400.0, 6000.0, 6600.0]) == [5400.0]


def test_each_exploratory_offer_doubles_the_wait_up_to_the_cap_and_an_acceptance_resets_it():
    chain = exploring(max_backoff=4)
    made = []
    for second in every_ten_minutes(20):
        if offers(chain, [second]):
            made.append(second)
            if len(made) == 4:
                answer(chain, second, Outcome.ACCEPTED)
            elif len(made) == 2:
                answer(chain, second, Outcome.REJECTED)  # no different from no answer
    gaps = [(b - a) / HOUR for a, b in itertools.pairwise(made)]
    # 1 h before the first; then 2 h, 4 h, 4 h (the cap); 1 h after a "yes".
    assert made[0] == HOUR
    assert gaps[:4] == [2.0, 4.0, 4.0, 1.0]


def test_it_never_speaks_over_do_not_disturb_or_etiquette():
    quiet = exploring()
    quiet.preferences = Preferences(do_not_disturb=True)
    assert offers(quiet, every_ten_minutes(4)) == []
    busy = exploring(busy_apps=["zoom"])
    meeting = [event_at(s, "a call", app="zoom") for s in every_ten_minutes(3)]
    assert all(busy.decide(e, [e], LIKELY, 1.0).final_action is Action.SILENT for e in meeting)


def test_after_a_restart_it_waits_from_the_last_offer_memory_holds():
    chain = exploring()
    last = event_at(0, "offered before the restart", app="Editor")
    chain.restore([(last, True, False, None)])
    assert offers(chain, [1800.0, 3000.0, 3600.0]) == [3600.0]
    assert chain.clock is not None and chain.clock - last.time == timedelta(hours=1)


def test_an_event_dated_before_the_last_offer_neither_explores_nor_moves_the_clock_back():
    chain = exploring()
    assert offers(chain, [HOUR, 2 * HOUR]) == [2 * HOUR]
    # A late event from long before: not the wait (now two hours) since the last offer,
    # and no reason to count the wait from it.
    assert offers(chain, [0.0, 2 * HOUR + 3000, 4 * HOUR - 600]) == []
    assert offers(chain, [4 * HOUR]) == [4 * HOUR]


def test_it_says_why_it_asks():
    chain = exploring()
    first, asked = event_at(0, "start", app="A"), event_at(5400, "a moment", app="B")
    chain.decide(first, [first], LIKELY, 1.0)
    decision = chain.decide(asked, [asked], LIKELY, 1.0)
    assert decision.reason == (
        "exploring: no offer for 90 min; an answer tells festina whether you want more of them"
    )


def test_a_short_wait_and_the_base_rate_itself_are_enough():
    at_base_rate = GateScores(EVIDENCE.prior, 1.0, EVIDENCE)
    assert offers(exploring(after_minutes=0.5), [0.0, 20.0, 30.0], at_base_rate) == [30.0]


def test_without_evidence_the_base_rate_is_taken_as_even():
    def first_offer(p_need: float) -> list[float]:
        return offers(exploring(), every_ten_minutes(2), GateScores(p_need, 0.5))

    assert first_offer(0.55) == [HOUR]
    assert first_offer(0.45) == []


def test_only_an_exploratory_offer_accepted_resets_the_wait():
    chain = exploring(max_backoff=8)
    assert offers(chain, [0.0, HOUR]) == [HOUR]  # the wait is now two hours
    unrelated = event_at(10.0, "not an exploratory offer", app="X")
    chain.answered([AppliedFeedback(unrelated.id, unrelated.time, Outcome.ACCEPTED, None)])
    assert offers(chain, [2 * HOUR, 3 * HOUR - 600, 3 * HOUR]) == [3 * HOUR]
    answer(chain, 3 * HOUR, Outcome.ACCEPTED)
    assert offers(chain, [4 * HOUR]) == [4 * HOUR]
    # Its answer counts once: accepting it again after another exploratory offer is
    # not a "yes" to that one.
    answer(chain, 3 * HOUR, Outcome.ACCEPTED)
    assert offers(chain, [5 * HOUR, 6 * HOUR]) == [6 * HOUR]


def test_a_forgotten_exploratory_offer_s_answer_sets_nothing():
    chain = exploring()
    assert offers(chain, [0.0, HOUR]) == [HOUR]
    [event_id, _] = asked(HOUR)
    chain.forget({event_id, "another"})
    answer(chain, HOUR, Outcome.ACCEPTED)
    assert offers(chain, [2 * HOUR, 3 * HOUR]) == [3 * HOUR]  # the wait stayed two hours


def test_a_drafted_exploratory_offer_counts_once_the_slow_path_makes_it():
    chain = drafting()

    def handed(second: float) -> tuple:
        event = event_at(second, f"moment {second}", app=f"App {second}")
        return event, chain.decide(event, [event], LIKELY, 1.0)

    handed(0.0)
    event, decision = handed(HOUR)
    assert decision.final_action is None and decision.gate_action is Action.INTERVENE
    # Drafted as silent (say, a counterfactual check): nothing was offered, so it asks
    # again, and the wait has not doubled.
    chain.settle(event, decision, Verdict(Action.SILENT, "no", "slow-path"))
    event, decision = handed(HOUR + 600)
    assert decision.gate_action is Action.INTERVENE
    chain.settle(event, decision, Verdict(Action.INTERVENE, "yes", "slow-path"))
    assert handed(3 * HOUR)[1].gate_action is Action.SILENT
    assert handed(3 * HOUR + 600)[1].gate_action is Action.INTERVENE


def test_it_remembers_only_the_newest_exploratory_offers():
    chain = drafting()
    start = event_at(0, "start", app="A")
    chain.decide(start, [start], LIKELY, 1.0)
    # A drafter that keeps every exploratory offer silent: each next event is explored.
    handed = []
    for second in every_ten_minutes(40, start=HOUR):
        event = event_at(second, f"moment {second}", app=f"App {second}")
        decision = chain.decide(event, [event], LIKELY, 1.0)
        assert decision.gate_action is Action.INTERVENE
        chain.settle(event, decision, Verdict(Action.SILENT, "no", "slow-path"))
        handed.append(event)
    assert len(chain.remembered()) == REMEMBERED
    assert handed[-1].id in chain.remembered()
    assert handed[0].id not in chain.remembered()


def test_what_it_remembers_joins_what_etiquette_remembers():
    chain = exploring(max_offers_per_day=0)
    ruled = event_at(0, "the rule offers here", app="A")
    assert chain.decide(ruled, [ruled], GateScores(0.9, 1.0, EVIDENCE), 1.0).decided_by == "gate"
    assert offers(chain, [HOUR]) == [HOUR]
    assert chain.remembered() == {ruled.id, asked(HOUR)[0]}
