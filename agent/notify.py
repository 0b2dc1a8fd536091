"""Offers as desktop notifications (freedesktop notifications over D-Bus, through the
desktop-notifier library), with Accept and Reject buttons where the notification server
shows actions; the answer goes to memory like one given in the dashboard. When an
accepted offer's plan has run, its result is a notification too, with an Open button
for the link or file it found (opened by the desktop's own handler, xdg-open).

On a machine with no desktop session (no D-Bus session bus: a server, CI, a container)
the surface stays silent and says so once in the log at DEBUG; so it does when the bus
has no notification server. The log line and the dashboard still carry every offer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from core.decision import Decision
from core.events import Event
from core.outcome import StepOutcome, StepStatus
from core.progress import PlanProgress
from memory.feedback import AlreadyAnswered, Outcome
from memory.stores.plans import ConfirmationAnswered, UnknownConfirmation

logger = logging.getLogger("festina.notify")

Answer = Callable[[str, Outcome], None]
Confirm = Callable[[int, bool], object]
"""Answers a waiting step: its confirmation id, and whether to run it."""
TITLE = "festina offers help"
RESULT_TITLE = "festina: done"
WAITING_TITLE = "festina: go ahead?"
MAX_RESULT_LINES = 4
#: The application name on festina's own notifications (the notifications source skips them).
APP_NAME = "festina"


def has_desktop_session(environ: dict[str, str] | None = None) -> bool:
    """A session bus to send notifications over (freedesktop notifications need one)."""
    env = os.environ if environ is None else environ
    return bool(env.get("DBUS_SESSION_BUS_ADDRESS"))


class DesktopSurface:
    """Shows each offer as a desktop notification; `answer(event_id, outcome)` records the
    button pressed. Never raises: a notification that cannot be shown costs nothing."""

    def __init__(
        self,
        answer: Answer,
        *,
        confirm: Confirm | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self._answer = answer
        self._confirm = confirm
        self._notifier: Any = None
        self._sending: set[asyncio.Task[None]] = set()
        # One notification at a time, in the order offered: sent concurrently, a later offer
        # could overtake an earlier one on the bus and the user would see them out of order.
        self._in_order = asyncio.Lock()
        if not has_desktop_session(environ):
            logger.debug("no desktop session (no D-Bus session bus): no notifications")
            return
        try:
            from desktop_notifier import DesktopNotifier
        except ImportError:
            logger.debug("desktop-notifier is not installed: no notifications")
            return
        self._notifier = DesktopNotifier(app_name=APP_NAME)

    @property
    def enabled(self) -> bool:
        return self._notifier is not None

    def offer(self, event: Event, decision: Decision) -> None:
        if self._notifier is None:
            return
        self._start(self._send_offer(event, decision))

    def result(self, event_id: str, outcomes: list[StepOutcome]) -> None:
        if self._notifier is None:
            return
        self._start(self._send_result(outcomes))

    def waiting(self, event_id: str, plan: PlanProgress) -> None:
        """Ask for the go on the step an accepted plan waits on, with Do it and Skip
        buttons (without a way to answer, nothing is asked here: the dashboard and
        `festina confirm` still are)."""
        if self._notifier is None or self._confirm is None:
            return
        self._start(self._send_waiting(plan))

    def _start(self, sending: Any) -> None:
        task = asyncio.ensure_future(sending)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def wait_sent(self) -> None:
        """Until every notification started has gone out (or failed)."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    async def _send_offer(self, event: Event, decision: Decision) -> None:
        from desktop_notifier import Button

        assert event.id is not None
        event_id = event.id
        offer = decision.offer
        message = offer.speak if offer else f"Help with: {event.summary()[:200]}"
        buttons = [
            Button("Accept", on_pressed=lambda: self._pressed(event_id, Outcome.ACCEPTED)),
            Button("Reject", on_pressed=lambda: self._pressed(event_id, Outcome.REJECTED)),
        ]
        await self._send(TITLE, message, buttons)

    async def _send_result(self, outcomes: list[StepOutcome]) -> None:
        from desktop_notifier import Button

        lines = _outcome_lines(outcomes)
        target = next(
            (found for o in outcomes for found in (*o.links, *filter(_safe_file, o.paths))),
            None,
        )
        opener = shutil.which("xdg-open")
        buttons = (
            [Button("Open", on_pressed=lambda: _open(opener, target))]
            if target is not None and opener is not None
            else []
        )
        await self._send(RESULT_TITLE, "\n".join(lines[:MAX_RESULT_LINES]), buttons)

    async def _send_waiting(self, plan: PlanProgress) -> None:
        from desktop_notifier import Button

        step = plan.asking
        assert step is not None and step.confirmation_id is not None
        confirmation_id = step.confirmation_id
        shown = ", ".join(f"{value}" for value in step.args.values())[:200]
        lines = [*_outcome_lines(plan.done)[: MAX_RESULT_LINES - 1], f"next: {step.tool} {shown}"]
        buttons = [
            Button("Do it", on_pressed=lambda: self._confirmed(confirmation_id, True)),
            Button("Skip", on_pressed=lambda: self._confirmed(confirmation_id, False)),
        ]
        await self._send(WAITING_TITLE, "\n".join(lines), buttons)

    async def _send(self, title: str, message: str, buttons: list[Any]) -> None:
        # One notification at a time, in order (see __init__).
        async with self._in_order:
            await self._send_now(title, message, buttons)

    async def _send_now(self, title: str, message: str, buttons: list[Any]) -> None:
        from desktop_notifier import Capability

        if self._notifier is None:  # an earlier send found no server
            return
        try:
            # Buttons only where the server shows actions; elsewhere they would be dropped
            # silently, and the notification would promise an answer it cannot take.
            if Capability.BUTTONS not in await self._notifier.get_capabilities():
                buttons = []
            await self._notifier.send(title=title, message=message, buttons=buttons)
        except Exception as error:
            # No notification server on the bus, or it went away: stop trying.
            logger.debug("desktop notifications off: %r", error)
            self._notifier = None

    def _pressed(self, event_id: str, outcome: Outcome) -> None:
        try:
            self._answer(event_id, outcome)
        except AlreadyAnswered as error:  # answered elsewhere first (the dashboard, the API)
            logger.info("notification button ignored: %s", error)
        except Exception:
            logger.exception("recording the answer from a notification failed")

    def _confirmed(self, confirmation_id: int, approved: bool) -> None:
        assert self._confirm is not None
        try:
            self._confirm(confirmation_id, approved)
        except (ConfirmationAnswered, UnknownConfirmation) as error:  # answered elsewhere
            logger.info("notification button ignored: %s", error)
        except Exception:
            logger.exception("recording the confirmation from a notification failed")


