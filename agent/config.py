"""Settings: a TOML file with documented defaults, validated by pydantic."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.hosts import is_loopback
from agent.slowpath.llm import EMBEDDED_MODELS
from core.events import describe_validation_error
from gate.policy import GatePolicy

DEFAULT_CONFIG_TOML = """\
# festina configuration. Every key is optional; the values shown are the defaults.

[daemon]
# Event sources, merged into one stream:
#   "jsonl:<file>"  replays a JSON Lines (or JSON list) file of festina events;
#           "jsonl:-" reads them from standard input
#   "proactivebench:<file>"  replays ProactiveBench trace items instead (kind and app
#           inferred from each observation, labels not copied), e.g. one of the data set's
#           test_data/*.json traces; "proactivebench:-" reads them from standard input
#   "activitywatch:<url>"  follows a running ActivityWatch server, e.g. "http://127.0.0.1:5600"
#   "http"  takes events POSTed to festina's local API (see [api]); the terminal posts
#           there through the shell hook: eval "$(festina shell-hook bash)" in ~/.bashrc
#   "notifications"  desktop notifications seen on the session bus (D-Bus)
#   "calendar:<path>"  reminders before the entries of an .ics file or folder (see [calendar])
#   "power"  the battery: charger in or out, low levels (see [power])
#   "screen"  new text on the screen, read by OCR (X11, tesseract; see [screen])
# An empty list replays the bundled demo stream.
source = []
# Replay pace of jsonl and proactivebench files as a multiple of real time; 0 replays as
# fast as possible.
# Live sources (activitywatch, http, standard input) are never paced.
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
# Who drafts offers (what festina says, the task, the tool plan) in the reasoning graph,
# which also deliberates near-boundary events: "templates" fills concrete offers from the
# activity with no model; "embedded" asks a small model run in-process by llama.cpp
# (local-llm extra); "openai" any OpenAI-compatible server (vLLM, Ollama, llama.cpp
# server). "gate-rule" drafts nothing: near-boundary events are settled by the gate's
# rule, offers have no text.
backend = "templates"
# For "openai": the server's base URL (ending in /v1).
url = "http://127.0.0.1:11434/v1"
# For "openai", the server's model name; for "embedded", "smollm2" or "gemma3" (both
# shipped by the local-llm extra) or the path of a GGUF file, empty for the default one.
model = ""
# Name of the environment variable holding the API key, if the server needs one.
api_key_env = ""
# For "openai": how long one request may take; the streamed explanation of an accepted
# "explain this error" (see docs/tools.md) gets this long in all before the offline one is
# shown.
timeout_s = 60.0
# Escalations waiting beyond this many are settled by the gate's rule instead: a
# deliberation that starts minutes late helps no one, and ingest must not stall.
max_waiting = 32
# Folders the slow path's tools may read (read_file, list_directory, search_files) besides
# festina's workspace, e.g. ["~/Documents/notes"]; nothing else on the disk is readable.
read_paths = []

[etiquette]
# Offers made less than this many seconds (of event time) after the previous one are held
# back, whatever the context.
cooldown_s = 60.0
# An unanswered offer blocks further offers in its context (kind and app) for this long.
pending_timeout_s = 600.0
# Stay silent while ActivityWatch (or any source of "afk" events) says the user is away.
afk_suppression = true
# An offer turned down as "not now" holds every offer for this many seconds.
not_now_s = 1800.0
# No offer during a call, a screen share or a full-screen presentation: seen as an app in
# front (names, any case), a window title (regular expressions, any case), or a watcher's
# attribute (call, screen_share, presentation or fullscreen set to true). A sighting holds
# for busy_hold_s seconds, so looking at another window during a call still counts.
busy_apps = ["zoom", "zoom.us", "Microsoft Teams", "Webex", "Skype", "FaceTime", "Jitsi Meet"]
busy_titles = [
    'zoom meeting', 'meet\\.google\\.com', 'is sharing your screen', 'you are (screen )?sharing',
    'slide ?show', 'presenter view', 'presenting',
]
busy_hold_s = 300.0
# Never offer the same thing twice within this many seconds: an offer on activity whose
# embedding (the gate's encoder) is at least repeat_similarity (cosine) like an offered
# one is held back, and so is a drafted offer whose task is like one offered (the slow
# path's repeat measure); 0 turns this off. Without an encoder, equal summaries count.
repeat_window_s = 3600.0
repeat_similarity = 0.9
# At most this many offers a day (local calendar day); 0: no cap.
max_offers_per_day = 20

