"""Accepted plans run side by side: each plan whose answer has arrived moves on a thread of
its own, so that one plan's long step (a model's streamed explanation, a slow tool) never
holds another plan back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol, TypeVar, runtime_checkable

from memory.health import STORAGE_FAULTS

logger = logging.getLogger("festina.pipeline")

T = TypeVar("T")

# At most this many plans run a step at once; a plan ready beyond them starts when one
# of them is done or waits for the person. A plan's step mostly waits (on a model's
# server, a child process, the network), so more than the cores are worth running.
PLAN_WORKERS = 8
# How long a stop waits for the steps running then. A step still running is left to the
# process's end, and the plan runs that step again at the next start (its checkpoint is
# from before the step): a stop is not held for a model's long answer.
STOP_GRACE_S = 2.0


@runtime_checkable
class Plans(Protocol):
    """What runs accepted plans (the reasoning slow path): which are ready to move, and
    moving one of them on."""

    def answered(self, skip: Collection[str] = ()) -> list[str]: ...

    def advance(self, event_id: str) -> bool: ...


async def on_own_thread(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` on a daemon thread of its own. Unlike `asyncio.to_thread`, a call left
    running when the daemon stops holds neither the stop nor the process's exit; a caller
    cancelled meanwhile leaves the call to finish (or not) on its own."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the caller was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        result, error = None, None
        try:
            result = fn(*args)
        except BaseException as raised:  # handed to the caller, on the loop
            error = raised
        # A loop that has closed has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="festina-plan", daemon=True).start()
    return await future


class PlanRuns:
    """Starts the plans that are ready, each on its own thread, at most `workers` at
    once, and tells `moved` of each plan that moved (on the event loop) as soon as it
    has. A plan that fails is logged and left until the next start (a storage fault is
    retried at the next look); the others go on."""

    def __init__(
        self,
        plans: Plans,
        *,
        moved: Callable[[str], Awaitable[None]],
        failed: Callable[[Exception, str], None],
        workers: int = PLAN_WORKERS,
    ) -> None:
        if workers < 1:
            raise ValueError("at least one plan must be able to run")
        self._plans = plans
        self._moved = moved
        self._failed = failed
        self._workers = workers
        self._running: dict[str, asyncio.Task[None]] = {}
        self._broken: set[str] = set()  # failed in this process: retried at the next start
        # The look for ready plans in flight: a stop waits for it as for a step, since it
        # reads memory, and a read after memory closed opens it again (SQLite's WAL files
        # reappear beside a database being removed).
        self._looking: asyncio.Future[list[str]] | None = None

    @property
    def running(self) -> list[str]:
        """The plans running a step now."""
        return sorted(self._running)

    async def start_ready(self) -> None:
        """Start the plans ready to move that are not running already, up to `workers`."""
        if len(self._running) >= self._workers:
            return
        busy = set(self._running) | self._broken
        self._looking = asyncio.ensure_future(on_own_thread(self._plans.answered, busy))
        ready = await asyncio.shield(self._looking)
        for event_id in ready:
            if len(self._running) >= self._workers:
                break
            if event_id not in self._running:
                self._running[event_id] = asyncio.ensure_future(self._advance(event_id))

    async def _advance(self, event_id: str) -> None:
        try:
            moved = await on_own_thread(self._plans.advance, event_id)
        except Exception as error:
            if isinstance(error, STORAGE_FAULTS):
                self._failed(error, f"the accepted plan of {event_id} failed; retried")
            else:
                self._broken.add(event_id)
                self._failed(
                    error, f"the accepted plan of {event_id} failed; retried at the next start"
                )
            return
        finally:
            self._running.pop(event_id, None)
        if moved:
            await self._moved(event_id)

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Wait up to `grace_s` for the steps running now; leave the rest (see
        `STOP_GRACE_S`)."""
        running = dict(self._running)
        looking = [self._looking] if self._looking and not self._looking.done() else []
        if not running and not looking:
            return
        _, left = await asyncio.wait([*running.values(), *looking], timeout=grace_s)
        for task in left:
            task.cancel()
        for event_id, task in running.items():
            if task in left:
                logger.warning(
                    "the accepted plan of %s was stopped mid-step; it runs that step again "
                    "at the next start",
                    event_id,
                )
        await asyncio.gather(*left, return_exceptions=True)
