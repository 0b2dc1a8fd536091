"""Cost per event against the user's cost ratio, for festina and every reference policy.

F1 rewards offering everywhere when 40 % of events need help, so every comparison here
also prices each decision: C_FA = 1 for an unwanted offer, C_FN = ratio for missed help,
averaged over the events an agent saw. "Always offer" and "never offer" are the constant
policies a gate without signal falls back to; the better of the two is the bar to beat.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.metrics import timing
from evals.peers import PeerAnswers
from gate.policy import GatePolicy

COST_RATIOS = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0)
ALWAYS, NEVER = "always offer", "never offer"


def at_ratio(policy: GatePolicy, ratio: float) -> GatePolicy:
    """`policy` with C_FA 1 and C_FN `ratio`: the same decisions at that cost ratio."""
    return policy.model_copy(update={"cost_false_alarm": 1.0, "cost_missed_help": ratio})


@dataclass(frozen=True)
class CostRow:
    agent: str
    cost_ratio: float
    events: int
    cost_per_event: float
    f1: float
    false_alarm: float
    offer_rate: float


def cost_row(agent: str, ratio: float, offered: Sequence[bool], labels: Sequence[bool]) -> CostRow:
    offered_arr, needed = np.asarray(offered, dtype=bool), np.asarray(labels, dtype=bool)
    unwanted = int((offered_arr & ~needed).sum())
    missed = int((~offered_arr & needed).sum())
    scores = timing(agent, offered_arr.tolist(), needed.tolist())
    return CostRow(
        agent=agent,
        cost_ratio=ratio,
        events=len(needed),
        cost_per_event=(unwanted + ratio * missed) / max(len(needed), 1),
        f1=scores.f1,
        false_alarm=scores.false_alarm,
        offer_rate=float(offered_arr.mean()) if len(offered_arr) else 0.0,
    )


def cost_table(
    festina: Mapping[float, Sequence[bool]],
    labels: Sequence[bool],
    peers: Sequence[PeerAnswers] = (),
    *,
    name: str = "festina",
) -> list[CostRow]:
    """Rows for festina's decisions at each ratio (keys of `festina`), both constant
    policies on the same events, and each peer on its own events."""
    rows = []
    for ratio, offered in festina.items():
        rows.append(cost_row(name, ratio, offered, labels))
        rows.append(cost_row(ALWAYS, ratio, [True] * len(labels), labels))
        rows.append(cost_row(NEVER, ratio, [False] * len(labels), labels))
        rows.extend(cost_row(p.name, ratio, p.proposed, p.labels) for p in peers)
    return rows


def better_constant(rows: Sequence[CostRow], ratio: float) -> CostRow:
    candidates = [r for r in rows if r.cost_ratio == ratio and r.agent in (ALWAYS, NEVER)]
    return min(candidates, key=lambda r: r.cost_per_event)


def verdict(rows: Sequence[CostRow], name: str = "festina") -> dict[str, int]:
    """At how many ratios festina's cost is at most / strictly below the better constant's
    (to the third decimal, the precision reported)."""
    ratios = sorted({r.cost_ratio for r in rows})
    ours = {r.cost_ratio: r.cost_per_event for r in rows if r.agent == name}
    best = {ratio: better_constant(rows, ratio).cost_per_event for ratio in ratios}
    return {
        "ratios": len(ratios),
        "not_worse": sum(round(ours[q], 3) <= round(best[q], 3) for q in ratios),
        "better": sum(round(ours[q], 3) < round(best[q], 3) for q in ratios),
    }


def format_table(rows: Sequence[CostRow], value: Callable[[CostRow], float], title: str) -> str:
    """Agents as rows, ratios as columns."""
    ratios = sorted({r.cost_ratio for r in rows})
    agents = list(dict.fromkeys(r.agent for r in rows))
    cell = {(r.agent, r.cost_ratio): value(r) for r in rows}
    lines = [f"{title:28}" + "".join(f"{q:>8g}" for q in ratios)]
    lines.extend(f"{a:28}" + "".join(f"{cell[(a, q)]:8.3f}" for q in ratios) for a in agents)
    return "\n".join(lines)


def plot_costs(rows: Sequence[CostRow], path: Path, *, title: str) -> bool:
    """Cost per event against C_FN/C_FA for every agent; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=120)
    highlighted = {ALWAYS: ("grey", "--"), NEVER: ("black", ":")}
    for agent in dict.fromkeys(r.agent for r in rows):
        points = sorted((r.cost_ratio, r.cost_per_event) for r in rows if r.agent == agent)
        x, y = zip(*points, strict=True)
        if agent in highlighted:
            color, style = highlighted[agent]
            ax.plot(x, y, color=color, linestyle=style, label=agent)
        elif agent.startswith("festina"):
            ax.plot(x, y, marker="o", linewidth=2.5, label=agent)
        else:  # peers: one thin line each, labelled once as a group
            seen = any(line.get_label() == "peer agents" for line in ax.get_lines())
            label = "_" if seen else "peer agents"
            ax.plot(x, y, color="tab:orange", alpha=0.35, linewidth=1, label=label)
    ax.set_xscale("log")
    ratios = sorted({r.cost_ratio for r in rows})
    ax.set_xticks(ratios, [f"{q:g}" for q in ratios])
    ax.set_xlabel("C_FN / C_FA (cost of missed help over cost of a false alarm)")
    ax.set_ylabel("cost per event")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