[exploration]
# While the daemon learns from answers: after this many minutes of event time with no
# offer, the next moment the gate rates at least as likely to need help as the population's
# base rate is offered anyway (saying so), so a person the gate underrates is ever heard.
# Each exploratory offer doubles the wait before the next, up to max_backoff times; one
# accepted resets it. 0: never explore.
after_minutes = 60.0
max_backoff = 8

[privacy]
# Events never stored, embedded or logged, only counted (applied as they come in):
# apps by name (any case), window titles and URLs matching a regular expression (searched,
# any case), e.g. exclude_apps = ["KeePassXC"], exclude_urls = ['^https://bank\\.']
# (single quotes keep a pattern's backslashes).
exclude_apps = []
exclude_titles = []
exclude_urls = []
# Private browsing windows (ActivityWatch's "incognito" flag, or "Incognito", "Private
# Browsing", "InPrivate" in the title).
exclude_incognito = true

[notifications]
# Show each offer as a desktop notification (freedesktop notifications over D-Bus), with
# Accept and Reject buttons where the notification server shows them. Without a desktop
# session (no D-Bus session bus) nothing is shown; the log and the dashboard still are.
desktop = true

[activitywatch]
# Seconds between polls of the ActivityWatch server.
poll_s = 1.0
# On the very first start, also take this many seconds of past activity; later starts
# resume after the last event festina stored.
backfill_s = 600.0

[calendar]
# Minutes before an entry starts that its reminder becomes an event.
lead_minutes = 10.0
# Seconds between reads of the calendar files.
poll_s = 30.0

[screen]
# Seconds between looks at the window in front. Windows the [privacy] rules exclude are
# never captured; a frame that has not changed is not read again.
interval_s = 5.0
# What is read: "window" (the window in front) or "screen" (every window shown on the
# screen, each on its own; only while no window the [privacy] rules exclude is shown
# anywhere on it: otherwise nothing).
region = "window"
# On Wayland without XWayland: capture through the desktop portal (xdg-desktop-portal's
# Screenshot). Off by default: Wayland lets festina see neither the windows on the screen
# nor which is in front, so the [privacy] rules are checked only against the window in
# front as window events (an activitywatch: source, the HTTP API) report it, never against
# the windows behind it, which the whole-screen screenshot holds too (docs/sources.md).
wayland_portal = false

[power]
# Seconds between battery readings.
poll_s = 60.0
# Battery percentages that make an event when crossed while on battery.
low_levels = [20, 10, 5]

[api]
# The local HTTP API, served while "http" is among the sources: POST /v1/events,
# GET /v1/decisions, GET /v1/status, and the OpenAPI schema at /openapi.json.
host = "127.0.0.1"
port = 8765
# A host other than loopback ("0.0.0.0": every interface) lets other machines reach the API;
# festina refuses to start with one unless this says so. The Host check then accepts this
# machine's names and addresses as well as the loopback ones.
allow_remote = false
# Every request must carry "Authorization: Bearer <token>". Required when the API runs;
# `festina config token` prints a fresh random one. A config file holding a token is kept
# readable by its owner only (festina tightens it at start and says so).
token = ""
# Requests larger than this are refused with 413.
max_body_bytes = 1048576
max_events_per_request = 1000
# Each request must arrive whole (headers and body) within this many seconds of its first
# byte, or its connection is closed; beyond max_connections open at once (or
# max_connections_per_client from one address), a new one closes the connection that has
# waited longest for its request (that address's own). Idle connections cannot then use up
# the daemon's file descriptors (no token is needed to open one).
request_timeout_s = 10.0
max_connections = 256
max_connections_per_client = 64
# Web pages (origins such as "http://localhost:3000") allowed to call the API from a
# browser. Empty: no CORS, and any request carrying another Origin is refused (403).
# Requests must also name this machine in their Host header (127.0.0.1, localhost, ::1
# or api.host): a web page's own name, pointed here by DNS rebinding, is refused (403).
cors_origins = []

