"""Connection hygiene for the local API: a deadline on reading each request and a cap on
open connections.

uvicorn bounds neither: a connection that sends half a header, or a body shorter than its
Content-Length, is held open for good, and each holds a file descriptor. A few hundred of
them (no token needed to open one) use up the daemon's descriptors, and then valid posts
time out and SQLite cannot open its file. So each request must arrive whole within
`request_timeout_s` of its first byte (of the connection, for the first), and beyond
`max_connections` (or a quarter of the process's descriptor limit, if lower) a new
connection closes the one that has waited longest for its request to arrive; one already
being answered is never closed. Beyond `max_per_client` from one address, the same
happens among that address's own connections, so one host cannot close another's. A
sender that is merely slow gets its connection closed and resends; a valid post is never
starved by idle ones.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Iterable
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger("festina.api")


#: At most one log line per this many seconds about connections closed by the guard.
LOG_EVERY_S = 60.0
#: Connections taken from the listening socket in one go (and its queue's length).
ACCEPT_BURST = 64


class _Closures:
    """Counts connections the guard closed and logs them at most once per interval."""

    def __init__(self) -> None:
        self.timed_out = 0
        self.evicted = 0
        self._logged_at = float("-inf")

    def note(self, *, evicted: bool) -> None:
        if evicted:
            self.evicted += 1
        else:
            self.timed_out += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            logger.warning(
                "API connections closed so far: %d sent no whole request in time, %d made "
                "room for newer ones",
                self.timed_out,
                self.evicted,
            )


def connection_cap(max_connections: int) -> int:
    """At most `max_connections`, and at most a quarter of the descriptors this process may
    open: the rest are the database's, the models' and the logs'."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max_connections if soft == resource.RLIM_INFINITY else min(max_connections, soft // 4)


def _host(connection: Any) -> str | None:
    client = getattr(connection, "client", None)
    return client[0] if client else None


class _GuardedProtocol(H11Protocol):
    """The protocol with its limits as class attributes, set by `guarded_protocol`."""

    closures: _Closures
    cap: int
    per_client: int
    request_timeout_s: float
    _reading_since: float | None = None
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_reading()
        # One client beyond its share makes room among its own connections only, so
        # that one host cannot close another's.
        host = _host(self)
        own = [c for c in self.connections if _host(c) == host]
        if len(own) > self.per_client:
            self._make_room(own)
        elif len(self.connections) > self.cap:
            self._make_room(self.connections)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.DONE or self.transport.is_closing():
            self._stop_reading()  # the request is whole: answering it has no deadline
        elif self._reading_since is None:
            self._start_reading()  # the next request on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_reading()
        super().connection_lost(exc)

    def _start_reading(self) -> None:
        self._reading_since = time.monotonic()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._close, False)

    def _stop_reading(self) -> None:
        self._reading_since = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _close(self, evicted: bool) -> None:
        self._stop_reading()
        if not self.transport.is_closing():
            self.closures.note(evicted=evicted)
            self.transport.close()

    def _make_room(self, among: Iterable[Any]) -> None:
        waiting = [c for c in among if getattr(c, "_reading_since", None) is not None]
        # This connection itself is among them: when every other one is being
        # answered, the newcomer is the one closed.
        oldest = min(waiting, key=lambda c: c._reading_since, default=self)
        oldest._close(True)


def guarded_protocol(
    max_connections: int, request_timeout_s: float, max_per_client: int
) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a read deadline per request and connection caps, in all
    and per client address (pass it as `uvicorn.Config(http=...)`)."""
    cap = connection_cap(max_connections)
    limits = {
        "closures": _Closures(),
        "cap": cap,
        "per_client": min(max_per_client, cap),
        "request_timeout_s": request_timeout_s,
    }
    return type("GuardedProtocol", (_GuardedProtocol,), limits)
