"""Running the pipeline as a daemon: in the foreground, or detached with a pid file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
from collections.abc import Iterator
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from agent.allocator import limit_malloc_arenas
from agent.config import Settings
from agent.logs import configure_logging
from agent.notify import DesktopSurface, Surfaces
from agent.paths import FestinaPaths
from agent.pidlock import PidLock
from agent.pipeline import Pipeline, PipelineOptions, PipelineStats
from agent.slowpath.factory import build_slow_path
from agent.sources import calendar_paths, open_sources
from agent.startup import long_lived
from agent.surface import LogSurface, Surface
from gate.loader import load_gate
from memory.integrity import check_memory
from memory.store import Store

if TYPE_CHECKING:
    from agent.sources.http import HttpIngestSource
    from core.sources import EventSource
    from gate.base import GateModel

logger = logging.getLogger("festina.daemon")


def surfaces(settings: Settings, store: Store) -> Surface:
    """Where offers reach the user: the log, and desktop notifications when enabled
    (silently none on a machine without a desktop session)."""
    if not settings.notifications.desktop:
        return LogSurface()
    desktop = DesktopSurface(
        lambda event_id, outcome: store.record_feedback(event_id, outcome),
        confirm=lambda confirmation_id, go: store.answer_confirmation(confirmation_id, go),
    )
    return Surfaces(LogSurface(), desktop) if desktop.enabled else LogSurface()


def database_url(settings: Settings, paths: FestinaPaths) -> str:
    return settings.storage.url or paths.database_url


class CannotStart(RuntimeError):
    """The machine around festina stops it from starting (a full or read-only disk)."""


@contextlib.contextmanager
def _started(settings: Settings, paths: FestinaPaths, *, to_stderr: bool) -> Iterator[None]:
    """The data folders, the log and the pid lock, held for the run; a disk that refuses
    any of them is CannotStart with the reason, not a traceback."""
    with contextlib.ExitStack() as held:
        # What is being made, for an error that names no file (writing into one).
        making = paths.data_dir
        try:
            paths.ensure()
            making = paths.log_file
            configure_logging(paths.log_file, settings.daemon.log_level, to_stderr=to_stderr)
            making = paths.pid_file
            held.enter_context(PidLock(paths.pid_file))
        except OSError as error:
            where = error.filename or making
            raise CannotStart(f"cannot start: {error.strerror or error} ({where})") from error
        yield


async def _serve(
    settings: Settings,
    pipeline: Pipeline,
    source: EventSource,
    ingest: HttpIngestSource | None,
    store: Store,
) -> PipelineStats:
    """Run the pipeline (and the API, for an HTTP source) until the source ends or a
    signal stops it: the first drains, a second stops at once."""
    api = None
    if ingest is not None:
        # Imported here: FastAPI costs a second or two of start-up for a replay.
        with long_lived():
            from agent.api import ApiServer, build_app

            api = ApiServer(
                build_app(
                    settings.api,
                    ingest,
                    store,
                    lambda: {
                        **asdict(pipeline.stats),
                        **pipeline.waiting(),
                        "source_faults": source.faults,
                    },
                    storage_fault=lambda: pipeline.health.fault,
                ),
                settings.api,
            )
        await api.start()
        logger.info("API listening on http://%s:%d", settings.api.host, api.port)

    async def stop() -> None:
        if api is not None:
            await api.stop()  # requests in flight finish; no new ones
        pipeline.request_stop()

    stopping: set[asyncio.Task[None]] = set()

    def on_signal() -> None:
        if stopping or pipeline.stopping:
            # A second signal: the drain takes too long for whoever stops us.
            if api is not None:
                api.abort()
            if ingest is not None:
                ingest.abandon()
            pipeline.abandon()
            return
        task = asyncio.ensure_future(stop())
        stopping.add(task)

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    try:
        return await pipeline.run()
    finally:
        if api is not None:
            await api.stop()


def _open_store(settings: Settings, paths: FestinaPaths, *, accept_empty: bool) -> Store:
    """Memory, checked and with the runs an earlier daemon left unfinished marked crashed."""
    url = database_url(settings, paths)
    for warning in check_memory(url, accept_empty=accept_empty):
        logger.warning("%s", warning)
    store = Store(url)
    # We hold the lock: a run still marked running was cut off (SIGKILL, power loss).
    if crashed := store.end_dead_runs(os.getpid()):
        logger.warning("%d earlier run(s) ended without finishing; marked crashed", crashed)
    return store


def _pipeline(
    settings: Settings, paths: FestinaPaths, source: EventSource, store: Store, gate: GateModel
) -> Pipeline:
    """The pipeline from the source to the surfaces, as the settings configure it."""
    slow_path = build_slow_path(
        settings.slow_path,
        paths=paths,
        store=store,
        gate=gate,
        repeat_window_s=settings.etiquette.repeat_window_s,
        # A reminder's offer lists that calendar's day: the user gave festina it to read.
        also_read=calendar_paths(settings.daemon.source),
    )
    return Pipeline(
        source=source,
        gate=gate,
        policy=settings.gate.policy(),
        store=store,
        slow_path=slow_path,
        surface=surfaces(settings, store),
        options=PipelineOptions(
            queue_size=settings.daemon.queue_size,
            slow_queue_size=settings.slow_path.max_waiting,
            batch_size=settings.daemon.batch_size,
            window_size=settings.gate.window,
            redact_secrets=settings.storage.redact_secrets,
            retention_days=settings.storage.retention_days,
            etiquette=settings.etiquette,
            exploration=settings.exploration,
            privacy=settings.privacy,
            # Every offer drafted, unless no drafter is configured at all.
            draft_offers=settings.slow_path.backend != "gate-rule",
        ),
    )


def _log_finished(stats: PipelineStats, source: EventSource) -> None:
    logger.info(
        "daemon finished: accepted=%d decided=%d duplicates=%d rejected=%d "
        "escalated=%d intervened=%d excluded=%d paused=%d source_faults=%d",
        stats.accepted,
        stats.decided,
        stats.duplicates,
        stats.rejected,
        stats.escalated,
        stats.intervened,
        stats.excluded,
        stats.paused,
        source.faults,
    )


def run_foreground(
    settings: Settings, paths: FestinaPaths, *, to_stderr: bool = True, accept_empty: bool = False
) -> PipelineStats:
    """Run until the source ends or SIGTERM/SIGINT arrives, then drain and return."""
    # Before any of the daemon's threads: arenas made earlier stay (`agent.allocator`).
    limit_malloc_arenas()
    with _started(settings, paths, to_stderr=to_stderr):
        # The parts live for the run, the slow path's imports (LangGraph) for the process.
        with long_lived():
            source, ingest = open_sources(settings)
            store = _open_store(settings, paths, accept_empty=accept_empty)
            gate = load_gate(
                settings.gate.model, paths.models_dir, settings.gate.device, settings.gate.threads
            )
            pipeline = _pipeline(settings, paths, source, store, gate)
        logger.info(
            "daemon started: source=%s gate=%s store=%s",
            source.name,
            gate.version,
            store.engine.url,
        )

        try:
            stats = asyncio.run(_serve(settings, pipeline, source, ingest, store))
        finally:
            store.close()
        _log_finished(stats, source)
        return stats


def systemd_unit(executable: Path, config_path: Path | None, home: str | None) -> str:
    """A systemd user unit that runs `festina daemon run` in the foreground."""
    template = resources.files("agent.data").joinpath("festina.service").read_text()
    command = [str(executable)]
    if config_path is not None:
        command += ["--config", str(config_path)]
    command += ["daemon", "run"]
    environment = "Environment=PYTHONUNBUFFERED=1\n"
    if home:
        environment += f"Environment={shlex.quote('FESTINA_HOME=' + home)}\n"
    return template.format(exec_start=shlex.join(command), environment=environment)
