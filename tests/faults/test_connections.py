"""Connection hygiene of the local API: requests that never arrive whole are cut off, idle
connections cannot crowd out valid posts, and a daemon short of descriptors keeps serving."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.helpers import AUTH, event_record, free_port, http_daemon, wait_for
from tests.test_api import AUTH as SERVING_AUTH
from tests.test_api import serving

HALF_HEADER = b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"


def _closed_by_peer(sock: socket.socket) -> bool:
    """True once the server has closed the connection (without blocking)."""
    sock.setblocking(False)
    try:
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


@contextmanager
def idle_connections(
    port: int, n: int, payload: bytes = HALF_HEADER, *, source: str = "127.0.0.1"
) -> Iterator[list]:
    """`n` connections from `source` that each send `payload` and then nothing more."""
    sockets = []
    try:
        for _ in range(n):
            sock = socket.create_connection(
                ("127.0.0.1", port), timeout=5, source_address=(source, 0)
            )
            sock.sendall(payload)
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


async def _port(client: httpx.AsyncClient) -> int:
    return int(str(client.base_url).rsplit(":", 1)[1])


async def test_a_request_that_never_arrives_whole_is_cut_off_quietly(tmp_path, caplog):
    short_body = (
        b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: " + SERVING_AUTH["Authorization"].encode() + b"\r\n"
        b"Content-Length: 500\r\n\r\n[{"
    )
    async with serving(tmp_path, request_timeout_s=0.5) as (client, store):
        port = await _port(client)
        with (
            caplog.at_level(logging.WARNING),
            idle_connections(port, 1) as [half],
            idle_connections(port, 1, short_body) as [short],
            idle_connections(port, 1, b"") as [silent],
        ):
            start = time.monotonic()
            for sock in (half, short, silent):
                await asyncio.to_thread(wait_for, lambda s=sock: _closed_by_peer(s), 10)
            assert time.monotonic() - start < 5
            # Meanwhile and after, whole requests are served.
            response = await client.post("/v1/events", json=event_record(1), headers=SERVING_AUTH)
            assert response.status_code == 200
        assert store.totals()["events"] == 1
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        [line] = [r.message for r in caplog.records if "connections closed" in r.message]
        assert "sent no whole request in time" in line  # one line, not one per connection


async def test_beyond_the_cap_idle_connections_make_room_for_valid_posts(tmp_path):
    async with serving(tmp_path, max_connections=8) as (client, store):
        port = await _port(client)
        with idle_connections(port, 30) as idle:
            for i in range(5):
                # httpx opens a connection of its own for each: the oldest idle one goes.
                async with httpx.AsyncClient(base_url=str(client.base_url)) as fresh:
                    response = await fresh.post(
                        "/v1/events", json=event_record(i), headers=SERVING_AUTH, timeout=10
                    )
                assert response.status_code == 200
            open_now = sum(not _closed_by_peer(sock) for sock in idle)
            assert open_now <= 8
        assert store.totals()["events"] == 5


async def test_one_address_beyond_its_share_closes_only_its_own_connections(tmp_path):
    async with serving(tmp_path, max_connections=100, max_connections_per_client=4) as (
        client,
        store,
    ):
        port = await _port(client)
        # 127.0.0.2 is loopback too on Linux: another address on this machine.
        with (
            idle_connections(port, 4, source="127.0.0.2") as other,
            idle_connections(port, 12) as crowd,
        ):
            response = await client.post("/v1/events", json=event_record(1), headers=SERVING_AUTH)
            assert response.status_code == 200
            assert not any(_closed_by_peer(sock) for sock in other)
            assert sum(not _closed_by_peer(sock) for sock in crowd) < 4
        assert store.totals()["events"] == 1


@pytest.mark.timeout(180)
def test_a_daemon_short_of_descriptors_serves_posts_while_1100_idle_connections_wait(tmp_path):
    home, port = tmp_path / "home", free_port()
    with http_daemon(home, port, max_open_files=1024) as daemon:
        with idle_connections(port, 1100):
            for i in range(5):
                response = daemon.post(event_record(i))
                assert response.status_code == 200 and response.json()["stored"]
        status = httpx.get(f"{daemon.url}/v1/status", headers=AUTH, timeout=10).json()
        assert status["counts"]["accepted"] == 5
    log = (home / "daemon.out").read_text()
    assert "Too many open files" not in log and "Traceback" not in log
