"""ProactiveMobile-style evaluation: device context in, a sequence of tool calls out.

Each instance is four signals, one event per dimension (what is on screen, time and
calendar, location and motion, device state), and a gold answer with several
acceptable function sequences over festina's tool pool; an empty sequence means
staying silent is right. The set (`evals/data/mobile-v1.jsonl`) is generated from the
scenario templates below with a seed (`festina eval mobile --generate` rebuilds it).

Planners:
* `gate+retrieval` (offline): the gate decides whether to act on the latest signal;
  when it does, the plan is the one tool whose description is nearest to the four
  signals in the gate's own sentence embedding. A baseline, not a planner.
* `gate+templates` and `templates`: festina's default drafter (no model) on the four
  signals, its best template's plan, where the gate would offer help or (without the
  gate) wherever a template applies.
* `slow path (<model>)`: the slow path's drafting step (same prompt, schema and
  validation against the pool) on any OpenAI-compatible model; its plan is the
  proposal's tool plan, or nothing when it chooses silence.

Scores: exact success (the plan equals one gold sequence), partial success (the best
longest-common-subsequence overlap with a gold sequence, LCS / longer length; silence
against silence counts 1), and act/stay-silent accuracy.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.slowpath.drafter import DraftRequest
from agent.slowpath.llm import ChatError, ChatModel
from agent.slowpath.proposal import (
    PROPOSAL_SCHEMA,
    ProposalError,
    build_messages,
    parse_proposal,
    shortlist,
)
from agent.slowpath.template_drafter import TemplateDrafter
from core.events import Event
from gate.base import Embedder, GateModel
from gate.policy import GatePolicy
from tools.pool import ToolPool

SET_VERSION = "mobile-v1"
DEFAULT_SEED = 11
PER_SCENARIO = 4
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DIMENSIONS = ("screen", "calendar", "motion", "device")

_PLACES = ("the airport", "Central Station", "the dentist", "the office", "Riverside Park")
_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Emma")
_SONGS = ("running mix", "focus playlist", "morning jazz")

# (name, signals by dimension, gold sequences). Templates fill {place}, {name}, {n}, {song}.
SCENARIOS: tuple[tuple[str, dict[str, str], list[list[str]]], ...] = (
    (
        "meeting-far-away",
        {
            "screen": "The user is scrolling a news app on the phone's home screen",
            "calendar": "A calendar event 'Appointment at {place}' starts in 25 minutes",
            "motion": "The phone's location is 12 km from {place}; the user is standing still",
            "device": "Battery at {n}%, on mobile data",
        },
        [["directions_url", "open_url"], ["directions_url"]],
    ),
    (
        "battery-low-navigating",
        {
            "screen": "The maps app shows turn-by-turn navigation to {place}",
            "calendar": "No calendar events in the next two hours",
            "motion": "The user is driving at 70 km/h, 40 minutes from {place}",
            "device": "Battery at {low}% and discharging; screen brightness at 100%",
        },
        [["toggle_setting"], ["set_brightness"], ["toggle_setting", "set_brightness"]],
    ),
    (
        "message-while-driving",
        {
            "screen": "A chat notification from {name}: 'are you coming tonight?'",
            "calendar": "A calendar event 'Dinner with {name}' at 20:00",
            "motion": "The user is driving on the motorway",
            "device": "Battery at {n}%, Bluetooth connected to the car",
        },
        [["draft_message"], ["set_reminder"]],
    ),
    (
        "late-night-loud",
        {
            "screen": "The user is reading an e-book in the reading app",
            "calendar": "It is 23:40; the first calendar event tomorrow is at 08:30",
            "motion": "The phone is at home and has not moved for 30 minutes",
            "device": "Media volume at 90%; do not disturb is off",
        },
        [["toggle_setting"], ["set_volume"], ["toggle_setting", "set_volume"]],
    ),
    (
        "starting-a-run",
        {
            "screen": "The fitness app starts an outdoor run workout",
            "calendar": "No calendar events this morning",
            "motion": "The user starts running in Riverside Park",
            "device": "Bluetooth headphones connected; nothing is playing",
        },
        [["play_music"]],
    ),
    (
        "early-flight",
        {
            "screen": "A boarding pass for a 06:10 flight is open in the wallet app",
            "calendar": "A calendar event 'Flight to Lisbon' tomorrow at 06:10",
            "motion": "The user is at home in the evening",
            "device": "Battery at {n}%; no alarms are set",
        },
        [["set_alarm"], ["set_alarm", "set_reminder"]],
    ),
    (
        "splitting-a-bill",
        {
            "screen": "A photo of a restaurant bill of {n}0 euros is open in the gallery",
            "calendar": "A calendar event 'Dinner with {name} and friends' now",
            "motion": "The user is sitting in a restaurant",
            "device": "Battery at {n}%, on Wi-Fi",
        },
        [["calculate"]],
    ),
    (
        "abroad-meeting",
        {
            "screen": "The user opens the calendar app just after landing",
            "calendar": "A video call with {name} at 15:00 New York time today",
            "motion": "The phone's location changed to Tokyo; the user is walking",
            "device": "The phone switched to roaming",
        },
        [["world_clock"]],
    ),
    (
        "outdoor-event-weather",
        {
            "screen": "The user looks at the 'Picnic in Riverside Park' event details",
            "calendar": "A calendar event 'Picnic in Riverside Park' starts in one hour",
            "motion": "The user is leaving home on foot",
            "device": "Battery at {n}%, on mobile data",
        },
        [["get_weather"]],
    ),
    (
        "long-article-commute",
        {
            "screen": "A 4000-word article on battery technology is open in the browser",
            "calendar": "A calendar event 'Team meeting' starts in 15 minutes",
            "motion": "The user is on a train, 10 minutes from the station",
            "device": "Battery at {n}%, on mobile data",
        },
        [["summarize_text"]],
    ),
    (
        "quiet-browsing",
        {
            "screen": "The user is scrolling a social media feed",
            "calendar": "No calendar events today",
            "motion": "The user is at home on the sofa",
            "device": "Battery at {n}% and charging, on Wi-Fi",
        },
        [[]],
    ),
    (
        "quiet-working",
        {
            "screen": "The user is typing an email in the mail app",
            "calendar": "The next calendar event is tomorrow at 10:00",
            "motion": "The user is sitting at the office",
            "device": "Battery at {n}%, on Wi-Fi, volume at 30%",
        },
        [[]],
    ),
)
_KINDS = {"screen": "window", "calendar": "calendar", "motion": "device", "device": "device"}


@dataclass(frozen=True)
class MobileInstance:
    id: str
    scenario: str
    signals: dict[str, str]
    time: float
    gold: list[list[str]]

    def events(self) -> list[Event]:
        """One event per dimension, a second apart, in DIMENSIONS order (device last)."""
        return [
            Event.model_validate(
                {
                    "time": self.time + i,
                    "source": f"mobile:{self.id}",
                    "kind": _KINDS[dim],
                    "app": dim,
                    "text": self.signals[dim],
                    "attributes": {"dimension": dim},
                }
            )
            for i, dim in enumerate(DIMENSIONS)
        ]


def generate(*, seed: int = DEFAULT_SEED, per_scenario: int = PER_SCENARIO) -> list[MobileInstance]:
    rng = random.Random(seed)
    out = []
    for name, signals, gold in SCENARIOS:
        for k in range(per_scenario):
            fill = {
                "place": rng.choice(_PLACES),
                "name": rng.choice(_NAMES),
                "song": rng.choice(_SONGS),
                "n": rng.randint(20, 95),
                "low": rng.randint(4, 14),
            }
            out.append(
                MobileInstance(
                    id=f"{name}-{k}",
                    scenario=name,
                    signals={d: signals[d].format(**fill) for d in DIMENSIONS},
                    time=START + len(out) * 3600.0,
                    gold=gold,
                )
            )
    return out


def write_set(instances: Sequence[MobileInstance], path: Path) -> None:
    path.write_text("".join(json.dumps(asdict(i), sort_keys=True) + "\n" for i in instances))


def load_set(path: Path) -> list[MobileInstance]:
    return [MobileInstance(**json.loads(line)) for line in path.read_text().splitlines() if line]


def shipped_set_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("evals.data").joinpath(f"{SET_VERSION}.jsonl")))


Planner = Callable[[list[Event]], list[str]]


def retrieval_planner(gate: GateModel, policy: GatePolicy, pool: ToolPool) -> Planner:
    """Act when the gate would offer help on the last signal; plan the nearest tool."""
    if not isinstance(gate, Embedder):
        raise ValueError("the retrieval planner needs a gate that embeds text")
    tools = pool.tools()
    vectors = gate.embed_texts([f"{t.name.replace('_', ' ')}: {t.description}" for t in tools])

    def plan(window: list[Event]) -> list[str]:
        scores = gate.score([window])[0]
        # The gate's rule with escalations settled by it too (no slow path here).
        tau = policy.decide(scores.p_need, scores.p_accept, scores.evidence).tau
        if not GatePolicy.offering_pays(scores.p_accept, tau):
            return []
        query = gate.embed_texts([" ".join(e.text for e in window)])[0]
        return [tools[int(np.argmax(vectors @ query))].name]

    return plan


def templates_planner(gate: GateModel | None, policy: GatePolicy, pool: ToolPool) -> Planner:
    """festina's default drafter on the four signals: its best template's plan, where the
    gate would offer help (with no gate: wherever a template applies)."""
    embed = gate.embed_texts if isinstance(gate, Embedder) else None
    drafter = TemplateDrafter(pool, embed)

    def plan(window: list[Event]) -> list[str]:
        if gate is not None:
            scores = gate.score([window])[0]
            tau = policy.decide(scores.p_need, scores.p_accept, scores.evidence).tau
            if not GatePolicy.offering_pays(scores.p_accept, tau):
                return []
        ranked = drafter.rank(DraftRequest(window))
        return [call.tool for call in ranked[0].candidate.plan] if ranked else []

    return plan


def drafting_planner(chat: ChatModel, pool: ToolPool) -> Planner:
    """The slow path's drafting step: its tool plan, or nothing when it keeps silent."""

    def plan(window: list[Event]) -> list[str]:
        messages = build_messages(window, [], [], shortlist(pool, window))
        try:
            proposal = parse_proposal(chat.complete(messages, PROPOSAL_SCHEMA).text, pool)
        except (ChatError, ProposalError):
            return []
        return [call.tool for call in proposal.tool_plan] if proposal.speak.strip() else []

    return plan


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
            )
    return table[-1][-1]


