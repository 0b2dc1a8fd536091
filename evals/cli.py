"""`festina eval ...`: evaluation scripts that print figures next to their baselines."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from agent.cli_context import CliContext
from gate.cli import data_option, encoder_option, model_option


def out_option(default: str) -> Any:
    """`--out DIR`: where a benchmark writes its report and plots."""
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(default),
        show_default=True,
        help="Folder for the report and its plots.",
    )


@click.group("eval")
def eval_group() -> None:
    """Evaluations (the gate's own benchmark is `festina gate eval`)."""


@eval_group.command("feedback")
@data_option
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
    obj: CliContext, data_dir: Path, refuse: str, cost_ratio: float, segments: int, as_json: bool
) -> None:
    """Replay with a simulated user: false alarms with and without learning from feedback."""
    from core.events import EventKind
    from evals.cost_table import at_ratio
    from evals.feedback_replay import as_dict, format_results, run_feedback_replay

    settings = obj.settings()
    gate = obj.load_gate()
    policy = at_ratio(settings.gate.policy(), cost_ratio)
    kind = EventKind(refuse)
    results = run_feedback_replay(data_dir, gate, policy, refused=kind, segments=segments)
    click.echo(json.dumps(as_dict(results), indent=2) if as_json else format_results(results, kind))
    click.echo(
        f"gate: {gate.version}, C_FN/C_FA = {cost_ratio:g}, delta = {policy.delta}", err=True
    )


@eval_group.command("personal")
@data_option
@click.option(
    "--days",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Day orders per simulated user (seeds 0..N-1).",
)
@out_option("reports/personal")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def eval_personal(obj: CliContext, data_dir: Path, days: int, out_dir: Path, as_json: bool) -> None:
    """A panel of simulated users: cost per event against answers given, for the population
    gate, the context-offset learner and the personal model."""
    from evals.personal import plot_personal, run_personal

    settings = obj.settings()
    report = run_personal(
        data_dir,
        settings.gate.policy(),
        window=settings.gate.window,
        seeds=tuple(range(days)),
        progress=lambda step: click.echo(f"... {step}", err=True),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "personal.json").write_text(json.dumps(report.to_dict(), indent=2))
    plot_personal(report, out_dir / "personal.png")
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.table())
    click.echo(f"report: {out_dir / 'personal.json'}, plot: {out_dir / 'personal.png'}", err=True)


@eval_group.command("online")
@data_option
@out_option("reports/online")
@click.option(
    "--ratio",
    "ratios",
    type=click.FloatRange(min=0, min_open=True),
    multiple=True,
    help="C_FN/C_FA to replay at (repeatable) [default: 1 2 3 5 8 13].",
)
@click.option(
    "--events",
    "keep_events",
    is_flag=True,
    help="Keep every run's decision at every event in online.json (where the cost comes from).",
)
@click.option("--note", default="", help="What this run varies, for the variants log.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def eval_online(
    obj: CliContext,
    data_dir: Path,
    out_dir: Path,
    ratios: tuple[float, ...],
    keep_events: bool,
    note: str,
    as_json: bool,
) -> None:
    """Each collection as one person's day, answered with the human labels through the
    real feedback path: cost per event after 10 and 30 answers, with and without learning,
    beside both constant policies, at every C_FN/C_FA."""
    from evals.online import log_online, run_online
    from evals.variants import default_log
    from gate.build import ensure_encoder
    from gate.encoder import OnnxEncoder
    from gate.features import FeatureBuilder

    settings = obj.settings()
    encoder_dir = ensure_encoder(obj.models_dir(ensure=True))
    report = run_online(
        data_dir,
        FeatureBuilder(OnnxEncoder(encoder_dir, device="cpu")),
        settings.gate.policy(),
        encoder_id=encoder_dir.name,
        window=settings.gate.window,
        **({"ratios": ratios} if ratios else {}),
        keep_events=keep_events,
        progress=lambda step: click.echo(f"... {step}", err=True),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "online.json").write_text(json.dumps(report.to_dict(), indent=2))
    log_online(report, default_log(), note)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.table())
    click.echo(f"report: {out_dir / 'online.json'}", err=True)


