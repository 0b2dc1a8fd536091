"""Settings: a TOML file with documented defaults, validated by pydantic."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.events import describe_validation_error
from gate.policy import GatePolicy

DEFAULT_CONFIG_TOML = """\
# festina configuration. Every key is optional; the values shown are the defaults.

[daemon]
# Event source: "jsonl:<file>" replays a JSON Lines (or JSON list) file, "jsonl:-" reads
# standard input. Empty replays the bundled demo stream.
source = ""
# Replay pace as a multiple of real time; 0 replays as fast as possible.
speed = 0.0
# Bounded queue length between stages; a full queue slows the stage before it.
queue_size = 1024
# Events scored together by the gate.
batch_size = 32
log_level = "INFO"

[storage]
# SQLAlchemy URL. Empty means the SQLite file festina.db in the data directory.
# PostgreSQL: "postgresql+psycopg://user:password@localhost/festina"
url = ""
# Replace passwords, tokens, keys and card numbers in events before anything sees them.
redact_secrets = true
# Forget events stored more than this many days ago (checked at start and hourly);
# 0 keeps everything.
retention_days = 90

[slow_path]
# How near-boundary events are deliberated: "gate-rule" settles them by the gate's own
# rule; "embedded" runs the reasoning graph on the bundled SmolLM2-135M (local-llm extra);
# "openai" runs it on any OpenAI-compatible server (vLLM, Ollama, llama.cpp server).
backend = "gate-rule"
# For "openai": the server's base URL (ending in /v1) and model name.
url = "http://127.0.0.1:11434/v1"
model = ""
# Name of the environment variable holding the API key, if the server needs one.
api_key_env = ""
timeout_s = 60.0

[gate]
# Gate model folder. Empty uses the registry's current model (see `festina gate list`),
# or the untrained cue gate when none has been trained yet.
model = ""
# Where the ONNX gate runs: "auto" (CUDA when onnxruntime has it, else CPU), "cpu", "cuda".
device = "auto"
# C_FA: cost of an offer the user did not want.
cost_false_alarm = 1.0
# C_FN: cost of staying silent when the user needed help.
cost_missed_help = 3.0
# Events with |p_accept - tau| <= delta go to the slow path (0 <= delta < 0.5).
delta = 0.1
# Number of recent events of the same source the gate looks at.
window = 8
"""


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


class DaemonSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = ""
    speed: float = Field(0.0, ge=0.0)
    queue_size: int = Field(1024, ge=1)
    batch_size: int = Field(32, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = ""
    redact_secrets: bool = True
    retention_days: int = Field(90, ge=0)


class SlowPathSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["gate-rule", "embedded", "openai"] = "gate-rule"
    url: str = "http://127.0.0.1:11434/v1"
    model: str = ""
    api_key_env: str = ""
    timeout_s: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _openai_needs_a_model(self) -> SlowPathSettings:
        if self.backend == "openai" and not self.model:
            raise ValueError("backend 'openai' needs model, the server's model name")
        return self


class GateSettings(GatePolicy):
    model: str = ""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    window: int = Field(8, ge=1, le=256)

    def policy(self) -> GatePolicy:
        return GatePolicy.model_validate(self.model_dump(include=set(GatePolicy.model_fields)))


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    slow_path: SlowPathSettings = Field(default_factory=SlowPathSettings)
    gate: GateSettings = Field(default_factory=GateSettings)


def load_settings(path: Path, *, required: bool = False) -> Settings:
    """Read settings from `path`; a missing file means defaults unless `required`."""
    if not path.exists():
        if required:
            raise ConfigError(f"config file not found: {path}")
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from error
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{path}: {describe_validation_error(error)}") from error
