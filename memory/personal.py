"""A personal model of when this user welcomes an offer, learnt online from their answers.

The population gate says how likely an offer is welcome to people in general (p_need *
p_accept, see `gate.policy`). People differ far more than the labels behind that model
agree (see the data README), so each answer this user gives moves a personal term added
to the population's logit:

    logit(welcome) = logit(p_need * p_accept) + w . phi(window)

phi is a hashed bag of what the window shows: the event's words, its app and kind, the
hour, how long the user has been in the current app. w starts at 0 (the population's
answer) with a Gaussian prior of precision `prior_precision` per feature, and is updated
after each answer by one Laplace step of Bayesian logistic regression with a diagonal
posterior (Chapelle & Li, 2011): a feature's step shrinks as answers about it pile up, so
ten answers move it a little and a hundred a lot. Implicit answers (ignored, timed out)
count with a smaller weight.

Learning is bounded in time: at most `max_answers_per_hour` answers' worth of weight is
learnt from in any hour of event time; the rest waits for the next hour. The hour is the
newest one the budget has seen, so answers dated in the past cannot reopen it. With unit-norm
features one answer moves the logit of any window by at most 1 / prior_precision, so an
hour moves it by at most max_answers_per_hour / prior_precision, whatever a script sends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.events import Event
from core.murmur import murmurhash3_32
from core.stopwords import ENGLISH_STOP_WORDS
from memory.feedback import Outcome, Reason, signal

N_FEATURES = 2**18
PRIOR_PRECISION = 0.5
MAX_ANSWERS_PER_HOUR = 30.0
_WORD = re.compile(r"[a-z][a-z0-9_']{2,}")
_EPS = 1e-6
_DWELL_BUCKETS = ((60.0, "<1m"), (300.0, "<5m"), (600.0, "<10m"), (1800.0, "<30m"))


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _place(event: Event) -> tuple[str, str]:
    return event.kind.value, event.app or "-"


def window_tokens(window: Sequence[Event]) -> list[str]:
    """What the personal model reads off a window: the current event's words, app, kind
    and hour, and how long the user has been in this app (the "task" they switched to)."""
    event = window[-1]
    kind, app = _place(event)
    words = {w for w in _WORD.findall(event.summary().lower()) if w not in ENGLISH_STOP_WORDS}
    start = event
    for earlier in reversed(window[:-1]):
        if _place(earlier) != (kind, app):
            break
        start = earlier
    dwell = (event.time - start.time).total_seconds()
    bucket = next((name for limit, name in _DWELL_BUCKETS if dwell < limit), ">=30m")
    return [
        "bias",
        f"kind:{kind}",
        f"app:{app}",
        f"place:{kind}:{app}",
        f"hour:{event.time.hour // 3}",
        f"dwell:{bucket}",
        *(f"word:{w}" for w in sorted(words)),
    ]


# Where the user is (kind, app) says most about a preference and is what answers about
# other places must not drag along; the words of one event share one unit between them.
_FAMILY_WEIGHT = {"bias": 0.5, "kind": 1.0, "app": 1.0, "place": 1.0, "hour": 0.7, "dwell": 0.7}


def hashed(tokens: Sequence[str]) -> dict[int, float]:
    """Unit-norm feature values of a token list, by hashed index (the hashing trick: no
    vocabulary to grow, whatever the user's windows say)."""
    words = sum(token.startswith("word:") for token in tokens)
    features: dict[int, float] = {}
    for token in tokens:
        family = token.partition(":")[0]
        weight = 1.0 / math.sqrt(words) if family == "word" else _FAMILY_WEIGHT[family]
        index = murmurhash3_32(token) % N_FEATURES
        features[index] = features.get(index, 0.0) + weight
    norm = math.sqrt(sum(v * v for v in features.values()))
    return {index: value / norm for index, value in features.items()}


@dataclass
class PersonalModel:
    """The personal term's posterior: mean and precision per feature seen so far."""

    prior_precision: float = PRIOR_PRECISION
    max_answers_per_hour: float = MAX_ANSWERS_PER_HOUR
    mean: dict[int, float] = field(default_factory=dict)
    precision: dict[int, float] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    """The token behind each learnt feature, to say what was learnt."""
    answers: int = 0
    budget_hour: int = 0
    budget_used: float = 0.0

    def shift(self, window: Sequence[Event]) -> float:
        """This user's logit shift for `window` (0 before any answer)."""
        if not self.mean:
            return 0.0
        return sum(self.mean.get(j, 0.0) * v for j, v in hashed(window_tokens(window)).items())

    def welcome(self, window: Sequence[Event], welcome_population: float) -> float:
        """The chance this user welcomes an offer the population puts at `welcome_population`."""
        return _sigmoid(_logit(welcome_population) + self.shift(window))

    def adjust(
        self, window: Sequence[Event], p_need: float, p_accept: float
    ) -> tuple[float, float]:
        """(p_need, p_accept) for this user. An answer cannot tell "not needed" from "not
        wanted", so a lower chance of a welcome offer lowers p_accept; a higher one than
        the population's p_need can hold raises p_need (acceptance shows the need)."""
        if not self.mean:
            return p_need, p_accept
        welcome = self.welcome(window, p_need * p_accept)
        need = max(p_need, welcome)
        return need, welcome / max(need, _EPS)

    def _take_budget(self, when: datetime, weight: float) -> bool:
        # The budget's own clock never goes back: the newest hour it has seen. Answers
        # about older events (a replay, out-of-order posts) spend that hour's budget
        # rather than reopening the budget of the hour they name.
        hour = max(int(when.timestamp()) // 3600, self.budget_hour)
        if hour != self.budget_hour:
            self.budget_hour, self.budget_used = hour, 0.0
        if self.budget_used + weight > self.max_answers_per_hour + _EPS:
            return False
        self.budget_used += weight
        return True

    def learn(
        self,
        window: Sequence[Event],
        welcome_population: float,
        outcome: Outcome,
        when: datetime,
        reason: Reason | None = None,
    ) -> bool:
        """One answer about the offer made on `window`, learnt at `when` (the stream's
        clock: event time, as the etiquette keeps it); False when this hour's budget is
        spent and the answer must wait."""
        target, weight = signal(outcome, reason)
        if not self._take_budget(when, weight):
            return False
        tokens = window_tokens(window)
        features = hashed(tokens)
        shift = sum(self.mean.get(j, 0.0) * v for j, v in features.items())
        predicted = _sigmoid(_logit(welcome_population) + shift)
        curvature = predicted * (1 - predicted)
        for j, v in features.items():
            precision = self.precision.get(j, self.prior_precision)
            # One Newton step on the log-posterior, per feature (diagonal Laplace).
            self.mean[j] = self.mean.get(j, 0.0) + weight * (target - predicted) * v / precision
            self.precision[j] = precision + weight * curvature * v * v
        self.names.update((murmurhash3_32(t) % N_FEATURES, t) for t in tokens)
        self.answers += 1
        return True

    def to_state(self) -> dict:
        """Plain JSON-able numbers, for memory."""
        return {
            "prior_precision": self.prior_precision,
            "max_answers_per_hour": self.max_answers_per_hour,
            "mean": {str(k): v for k, v in self.mean.items()},
            "precision": {str(k): v for k, v in self.precision.items()},
            "names": {str(k): v for k, v in self.names.items()},
            "answers": self.answers,
            "budget_hour": self.budget_hour,
            "budget_used": self.budget_used,
        }

    def strongest(self, n: int = 10) -> list[tuple[str, float]]:
        """The learnt features that move the logit most, by name, strongest first."""
        ranked = sorted(self.mean.items(), key=lambda item: -abs(item[1]))[:n]
        return [(self.names.get(j, f"#{j}"), weight) for j, weight in ranked]

    @classmethod
    def from_state(cls, state: dict) -> PersonalModel:
        return cls(
            prior_precision=state["prior_precision"],
            max_answers_per_hour=state["max_answers_per_hour"],
            mean={int(k): float(v) for k, v in state["mean"].items()},
            precision={int(k): float(v) for k, v in state["precision"].items()},
            names={int(k): str(v) for k, v in state.get("names", {}).items()},
            answers=int(state["answers"]),
            budget_hour=int(state["budget_hour"]),
            budget_used=float(state["budget_used"]),
        )
