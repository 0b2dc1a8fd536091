"""What starting the local API can fail with, in a module of its own: the command that
catches it must not pay for uvicorn's or FastAPI's import on a replay."""

from __future__ import annotations


class ApiUnavailable(RuntimeError):
    """The API cannot listen where configured (port taken, address not local...)."""