@eval_group.command("sources")
@click.option(
    "--idle-s",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds of the live run on an unchanged screen.",
)
@click.option(
    "--busy-s",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds of the live run on a terminal printing a line a second.",
)
@click.option(
    "--only-default",
    is_flag=True,
    help="Measure festina's OCR settings alone, not the other settings and engines "
    "(rapidocr-onnxruntime, where installed).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def eval_sources(
    obj: CliContext, idle_s: float, busy_s: float, only_default: bool, as_json: bool
) -> None:
    """Screen text: OCR accuracy on rendered screens, and the screen source's live cost."""
    from evals.sources import (
        FESTINA_SETTINGS,
        SETTINGS,
        format_report,
        measure_live,
        measure_ocr,
        report,
    )

    interval_s = obj.settings().screen.interval_s
    if only_default:
        readings = measure_ocr(FESTINA_SETTINGS)
    else:
        readings = measure_ocr(SETTINGS, other_engines=True)
    result = report(readings, measure_live(idle_s, busy_s, interval_s))
    click.echo(json.dumps(result, indent=2) if as_json else format_report(result))


@eval_group.command("help")
@click.option("--json", "as_json", is_flag=True)
def eval_help(as_json: bool) -> None:
    """Help after "yes": real failures, reminders, notifications, searches and pages made
    now in a scratch project; each offer accepted, its plan run, its result scored."""
    from evals.help import as_dict, format_results, run_help

    scores = run_help()
    click.echo(json.dumps(as_dict(scores), indent=2) if as_json else format_results(scores))


@eval_group.command("answer")
@click.option("--events", type=click.IntRange(1, 20), default=20, show_default=True)
@click.option(
    "--busy",
    is_flag=True,
    help="While another accepted plan's step (an explanation a stand-in model holds) runs.",
)
@click.option("--json", "as_json", is_flag=True)
def eval_answer(events: int, busy: bool, as_json: bool) -> None:
    """From "yes" to a result: the real daemon on a quiet HTTP source, each offer accepted
    and timed until its plan's results are listed."""
    from evals.answer_latency import as_dict, format_result, measure

    result = measure(events, busy=busy)
    click.echo(json.dumps(as_dict(result), indent=2) if as_json else format_result(result))


@eval_group.command("by-hand")
@data_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def eval_by_hand(obj: CliContext, data_dir: Path, as_json: bool) -> None:
    """How often the done-by-hand rule fires where help was needed, against the base rate."""
    from evals.by_hand_signal import measure_by_hand
    from gate.data import load_traces

    report = measure_by_hand(load_traces(data_dir), obj.settings().gate.window)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.table())


