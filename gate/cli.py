"""`festina gate ...`: train, export, evaluate and choose gate models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gate.cli_context import GateCommandContext
from gate.encoder_export import MissingExtra


def _default_data() -> Path:
    from gate.data import default_data_dir

    return default_data_dir()


def data_option(fn: Any) -> Any:
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=_default_data,
        show_default="$FESTINA_PROACTIVEBENCH, else ../shared/data/proactivebench beside the "
        "checkout",
        help="ProactiveBench data folder (test_data/, reward_data/, peer_traces/).",
    )(fn)


def encoder_option(fn: Any) -> Any:
    return click.option(
        "--encoder",
        "encoder",
        metavar="SPEC",
        help="`default` for the encoder of the gate shipped with festina (no torch, no "
        "weights to install); `static` for static token vectors distilled from the bundled "
        "MiniLM (needs the train extra), `static:PATH` from another one; else an encoder "
        "folder or hub id (default: the bundled MiniLM).",
    )(fn)


def model_option(fn: Any) -> Any:
    return click.option(
        "--model", help="Gate version (see `festina gate list`) or model folder; default current."
    )(fn)


@click.group()
def gate() -> None:
    """Train, export, evaluate and choose gate models."""


@gate.command("train")
@data_option
@click.option(
    "--labelled",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help='Extra labelled JSONL ({"event": {...}, "need": true}); repeatable.',
)
@encoder_option
@click.option("--window", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--no-activate", is_flag=True, help="Register the model without making it current.")
@click.option("--if-missing", is_flag=True, help="Do nothing when a current model exists.")
@click.pass_obj
def gate_train(
    obj: GateCommandContext,
    data_dir: Path,
    labelled: tuple[Path, ...],
    encoder: str | None,
    window: int,
    no_activate: bool,
    if_missing: bool,
) -> None:
    """Train and calibrate the heads, export them to ONNX and register the model."""
    from gate.build import TrainingInputs, train_gate
    from gate.registry import current_model_dir, is_usable

    current = current_model_dir(obj.models_dir())
    if if_missing and current is not None and is_usable(current):
        click.echo(f"current gate model: {current.name}")
        return

    try:
        manifest = train_gate(
            TrainingInputs(data_dir, labelled, window),
            obj.models_dir(ensure=True),
            encoder=encoder,
            make_current=not no_activate,
        )
    except MissingExtra as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"trained {manifest.version}" + ("" if no_activate else " (now current)"))
    for name, head in manifest.heads.items():
        metrics = ", ".join(f"{k}={v:.3f}" for k, v in head.metrics.items())
        click.echo(f"  {name}: calibration={head.calibrator.method}; {metrics}")


@gate.command("release")
@data_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the model (default: the package's own default model folder).",
)
def gate_release(data_dir: Path, out_dir: Path | None) -> None:
    """Build the default gate that ships inside the package (maintainers, once per
    release; needs the train extra). Set SOURCE_DATE_EPOCH to fix its creation time."""
    from gate.build import TrainingInputs
    from gate.registry import DEFAULT_MODEL_DIR
    from gate.release import build_default_model

    target = out_dir or DEFAULT_MODEL_DIR
    try:
        manifest = build_default_model(TrainingInputs(data_dir), target)
    except MissingExtra as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"built {manifest.version} in {target}")


@gate.command("export")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@encoder_option
def gate_export(target: Path, encoder: str | None) -> None:
    """Export the sentence encoder to TARGET/encoder.onnx with its tokenizer."""
    from gate.build import encoder_source, export_source

    try:
        path = export_source(encoder_source(encoder), target)
    except MissingExtra as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"wrote {path}")


@gate.command("list")
@click.pass_obj
def gate_list(obj: GateCommandContext) -> None:
    """List your trained models and the default one shipped with festina; * marks the one
    the daemon runs unless `gate.model` names another."""
    from gate.registry import (
        DEFAULT_MODEL_DIR,
        current_model_dir,
        is_usable,
        list_versions,
        read_manifest,
    )

    models_dir = obj.models_dir()
    current = current_model_dir(models_dir)
    for manifest in list_versions(models_dir):
        mark = "*" if current is not None and current.name == manifest.version else " "
        need = manifest.heads["need"].metrics
        click.echo(
            f"{mark} {manifest.version}  need oof_auc={need['oof_auc']:.3f} "
            f"ece={need['oof_ece_calibrated']:.3f}  data={manifest.data_sha256[:12]}"
        )
    if is_usable(DEFAULT_MODEL_DIR):
        mark = " " if current is not None else "*"
        click.echo(f"{mark} {read_manifest(DEFAULT_MODEL_DIR).version}  (shipped with festina)")
    elif current is None:
        click.echo("no gate models; run `festina gate train`")


@gate.command("use")
@click.argument("version")
@click.pass_obj
def gate_use(obj: GateCommandContext, version: str) -> None:
    """Make VERSION the model the daemon loads."""
    from gate.registry import RegistryError, set_current

    try:
        set_current(obj.models_dir(), version)
    except RegistryError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"current gate: {version}")
