"""The personal model's arithmetic at its edges: the features it reads, one Laplace step
worked by hand, the hour's budget at its boundary, and its saved state. Fast and exact, so
a changed constant or comparison in `memory.personal` fails here (see `make mutation`)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from core.events import Event
from core.murmur import murmurhash3_32
from memory.feedback import Outcome, Reason
from memory.personal import N_FEATURES, PersonalModel, hashed, window_tokens
from tests.helpers import event_record

START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def at(seconds: float, text: str = "The user edits parse.py", **fields: object) -> Event:
    return Event.model_validate({**event_record(0, text=text, start=START + seconds), **fields})


def index(token: str) -> int:
    return murmurhash3_32(token) % N_FEATURES


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# What the model reads off a window.


def test_the_tokens_of_a_window_are_place_hour_dwell_and_the_sorted_words():
    window = [at(0, app="Firefox", kind="browser"), at(100), at(130, "Zebra alpha the b2 9x it's")]
    assert window_tokens(window) == [
        "bias",
        "kind:editor",
        "app:Editor",
        "place:editor:Editor",
        "hour:7",  # 22:15 is the eighth three-hour slot of the day
        "dwell:<1m",  # since the first event in this place, not the window's first
        "word:alpha",
        "word:editor",  # the app is part of the summary
        "word:it's",
        "word:zebra",
    ]


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (59.0, "<1m"),
        (60.0, "<5m"),
        (299.0, "<5m"),
        (300.0, "<10m"),
        (600.0, "<30m"),
        (1799.0, "<30m"),
        (1800.0, ">=30m"),
    ],
)
def test_dwell_buckets_close_at_their_limits(seconds, bucket):
    window = [at(0), at(seconds / 2), at(seconds)]
    assert f"dwell:{bucket}" in window_tokens(window)


def test_dwell_counts_only_the_unbroken_run_in_the_same_place():
    run = [at(0), at(1000, app="Firefox", kind="browser"), at(1500), at(1700)]
    assert "dwell:<5m" in window_tokens(run)  # 200 s since the switch back, not 1700 s
    unnamed = [at(0, app=None), at(400, app=None)]
    assert window_tokens(unnamed)[2:4] == ["app:-", "place:editor:-"]
    assert "dwell:<10m" in window_tokens(unnamed)


def test_hashed_features_weigh_families_and_share_one_unit_among_words():
    features = hashed(["bias", "kind:editor", "hour:1", "word:a", "word:b", "word:c", "word:d"])
    raw = {"bias": 0.5, "kind:editor": 1.0, "hour:1": 0.7, **{f"word:{w}": 0.5 for w in "abcd"}}
    norm = math.sqrt(sum(v * v for v in raw.values()))
    assert features == pytest.approx({index(t): v / norm for t, v in raw.items()})
    assert math.fsum(v * v for v in features.values()) == pytest.approx(1.0)
    assert hashed(["app:Editor", "place:editor:Editor", "dwell:<1m"]) == pytest.approx(
        {
            index(t): v / math.sqrt(2.49)
            for t, v in (("app:Editor", 1), ("place:editor:Editor", 1), ("dwell:<1m", 0.7))
        }
    )


def test_a_token_seen_twice_adds_up_and_no_tokens_give_no_features():
    twice = hashed(["kind:editor", "app:Editor", "kind:editor"])
    assert twice == pytest.approx(
        {index("kind:editor"): 2 / math.sqrt(5), index("app:Editor"): 1 / math.sqrt(5)}
    )
    assert hashed([]) == {}


# What it predicts.


def test_an_untrained_model_is_the_population():
    model, window = PersonalModel(), [at(0)]
    assert model.shift(window) == 0.0
    assert model.adjust(window, 0.3, 0.6) == (0.3, 0.6)
    assert model.welcome(window, 0.25) == pytest.approx(0.25)
    # Certainties are clipped (1e-6), so a logit stays finite.
    assert model.welcome(window, 0.0) == pytest.approx(1e-6, rel=1e-3)
    assert model.welcome(window, 1.0) == pytest.approx(1 - 1e-6, abs=1e-9)


def test_shift_is_the_learnt_weights_dot_the_window_features():
    window = [at(0)]
    features = hashed(window_tokens(window))
    model = PersonalModel(mean={j: 0.1 * n for n, j in enumerate(sorted(features), 1)})
    expected = sum(0.1 * n * features[j] for n, j in enumerate(sorted(features), 1))
    assert model.shift(window) == pytest.approx(expected)
    assert model.welcome(window, 0.4) == pytest.approx(sigmoid(logit(0.4) + expected))


def test_adjust_raises_need_to_a_higher_welcome_and_otherwise_lowers_acceptance():
    window = [at(0)]
    j = index("bias")
    eager = PersonalModel(mean={j: 20.0})  # bias alone moves the logit by 20 * its value
    welcome = eager.welcome(window, 0.2 * 0.5)
    need, accept = eager.adjust(window, 0.2, 0.5)
    assert need == pytest.approx(welcome) and welcome > 0.2
    assert accept == pytest.approx(1.0)
    shy = PersonalModel(mean={j: -2.0})
    welcome = shy.welcome(window, 0.2 * 0.5)
    need, accept = shy.adjust(window, 0.2, 0.5)
    assert need == 0.2 and accept == pytest.approx(welcome / 0.2) and accept < 0.5


# How it learns.


def test_one_answer_is_one_newton_step_per_feature():
    window = [at(0)]
    features = hashed(window_tokens(window))
    model = PersonalModel()
    assert model.learn(window, 0.3, Outcome.ACCEPTED, window[0].time)
    for j, v in features.items():
        assert model.mean[j] == pytest.approx(0.7 * v / 0.5)
        assert model.precision[j] == pytest.approx(0.5 + 0.3 * 0.7 * v * v)
    assert model.answers == 1
    assert model.names == {index(t): t for t in window_tokens(window)}
    # The second step starts from the first's posterior and the features' precision.
    mean, precision = dict(model.mean), dict(model.precision)
    predicted = sigmoid(logit(0.3) + sum(mean[j] * v for j, v in features.items()))
    assert model.learn(window, 0.3, Outcome.IGNORED, window[0].time)
    for j, v in features.items():
        step = 0.5 * (0.0 - predicted) * v / precision[j]
        assert model.mean[j] == pytest.approx(mean[j] + step)
        assert model.precision[j] == pytest.approx(
            precision[j] + 0.5 * predicted * (1 - predicted) * v * v
        )
    assert model.answers == 2


def test_a_reason_scales_the_step_and_never_for_this_app_teaches_nothing():
    window = [at(0)]
    j = index("bias")
    full, not_now, mute = PersonalModel(), PersonalModel(), PersonalModel()
    full.learn(window, 0.5, Outcome.REJECTED, window[0].time)
    not_now.learn(window, 0.5, Outcome.REJECTED, window[0].time, Reason.NOT_NOW)
    mute.learn(window, 0.5, Outcome.REJECTED, window[0].time, Reason.NEVER_APP)
    assert not_now.mean[j] == pytest.approx(0.1 * full.mean[j]) and full.mean[j] < 0
    assert mute.mean[j] == 0.0 and mute.precision[j] == 0.5
    assert not_now.budget_used == pytest.approx(0.1) and mute.budget_used == 0.0


def test_the_hours_budget_holds_exactly_its_weight_then_refuses_without_learning():
    window = [at(0)]
    model = PersonalModel(max_answers_per_hour=2.0)
    when = window[0].time
    assert model.learn(window, 0.5, Outcome.IGNORED, when)  # 0.5
    assert model.learn(window, 0.5, Outcome.ACCEPTED, when)  # 1.5
    assert model.learn(window, 0.5, Outcome.IGNORED, when)  # 2.0: exactly the budget
    before = model.to_state()
    assert not model.learn(window, 0.5, Outcome.TIMED_OUT, when)  # 2.25 would pass it
    assert model.to_state() == before
    # The next hour of event time starts a new budget: the hour is the clock's, not an
    # hour after the first answer.
    next_hour = when.replace(minute=0, second=0) + timedelta(hours=1)
    assert not model.learn(window, 0.5, Outcome.ACCEPTED, next_hour - timedelta(seconds=1))
    assert model.learn(window, 0.5, Outcome.ACCEPTED, next_hour)
    assert model.budget_hour == int(next_hour.timestamp() // 3600)
    assert model.budget_used == 1.0


def test_the_budget_tolerates_the_wobble_of_summed_weights():
    # A budget a hair under two answers still takes two: sums of float weights wobble.
    window = [at(0)]
    model = PersonalModel(max_answers_per_hour=2.0 - 1e-6)
    assert model.learn(window, 0.5, Outcome.ACCEPTED, window[0].time)
    assert model.learn(window, 0.5, Outcome.ACCEPTED, window[0].time)
    assert not model.learn(window, 0.5, Outcome.TIMED_OUT, window[0].time)


# What it keeps.


def test_its_state_holds_every_number_and_reads_back_without_names():
    window = [at(0)]
    model = PersonalModel(prior_precision=2.0, max_answers_per_hour=7.0)
    model.learn(window, 0.4, Outcome.REJECTED, window[0].time)
    state = model.to_state()
    assert set(state) == {
        "prior_precision",
        "max_answers_per_hour",
        "mean",
        "precision",
        "names",
        "answers",
        "budget_hour",
        "budget_used",
    }
    copy = PersonalModel.from_state(state)
    assert (copy.prior_precision, copy.max_answers_per_hour) == (2.0, 7.0)
    assert (copy.answers, copy.budget_used) == (1, 1.0)
    assert copy.budget_hour == int(window[0].time.timestamp() // 3600)
    assert copy.mean == model.mean and copy.precision == model.precision
    assert copy.names == model.names
    unnamed = PersonalModel.from_state({k: v for k, v in state.items() if k != "names"})
    assert unnamed.names == {} and unnamed.mean == model.mean


def test_strongest_ranks_by_size_of_weight_and_names_unknown_features_by_index():
    model = PersonalModel(mean={1: 0.2, 2: -0.9, 3: 0.5, 4: 0.0}, names={2: "app:Slack", 3: "bias"})
    assert model.strongest() == [("app:Slack", -0.9), ("bias", 0.5), ("#1", 0.2), ("#4", 0.0)]
    assert model.strongest(2) == [("app:Slack", -0.9), ("bias", 0.5)]
    many = PersonalModel(mean={j: float(j) for j in range(1, 13)})
    assert [name for name, _ in many.strongest()] == [f"#{j}" for j in range(12, 2, -1)]
