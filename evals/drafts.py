"""Drafter benchmark: what each drafter offers on the ProactiveBench test traces.

Every drafter drafts at every event of the eight test traces (the window: the event and
the ones before it in its trace), given no memory unless a row says so, and its answer
is validated the way the graph validates it. Per drafter:

* offers: drafts that say something (a non-empty `speak`); the rest are silences;
* schema ok: answers that follow the proposal schema;
* with plan / plan ok: offers with a tool plan, and of those, plans whose every call
  names a pool tool with arguments it accepts;
* latency p50 / p99 per draft, validation included (the graph's draft node);
* tokens per draft (LLM drafters; 0 for templates and recorded drafts);
* one pair of columns per judge: `accepted`, the share of offers the judge accepts, and
  `right`, the share of events where it accepts what the drafter did (offer or silence);
* with a counterfactual check (the graph's: the gate's task-aware p_accept of the draft
  against tau, as for an escalated event): the share of offers it holds back, and per
  judge the share of the *kept* offers it accepts, which is what the check changed.

A judge is any callable `(JudgeCase) -> bool` (see `evals.judges`); one that takes
`(history, task | None)` fits through `judge_column`. The human labels are the offline
stand-in: they accept an offer wherever help was needed, whatever its words, so they
measure when a drafter speaks, not what it says.

Baseline in the same run: the recorded drafts (the collection-time agent's candidate
tasks, `evals.recorded_chat`). Those are where the labels were collected, so under the
human labels they are close to an upper bound, not a peer.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.slowpath.drafter import Drafter, DraftRequest
from agent.slowpath.llm import ChatError
from agent.slowpath.proposal import ProposalError, check_plan, parse_schema
from core.events import Event
from evals.judges import JudgeCase
from evals.metrics import JudgedEvent, score
from evals.runtime_replay import RECORDED_FOLDER
from gate.data import Trace, load_traces
from gate.policy import GatePolicy
from tools.pool import ToolPool

JudgeFn = Callable[[JudgeCase], bool]
Check = Callable[[list[Event], str], bool]
"""The counterfactual check: would the graph keep this offer (window, task)?"""


def judge_column(fn: Callable[[tuple[dict[str, str], ...], str | None], bool]) -> JudgeFn:
    """A judge of the shape `(history, task | None) -> bool` as a benchmark column."""
    return lambda case: fn(case.history, case.task)


@dataclass(frozen=True)
class DraftCase:
    """One moment to draft for: the window, ProactiveBench's history, the human label."""

    trace: str
    index: int
    window: list[Event]
    history: tuple[dict[str, str], ...]
    needed: bool


def test_traces(root: Path) -> list[Trace]:
    """The recordings that kept the collection-time agent's drafts, in their own order."""
    return load_traces(root, [RECORDED_FOLDER])


def draft_cases(traces: list[Trace], window: int) -> list[DraftCase]:
    """Every event of `traces` with the `window` events up to it."""
    cases = []
    for trace in traces:
        for index, needed in enumerate(trace.needs):
            cases.append(
                DraftCase(
                    trace.name,
                    index,
                    trace.events[max(0, index + 1 - window) : index + 1],
                    tuple(trace.observations[: index + 1]),
                    needed,
                )
            )
    return cases


@dataclass(frozen=True)
class DraftResult:
    schema_ok: bool
    task: str | None
    """The offered task; None for a silence or an unusable answer."""
    has_plan: bool
    plan_ok: bool
    ms: float
    error: str | None = None
    tokens: int = 0


Memory = Callable[[DraftCase], dict[str, list[str]]]
"""The answered offers a row gives each draft: DraftRequest's accepted/rejected_tasks."""


