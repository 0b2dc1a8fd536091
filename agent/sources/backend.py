"""How a live source lives with a backend that comes and goes (a bus, a file, a sensor).

A source that loses its backend must not end the daemon, must not flood the log while the
backend is away, and must pick up again by itself when the backend returns.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from core.sources import EventSource, SourceItem


class BackendHealth:
    """Counts a source's faults, logs each outage once and its end once, paces retries."""

    def __init__(
        self, logger: logging.Logger, what: str, *, retry_s: float, max_retry_s: float = 60.0
    ) -> None:
        self._logger = logger
        self._what = what
        self._retry_s = retry_s
        self._max_retry_s = max(max_retry_s, retry_s)
        self._wait_s = retry_s
        self._reason: str | None = None
        #: Failures seen since the source started, each retry counted.
        self.faults = 0

    def failed(self, reason: str) -> float:
        """Record one failure; returns the seconds to wait before the next try."""
        self.faults += 1
        if reason != self._reason:  # a new outage, or the same one changing its reason
            self._logger.warning("%s: %s; retrying", self._what, reason)
            self._reason = reason
            self._wait_s = self._retry_s
        else:
            self._wait_s = min(self._wait_s * 2, self._max_retry_s)
        return self._wait_s

    def ok(self) -> None:
        """The backend answered: an outage, if there was one, is over."""
        if self._reason is not None:
            self._logger.info("%s: back after %s", self._what, self._reason)
            self._reason = None
            self._wait_s = self._retry_s


class BackendUnavailable(Exception):
    """The backend cannot be read now; the message says why, without private content."""


class PollingSource(EventSource):
    """A live source that reads its backend every `poll_s` seconds until closed.

    A poll that raises `BackendUnavailable` is a fault: counted, logged once per outage,
    retried with backoff; any other exception is a bug and ends the source loudly.
    """

    def __init__(self, name: str, logger: logging.Logger, poll_s: float) -> None:
        self.name = name
        self.poll_s = poll_s
        self._health = BackendHealth(logger, name, retry_s=poll_s)
        self._closed = asyncio.Event()

    @property
    def faults(self) -> int:
        return self._health.faults

    @abc.abstractmethod
    async def poll(self) -> list[SourceItem]:
        """What is new since the last poll."""

    async def items(self) -> AsyncIterator[SourceItem]:
        while not self._closed.is_set():
            try:
                batch = await self.poll()
            except BackendUnavailable as error:
                wait_s, batch = self._health.failed(str(error)), []
            else:
                self._health.ok()
                wait_s = self.poll_s
            for item in batch:
                yield item
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), timeout=wait_s)

    async def close(self) -> None:
        self._closed.set()
