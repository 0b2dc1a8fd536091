"""How the gate and the slow path share time: whether the gate decides the next batch
while escalations are deliberated, and whether answers are learnt as they come.

The daemon overlaps everything (`Overlapping`), so its decisions depend on timing; an
evaluation that must not (evals/lockstep.py) brings a pacing of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class Pacing(Protocol):
    learns_as_answers_come: bool
    """Answers are learnt within a second of being given; else only as the next event
    is decided."""

    async def after_batch(self, deliberations: asyncio.Queue[Any]) -> None:
        """Called by the gate stage once a batch is decided and its escalations queued
        for the slow path (`deliberations`), before it takes the next batch."""


class Overlapping:
    """The daemon's pacing: the gate goes on while the slow path deliberates, and an
    answer is learnt as soon as it is given."""

    learns_as_answers_come = True

    async def after_batch(self, deliberations: asyncio.Queue[Any]) -> None:
        return None
