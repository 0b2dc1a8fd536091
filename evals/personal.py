"""`festina eval personal`: does festina learn its user? A panel of simulated users.

Each simulated user has a consistent preference written as a small rule over what the
window shows (content, app, activity, time), answers every offer from that rule and is
wrong 10 % of the time. Their days are the 18 labelled ProactiveBench recordings and the
PIRA-style trajectories, one after another in a seeded order (each placed an hour after
the previous one ends, so learning is never throttled by a replay's compressed clock).
The population gate's p_need for every event is held out: recordings are scored by
heads trained without them, PIRA trajectories (built from the eight test recordings) by
heads trained on the ten other recordings only.

Three runtimes decide at the user's costs from the same population scores:
* the population gate alone (no learning);
* the context-offset learner (one logit offset per (kind, app), `memory.feedback`);
* the personal model (`memory.personal`).
An offer the user wanted costs nothing, one they did not C_FA; silence costs C_FN when
they wanted the offer. Cost per event is reported against the number of answers the
runtime had received when it decided, and over the events after 30 answers.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np

from core.events import Event, EventKind
from evals.pira import load_set, shipped_set_path
from gate.data import load_reward_items, load_traces
from gate.features import FeatureBuilder
from gate.heads_gate import POPULATION_ACCEPT
from gate.policy import GatePolicy
from gate.training import Dataset, build_dataset, train_head
from memory.feedback import Outcome, context_of, signal
from memory.personal import PersonalModel

NOISE = 0.1
AFTER = 30
ANSWER_BUCKETS = (0, 10, 20, 30, 50, 100)
LEARNERS = ("population gate", "context offsets", "personal model")
DEFAULT_SEEDS = (0, 1, 2)
MAX_OFFSET = 3.0
_GAP = timedelta(hours=1)


def _matches(pattern: str) -> Callable[[Event], bool]:
    compiled = re.compile(pattern, re.I)
    return lambda event: bool(compiled.search(event.summary()))


_ERROR = _matches(r"\b(error|exception|traceback|fail(s|ed|ing|ure)?|bug|crash)")
_WRITING = _matches(r"\b(typ(e|es|ed|ing)|writ(e|es|ing|ten)|edit(s|ed|ing)?|draft)")
_READING = _matches(r"\b(read|reads|scroll|article|documentation|docs|tutorial|guide|blog)")
_SEARCH = _matches(r"\b(search(es|ed|ing)?|google|bing|query)")
_CODE = _matches(
    r"\b(code|coding|function|script|terminal|compile|debug|python|java|ruby|\.py|\.js|\.rb)"
)


def _dwell_s(window: Sequence[Event]) -> float:
    """Seconds since the user switched to the current (kind, app)."""
    now, place = window[-1], (window[-1].kind, window[-1].app)
    start = now
    for earlier in reversed(window[:-1]):
        if (earlier.kind, earlier.app) != place:
            break
        start = earlier
    return (now.time - start.time).total_seconds()


@dataclass(frozen=True)
class SimulatedUser:
    """A preference as a rule over what the window shows: window -> welcome."""

    name: str
    rule: str
    welcomes: Callable[[Sequence[Event]], bool] = field(compare=False, repr=False)


PANEL = (
    SimulatedUser(
        "errors-only",
        "wants help only on errors and failing tests",
        lambda w: _ERROR(w[-1]),
    ),
    SimulatedUser(
        "never-while-writing",
        "welcomes help while searching, reading or on an error, never while typing or writing",
        lambda w: (_SEARCH(w[-1]) or _READING(w[-1]) or _ERROR(w[-1])) and not _WRITING(w[-1]),
    ),
    SimulatedUser(
        "reading-yes-code-no",
        "welcomes help while reading or searching, never around code",
        lambda w: (_READING(w[-1]) or _SEARCH(w[-1])) and not _CODE(w[-1]),
    ),
    SimulatedUser(
        "settled-in",
        "welcomes help on searches and errors, but not in the first ten minutes after "
        "switching app",
        lambda w: (_SEARCH(w[-1]) or _ERROR(w[-1])) and _dwell_s(w) >= 600,
    ),
    SimulatedUser(
        "evenings",
        "welcomes help only in the evening (from 18:00), and not on notifications",
        lambda w: w[-1].time.hour >= 18 and w[-1].kind is not EventKind.NOTIFICATION,
    ),
    SimulatedUser(
        "no-browser",
        "welcomes help in the editor and the terminal, never in the web browser",
        lambda w: w[-1].kind in (EventKind.EDITOR, EventKind.TERMINAL),
    ),
    SimulatedUser(
        "search-help",
        "wants help when searching or on an error, nothing else",
        lambda w: _SEARCH(w[-1]) or _ERROR(w[-1]),
    ),
    SimulatedUser(
        "eager",
        "takes any offer except on notifications",
        lambda w: w[-1].kind is not EventKind.NOTIFICATION,
    ),
    SimulatedUser(
        "repeat-errors",
        "wants help only when an error comes back",
        lambda w: _ERROR(w[-1]) and any(_ERROR(e) for e in w[:-1]),
    ),
)


@dataclass
class Segment:
    """One recording or trajectory: its events and their held-out population p_need."""

    name: str
    events: list[Event]
    p_need: np.ndarray


def _held_out_need(dataset: Dataset, builder: FeatureBuilder, exclude: Sequence[str]):
    train = dataset
    for name in exclude:
        train = train.without(name)
    fold = builder.with_lexical(train.lexical())
    head = train_head("need", train, fold)
    return lambda windows: head.predict(fold.need(windows))


def build_segments(
    root: Path, window: int, progress: Callable[[str], None]
) -> tuple[list[Segment], Callable[[list[list[Event]]], np.ndarray]]:
    """Every recording and PIRA trajectory with held-out population scores, and the last
    population head (for timing it against the personal model)."""
    traces = load_traces(root)
    reward = load_reward_items(root / "reward_data" / "train_data.jsonl", traces)
    dataset = build_dataset(traces, reward, window)
    builder = FeatureBuilder(encoder=None)
    segments = []
    for trace in traces:
        progress(f"population gate without {trace.name}")
        predict = _held_out_need(dataset, builder, [trace.name])
        windows = [trace.events[max(0, i - window + 1) : i + 1] for i in range(len(trace.events))]
        segments.append(Segment(trace.name, trace.events, predict(windows)))
    progress("population gate for PIRA (trained on the extra recordings)")
    predict = _held_out_need(dataset, builder, [t.name for t in traces if t.folder == "test_data"])
    for trajectory in load_set(shipped_set_path()):
        events = trajectory.festina_events()
        windows = [events[max(0, i - window + 1) : i + 1] for i in range(len(events))]
        segments.append(Segment(f"pira:{trajectory.id}", events, predict(windows)))
    return segments, predict


@dataclass(frozen=True)
class Moment:
    """One event of a simulated day, the window up to it and its population p_need."""

    window: list[Event]
    p_need: float


def simulated_day(segments: Sequence[Segment], seed: int, window: int) -> list[Moment]:
    """The segments in a seeded order, each moved to start an hour after the last ended."""
    order = list(segments)
    random.Random(seed).shuffle(order)
    out: list[Moment] = []
    clock = order[0].events[0].time
    for segment in order:
        shift = clock - segment.events[0].time
        recent: list[Event] = []
        for event, p in zip(segment.events, segment.p_need, strict=True):
            recent = [*recent, event.model_copy(update={"time": event.time + shift})][-window:]
            out.append(Moment(recent, float(p)))
        clock = out[-1].window[-1].time + _GAP
    return out


def answers_of(user: SimulatedUser, day: Sequence[Moment], seed: int) -> list[bool]:
    """What the user would answer at each moment: their rule, wrong 10 % of the time."""
    noise = random.Random(f"{user.name}:{seed}")
    return [user.welcomes(m.window) != (noise.random() < NOISE) for m in day]


@dataclass
class ContextOffsets:
    """The learner festina had before the personal model, kept as the benchmark's
    baseline: one offset per (kind, app) on the logit of a welcome offer, one step of
    gradient descent per answer, clipped to +-MAX_OFFSET."""

    offsets: dict[str, float] = field(default_factory=dict)

    def welcome(self, event: Event, welcome_population: float) -> float:
        offset = self.offsets.get(context_of(event), 0.0)
        return 1.0 / (1.0 + math.exp(-(_logit(welcome_population) + offset)))

    def learn(self, event: Event, welcome_population: float, outcome: Outcome) -> float:
        target, weight = signal(outcome)
        predicted = self.welcome(event, welcome_population)
        offset = self.offsets.get(context_of(event), 0.0) + weight * (target - predicted)
        self.offsets[context_of(event)] = max(-MAX_OFFSET, min(MAX_OFFSET, offset))
        return self.offsets[context_of(event)]


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


class _Learner:
    """One runtime's view: welcome chance before and learning after each answer."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.offsets = ContextOffsets()
        self.personal = PersonalModel()
        self.pending: list[tuple[list[Event], float, Outcome]] = []

    def welcome(self, window: list[Event], p_need: float) -> float:
        if self.kind == "context offsets":
            # As before the personal model: a welcome offer no likelier than help is needed.
            return min(p_need, self.offsets.welcome(window[-1], p_need * POPULATION_ACCEPT))
        if self.kind == "personal model":
            need, accept = self.personal.adjust(window, p_need, POPULATION_ACCEPT)
            return need * accept
        return p_need * POPULATION_ACCEPT

    def learn(self, window: list[Event], welcome_population: float, outcome: Outcome) -> None:
        if self.kind == "context offsets":
            self.offsets.learn(window[-1], welcome_population, outcome)
        elif self.kind == "personal model":
            self.pending.append((window, welcome_population, outcome))
            self.catch_up(window[-1])

    def catch_up(self, now: Event) -> None:
        """Answers held back by the hourly budget are learnt once it allows."""
        while self.pending:
            window, welcome, outcome = self.pending[0]
            if not self.personal.learn(window, welcome, outcome, now.time):
                return
            self.pending.pop(0)


