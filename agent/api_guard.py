"""Who may talk to the local API at all: loopback Host names, and no foreign web pages.

A web page the user visits can make the browser send requests to 127.0.0.1, and with DNS
rebinding its own name can even resolve there; the browser then sends that name as the
Host header. So a request is served only when its Host names this machine's loopback (or
the configured `api.host`), as ActivityWatch does, and a request carrying an Origin
header (sent by browsers for cross-origin calls) only when that origin is listed in
`api.cors_origins`, which is empty by default: no CORS at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.hosts import EVERY_INTERFACE, LOOPBACK_NAMES, is_loopback, machine_names


def allowed_hosts(configured: str) -> frozenset[str]:
    """The Host names the API answers to: the configured one, the loopback aliases when it
    listens on loopback, and on every interface (an explicit `api.allow_remote`) those
    and this machine's own names and addresses."""
    names = {configured.casefold()}
    if is_loopback(configured) or configured in EVERY_INTERFACE:
        names |= LOOPBACK_NAMES
    if configured in EVERY_INTERFACE:
        names |= machine_names()
    return frozenset(names - EVERY_INTERFACE)


def host_name(header: str) -> str:
    """The name part of a Host header: without the port, brackets or a trailing dot."""
    header = header.strip()
    if header.startswith("["):  # [::1]:8765
        name = header[1 : header.find("]")] if "]" in header else header
    else:
        name = header.rsplit(":", 1)[0] if header.count(":") == 1 else header
    return name.rstrip(".").casefold()


class HostAndOriginGuard:
    """ASGI middleware refusing (403) requests for another Host, or from an unlisted Origin."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str], origins: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(hosts)
        self.origins = frozenset(origin.rstrip("/") for origin in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        host = host_name(headers.get("host", ""))
        if host not in self.hosts:
            shown = sorted(self.hosts)
            why = f"Host {host or '(none)'!r} is not allowed; this API answers to {shown}"
            await JSONResponse({"detail": why}, status_code=403)(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/") not in self.origins:
            why = f"cross-origin request from {origin!r} refused (see api.cors_origins)"
            await JSONResponse({"detail": why}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)