def draft_once(
    drafter: Drafter, pool: ToolPool, case: DraftCase, memory: Memory | None = None
) -> DraftResult:
    """Draft and validate, timed together: what the graph's draft node does."""
    request = DraftRequest(case.window, **(memory(case) if memory else {}))
    started = time.perf_counter()
    tokens = 0
    try:
        draft = drafter.draft(request)
        tokens = draft.tokens
        proposal = parse_schema(draft.text)
    except (ChatError, ProposalError) as error:
        return DraftResult(False, None, False, False, _ms(started), str(error), tokens)
    try:
        check_plan(proposal, pool)
        plan_ok, error = True, None
    except ProposalError as why:
        plan_ok, error = False, str(why)
    ms = _ms(started)
    offered = bool(proposal.speak.strip())
    return DraftResult(
        True,
        proposal.task if offered else None,
        bool(proposal.tool_plan) if offered else False,
        plan_ok,
        ms,
        error,
        tokens,
    )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


@dataclass
class DrafterRow:
    drafter: str
    drafts: int
    offers: int
    schema_ok: float
    with_plan: float
    """Share of offers with a tool plan."""
    plan_ok: float | None
    """Share of planned offers whose plan validates; None when none has a plan."""
    p50_ms: float
    p99_ms: float
    judges: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Judge name -> {"accepted": share of offers, "right": share of events,
    "accepted_kept": share of the offers the counterfactual check keeps, "ceiling_f1":
    `ceiling_f1`, the best F1 any gate reaches with these drafts}."""
    tokens_per_draft: float = 0.0
    held_back: float | None = None
    """Share of offers the counterfactual check holds back (None: no check given)."""
    setup_ms: float = 0.0
    """One-time cost before the first draft (embedding the templates), not in p50/p99."""
    examples: list[dict[str, Any]] = field(default_factory=list)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def benchmark_drafter(
    name: str,
    drafter: Drafter,
    pool: ToolPool,
    cases: list[DraftCase],
    judges: dict[str, JudgeFn],
    *,
    setup_ms: float = 0.0,
    memory: Memory | None = None,
    check: Check | None = None,
    on_case: Callable[[], None] = lambda: None,
) -> DrafterRow:
    results = []
    for case in cases:
        results.append(draft_once(drafter, pool, case, memory))
        on_case()
    offers = [r for r in results if r.task is not None]
    kept = [
        check(case.window, r.task) if check is not None and r.task is not None else True
        for case, r in zip(cases, results, strict=True)
    ]
    planned = [r for r in offers if r.has_plan]
    columns: dict[str, dict[str, float | None]] = {}
    for judge_name, judge in judges.items():
        judge_cases = [
            JudgeCase(case.history, result.task, case.needed)
            for case, result in zip(cases, results, strict=True)
        ]
        # Silence at every event too, for the ceiling of a gate over these drafts.
        silences = [JudgeCase(c.history, None, c.needed) for c in judge_cases]
        prefetch = getattr(getattr(judge, "__self__", None), "prefetch", None)
        if prefetch is not None:  # a bound model judge: judge the batch at once
            prefetch(judge_cases + silences)
        verdicts = [judge(c) for c in judge_cases]
        accepted = [v for v, r in zip(verdicts, results, strict=True) if r.task is not None]
        after = [
            v for v, r, k in zip(verdicts, results, kept, strict=True) if r.task is not None and k
        ]
        columns[judge_name] = {
            "accepted": sum(accepted) / len(accepted) if accepted else None,
            "right": sum(verdicts) / len(verdicts) if verdicts else None,
            "accepted_kept": (sum(after) / len(after) if after else None) if check else None,
            "ceiling_f1": ceiling_f1(
                [v and r.task is not None for v, r in zip(verdicts, results, strict=True)],
                [judge(c) for c in silences],
            ),
        }
    latencies = [r.ms for r in results]
    return DrafterRow(
        drafter=name,
        drafts=len(results),
        offers=len(offers),
        schema_ok=sum(r.schema_ok for r in results) / len(results),
        with_plan=len(planned) / len(offers) if offers else 0.0,
        plan_ok=sum(r.plan_ok for r in planned) / len(planned) if planned else None,
        p50_ms=statistics.median(latencies),
        p99_ms=_percentile(latencies, 0.99),
        judges=columns,
        tokens_per_draft=sum(r.tokens for r in results) / len(results),
        held_back=(
            sum(not k for k, r in zip(kept, results, strict=True) if r.task is not None)
            / len(offers)
            if check is not None and offers
            else None
        ),
        setup_ms=setup_ms,
        examples=[
            {"trace": c.trace, "index": c.index, "event": c.window[-1].summary(), "task": r.task}
            for c, r in zip(cases, results, strict=True)
            if r.task is not None
        ][:5],
    )


def ceiling_f1(draft_accepted: Sequence[bool], silence_accepted: Sequence[bool]) -> float:
    """ProactiveBench F1 of a gate that offers the draft exactly where the judge accepts it
    and stays silent everywhere else: the best any gate can score with these drafts under
    that judge. Every offer is then a TP; a silence the judge rejects is a FN."""
    return score(
        "ceiling",
        (
            JudgedEvent(1, 1, True) if draft else JudgedEvent(0, 0, silence)
            for draft, silence in zip(draft_accepted, silence_accepted, strict=True)
        ),
    ).f1


def earlier_offers_as_memory(tasks_by_summary: dict[str, list[str]], limit: int = 10) -> Memory:
    """Memory for a latency row: the recorded agent's tasks at the window's earlier
    events, taken as answered alternately yes and no (what the encoder then compares)."""

    def memory(case: DraftCase) -> dict[str, list[str]]:
        earlier = [t for e in case.window[:-1] for t in tasks_by_summary.get(e.summary(), [])]
        earlier = earlier[-limit:]
        return {"accepted_tasks": earlier[::2], "rejected_tasks": earlier[1::2]}

    return memory


def gate_check(gate: object, policy: GatePolicy) -> Check | None:
    """The graph's counterfactual check for an escalated event: the gate's task-aware
    p_accept of the draft must reach tau (from the gate's p_need at the event). None for
    a gate with no task-aware head (the untrained cue gate)."""
    score_tasks = getattr(gate, "score_tasks", None)
    score = getattr(gate, "score", None)
    if score_tasks is None or score is None:
        return None

    def check(window: list[Event], task: str) -> bool:
        scores = score([window])[0]
        tau = policy.decide(scores.p_need, scores.p_accept, scores.evidence).tau
        return GatePolicy.offering_pays(score_tasks([window], [task])[0], tau)

    return check


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_rows(rows: list[DrafterRow]) -> str:
    judges = list(rows[0].judges) if rows else []
    header = (
        f"{'drafter':<44} {'drafts':>6} {'offers':>6} {'schema ok':>9} {'with plan':>9} "
        f"{'plan ok':>7} {'p50 ms':>7} {'p99 ms':>7} {'tokens':>6} {'held back':>9}"
    )
    for judge in judges:
        header += f"  {judge + ': accepted':>24} {'right':>6} {'kept':>6} {'ceiling':>7}"
    lines = [header]
    for r in rows:
        line = (
            f"{r.drafter:<44} {r.drafts:>6} {r.offers:>6} {r.schema_ok:>9.3f} "
            f"{r.with_plan:>9.3f} {_share(r.plan_ok):>7} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} "
            f"{r.tokens_per_draft:>6.0f} {_share(r.held_back):>9}"
        )
        for judge in judges:
            column = r.judges[judge]
            line += (
                f"  {_share(column['accepted']):>24} {_share(column['right']):>6} "
                f"{_share(column.get('accepted_kept')):>6} {_share(column.get('ceiling_f1')):>7}"
            )
        lines.append(line)
    lines.append(
        "offers: drafts that say something; with plan: of offers; plan ok: of planned offers, "
        "every call a pool tool with valid arguments; latency per draft with validation; "
        "tokens: LLM tokens per draft; held back: share of offers the counterfactual check "
        "(the gate's p_accept of the draft >= tau) would silence; accepted: share of offers "
        "the judge accepts; right: share of events where it accepts the offer or the silence; "
        "kept: share of the offers the check keeps that the judge accepts; ceiling: the F1 "
        "(ProactiveBench's, under that judge) of a gate that offers these drafts exactly "
        "where the judge accepts them, the best any gate can do with this drafter."
    )
    setups = [f"{r.drafter}: {r.setup_ms:.0f} ms" for r in rows if r.setup_ms]
    if setups:
        lines.append("one-time set-up, not in the latencies: " + "; ".join(setups))
    return "\n".join(lines)


def as_dict(rows: list[DrafterRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
