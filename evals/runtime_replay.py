"""ProactiveBench replay: the whole runtime over the labelled recordings, judged like the paper.

Each recording is replayed through the real pipeline (gate, slow path, memory in a
scratch SQLite file) with a gate trained without it (`evals.fold_gate`), one event at a
time. What the runtime did is written back as ProactiveBench traces (`agent_response`:
the offered task, or ["null"]) and scored with ProactiveBench's metrics per split (all,
coding, writing). The peer agents (peer_traces/ and peer_traces_extra/) are scored by the
same judge in the same run, each against the labels of its own trace files.

The slow path is the LangGraph reasoning graph; its drafts come from the offline template
drafter (the runtime's default), the recorded collection-time agent (`evals.recorded_chat`,
only where a recording kept its proposals) or any OpenAI-compatible endpoint.
`gate-rule` settles escalations by p_accept >= tau alone. An offer with no drafted task is
written (and judged) as what the user is shown: an offer of help with the current activity.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.config import ExplorationSettings
from agent.pipeline import Pipeline, PipelineOptions
from agent.slowpath import GateRuleSlowPath, SlowPath
from agent.slowpath.llm import ChatModel
from agent.surface import Surface
from core.decision import Action, Decision
from core.events import Event
from core.outcome import StepOutcome
from core.sources import StaticSource
from evals.judges import Judge, JudgeCase
from evals.lockstep import Lockstep
from evals.metrics import BenchScores, JudgedEvent, score, table
from evals.peers import PEER_FOLDERS
from gate.base import Embedder, GateModel
from gate.data import Trace
from gate.policy import GatePolicy
from memory.store import Store

MAX_JUDGED_TASKS = 3
SlowPathFactory = Callable[[Store, GateModel, Path], SlowPath]


def gate_rule_slow_path(store: Store, gate: GateModel, work: Path) -> SlowPath:
    return GateRuleSlowPath()


def graph_slow_path(chat: ChatModel | None = None, repeat_window_s: float = 0.0) -> SlowPathFactory:
    """The reasoning graph drafting with `chat`, or with the template drafter (ranked with
    the gate's encoder) when `chat` is None; memory and checkpoints in `work`; offers like
    one made within `repeat_window_s` held back (0: no such check), as the daemon does
    with its etiquette's window."""

    def build(store: Store, gate: GateModel, work: Path) -> SlowPath:
        from agent.slowpath.drafter import ChatDrafter, Drafter
        from agent.slowpath.graph import ReasoningSlowPath, checkpoint_saver
        from agent.slowpath.template_drafter import TemplateDrafter
        from tools import default_pool

        pool = default_pool(work / "workspace")
        drafter: Drafter = (
            ChatDrafter(chat, pool)
            if chat is not None
            else TemplateDrafter(pool, gate.embed_texts if isinstance(gate, Embedder) else None)
        )
        return ReasoningSlowPath(
            drafter=drafter,
            pool=pool,
            store=store,
            gate=gate,
            saver=checkpoint_saver(store.url, work / "deliberations.sqlite"),
            repeat_window_s=repeat_window_s,
        )

    return build


def undrafted_offer(activity: str) -> str:
    """The task text of an offer with no drafted task: help with the current activity."""
    return f"Offer help with: {activity}"[:200]


@dataclass(frozen=True)
class ReplayedEvent:
    trace: str
    index: int
    observation: dict[str, str]
    needed: bool
    task: str | None
    """The offered task; None when the runtime stayed silent."""
    decided_by: str
    gate: str
    p_need: float
    p_accept: float
    tau: float
    escalated: bool
    gate_ms: float
    slow_ms: float
    tokens: int
    draft: str | None = None
    """The task the slow path drafted with words to say, offered or held back; None when
    it drafted nothing (no deliberation, an unusable draft, or an explicit silence)."""
    held_back: bool = False
    """The slow path drafted an offer and then decided silence (counterfactual check:
    p_accept of the draft below tau, or a repeat of a refused offer)."""


class _Quiet:
    """The replay's surface: offers are read back from memory afterwards."""

    def offer(self, event: Event, decision: Decision) -> None:
        pass

    def result(self, event_id: str, outcomes: list[StepOutcome]) -> None:
        pass


async def replay_events(
    events: Sequence[Event],
    source: str,
    *,
    gate: GateModel,
    policy: GatePolicy,
    store: Store,
    slow_path: SlowPath,
    surface: Surface,
    window: int | None = None,
    learn: bool = True,
    draft_offers: bool | None = None,
    exploration: ExplorationSettings | None = None,
) -> None:
    """Run `events` through a fresh pipeline, one event a batch, each decided to the end
    (slow path included) before the next: every decision sees memory as it stood after
    the previous one, and a replay never depends on timing. As in the daemon, the gate's
    own offers are drafted unless there is no drafter (`draft_offers` None); exploring
    only when asked (`exploration`)."""
    if draft_offers is None:
        draft_offers = not isinstance(slow_path, GateRuleSlowPath)
    pipeline = Pipeline(
        source=StaticSource(list(events), source),
        gate=gate,
        policy=policy,
        store=store,
        slow_path=slow_path,
        surface=surface,
        options=PipelineOptions(
            batch_size=1,
            queue_size=1,
            window_size=window or getattr(gate, "window", 8),
            learn_from_feedback=learn,
            draft_offers=(
                not isinstance(slow_path, GateRuleSlowPath)
                if draft_offers is None
                else draft_offers
            ),
            exploration=exploration,
        ),
        pacing=Lockstep(),
    )
    await pipeline.run()


def replay_trace(
    trace: Trace, gate: GateModel, policy: GatePolicy, slow_path: SlowPathFactory
) -> list[ReplayedEvent]:
    """Run one trace through a fresh runtime, configured as the daemon is by default
    (exploring included), and read back what it decided."""
    with tempfile.TemporaryDirectory(prefix="festina-replay-") as scratch:
        work = Path(scratch)
        store = Store(f"sqlite:///{work / 'memory.db'}")
        try:
            asyncio.run(
                replay_events(
                    trace.events,
                    f"replay:{trace.name}",
                    gate=gate,
                    policy=policy,
                    store=store,
                    slow_path=slow_path(store, gate, work),
                    surface=_Quiet(),
                    exploration=ExplorationSettings(),
                )
            )
            decided = {event.id: decision for event, decision in store.decisions(limit=10**6)}
            out = []
            for index, (event, needed) in enumerate(zip(trace.events, trace.needs, strict=True)):
                decision = decided[event.id]
                row = store.deliberation(event.id)
                task = None
                if decision.final_action is Action.INTERVENE:
                    drafted = (
                        row.proposal if row is not None and row.action == "intervene" else None
                    )
                    task = drafted["task"] if drafted else undrafted_offer(event.summary())
                proposal = row.proposal if row is not None else None
                draft = proposal["task"] if proposal and proposal["speak"].strip() else None
                out.append(
                    ReplayedEvent(
                        trace=trace.name,
                        index=index,
                        observation=trace.observations[index],
                        needed=needed,
                        task=task,
                        decided_by=decision.decided_by or "",
                        gate=decision.model_version,
                        p_need=decision.p_need,
                        p_accept=decision.p_accept,
                        tau=decision.tau,
                        escalated=decision.gate_action is Action.ESCALATE,
                        gate_ms=decision.gate_latency_ms,
                        slow_ms=sum(s["ms"] for s in row.trace) if row is not None else 0.0,
                        tokens=row.tokens if row is not None else 0,
                        draft=draft,
                        held_back=draft is not None and row is not None and row.action == "silent",
                    )
                )
            return out
        finally:
            store.close()


def write_traces(events: Iterable[ReplayedEvent], folder: Path) -> list[Path]:
    """What the runtime did, as ProactiveBench traces (one JSON list a trace)."""
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_trace.setdefault(e.trace, []).append(
            {
                "observation": e.observation,
                "agent_response": [e.task] if e.task else ["null"],
                "task_status": e.needed,
                "festina": {
                    "decided_by": e.decided_by,
                    "gate": e.gate,
                    "p_need": round(e.p_need, 4),
                    "p_accept": round(e.p_accept, 4),
                    "tau": round(e.tau, 4),
                    "escalated": e.escalated,
                },
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, items in by_trace.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(items, indent=1))
        paths.append(path)
    return paths


@dataclass(frozen=True)
class TraceStep:
    """One event of a judged trace: its history, the agent's tasks, the human label."""

    history: tuple[dict[str, str], ...]
    tasks: tuple[str, ...]
    needed: bool


def response_tasks(response: object) -> tuple[str, ...]:
    """The tasks in an `agent_response`; empty, null and "null" mean silence."""
    items = response if isinstance(response, list) else [response]
    return tuple(
        t.strip() for t in items if isinstance(t, str) and t.strip() and t.strip() != "null"
    )


def load_trace_steps(path: Path) -> list[TraceStep]:
    items = json.loads(path.read_text())
    observations = [item["observation"] for item in items]
    return [
        TraceStep(
            tuple(observations[: i + 1]),
            response_tasks(item.get("agent_response")),
            bool(item["task_status"]),
        )
        for i, item in enumerate(items)
    ]


def judge_steps(
    name: str, steps: Iterable[TraceStep], judge: Judge, on_step: Callable[[], None] = lambda: None
) -> BenchScores:
    """`steps` judged and scored (ProactiveBench's TP/FP/TN/FN)."""
    return score(name, judged_events(steps, judge, on_step))


def judged_events(
    steps: Iterable[TraceStep], judge: Judge, on_step: Callable[[], None] = lambda: None
) -> list[JudgedEvent]:
    """Each step's verdict: at most `MAX_JUDGED_TASKS` of its tasks judged, or its silence."""
    steps = list(steps)
    prefetch = getattr(judge, "prefetch", None)
    if prefetch is not None:  # a model judge that judges a batch faster than one by one
        prefetch(
            [
                JudgeCase(s.history, t, s.needed)
                for s in steps
                for t in (s.tasks[:MAX_JUDGED_TASKS] or (None,))
            ]
        )
    judged = []
    for step in steps:
        tasks = step.tasks[:MAX_JUDGED_TASKS]
        if tasks:
            verdicts = [judge.accepts(JudgeCase(step.history, t, step.needed)) for t in tasks]
            judged.append(JudgedEvent(len(tasks), sum(verdicts), any(verdicts)))
        else:
            judged.append(
                JudgedEvent(0, 0, judge.accepts(JudgeCase(step.history, None, step.needed)))
            )
        on_step()
    return judged


def always_propose(steps: Iterable[TraceStep]) -> list[TraceStep]:
    """The same traces with an offer of help at every event."""
    return [
        TraceStep(s.history, (undrafted_offer(s.history[-1]["event"]),), s.needed) for s in steps
    ]


@dataclass(frozen=True)
class Cost:
    events: int
    escalated_fraction: float
    deliberations: int
    mean_gate_ms: float
    mean_slow_ms: float
    slow_path_tokens: int

    @classmethod
    def of(cls, events: list[ReplayedEvent]) -> Cost:
        deliberated = [e for e in events if e.slow_ms > 0]
        return cls(
            events=len(events),
            escalated_fraction=sum(e.escalated for e in events) / len(events) if events else 0.0,
            deliberations=len(deliberated),
            mean_gate_ms=sum(e.gate_ms for e in events) / len(events) if events else 0.0,
            mean_slow_ms=(
                sum(e.slow_ms for e in deliberated) / len(deliberated) if deliberated else 0.0
            ),
            slow_path_tokens=sum(e.tokens for e in events),
        )


# Only these recordings kept the collection-time agent's proposals (`candidate_task`).
RECORDED_FOLDER = "test_data"


def recorded_tasks(root: Path, traces: Iterable[Trace]) -> dict[str, list[str]]:
    """The collection-time agent's candidate tasks, by event summary (for `RecordedChat`),
    from the recordings that kept them."""
    tasks: dict[str, list[str]] = {}
    for trace in traces:
        if trace.folder != RECORDED_FOLDER:
            continue
        items = json.loads((root / trace.folder / f"{trace.name}.json").read_text())
        for event, item in zip(trace.events, items, strict=True):
            tasks[event.summary()] = list(
                (item.get("agent_response") or {}).get("candidate_task") or []
            )
    return tasks


def splits(names: Iterable[str]) -> dict[str, list[str]]:
    """Split name -> trace names: all of them, then by activity (code_*, writing_*)."""
    names = list(names)
    by_split = {
        "all": names,
        "coding": [n for n in names if n.startswith("code_")],
        "writing": [n for n in names if n.startswith("writing_")],
    }
    return {split: members for split, members in by_split.items() if members}


@dataclass
class ReplayReport:
    judge: str
    slow_path: str
    policy: dict[str, float]
    scores: dict[str, list[BenchScores]]
    """Split -> festina, always propose, then the peers by F1."""
    cost: Cost
    judge_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        parts = []
        for split, rows in self.scores.items():
            parts += [f"split {split} (judge: {self.judge})", table(rows), ""]
        c = self.cost
        parts.append(
            f"cost: {c.escalated_fraction:.3f} of {c.events} events escalated, "
            f"{c.deliberations} deliberations ({self.slow_path}); mean gate "
            f"{c.mean_gate_ms:.1f} ms/event, mean slow path {c.mean_slow_ms:.1f} ms; "
            f"LLM tokens: slow path {c.slow_path_tokens}, judge {self.judge_tokens}"
        )
        return "\n".join(parts)


def replay_all(
    traces: list[Trace],
    gates: dict[str, GateModel],
    policy: GatePolicy,
    slow_path: SlowPathFactory,
    on_trace: Callable[[], None] = lambda: None,
) -> list[ReplayedEvent]:
    events: list[ReplayedEvent] = []
    for trace in traces:
        events += replay_trace(trace, gates[trace.name], policy, slow_path)
        on_trace()
    return events


def score_replay(
    root: Path,
    events: list[ReplayedEvent],
    judge: Judge,
    out_dir: Path,
    *,
    peers: bool = True,
    on_step: Callable[[], None] = lambda: None,
) -> dict[str, list[BenchScores]]:
    """Write festina's traces to out_dir/traces/festina and score every split over the
    replayed recordings (peers on their own files of the same recordings)."""
    write_traces(events, out_dir / "traces" / "festina")
    folders = {"festina (replay)": [out_dir / "traces" / "festina"]}
    if peers:
        for peer_root in PEER_FOLDERS.values():
            for folder in sorted(p for p in (root / peer_root).iterdir() if p.is_dir()):
                folders.setdefault(folder.name, []).append(folder)
    results: dict[str, list[BenchScores]] = {}
    for split, names in splits(dict.fromkeys(e.trace for e in events)).items():
        rows = []
        for label, candidates in folders.items():
            steps = [
                s
                for n in names
                for folder in candidates
                if (folder / f"{n}.json").exists()
                for s in load_trace_steps(folder / f"{n}.json")
            ]
            if not steps:
                continue
            rows.append(judge_steps(label, steps, judge, on_step))
            if label == "festina (replay)":
                rows.append(judge_steps("always propose", always_propose(steps), judge, on_step))
        results[split] = rows[:2] + sorted(rows[2:], key=lambda s: -s.f1)
    return results
