"""Lockstep: the pacing that makes a replay independent of timing.

Each batch is decided to the end, its escalations deliberated, before the gate scores
the next, and the answers given are learnt only as the next event is decided: every
decision sees memory as it stood after the previous one, however fast the machine. The
daemon overlaps the two instead (agent.stage_pacing.Overlapping).
"""

from __future__ import annotations

import asyncio
from typing import Any


class Lockstep:
    """The pacing of a replay (agent.stage_pacing.Pacing)."""

    # Learning in the answers loop would land between two events wherever its poll falls.
    learns_as_answers_come = False

    async def after_batch(self, deliberations: asyncio.Queue[Any]) -> None:
        """Wait until every escalation queued so far is deliberated."""
        await deliberations.join()
