"""Where decisions reach the user. The daemon logs offers; the dashboard reads memory."""

from __future__ import annotations

import logging
from typing import Protocol

from agent.decision import Decision
from agent.events import Event

logger = logging.getLogger("festina.surface")


class Surface(Protocol):
    def offer(self, event: Event, decision: Decision) -> None: ...


class LogSurface:
    """Writes each intervention to the log, one line per offer."""

    def offer(self, event: Event, decision: Decision) -> None:
        logger.info(
            "offer help on %s (p_need=%.2f p_accept=%.2f tau=%.2f, by %s): %s",
            event.id,
            decision.p_need,
            decision.p_accept,
            decision.tau,
            decision.decided_by,
            event.summary()[:200],
        )
