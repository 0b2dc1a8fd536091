"""What the slow path did in a replay, and what its counterfactual check changed.

Every deliberation of a replay (`evals.runtime_replay.ReplayedEvent`) either drafted an
offer with words to say or did not; of the drafted offers the graph kept some and held
back the rest (the counterfactual check: the draft's own p_accept below tau, or a repeat
of an offer turned down). A judge of offers (the offline reward judge) reads both kinds:
if the check is worth its place, the drafts it kept are accepted more often than those it
held back. Latency and tokens are per deliberation.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from evals.judges import Judge, JudgeCase
from evals.runtime_replay import ReplayedEvent


@dataclass
class SlowPathStats:
    judge: str
    events: int
    deliberations: int
    drafted_offers: int
    """Deliberations whose draft had words to say."""
    kept: int
    held_back: int
    accepted_kept: float | None
    """Share of kept drafts the judge accepts (None: none kept)."""
    accepted_held_back: float | None
    p50_ms: float
    mean_ms: float
    tokens_per_deliberation: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        def share(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        return (
            f"slow path: {self.deliberations} deliberations over {self.events} events, "
            f"{self.drafted_offers} drafted an offer; the counterfactual check kept "
            f"{self.kept} and held back {self.held_back}. {self.judge} accepts "
            f"{share(self.accepted_kept)} of the kept drafts and "
            f"{share(self.accepted_held_back)} of those held back. Per deliberation: p50 "
            f"{self.p50_ms:.1f} ms, mean {self.mean_ms:.1f} ms, "
            f"{self.tokens_per_deliberation:.0f} LLM tokens."
        )


def _histories(events: Sequence[ReplayedEvent]) -> list[tuple[dict[str, str], ...]]:
    """ProactiveBench's history at each replayed event (its trace up to it)."""
    seen: dict[str, list[dict[str, str]]] = {}
    out = []
    for e in events:
        trace = seen.setdefault(e.trace, [])
        trace.append(e.observation)
        out.append(tuple(trace))
    return out


def slow_path_stats(events: Sequence[ReplayedEvent], judge: Judge) -> SlowPathStats:
    histories = _histories(events)
    drafted = [(h, e) for h, e in zip(histories, events, strict=True) if e.draft is not None]
    cases = [JudgeCase(h, e.draft, e.needed) for h, e in drafted]
    prefetch = getattr(judge, "prefetch", None)
    if prefetch is not None:
        prefetch(cases)
    verdicts = [judge.accepts(c) for c in cases]
    kept = [v for v, (_, e) in zip(verdicts, drafted, strict=True) if not e.held_back]
    held = [v for v, (_, e) in zip(verdicts, drafted, strict=True) if e.held_back]
    deliberated = [e for e in events if e.slow_ms > 0]
    ms = [e.slow_ms for e in deliberated]
    return SlowPathStats(
        judge=judge.name,
        events=len(events),
        deliberations=len(deliberated),
        drafted_offers=len(drafted),
        kept=len(kept),
        held_back=len(held),
        accepted_kept=sum(kept) / len(kept) if kept else None,
        accepted_held_back=sum(held) / len(held) if held else None,
        p50_ms=statistics.median(ms) if ms else 0.0,
        mean_ms=statistics.fmean(ms) if ms else 0.0,
        tokens_per_deliberation=(
            sum(e.tokens for e in deliberated) / len(deliberated) if deliberated else 0.0
        ),
    )