@dataclass
class Run:
    """One runtime over one user's day: per event, the answers it had and its cost."""

    learner: str
    answers_before: list[int]
    costs: list[float]
    answers: int


def simulate(
    day: Sequence[Moment], truth: Sequence[bool], learner_kind: str, policy: GatePolicy
) -> Run:
    """One runtime deciding every moment of a day; the user answers each offer."""
    learner = _Learner(learner_kind)
    answers, answers_before, costs = 0, [], []
    for moment, wanted in zip(day, truth, strict=True):
        learner.catch_up(moment.window[-1])
        welcome = learner.welcome(moment.window, moment.p_need)
        answers_before.append(answers)
        if welcome >= policy.welcome_threshold:
            costs.append(0.0 if wanted else policy.cost_false_alarm)
            answers += 1
            outcome = Outcome.ACCEPTED if wanted else Outcome.REJECTED
            # Learners add their own shift to the population's chance, as the store does.
            learner.learn(moment.window, moment.p_need * POPULATION_ACCEPT, outcome)
        else:
            costs.append(policy.cost_missed_help if wanted else 0.0)
    return Run(learner_kind, answers_before, costs, answers)


@dataclass
class UserResult:
    user: str
    rule: str
    welcome_rate: float
    by_answers: dict[str, dict[str, float | None]]
    """learner -> answer bucket ("0-10", ...) -> mean cost per event (None: never got there)."""
    after: dict[str, float]
    """learner -> mean cost per event once every learning runtime had AFTER answers (or,
    if it fell silent for good before, all it ever got)."""
    answers: dict[str, float]


