"""`festina eval ...`: evaluation scripts that print figures next to their baselines."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from gate.cli import DEFAULT_DATA


@click.group("eval")
def eval_group() -> None:
    """Evaluations (the gate's own benchmark is `festina gate eval`)."""


@eval_group.command("feedback")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
)
@click.option(
    "--refuse",
    type=click.Choice(["browser", "editor", "other"]),
    default="browser",
    show_default=True,
    help="The kind of offer the simulated user always rejects.",
)
@click.option(
    "--cost-ratio",
    type=click.FloatRange(min=0, min_open=True),
    default=13.0,
    show_default=True,
    help="C_FN / C_FA for the replay (C_FA = 1).",
)
@click.option("--segments", type=click.IntRange(2, 20), default=4, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def eval_feedback(
    obj: Any, data_dir: Path, refuse: str, cost_ratio: float, segments: int, as_json: bool
) -> None:
    """Replay with a simulated user: false alarms with and without learning from feedback."""
    from agent.events import EventKind
    from evals.feedback_replay import as_dict, format_results, run_feedback_replay
    from gate.loader import load_gate

    settings = obj.settings()
    gate = load_gate(settings.gate.model, obj.paths.models_dir, settings.gate.device)
    policy = settings.gate.policy().model_copy(
        update={"cost_false_alarm": 1.0, "cost_missed_help": cost_ratio}
    )
    kind = EventKind(refuse)
    results = run_feedback_replay(data_dir, gate, policy, refused=kind, segments=segments)
    click.echo(json.dumps(as_dict(results), indent=2) if as_json else format_results(results, kind))
    click.echo(
        f"gate: {gate.version}, C_FN/C_FA = {cost_ratio:g}, delta = {policy.delta}", err=True
    )


@eval_group.command("load")
@click.option("--events", type=click.IntRange(min=10), default=3000, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--senders", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--llm-latency",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Seconds the stand-in LLM takes per call: how busy the slow path is.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def eval_load(
    obj: Any, events: int, batch: int, senders: int, llm_latency: float, as_json: bool
) -> None:
    """Load test on loopback: sustained events/s, loss and gate latency of the real daemon."""
    import tempfile

    from evals.load_test import as_dict, format_results, run_load_test
    from gate.registry import current_model_dir

    settings = obj.settings()
    model = settings.gate.model or str(current_model_dir(obj.paths.models_dir) or "")
    with tempfile.TemporaryDirectory(prefix="festina-load-") as workdir:
        results = run_load_test(
            Path(workdir),
            model=model,
            events=events,
            batch=batch,
            senders=senders,
            llm_latency_s=llm_latency,
        )
    click.echo(json.dumps(as_dict(results), indent=2) if as_json else format_results(results))
    click.echo(
        f"gate: {model or 'untrained cue gate'}; {os.cpu_count()} CPUs; "
        f"stand-in LLM {llm_latency:g}s per call",
        err=True,
    )
