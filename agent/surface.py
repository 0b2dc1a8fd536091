"""Where decisions reach the user: offers, and what an accepted offer's plan did. The
daemon logs both; the dashboard reads memory."""

from __future__ import annotations

import json
import logging
from typing import Protocol

from core.decision import Decision
from core.events import Event
from core.outcome import StepOutcome
from core.progress import PlanProgress, confirm_command

logger = logging.getLogger("festina.surface")


class Surface(Protocol):
    def offer(self, event: Event, decision: Decision) -> None: ...

    def result(self, event_id: str, outcomes: list[StepOutcome]) -> None:
        """An accepted offer's plan has run: what each step did."""


# A surface may also offer `waiting(event_id, plan: PlanProgress)`: an accepted plan now
# waits for the person's go on its next step (`plan.waiting_for[0]`, whose confirmation
# id answers it), having done `plan.done` so far.


def show_offer(surface: Surface, event: Event, decision: Decision) -> None:
    """Show an offer whose decision is stored: a broken surface must not stop the
    pipeline, so its failure is logged, and the offer stays in memory for the others."""
    try:
        surface.offer(event, decision)
    except Exception:
        logger.exception("surface failed to show the offer on %s", event.id)


class LogSurface:
    """Writes each intervention to the log, one line per offer: what festina says, the
    task and the plan's tools (or that nothing was drafted), then the event."""

    def offer(self, event: Event, decision: Decision) -> None:
        offer = decision.offer
        said = (
            f'"{offer.speak}" (task: {offer.task}; plan: {offer.plan_summary()})'
            if offer
            else "(no drafted offer)"
        )
        logger.info(
            "offer on %s: %s [p_need=%.2f p_accept=%.2f tau=%.2f, by %s] on: %s",
            event.id,
            said,
            decision.p_need,
            decision.p_accept,
            decision.tau,
            decision.decided_by,
            event.summary()[:200],
        )

    def result(self, event_id: str, outcomes: list[StepOutcome]) -> None:
        for outcome in outcomes:
            logger.info(
                "result of %s, step %d: %s %s: %s",
                event_id,
                outcome.step,
                outcome.tool,
                outcome.status.value,
                " | ".join(outcome.text.splitlines())[:300],
            )

    def waiting(self, event_id: str, plan: PlanProgress) -> None:
        step = plan.asking
        assert step is not None and step.confirmation_id is not None
        logger.info(
            "plan of %s waits for your confirmation of %s %s: %s",
            event_id,
            step.tool,
            json.dumps(step.args, ensure_ascii=False)[:300],
            confirm_command(step.confirmation_id),
        )
