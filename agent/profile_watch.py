"""What the surfaces change in memory while the pipeline runs, picked up by it: the
user's preferences (a pause among them), and events the user told memory to forget."""

from __future__ import annotations

import asyncio
import logging

from agent.context import ContextWindows
from agent.decide import DecisionChain
from agent.memory_calls import MemoryCalls
from memory.store import Store

logger = logging.getLogger("festina.pipeline")

# How soon a pause (or any preference) set elsewhere takes hold while no event is decided.
PREFERENCES_POLL_S = 0.5


class ProfileWatch:
    """Keeps the decision chain's preferences and the context windows in step with
    memory, reading memory's marks (one read) to see whether anything changed."""

    def __init__(
        self, store: Store, memory: MemoryCalls, chain: DecisionChain, windows: ContextWindows
    ) -> None:
        self.store = store
        self.memory = memory
        self.chain = chain
        self.windows = windows
        self._preferences_revision = -1
        self._forgets = 0

    async def refresh(self, *, drop_forgotten: bool = False) -> None:
        """Pick up preference changes made by any surface since the last batch; with
        `drop_forgotten`, also let go of events a surface has since told memory to forget
        (see `drop_forgotten`). One read of memory either way."""
        revision, forgets = await self.memory.once(self.store.profile_marks)
        if revision != self._preferences_revision:
            self._preferences_revision, self.chain.preferences = await self.memory.once(
                self.store.preferences
            )
            logger.info(
                "preferences revision %d: %s", revision, self.chain.preferences.model_dump()
            )
        if drop_forgotten and forgets != self._forgets:
            self._forgets = forgets
            await self.drop_forgotten()

    async def drop_forgotten(self) -> None:
        """The windows would carry forgotten events into the next decisions, drafts and
        deliberations, and the etiquette keeps recent offers for its repeat check and
        pending holds: drop what memory no longer holds. Only called before a batch joins
        the windows, when every event held has been stored, so a missing one was
        forgotten, not yet to be stored."""
        held = self.windows.event_ids() | self.chain.remembered()
        forgotten = held - await self.memory.once(self.store.existing_events, held)
        self.chain.forget(forgotten)
        if dropped := self.windows.drop(forgotten):
            logger.info("dropped %d forgotten events from the context windows", dropped)

    async def loop(self) -> None:
        """Notice a pause, a resume or other changes even while no event is decided."""
        while True:
            await asyncio.sleep(PREFERENCES_POLL_S)
            try:
                await self.refresh()
            except Exception as error:
                self.memory.failed(error, "reading the preferences failed")