def _bucket_names() -> list[str]:
    pairs = itertools.pairwise(ANSWER_BUCKETS)
    return [f"{a}-{b}" for a, b in pairs] + [f"{ANSWER_BUCKETS[-1]}+"]


def _by_answers(runs: Sequence[Run]) -> dict[str, float | None]:
    names = _bucket_names()
    edges = [*ANSWER_BUCKETS[1:], 10**9]
    sums = dict.fromkeys(names, 0.0)
    counts = dict.fromkeys(names, 0)
    for run in runs:
        for before, cost in zip(run.answers_before, run.costs, strict=True):
            name = names[next(i for i, edge in enumerate(edges) if before < edge)]
            sums[name] += cost
            counts[name] += 1
    return {n: (sums[n] / counts[n] if counts[n] else None) for n in names}


def evaluate_user(
    user: SimulatedUser,
    days: Sequence[Sequence[Moment]],
    policy: GatePolicy,
    *,
    seeds: Sequence[int],
) -> UserResult:
    runs: dict[str, list[Run]] = {name: [] for name in LEARNERS}
    after: dict[str, list[float]] = {name: [] for name in LEARNERS}
    welcome = []
    for day, seed in zip(days, seeds, strict=True):
        truth = answers_of(user, day, seed)
        welcome.extend(truth)
        day_runs = {name: simulate(day, truth, name, policy) for name in LEARNERS}
        # The same events for every runtime: from where both learners had AFTER answers
        # (or all they ever got: a learner that fell silent for good has done learning).
        starts = [
            next(
                (i for i, a in enumerate(r.answers_before) if a >= min(AFTER, r.answers)),
                len(r.costs),
            )
            for name, r in day_runs.items()
            if name != "population gate"
        ]
        start = max(starts)
        for name, run in day_runs.items():
            runs[name].append(run)
            if start < len(run.costs):
                after[name].append(float(np.mean(run.costs[start:])))
    return UserResult(
        user=user.name,
        rule=user.rule,
        welcome_rate=float(np.mean(welcome)),
        by_answers={name: _by_answers(r) for name, r in runs.items()},
        after={name: float(np.mean(v)) if v else float("nan") for name, v in after.items()},
        answers={name: float(np.mean([r.answers for r in rs])) for name, rs in runs.items()},
    )


