"""The model registry: one folder per gate version, a manifest, and a CURRENT pointer.

models/
  CURRENT                      the version the daemon loads
  encoders/<sha12>/            exported encoder + tokenizer, shared by versions
  <version>/manifest.json      what was trained on what, metrics, calibration
  <version>/<head>.onnx
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from gate.calibration import Calibrator

MANIFEST = "manifest.json"
CURRENT = "CURRENT"
# 2: the need head reads lexical features (lexical.json) and p_accept has no head.
FORMAT = 2
DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"
"""The default gate shipped inside the package (see `gate.release`), used when the
registry has no current model."""
DEFAULT_ENCODER_SUBDIR = "encoder"


class HeadManifest(BaseModel):
    file: str
    features: list[str]
    calibrator: Calibrator
    ece_by_method: dict[str, float]
    # Absent from models trained before calibrators were chosen by log loss.
    log_loss_by_method: dict[str, float] = {}
    metrics: dict[str, float]


class EncoderManifest(BaseModel):
    source: str
    directory: str
    sha256: str


class GateManifest(BaseModel):
    format: int = 1
    version: str
    created_at: datetime
    window: int
    data_sha256: str
    data_files: list[str]
    encoder: EncoderManifest
    heads: dict[str, HeadManifest]


class RegistryError(RuntimeError):
    """The registry holds no usable model where one was expected."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> GateManifest:
    """The manifest as written, whatever its format (for listing models)."""
    path = model_dir / MANIFEST
    if not path.is_file():
        raise RegistryError(f"no gate model at {model_dir} (missing {MANIFEST})")
    return GateManifest.model_validate_json(path.read_text())


def load_manifest(model_dir: Path) -> GateManifest:
    """The manifest of a model this version of festina can run."""
    manifest = read_manifest(model_dir)
    if manifest.format != FORMAT:
        raise RegistryError(
            f"gate model {manifest.version} has format {manifest.format}, this festina runs "
            f"format {FORMAT}: train a new one with `festina gate train`"
        )
    return manifest


def is_usable(model_dir: Path | None) -> bool:
    """True when `model_dir` holds a model of the current format."""
    try:
        return model_dir is not None and read_manifest(model_dir).format == FORMAT
    except RegistryError:
        return False


def save_manifest(model_dir: Path, manifest: GateManifest) -> None:
    (model_dir / MANIFEST).write_text(manifest.model_dump_json(indent=2))


def current_model_dir(models_dir: Path) -> Path | None:
    pointer = models_dir / CURRENT
    if not pointer.is_file():
        return None
    version = pointer.read_text().strip()
    return models_dir / version if version else None


def find_model_dir(models_dir: Path, name: str | None = None) -> Path | None:
    """The model `name` names (a registered version or a model folder), else the current
    one; None when nothing is named and no model is current."""
    if not name:
        return current_model_dir(models_dir)
    for candidate in (models_dir / name, Path(name).expanduser()):
        if (candidate / MANIFEST).is_file():
            return candidate
    raise RegistryError(f"no gate model {name!r} (neither a version in {models_dir} nor a folder)")


def encoder_dir_of(model_dir: Path) -> Path:
    """The exported encoder a model was trained with."""
    return (model_dir / read_manifest(model_dir).encoder.directory).resolve()


def set_current(models_dir: Path, version: str) -> None:
    if not (models_dir / version / MANIFEST).is_file():
        raise RegistryError(f"no model version {version!r} in {models_dir}")
    tmp = models_dir / (CURRENT + ".tmp")
    tmp.write_text(version + "\n")
    tmp.replace(models_dir / CURRENT)  # atomic: a reader never sees a half-written pointer


def list_versions(models_dir: Path) -> list[GateManifest]:
    if not models_dir.is_dir():
        return []
    manifests = [read_manifest(d) for d in sorted(models_dir.iterdir()) if (d / MANIFEST).is_file()]
    return sorted(manifests, key=lambda m: m.created_at)