@eval_group.command("recall")
@data_option
@click.option("-k", "k", type=click.IntRange(1, 20), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def eval_recall(obj: CliContext, data_dir: Path, k: int, as_json: bool) -> None:
    """Recall from memory's float16 vectors through the int8 index against exact float32
    ranking, and its cost with the index full."""
    from evals.recall_bench import as_dict, format_result, measure_recall
    from gate.base import Embedder
    from gate.data import load_traces

    gate = obj.load_gate()
    if not isinstance(gate, Embedder):
        raise click.ClickException(f"the gate {gate.version} has no encoder: nothing to recall")
    result = measure_recall(load_traces(data_dir), gate, k)
    click.echo(json.dumps(as_dict(result), indent=2) if as_json else format_result(result))


@eval_group.command("load")
@click.option("--events", type=click.IntRange(min=10), default=3000, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--senders", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Events per second to offer, each batch sent on its schedule and its answer "
    "timed from then (0: the senders go as fast as the answers come; with --soak: 200).",
)
@click.option(
    "--baseline",
    "baseline_ref",
    metavar="GIT_REF",
    help="Also run each scenario on this version (a git ref of this checkout, run with the "
    "packages installed here), right after this tree's: figures to compare from one run.",
)
@click.option(
    "--soak",
    "soak_minutes",
    type=click.FloatRange(min=0.1),
    help="Instead: offer --rate new events/s to one daemon for this many minutes, sampling "
    "its memory, descriptors, queues and database size every 10 s.",
)
@click.option(
    "--cold-start",
    "cold_starts",
    type=click.IntRange(min=1),
    metavar="RUNS",
    help="Instead: time RUNS cold starts of `festina daemon run` on 10 events not seen "
    "before, in a home whose database exists, from exec to exit (and --baseline's, "
    "interleaved).",
)
@click.option(
    "--slow-path",
    "backends",
    multiple=True,
    type=click.Choice(["templates", "gate-rule"]),
    help="With --cold-start: the slow path's backend; repeat to compare (default: templates).",
)
@click.option(
    "--llm-latency",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Seconds the stand-in LLM takes per call: how busy the slow path is.",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Gate version or model folder to load (`default`: the shipped one, `cues`: the cue "
    "gate); repeat to compare gates in one run (default: the configured or current gate).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    multiple=True,
    help="onnxruntime threads per session (gate.threads; 0: its own choice); repeat to "
    "compare (default: 0).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def eval_load(
    obj: CliContext,
    events: int,
    batch: int,
    senders: int,
    rate: float,
    baseline_ref: str | None,
    soak_minutes: float | None,
    cold_starts: int | None,
    backends: tuple[str, ...],
    llm_latency: float,
    models: tuple[str, ...],
    threads: tuple[int, ...],
    as_json: bool,
) -> None:
    """Load test on loopback: sustained events/s, loss and gate latency of the real daemon."""
    import tempfile
    from contextlib import ExitStack

    from evals.checkout import CheckoutError, checked_out
    from evals.load_test import as_dict, format_results, run_load_test
    from gate.loader import CUE_GATE, choose_model_dir
    from gate.registry import RegistryError

    settings = obj.settings()
    try:
        folders = [
            str(choose_model_dir(name or settings.gate.model, obj.models_dir()) or CUE_GATE)
            for name in models or ("",)
        ]
    except RegistryError as error:
        raise click.ClickException(str(error)) from error
    if soak_minutes is not None:
        from evals.soak import run_soak

        with tempfile.TemporaryDirectory(prefix="festina-soak-") as workdir:
            report = run_soak(
                Path(workdir),
                model=folders[0],
                minutes=soak_minutes,
                rate=rate or 200.0,
                llm_latency_s=llm_latency,
            )
        click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.table())
        return
    if cold_starts is not None:
        _cold_starts(folders[0], cold_starts, backends or ("templates",), baseline_ref, as_json)
        return
    with tempfile.TemporaryDirectory(prefix="festina-load-") as workdir, ExitStack() as stack:
        try:
            baseline = (
                stack.enter_context(checked_out(baseline_ref, Path(workdir) / "baseline"))
                if baseline_ref
                else None
            )
        except CheckoutError as error:
            raise click.ClickException(str(error)) from error
        results = run_load_test(
            Path(workdir),
            models=folders,
            threads=threads or (0,),
            events=events,
            batch=batch,
            senders=senders,
            rate=rate,
            llm_latency_s=llm_latency,
            baseline=baseline,
        )
    click.echo(json.dumps(as_dict(results), indent=2) if as_json else format_results(results))
    click.echo(
        f"{os.cpu_count()} CPUs; stand-in LLM {llm_latency:g}s per call",
        err=True,
    )