def _outcome_lines(outcomes: list[StepOutcome]) -> list[str]:
    """Each step on one line: its tool, its status unless done, its result's first line."""
    lines = []
    for outcome in outcomes:
        first = outcome.text.splitlines()[0] if outcome.text else ""
        said = "" if outcome.status is StepStatus.DONE else f" ({outcome.status.value})"
        lines.append(f"{outcome.tool}{said}: {first}"[:200])
    return lines


def _safe_file(path: str) -> bool:
    """A result's file worth an Open button: there, a plain file, nothing that would run
    (an executable, a .desktop launcher) when the desktop's handler opens it."""
    return (
        os.path.isfile(path)
        and not os.access(path, os.X_OK)
        and not path.endswith((".desktop", ".sh", ".exe"))
    )


def _open(opener: str, target: str) -> None:
    """Open a result's link or file with the desktop's handler, without waiting for it."""
    try:
        subprocess.Popen(
            [opener, target],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        logger.exception("opening %s failed", target)


class Surfaces:
    """Several surfaces as one: each offer and result goes to all; one failing costs the
    others nothing."""

    def __init__(self, *surfaces: Any) -> None:
        self.surfaces = surfaces

    def offer(self, event: Event, decision: Decision) -> None:
        for surface in self.surfaces:
            try:
                surface.offer(event, decision)
            except Exception:
                logger.exception("a surface failed to show the offer on %s", event.id)

    def result(self, event_id: str, outcomes: list[StepOutcome]) -> None:
        for surface in self.surfaces:
            try:
                surface.result(event_id, outcomes)
            except Exception:
                logger.exception("a surface failed to show the result of %s", event_id)

    def waiting(self, event_id: str, plan: PlanProgress) -> None:
        for surface in self.surfaces:
            try:
                if (waiting := getattr(surface, "waiting", None)) is not None:
                    waiting(event_id, plan)
            except Exception:
                logger.exception("a surface failed to ask for the next step of %s", event_id)