def measure_cost(
    day: Sequence[Moment], predict: Callable[[list[list[Event]]], np.ndarray], n: int = 200
) -> dict[str, float]:
    """Mean milliseconds: the population need head per event (lexical features and the
    head, as the gate scores one event), the personal model's adjustment per event after
    100 answers, and one answer learnt."""
    sample = list(day[:n])
    model = PersonalModel()
    started = time.perf_counter()
    for i, moment in enumerate(sample[:100]):
        outcome = Outcome.ACCEPTED if i % 3 else Outcome.REJECTED
        model.learn(moment.window, moment.p_need, outcome, moment.window[-1].time)
    learn_ms = (time.perf_counter() - started) * 1000 / min(100, len(sample))
    started = time.perf_counter()
    for moment in sample:
        predict([moment.window])
    gate_ms = (time.perf_counter() - started) * 1000 / len(sample)
    started = time.perf_counter()
    for moment in sample:
        model.adjust(moment.window, moment.p_need, POPULATION_ACCEPT)
    adjust_ms = (time.perf_counter() - started) * 1000 / len(sample)
    return {"gate_ms": gate_ms, "personal_adjust_ms": adjust_ms, "learn_ms": learn_ms}


@dataclass
class PersonalReport:
    policy: dict[str, float]
    seeds: list[int]
    events_per_day: int
    users: list[UserResult]
    mean_after: dict[str, float]
    mean_by_answers: dict[str, dict[str, float | None]]
    worse_than_population: list[str]
    timing: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PersonalReport:
        """Back from `to_dict` (extra keys, such as a rendered table, are left out)."""
        fields = {name: data[name] for name in cls.__dataclass_fields__}
        return cls(**{**fields, "users": [UserResult(**u) for u in data["users"]]})

    def table(self) -> str:
        names = _bucket_names()
        lines = [
            f"{len(self.users)} simulated users, {self.events_per_day} events a day, "
            f"{len(self.seeds)} day orders each, {int(NOISE * 100)}% answer noise; "
            f"costs C_FA {self.policy['cost_false_alarm']:g}, "
            f"C_FN {self.policy['cost_missed_help']:g}",
            "",
            f"cost per event after {AFTER} answers:",
            f"{'user':22} {'welcome':>7} " + " ".join(f"{n[:16]:>16}" for n in LEARNERS),
        ]
        for r in self.users:
            lines.append(
                f"{r.user:22} {r.welcome_rate:7.2f} "
                + " ".join(f"{r.after[n]:16.3f}" for n in LEARNERS)
            )
        lines.append(
            f"{'mean':22} {'':7} " + " ".join(f"{self.mean_after[n]:16.3f}" for n in LEARNERS)
        )
        pop, ctx, own = (self.mean_after[n] for n in LEARNERS)
        lines += [
            f"personal model vs population gate: {1 - own / pop:+.0%} cost; "
            f"vs context offsets: {1 - own / ctx:+.0%} (positive: lower)",
            "users worse off than with the population gate: "
            + (", ".join(self.worse_than_population) or "none"),
            "",
            "mean cost per event by answers received so far:",
            f"{'learner':22} " + " ".join(f"{n:>8}" for n in names),
        ]
        for learner in LEARNERS:
            row = self.mean_by_answers[learner]
            lines.append(
                f"{learner:22} "
                + " ".join("       -" if row[n] is None else f"{row[n]:8.3f}" for n in names)
            )
        t = self.timing
        lines += [
            "",
            f"cost per event: population need head {t['gate_ms']:.3f} ms, personal adjustment "
            f"{t['personal_adjust_ms']:.3f} ms (+{t['personal_adjust_ms'] / t['gate_ms']:.0%}); "
            f"learning one answer {t['learn_ms']:.3f} ms",
        ]
        return "\n".join(lines)


