"""`festina gate train`: from labelled data to a registered, calibrated ONNX gate."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from gate import bert_onnx
from gate.data import TRACE_FOLDERS, load_labelled_jsonl, load_reward_items, load_traces
from gate.encoder import OnnxEncoder
from gate.encoder_export import ENCODER_FILE, TOKENIZER_FILE, bundled_minilm_path, export_encoder
from gate.features import FeatureBuilder
from gate.registry import (
    DEFAULT_ENCODER_SUBDIR,
    DEFAULT_MODEL_DIR,
    FORMAT,
    EncoderManifest,
    GateManifest,
    HeadManifest,
    file_sha256,
    save_manifest,
    set_current,
)
from gate.static_export import STATIC_PREFIX, export_static_encoder
from gate.training import (
    HEAD_NAMES,
    Dataset,
    build_dataset,
    data_fingerprint,
    export_head,
    features_for,
    head_data,
    train_head,
)

logger = logging.getLogger("festina.gate.build")

DEFAULT_WINDOW = 8
ONNX_TOLERANCE = 1e-4
_SOURCE_NOTE = "source.txt"


@dataclass(frozen=True)
class TrainingInputs:
    proactivebench: Path
    labelled: Sequence[Path] = ()
    window: int = DEFAULT_WINDOW

    def files(self) -> list[Path]:
        return [
            *(
                path
                for folder in TRACE_FOLDERS
                for path in sorted((self.proactivebench / folder).glob("*.json"))
            ),
            self.proactivebench / "reward_data" / "train_data.jsonl",
            *self.labelled,
        ]


DEFAULT_ENCODER = "default"


def encoder_source(spec: str | None = None) -> str:
    """The encoder a `--encoder` value names: empty for the bundled MiniLM, `default` for
    the encoder of the default gate shipped in the package (already exported: no torch,
    no weights to install), `static` for static token vectors distilled from MiniLM,
    `static:PATH|ID` distilled from another encoder, anything else an exported encoder
    folder, a Hugging Face folder or a hub id."""
    if not spec:
        return str(bundled_minilm_path())
    if spec == DEFAULT_ENCODER:
        return str(DEFAULT_MODEL_DIR / DEFAULT_ENCODER_SUBDIR)
    if spec == STATIC_PREFIX.rstrip(":"):
        return STATIC_PREFIX + str(bundled_minilm_path())
    return spec


def export_source(source: str, target_dir: Path) -> Path:
    """Export the encoder `source` names (see `encoder_source`) to `target_dir`: a local
    BERT checkpoint with safetensors weights (the bundled MiniLM) is built without torch,
    anything else (another architecture, a hub id, static distillation) needs `train`; an
    encoder exported before is copied."""
    if (Path(source) / ENCODER_FILE).is_file():
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in (ENCODER_FILE, TOKENIZER_FILE):
            shutil.copyfile(Path(source) / name, target_dir / name)
        return target_dir / ENCODER_FILE
    if source.startswith(STATIC_PREFIX):
        return export_static_encoder(source.removeprefix(STATIC_PREFIX), target_dir)
    if bert_onnx.can_build(source):
        return bert_onnx.build_encoder(source, target_dir)
    return export_encoder(source, target_dir)


def ensure_encoder(models_dir: Path, spec: str | None = None) -> Path:
    """An exported encoder for `spec` (see `encoder_source`), exporting it once and
    reusing it for every later model version."""
    source = encoder_source(spec)
    encoders = models_dir / "encoders"
    for candidate in sorted(encoders.glob("*/" + _SOURCE_NOTE)) if encoders.is_dir() else []:
        if candidate.read_text().strip() == source and (candidate.parent / ENCODER_FILE).is_file():
            return candidate.parent
    encoders.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=encoders) as scratch:
        logger.info("exporting encoder %s to ONNX", source)
        export_source(source, Path(scratch))
        (Path(scratch) / _SOURCE_NOTE).write_text(source + "\n")
        target = encoders / file_sha256(Path(scratch) / ENCODER_FILE)[:12]
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(scratch, target)
        target.chmod(0o755)  # mkdtemp made it private; models are shared read-only files
    return target


class _Probabilities(Protocol):
    """What `_verify_onnx` needs of an estimator (scikit-learn's classifiers)."""

    def predict_proba(self, features: np.ndarray) -> np.ndarray: ...


def _verify_onnx(path: Path, estimator: _Probabilities, features: np.ndarray) -> float:
    """Largest gap between sklearn's and onnxruntime's probabilities on real rows."""
    from gate.runtime import open_session

    session = open_session(path, "cpu")
    outputs = session.run(None, {session.get_inputs()[0].name: features.astype(np.float32)})
    onnx_p = next(o for o in outputs if o.ndim == 2)[:, 1]
    sklearn_p = estimator.predict_proba(features)[:, 1]
    return float(np.abs(onnx_p - sklearn_p).max())


def _training_set(inputs: TrainingInputs) -> Dataset:
    """The labelled recordings, the extra labelled files and the reward judgements."""
    traces = load_traces(inputs.proactivebench)
    for path in inputs.labelled:
        traces.extend(load_labelled_jsonl(path))
    reward = load_reward_items(inputs.proactivebench / "reward_data" / "train_data.jsonl", traces)
    return build_dataset(traces, reward, inputs.window)


def _export_head(
    name: str, dataset: Dataset, builder: FeatureBuilder, model_dir: Path
) -> HeadManifest:
    """Train head `name`, export it to `model_dir` and check the export against sklearn."""
    trained = train_head(name, dataset, builder)
    path = model_dir / f"{name}.onnx"
    export_head(trained, path)
    gap = _verify_onnx(
        path, trained.estimator, features_for(name, builder, head_data(dataset, name))
    )
    if gap > ONNX_TOLERANCE:
        raise RuntimeError(f"ONNX export of head {name} differs from sklearn by {gap:.2e}")
    return HeadManifest(
        file=path.name,
        features=trained.feature_names,
        calibrator=trained.calibration.calibrator,
        ece_by_method=trained.calibration.ece_by_method,
        log_loss_by_method=trained.calibration.log_loss_by_method,
        metrics={**trained.metrics, "onnx_max_gap": gap},
    )


def _encoder_manifest(encoder_dir: Path) -> EncoderManifest:
    """The encoder as a model names it: relative to the model's own folder."""
    return EncoderManifest(
        source=(encoder_dir / _SOURCE_NOTE).read_text().strip(),
        directory=str(Path("..") / "encoders" / encoder_dir.name),
        sha256=file_sha256(encoder_dir / ENCODER_FILE),
    )


def train_gate(
    inputs: TrainingInputs,
    models_dir: Path,
    *,
    encoder: str | None = None,
    make_current: bool = True,
) -> GateManifest:
    """Train, calibrate, export and register a gate model with the encoder `encoder`
    names (see `encoder_source`); returns its manifest."""
    encoder_dir = ensure_encoder(models_dir, encoder)
    dataset = _training_set(inputs)
    lexical = dataset.lexical()
    builder = FeatureBuilder(OnnxEncoder(encoder_dir, device="cpu"), lexical)

    fingerprint = data_fingerprint(inputs.files())
    created = datetime.now(UTC)
    version = f"gate-{created:%Y%m%d-%H%M%S}-{fingerprint[:8]}"
    model_dir = models_dir / version
    model_dir.mkdir(parents=True)
    lexical.save(model_dir)
    heads = {}
    for name in HEAD_NAMES:
        heads[name] = _export_head(name, dataset, builder, model_dir)
        logger.info("head %s: %s", name, heads[name].metrics)
    manifest = GateManifest(
        format=FORMAT,
        version=version,
        created_at=created,
        window=inputs.window,
        data_sha256=fingerprint,
        data_files=[str(p) for p in inputs.files()],
        encoder=_encoder_manifest(encoder_dir),
        heads=heads,
    )
    save_manifest(model_dir, manifest)
    if make_current:
        set_current(models_dir, version)
    return manifest