[gate]
# Gate model: a version (see `festina gate list`) or a model folder; "default" for the one
# shipped with festina, "cues" for the untrained cue gate. Empty uses the model you
# trained last (the registry's current), else the shipped default.
model = ""
# Where the ONNX gate runs: "auto" (CUDA when onnxruntime has it, else CPU), "cpu", "cuda".
device = "auto"
# Threads per onnxruntime session on the CPU; 0 lets onnxruntime choose (one per core).
threads = 0
# C_FA: cost of an offer the user did not want.
cost_false_alarm = 1.0
# C_FN: cost of staying silent when the user needed help.
cost_missed_help = 3.0
# Events with |p_accept - tau| <= delta go to the slow path (0 <= delta < 0.5).
delta = 0.1
# How many spreads of the gate's p_need (how far people's own rates of need strayed from it
# on recordings it was not trained on) must clear the cost rule's threshold before festina
# departs from what the base rate alone decides. 0 trusts p_need as it is.
min_evidence = 1.645
# Number of recent events of the same source the gate looks at.
window = 8
"""


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


class DaemonSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: list[str] = Field(default_factory=list)
    speed: float = Field(0.0, ge=0.0)
    queue_size: int = Field(1024, ge=1)
    batch_size: int = Field(32, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("source", mode="before")
    @classmethod
    def _one_spec_is_a_list(cls, value: object) -> object:
        # A single spec as a plain string reads naturally in TOML and on the command line.
        if isinstance(value, str):
            return [value] if value.strip() else []
        return value

    @field_validator("source")
    @classmethod
    def _no_blank_specs(cls, value: list[str]) -> list[str]:
        specs = [spec.strip() for spec in value]
        if any(not spec for spec in specs):
            raise ValueError("source specs must not be empty")
        if len(set(specs)) != len(specs):
            raise ValueError("a source is listed twice")
        return specs


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = ""
    redact_secrets: bool = True
    retention_days: int = Field(90, ge=0)


class SlowPathSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["templates", "gate-rule", "embedded", "openai"] = "templates"
    url: str = "http://127.0.0.1:11434/v1"
    model: str = ""
    api_key_env: str = ""
    timeout_s: float = Field(60.0, gt=0)
    max_waiting: int = Field(32, ge=1)
    read_paths: list[str] = Field(default_factory=list)

    @field_validator("read_paths")
    @classmethod
    def _absolute_read_paths(cls, value: list[str]) -> list[str]:
        # Relative folders would depend on where the daemon happens to start.
        for folder in value:
            if not Path(folder).expanduser().is_absolute():
                raise ValueError(f"{folder!r} must be an absolute path (or start with ~)")
        return value

    @model_validator(mode="after")
    def _openai_needs_a_model(self) -> SlowPathSettings:
        if self.backend == "openai" and not self.model:
            raise ValueError("backend 'openai' needs model, the server's model name")
        if (
            self.backend == "embedded"
            and self.model
            and self.model not in EMBEDDED_MODELS
            and not self.model.endswith(".gguf")
        ):
            raise ValueError(
                f"backend 'embedded' takes model {' or '.join(map(repr, EMBEDDED_MODELS))}"
                " or the path of a .gguf file"
            )
        return self


def _regular_expressions(value: list[str]) -> list[str]:
    """A settings list of regular expressions, each compiled once to refuse a bad one."""
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None
    return value


class EtiquetteSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cooldown_s: float = Field(60.0, ge=0.0)
    pending_timeout_s: float = Field(600.0, ge=0.0)
    afk_suppression: bool = True
    not_now_s: float = Field(1800.0, ge=0.0)
    busy_apps: list[str] = Field(
        default_factory=lambda: [
            "zoom",
            "zoom.us",
            "Microsoft Teams",
            "Webex",
            "Skype",
            "FaceTime",
            "Jitsi Meet",
        ]
    )
    busy_titles: list[str] = Field(
        default_factory=lambda: [
            "zoom meeting",
            "meet\\.google\\.com",
            "is sharing your screen",
            "you are (screen )?sharing",
            "slide ?show",
            "presenter view",
            "presenting",
        ]
    )
    busy_hold_s: float = Field(300.0, ge=0.0)
    repeat_window_s: float = Field(3600.0, ge=0.0)
    repeat_similarity: float = Field(0.9, gt=0.0, le=1.0)
    max_offers_per_day: int = Field(20, ge=0)

    _valid_busy_titles = field_validator("busy_titles")(_regular_expressions)


class ExplorationSettings(BaseModel):
    """Offers made where festina has long been silent, so the person's model can learn
    (see `agent/exploration.py`); only while the daemon learns from answers."""

    model_config = ConfigDict(extra="forbid")

    after_minutes: float = Field(
        60.0, ge=0.0, description="stream minutes with no offer before one exploring (0: never)"
    )
    max_backoff: int = Field(
        8, ge=1, le=1024, description="at most this many times the wait, as offers go unaccepted"
    )


class PrivacySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    exclude_apps: list[str] = Field(default_factory=list)
    exclude_titles: list[str] = Field(default_factory=list)
    exclude_urls: list[str] = Field(default_factory=list)
    exclude_incognito: bool = True

    _valid_patterns = field_validator("exclude_titles", "exclude_urls")(_regular_expressions)


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    desktop: bool = True


class ActivityWatchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    poll_s: float = Field(1.0, gt=0.0)
    backfill_s: float = Field(600.0, ge=0.0)


class CalendarSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_minutes: float = Field(10.0, ge=0.0, le=7 * 24 * 60)
    poll_s: float = Field(30.0, gt=0.0)


class ScreenSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(5.0, ge=0.5)
    region: Literal["window", "screen"] = "window"
    wayland_portal: bool = False


class PowerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    poll_s: float = Field(60.0, gt=0.0)
    low_levels: list[Annotated[int, Field(ge=1, le=99)]] = Field(
        default_factory=lambda: [20, 10, 5]
    )


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    allow_remote: bool = False
    token: str = ""
    max_body_bytes: int = Field(1 << 20, ge=1024)
    max_events_per_request: int = Field(1000, ge=1)
    request_timeout_s: float = Field(10.0, gt=0, le=3600)
    max_connections: int = Field(256, ge=1)
    max_connections_per_client: int = Field(64, ge=1)
    cors_origins: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _remote_only_when_meant(self) -> ApiSettings:
        if not is_loopback(self.host) and not self.allow_remote:
            raise ValueError(
                f"api.host = {self.host!r} lets other machines reach the API; set "
                "api.allow_remote = true to mean it (anyone holding api.token can then "
                "post events and read decisions), or use 127.0.0.1"
            )
        return self

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        # A wildcard would let any web page the user visits read their decisions.
        for origin in value:
            scheme, sep, rest = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest.rstrip("/"):
                raise ValueError(f"{origin!r} is not an origin like 'http://localhost:3000'")
        return [origin.rstrip("/") for origin in value]


class GateSettings(GatePolicy):
    model: str = ""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0, le=256)
    window: int = Field(8, ge=1, le=256)

    def policy(self) -> GatePolicy:
        return GatePolicy.model_validate(self.model_dump(include=set(GatePolicy.model_fields)))


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    slow_path: SlowPathSettings = Field(default_factory=SlowPathSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    etiquette: EtiquetteSettings = Field(default_factory=EtiquetteSettings)
    exploration: ExplorationSettings = Field(default_factory=ExplorationSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    activitywatch: ActivityWatchSettings = Field(default_factory=ActivityWatchSettings)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    screen: ScreenSettings = Field(default_factory=ScreenSettings)
    power: PowerSettings = Field(default_factory=PowerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @model_validator(mode="after")
    def _api_needs_a_token(self) -> Settings:
        if "http" not in self.daemon.source:
            return self
        if len(self.api.token) < 16:
            raise ValueError(
                "the http source needs api.token (16 characters or more); "
                "`festina config token` prints one"
            )
        if self.daemon.queue_size < self.api.max_events_per_request:
            # A request is queued whole or refused whole, so it must fit.
            raise ValueError("daemon.queue_size must hold at least api.max_events_per_request")
        return self


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


def protect_secrets(path: Path, settings: Settings) -> bool:
    """Make a config file holding the API token readable by its owner only; True when its
    mode had to be tightened. Raises ConfigError when that is not possible."""
    if not settings.api.token or not path.exists():
        return False
    mode = path.stat().st_mode & 0o777
    if not mode & 0o077:
        return False
    try:
        path.chmod(mode & 0o700)
    except OSError as error:
        raise ConfigError(
            f"{path} holds api.token but is readable by others (mode {mode:o}) and cannot "
            f"be changed: {error.strerror}; run `chmod 600 {path}`"
        ) from error
    return True
