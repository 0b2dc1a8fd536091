"""Which names and addresses reach this machine: loopback, and (for an API listening on
every interface) the machine's own host names and addresses."""

from __future__ import annotations

import ipaddress
import socket

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
EVERY_INTERFACE = frozenset({"0.0.0.0", "::"})


def is_loopback(host: str) -> bool:
    """True for a loopback address or the name localhost."""
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def machine_names() -> frozenset[str]:
    """This machine's host names and the addresses they resolve to (what a client on the
    network may put in a Host header); the lookups that fail are left out."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names |= {info[4][0] for info in socket.getaddrinfo(name, None)}
        except OSError:
            continue
    return frozenset(n.casefold() for n in names if n)
