"""A throwaway ActivityWatch server for the test run, from the aw-server package.

aw-server lives in its own venv (FESTINA_AW_VENV, default .venv-aw; `make test` builds
it) because its pins clash with festina's. Watchers are played by tests/aw_watcher.py
running under that venv's Python with aw-client, as a real watcher would.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]


def aw_venv() -> Path | None:
    venv = Path(os.environ.get("FESTINA_AW_VENV", ROOT / ".venv-aw"))
    if not venv.is_absolute():
        venv = ROOT / venv
    return venv if (venv / "bin" / "aw-server").exists() else None


@contextmanager
def running_aw_server(venv: Path) -> Iterator[AwServer]:
    """Start aw-server in testing mode on a free port, with private data folders."""
    home = Path(tempfile.mkdtemp(prefix="festina-aw-"))
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    port = free_port()
    log = (home / "aw-server.log").open("wb")
    process = subprocess.Popen(
        [str(venv / "bin" / "aw-server"), "--testing", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = AwServer(f"http://127.0.0.1:{port}", port, venv, env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{server.url}/api/0/info", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "aw-server did not start: " + (home / "aw-server.log").read_text()
                    ) from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


class AwServer:
    def __init__(self, url: str, port: int, venv: Path, env: dict[str, str]) -> None:
        self.url = url
        self.port = port
        self._venv = venv
        self._env = env

    def watch(
        self,
        bucket_id: str,
        bucket_type: str,
        events: list[tuple[datetime, dict[str, Any]]],
        *,
        mode: str = "heartbeat",
    ) -> None:
        """Write `events` into a bucket through aw-client, as a watcher would."""
        job = {
            "port": self.port,
            "buckets": [
                {
                    "id": bucket_id,
                    "type": bucket_type,
                    "mode": mode,
                    "events": [{"timestamp": t.isoformat(), "data": d} for t, d in events],
                }
            ],
        }
        subprocess.run(
            [str(self._venv / "bin" / "python"), str(ROOT / "tests" / "aw_watcher.py")],
            input=json.dumps(job),
            text=True,
            env=self._env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def events(self, bucket_id: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.url}/api/0/buckets/{bucket_id}/events", params={"limit": -1}, timeout=10
        )
        response.raise_for_status()
        return response.json()