def run_personal(
    root: Path,
    policy: GatePolicy,
    *,
    window: int = 8,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    users: Sequence[SimulatedUser] = PANEL,
    progress: Callable[[str], None] = lambda _: None,
) -> PersonalReport:
    segments, predict = build_segments(root, window, progress)
    days = [simulated_day(segments, seed, window) for seed in seeds]
    results = []
    for user in users:
        progress(f"user {user.name}")
        results.append(evaluate_user(user, days, policy, seeds=seeds))
    mean_after = {n: float(np.nanmean([r.after[n] for r in results])) for n in LEARNERS}
    mean_by_answers = {
        n: {
            b: (
                float(np.mean(values))
                if (
                    values := [
                        r.by_answers[n][b] for r in results if r.by_answers[n][b] is not None
                    ]
                )
                else None
            )
            for b in _bucket_names()
        }
        for n in LEARNERS
    }
    worse = [
        r.user
        for r in results
        if round(r.after["personal model"], 3) > round(r.after["population gate"], 3)
    ]
    return PersonalReport(
        policy=policy.model_dump(),
        seeds=list(seeds),
        events_per_day=len(days[0]),
        users=results,
        mean_after=mean_after,
        mean_by_answers=mean_by_answers,
        worse_than_population=worse,
        timing=measure_cost(days[0], predict),
    )


def plot_personal(report: PersonalReport, path: Path) -> bool:
    """Cost per event against answers received, per learner (mean and each user)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = _bucket_names()
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=120)
    for learner, color in zip(LEARNERS, ("grey", "tab:blue", "tab:green"), strict=True):
        for user in report.users:
            row = user.by_answers[learner]
            xs = [i for i, n in enumerate(names) if row[n] is not None]
            ax.plot(xs, [row[names[i]] for i in xs], color=color, alpha=0.15, linewidth=1)
        row = report.mean_by_answers[learner]
        xs = [i for i, n in enumerate(names) if row[n] is not None]
        ax.plot(
            xs, [row[names[i]] for i in xs], color=color, marker="o", linewidth=2.5, label=learner
        )
    ax.set_xticks(range(len(names)), names)
    ax.set_xlabel("answers the runtime had received")
    ax.set_ylabel("cost per event")
    ax.set_title(f"learning one user ({len(report.users)} simulated users)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