def partial_success(plan: Sequence[str], gold: Sequence[Sequence[str]]) -> float:
    best = 0.0
    for answer in gold:
        longer = max(len(plan), len(answer))
        best = max(best, 1.0 if longer == 0 else _lcs(plan, answer) / longer)
    return best


@dataclass
class MobileScores:
    planner: str
    instances: int
    exact: float
    partial: float
    act_accuracy: float
    by_scenario: dict[str, float]
    """Scenario -> exact success."""


def run_mobile(
    instances: Sequence[MobileInstance],
    planner: Planner,
    name: str,
    on_instance: Callable[[], None] = lambda: None,
) -> MobileScores:
    exact, partial, act = [], [], []
    by_scenario: dict[str, list[bool]] = {}
    for instance in instances:
        plan = planner(instance.events())
        hit = plan in instance.gold
        exact.append(hit)
        partial.append(partial_success(plan, instance.gold))
        act.append(bool(plan) == any(instance.gold))
        by_scenario.setdefault(instance.scenario, []).append(hit)
        on_instance()
    n = len(instances)
    return MobileScores(
        planner=name,
        instances=n,
        exact=sum(exact) / n,
        partial=sum(partial) / n,
        act_accuracy=sum(act) / n,
        by_scenario={k: sum(v) / len(v) for k, v in by_scenario.items()},
    )


def format_results(results: Sequence[MobileScores]) -> str:
    lines = [f"{'planner':40} {'n':>4} {'exact':>6} {'partial':>7} {'act acc':>7}"]
    lines += [
        f"{r.planner:40} {r.instances:4d} {r.exact:6.3f} {r.partial:7.3f} {r.act_accuracy:7.3f}"
        for r in results
    ]
    return "\n".join(lines)


def as_dict(results: Sequence[MobileScores]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