def _cold_starts(
    model: str, runs: int, backends: tuple[str, ...], baseline_ref: str | None, as_json: bool
) -> None:
    """`festina eval load --cold-start`: see evals/cold_start.py."""
    import tempfile
    from contextlib import ExitStack

    from evals.checkout import CheckoutError, checked_out
    from evals.cold_start import Tree, as_dicts, format_cold_starts, run_cold_starts

    with tempfile.TemporaryDirectory(prefix="festina-cold-") as workdir, ExitStack() as stack:
        trees = [Tree("this tree")]
        if baseline_ref:
            try:
                name, path = stack.enter_context(
                    checked_out(baseline_ref, Path(workdir) / "baseline")
                )
            except CheckoutError as error:
                raise click.ClickException(str(error)) from error
            trees.append(Tree(name, path))
        results = run_cold_starts(
            Path(workdir) / "homes", trees, model=model, backends=list(backends), runs=runs
        )
    click.echo(json.dumps(as_dicts(results), indent=2) if as_json else format_cold_starts(results))


def _offline_judge_embeddings(obj: CliContext, data_dir: Path, cache_dir: Path) -> Any:
    """Embeddings for the offline reward judge: always the bundled MiniLM (the encoder it
    is validated with, whatever --encoder the gates use), remembered in `cache_dir`."""
    from evals.reward_judge import embeddings_for
    from gate.build import ensure_encoder
    from gate.encoder import OnnxEncoder

    encoder_dir = ensure_encoder(obj.models_dir(ensure=True))
    encoder = OnnxEncoder(encoder_dir, device="cpu", cache_size=1 << 16)
    return embeddings_for(data_dir, encoder.encode, encoder_dir.name, cache_dir)


_offline_judge_option = click.option(
    "--offline-judge/--no-offline-judge",
    default=True,
    show_default=True,
    help="Also judge with the offline reward judge trained on reward_data/train_data "
    "(evals/reward_judge.py), beside the human labels.",
)


def _chat(url: str, model: str, key_env: str) -> Any:
    from agent.slowpath.llm import OpenAICompatibleChat

    return OpenAICompatibleChat(url, model, api_key=os.environ.get(key_env, "") if key_env else "")


