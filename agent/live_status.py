"""What the running daemon says of itself through its API, for `festina daemon status` and
the dashboard: what memory cannot show while it cannot be written."""

from __future__ import annotations

from typing import Any

from agent.config import Settings


def live_status(settings: Settings, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """The daemon's /v1/status answer, when it serves its API; None when it serves none or
    does not answer in `timeout_s`."""
    if "http" not in settings.daemon.source:  # with it, the configuration needs a token
        return None
    # Imported here: only a daemon with the http source is asked.
    import httpx

    host = "[::1]" if ":" in settings.api.host else "127.0.0.1"  # where it listens, locally
    try:
        response = httpx.get(
            f"http://{host}:{settings.api.port}/v1/status",
            headers={"Authorization": f"Bearer {settings.api.token}"},
            timeout=timeout_s,
        )
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError):
        return None
