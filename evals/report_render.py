"""Turn `results.json` into plots (PNG), report.md and report.html."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_sweep(
    rows: list[dict[str, float]],
    x_key: str,
    series: dict[str, str],
    *,
    xlabel: str,
    title: str,
    log_x: bool = False,
) -> tuple[Any, Any]:
    """Scores (one line per key in `series`: key -> label) against one swept setting."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    x = [r[x_key] for r in rows]
    for (key, label), marker in zip(series.items(), "os^", strict=False):
        ax.plot(x, [r[key] for r in rows], marker=marker, label=label)
    if log_x:
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("score (all traces)")
    ax.set_title(title)
    ax.set_ylim(0, 1)
    ax.legend()
    return fig, ax


def plot_delta_sweep(rows: list[dict[str, float]], path: Path) -> None:
    fig, ax = _plot_sweep(
        rows,
        "escalated_fraction",
        {"f1": "F1", "false_alarm": "false alarm"},
        xlabel="fraction of events escalated to the slow path",
        title="cost/quality: the escalation band δ",
    )
    for r in rows:
        ax.annotate(f"δ={r['delta']:g}", (r["escalated_fraction"], r["f1"]), fontsize=7)
    _save(fig, path)


def plot_cost_sweep(rows: list[dict[str, float]], path: Path) -> None:
    fig, _ = _plot_sweep(
        rows,
        "cost_ratio",
        {"f1": "F1", "false_alarm": "false alarm", "recall": "recall"},
        xlabel="C_FN / C_FA (cost of missed help over cost of a false alarm)",
        title="the user's costs",
        log_x=True,
    )
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)


def _code(text: str) -> str:
    return f"```\n{text}\n```\n"


def markdown(results: dict[str, Any]) -> str:
    policy = results["policy"]
    parts = [
        "# festina evaluation report\n",
        f"Policy: C_FA {policy['cost_false_alarm']:g}, C_FN {policy['cost_missed_help']:g}, "
        f"delta {policy['delta']:g}. Judge: {results['judge']}. Reproduce with "
        "`festina eval report` (same options).\n",
    ]
    if pb := results.get("proactivebench"):
        replay = pb["replay"]
        parts += [
            "## ProactiveBench replay\n",
            f"The whole runtime (gate + slow path `{replay['slow_path']}`) over the labelled "
            "recordings, each replayed with a gate trained without it; peers judged the same "
            "way on their own trace files. Traces in ProactiveBench's format: "
            "`traces/festina/`. Cost per event prices an unwanted offer at 1 and missed help "
            "at C_FN/C_FA, against `task_status`.\n",
            _code(pb["table"]),
            "### Cost and quality\n",
            "![Cost per event against costs](costs.png) ![F1 against escalation]"
            "(delta_sweep.png) ![F1 and false alarm against costs](cost_sweep.png)\n",
            "![Reliability](reliability.png)\n",
        ]
    if reward := results.get("reward"):
        parts += [
            "## Reward judgement\n",
            f"The gate as ProactiveBench's judge on {reward['items']} human-judged items "
            "(reward_data/test_data.jsonl), next to the published agreement figures "
            "(on all 120 items, some held back from this copy); then the offline reward "
            "judge (evals/reward_judge.py) validated three ways: the official split, a "
            "history-disjoint split, and the peers' traces against the published table.\n",
            _code(reward["table"]),
        ]
    if pira := results.get("pira"):
        parts += [
            "## PIRA-style trajectories\n",
            f"{pira['trajectories']} shipped trajectories (interleaved threads, noise, task "
            "switching); delay in thread events, early = offers before a thread's first need, "
            "noise FT = offers on noise / noise events.\n",
        ]
        for label, section in pira["by_policy"].items():
            parts += [f"**{label}**\n", _code(section["table"])]
    if mobile := results.get("mobile"):
        parts += [
            "## ProactiveMobile-style instances\n",
            "Four device-context signals in, a function sequence out; several gold sequences "
            "per instance.\n",
            _code(mobile["table"]),
        ]
    if personal := results.get("personal"):
        parts += [
            "## Learning one user\n",
            "Simulated users with consistent preferences answer every offer (10 % noise); "
            "cost per event against the answers the runtime had received.\n",
            _code(personal["table"]),
            "![Cost against answers](personal.png)\n",
        ]
    return "\n".join(parts)


def render(results: dict[str, Any], out_dir: Path) -> None:
    from markdown_it import MarkdownIt

    from evals.gate_benchmark import plot_reliability

    if pb := results.get("proactivebench"):
        plot_delta_sweep(pb["delta_sweep"], out_dir / "delta_sweep.png")
        plot_cost_sweep(pb["cost_sweep"], out_dir / "cost_sweep.png")
        plot_reliability(pb["reliability"], out_dir / "reliability.png")
    if results.get("personal"):
        from evals.personal import PersonalReport, plot_personal

        plot_personal(PersonalReport.from_dict(results["personal"]), out_dir / "personal.png")
    text = markdown(results)
    (out_dir / "report.md").write_text(text)
    body = MarkdownIt("commonmark").render(text)
    (out_dir / "report.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>festina evaluation</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "pre{background:#f6f6f6;padding:1em;overflow-x:auto}img{max-width:48%}</style>"
        f"</head><body>{body}</body></html>\n"
    )