@eval_group.command("report")
@data_option
@out_option("reports/eval")
@click.option(
    "--section",
    "sections",
    multiple=True,
    type=click.Choice(["proactivebench", "reward", "pira", "mobile", "personal"]),
    help="Run only these sections (repeatable; default: all).",
)
@encoder_option
@click.option(
    "--slow-path",
    type=click.Choice(["templates", "recorded", "gate-rule", "llm"]),
    default="templates",
    show_default=True,
    help="Drafts for the replay's slow path: the offline template drafter, ProactiveBench's "
    "recorded agent (only the eight recordings that kept its proposals), none, or --llm-*.",
)
@click.option("--llm-url", help="OpenAI-compatible base URL for --slow-path llm and mobile.")
@click.option("--llm-model", default="", help="Model name at --llm-url.")
@click.option("--judge-url", help="OpenAI-compatible judge endpoint (default: human labels).")
@click.option("--judge-model", default="", help="Model name at --judge-url.")
@click.option(
    "--key-env", default="OPENAI_API_KEY", show_default=True, help="Env var with the API key."
)
@_offline_judge_option
@click.option("--trace", "traces", multiple=True, help="Replay only these traces (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_obj
def eval_report(
    obj: CliContext,
    data_dir: Path,
    out_dir: Path,
    sections: tuple[str, ...],
    encoder: str | None,
    slow_path: str,
    llm_url: str | None,
    llm_model: str,
    judge_url: str | None,
    judge_model: str,
    key_env: str,
    offline_judge: bool,
    traces: tuple[str, ...],
    quiet: bool,
) -> None:
    """Every evaluation in one run: results.json, report.md, report.html and plots."""
    from evals.judges import HumanJudge, JudgeError, LLMJudge
    from evals.recorded_chat import RecordedChat
    from evals.report import SECTIONS, ReportInputs, run_report
    from evals.runtime_replay import (
        RECORDED_FOLDER,
        gate_rule_slow_path,
        graph_slow_path,
        recorded_tasks,
    )
    from gate.build import ensure_encoder
    from gate.data import load_traces
    from gate.encoder import OnnxEncoder
    from gate.features import FeatureBuilder
    from tools import default_pool

    if slow_path == "llm" and not (llm_url and llm_model):
        raise click.UsageError("--slow-path llm needs --llm-url and --llm-model")
    settings = obj.settings()
    models_dir = obj.models_dir(ensure=True)
    encoder_dir = ensure_encoder(models_dir, encoder)
    chat = _chat(llm_url, llm_model, key_env) if llm_url else None
    if slow_path == "templates":
        slow = ("graph:templates", graph_slow_path())
    elif slow_path == "recorded":
        recorded = load_traces(data_dir, [RECORDED_FOLDER])
        slow = ("graph:recorded", graph_slow_path(RecordedChat(recorded_tasks(data_dir, recorded))))
        traces = traces or tuple(t.name for t in recorded)
    elif slow_path == "llm":
        slow = (f"graph:{chat.name}", graph_slow_path(chat))
    else:
        slow = ("gate-rule", gate_rule_slow_path)
    judge = (
        LLMJudge(_chat(judge_url, judge_model, key_env), out_dir / "cache")
        if judge_url
        else HumanJudge()
    )
    inputs = ReportInputs(
        root=data_dir,
        out_dir=out_dir,
        builder=FeatureBuilder(OnnxEncoder(encoder_dir, device="cpu")),
        encoder_id=encoder_dir.name,
        policy=settings.gate.policy(),
        window=settings.gate.window,
        judge=judge,
        slow_path=slow,
        pool=default_pool(obj.paths.data_dir / "eval-workspace"),
        chat=chat,
        traces=list(traces) or None,
        judge_embeddings=(
            _offline_judge_embeddings(obj, data_dir, out_dir / "cache") if offline_judge else None
        ),
    )
    try:
        results = run_report(inputs, sections or SECTIONS, progress=not quiet)
    except JudgeError as error:
        message = f"the judge failed ({error}); verdicts so far are cached"
        raise click.ClickException(message) from error
    for name in SECTIONS:
        section = results.get(name)
        if section is None:
            continue
        click.echo(f"== {name}")
        if name == "pira":
            for label, part in section["by_policy"].items():
                click.echo(f"{label}\n{part['table']}")
        else:
            click.echo(section["table"])
    click.echo(f"report: {out_dir / 'report.md'} (and .html, results.json)", err=True)


@eval_group.command("drafts")
@data_option
@encoder_option
@click.option("--llm-url", help="Also measure drafts by this OpenAI-compatible model.")
@click.option("--llm-model", default="", help="Model name at --llm-url.")
@click.option(
    "--embedded", is_flag=True, help="Also measure the default embedded model (local-llm extra)."
)
@click.option(
    "--embedded-model",
    "embedded_models",
    multiple=True,
    help="Also measure this embedded GGUF model (a path, or 'smollm2' / 'gemma3'); repeatable.",
)
@click.option("--judge-url", help="OpenAI-compatible judge endpoint, a column beside the labels.")
@click.option("--judge-model", default="", help="Model name at --judge-url.")
@click.option(
    "--key-env", default="OPENAI_API_KEY", show_default=True, help="Env var with the API key."
)
@_offline_judge_option
@click.option(
    "--limit", type=click.IntRange(min=1), help="Only the first N events (model drafters are slow)."
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def eval_drafts(
    obj: CliContext,
    data_dir: Path,
    encoder: str | None,
    llm_url: str | None,
    llm_model: str,
    embedded: bool,
    embedded_models: tuple[str, ...],
    judge_url: str | None,
    judge_model: str,
    key_env: str,
    offline_judge: bool,
    limit: int | None,
    as_json: bool,
) -> None:
    """Drafters side by side: offers, valid schemas and plans, latency, judges' verdicts."""
    import time

    from agent.slowpath.drafter import ChatDrafter
    from agent.slowpath.template_drafter import TemplateDrafter
    from evals.drafts import (
        as_dict,
        benchmark_drafter,
        draft_cases,
        earlier_offers_as_memory,
        format_rows,
        gate_check,
        test_traces,
    )
    from evals.judges import HumanJudge, JudgeError, LLMJudge
    from evals.recorded_chat import RecordedChat
    from evals.runtime_replay import recorded_tasks
    from tools import default_pool

    if llm_url and not llm_model:
        raise click.UsageError("--llm-url needs --llm-model")
    settings = obj.settings()
    pool = default_pool(obj.paths.data_dir / "eval-workspace", dry_run=True)
    traces = test_traces(data_dir)
    cases = draft_cases(traces, settings.gate.window)[:limit]
    judges = {"human labels": HumanJudge().accepts}
    offline = None
    if offline_judge:
        from evals.reward_judge import build_judge

        embeddings = _offline_judge_embeddings(obj, data_dir, Path("reports/eval/cache"))
        offline = build_judge(data_dir, embeddings)
        judges["offline judge"] = offline.accepts
    from gate.loader import load_gate

    gate = load_gate(settings.gate.model, obj.models_dir(ensure=True), "cpu")
    check = gate_check(gate, settings.gate.policy())
    llm_judge = None
    if judge_url:
        llm_judge = LLMJudge(_chat(judge_url, judge_model, key_env), Path("reports/eval/cache"))
        judges[llm_judge.name] = llm_judge.accepts
    recorded = recorded_tasks(data_dir, traces)
    with_memory = earlier_offers_as_memory(recorded)
    # (row name, drafter, one-time set-up ms, memory given to each draft)
    drafters: list[tuple[str, Any, float, Any]] = [
        (
            "recorded drafts (collection-time agent)",
            ChatDrafter(RecordedChat(recorded), pool),
            0.0,
            None,
        )
    ]
    try:
        from gate.build import ensure_encoder
        from gate.encoder import OnnxEncoder

        onnx = OnnxEncoder(ensure_encoder(obj.models_dir(ensure=True), encoder), device="cpu")
    except ImportError as error:
        click.echo(f"templates + encoder not measured: {error} (train extra)", err=True)
    else:
        # The gate embeds every event before the slow path sees it, so in the daemon the
        # event's vector is a cache hit; embed them here first, as the gate would have.
        onnx.encode([case.window[-1].summary() for case in cases])
        ranked = TemplateDrafter(pool, onnx.encode)
        started = time.perf_counter()
        ranked.warm_up()
        setup = (time.perf_counter() - started) * 1000.0
        drafters.append(("templates, ranked with the gate's encoder", ranked, setup, None))
        drafters.append(("  the same, 10 answered offers in memory", ranked, 0.0, with_memory))
    drafters.append(
        ("templates, no encoder (untrained cue gate)", TemplateDrafter(pool), 0.0, None)
    )
    if llm_url:
        chat = _chat(llm_url, llm_model, key_env)
        drafters.append((f"LLM {chat.name}", ChatDrafter(chat, pool), 0.0, None))
    if embedded and not embedded_models:
        embedded_models = ("",)
    for model in embedded_models:
        from agent.slowpath.llm import EmbeddedChat

        chat = EmbeddedChat(model or None)
        drafters.append((f"LLM {chat.name}", ChatDrafter(chat, pool), 0.0, None))
    try:
        rows = [
            benchmark_drafter(
                name, drafter, pool, cases, judges, setup_ms=setup, memory=memory, check=check
            )
            for name, drafter, setup, memory in drafters
        ]
    except JudgeError as error:
        raise click.ClickException(f"the judge failed: {error}") from error
    finally:
        if llm_judge is not None:
            llm_judge.save()
        if offline is not None:
            offline.save()
    click.echo(json.dumps(as_dict(rows), indent=2) if as_json else format_rows(rows))
    unmeasured = [
        flag
        for flag, given in (("--llm-url", llm_url), ("--embedded", embedded or embedded_models))
        if not given
    ]
    click.echo(
        f"{len(cases)} events of {data_dir / 'test_data'}; {os.cpu_count()} CPUs; judges: "
        f"{', '.join(judges)}; counterfactual check: "
        + (f"gate {getattr(gate, 'version', '?')}" if check else "none (no trained gate)")
        + (f"; model drafters not measured (see {', '.join(unmeasured)})" if unmeasured else ""),
        err=True,
    )


@eval_group.command("generate")
@click.argument("which", type=click.Choice(["pira", "mobile"]))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@data_option
@click.option("--seed", type=int, help="Seed (default: the shipped set's).")
def eval_generate(which: str, target: Path, data_dir: Path, seed: int | None) -> None:
    """Rebuild a generated evaluation set (the shipped one with the default seed)."""
    if which == "pira":
        from evals import pira
        from gate.data import load_traces

        trajectories = pira.generate(
            load_traces(data_dir, ["test_data"]), seed=pira.DEFAULT_SEED if seed is None else seed
        )
        pira.write_set(trajectories, target)
        click.echo(f"wrote {len(trajectories)} trajectories to {target}")
    else:
        from evals import mobile

        instances = mobile.generate(seed=mobile.DEFAULT_SEED if seed is None else seed)
        mobile.write_set(instances, target)
        click.echo(f"wrote {len(instances)} instances to {target}")


# `festina gate eval`: defined here, beside the other benchmarks, and attached to the gate
# group by the root command (festina_cli.py), so that gate/ never imports evals/.
@click.command("eval")
@data_option
@model_option
@out_option("reports/gate")
@click.option("--no-latency", is_flag=True, help="Skip the speed measurements.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of the table.")
@click.option(
    "--confirm",
    is_flag=True,
    help="Score only the confirmation split, with the shipped configuration (once a release).",
)
@click.option(
    "--variants-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append this run to this variants log [default: evals/variants.jsonl in a checkout].",
)
@click.pass_obj
def gate_eval(
    obj: CliContext,
    data_dir: Path,
    model: str | None,
    out_dir: Path,
    no_latency: bool,
    as_json: bool,
    confirm: bool,
    variants_log: Path | None,
) -> None:
    """Benchmark a gate model's set-up (its encoder, heads retrained per fold) on the
    tuning recordings: leave one recording out and across collections, 15 peer agents,
    ablation, latency. `--confirm` scores the confirmation split instead."""
    from evals.gate_benchmark import run_benchmark, run_confirmation
    from evals.variants import default_log
    from gate.build import ensure_encoder
    from gate.encoder import OnnxEncoder
    from gate.features import FeatureBuilder
    from gate.registry import RegistryError, encoder_dir_of, find_model_dir

    settings = obj.settings()
    models_dir = obj.models_dir(ensure=True)
    try:
        model_dir = find_model_dir(models_dir, model)
    except RegistryError as error:
        raise click.ClickException(str(error)) from error
    log = variants_log or default_log()
    encoder_dir = encoder_dir_of(model_dir) if model_dir else ensure_encoder(models_dir)
    builder = FeatureBuilder(OnnxEncoder(encoder_dir, device="cpu"))
    if confirm:
        result = run_confirmation(
            data_dir,
            builder,
            settings.gate.policy(),
            out_dir=out_dir,
            window=settings.gate.window,
            variants_log=log,
        )
        click.echo(json.dumps(asdict(result), indent=2) if as_json else result.table())
        return
    if not no_latency and model_dir is None:
        raise click.ClickException("no current gate model to time; run `festina gate train` first")
    report = run_benchmark(
        data_dir,
        builder,
        settings.gate.policy(),
        model_dir=None if no_latency else model_dir,
        encoder_source=None if no_latency else (encoder_dir / "source.txt").read_text().strip(),
        out_dir=out_dir,
        window=settings.gate.window,
        variants_log=log,
        progress=lambda step: click.echo(f"... {step}", err=True),
    )
    click.echo(report.to_json() if as_json else report.table())
    click.echo(
        f"model: {model_dir.name if model_dir else 'none'}; encoder: {encoder_dir.name}; "
        f"report: {out_dir / 'gate_benchmark.json'}, plot: {out_dir / 'reliability.png'}; "
        f"variants log: {log or 'none'}",
        err=True,
    )
