"""Hardening of the local API: Host names (DNS rebinding), no CORS by default, the token
compared in constant time, and the file holding the token readable by its owner only."""

from __future__ import annotations

import hmac
import socket
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from click.testing import CliRunner

from agent.api import ApiServer, build_app
from agent.api_guard import host_name
from agent.config import ApiSettings, ConfigError, Settings, protect_secrets
from agent.sources.http import HttpIngestSource
from festina_cli import cli
from memory.store import Store

TOKEN = "guard-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@asynccontextmanager
async def api(tmp_path, **settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API alone (no pipeline reads its queue): enough for GET routes and refusals."""
    config = ApiSettings(port=0, token=TOKEN, **settings)
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    server = ApiServer(build_app(config, HttpIngestSource(16), store, dict), config)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            yield client
    finally:
        await server.stop()
        store.close()


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8765", "127.0.0.1"),
        ("[::1]:8765", "::1"),
        ("LocalHost.", "localhost"),
        ("evil.example:8765", "evil.example"),
    ],
)
def test_host_names_are_read_without_port_or_brackets(header, name):
    assert host_name(header) == name


async def test_a_foreign_host_name_is_refused_as_dns_rebinding(tmp_path):
    async with api(tmp_path) as client:
        for host in ("evil.example:8765", "attacker.test", "127.0.0.1.evil.example"):
            response = await client.get("/v1/status", headers={**AUTH, "Host": host})
            assert response.status_code == 403, host
            assert "not allowed" in response.json()["detail"]
        # The schema needs no token, but it is refused to a foreign Host too.
        assert (
            await client.get("/openapi.json", headers={"Host": "evil.example"})
        ).status_code == 403
        for host in ("127.0.0.1:1", "localhost", "[::1]:8765"):
            response = await client.get("/v1/status", headers={**AUTH, "Host": host})
            assert response.status_code == 200, host


def test_listening_beyond_this_machine_must_be_meant():
    for host in ("0.0.0.0", "::", "192.168.1.5"):
        with pytest.raises(ValueError, match=r"api\.allow_remote = true"):
            ApiSettings(host=host, token=TOKEN)
        assert ApiSettings(host=host, token=TOKEN, allow_remote=True).host == host
    assert ApiSettings(host="localhost", token=TOKEN).host == "localhost"


async def test_on_every_interface_loopback_and_this_machines_names_are_served(tmp_path):
    async with api(tmp_path, host="0.0.0.0", allow_remote=True) as client:
        for host in ("127.0.0.1:8765", "localhost", socket.gethostname()):
            response = await client.get("/v1/status", headers={**AUTH, "Host": host})
            assert response.status_code == 200, host
        refused = await client.get("/v1/status", headers={**AUTH, "Host": "evil.example"})
        assert refused.status_code == 403


async def test_no_cross_origin_request_is_served_by_default(tmp_path):
    async with api(tmp_path) as client:
        origin = {"Origin": "http://evil.example"}
        response = await client.get("/v1/decisions", headers={**AUTH, **origin})
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers
        preflight = await client.options(
            "/v1/events",
            headers={**origin, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 403
        assert "access-control-allow-origin" not in preflight.headers


async def test_a_listed_origin_gets_cors_and_others_still_do_not(tmp_path):
    async with api(tmp_path, cors_origins=["http://localhost:3000"]) as client:
        preflight = await client.options(
            "/v1/events",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
        listed = await client.get("/v1/status", headers={**AUTH, "Origin": "http://localhost:3000"})
        assert listed.status_code == 200
        other = await client.get("/v1/status", headers={**AUTH, "Origin": "http://evil.example"})
        assert other.status_code == 403


def test_wildcard_and_malformed_origins_are_refused_in_the_config():
    for origin in ("*", "localhost:3000", "http://x.example/path"):
        with pytest.raises(ValueError, match="not an origin"):
            ApiSettings(cors_origins=[origin])


async def test_the_token_is_compared_in_constant_time(tmp_path, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(given, expected):
        compared.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with api(tmp_path) as client:
        wrong = await client.get("/v1/status", headers={"Authorization": "Bearer nope"})
        right = await client.get("/v1/status", headers=AUTH)
    assert (wrong.status_code, right.status_code) == (401, 200)
    assert compared == [(b"nope", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


def test_config_init_writes_a_file_only_its_owner_can_read(festina_home):
    result = CliRunner().invoke(cli, ["config", "init"])
    assert result.exit_code == 0, result.output
    path = festina_home / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_config_holding_the_token_is_made_owner_only(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[api]\ntoken = "{TOKEN}"\n', encoding="utf-8")
    path.chmod(0o644)
    settings = Settings.model_validate({"api": {"token": TOKEN}})
    assert protect_secrets(path, settings) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert protect_secrets(path, settings) is False  # already private
    public = tmp_path / "public.toml"
    public.write_text("", encoding="utf-8")
    public.chmod(0o644)
    assert protect_secrets(public, Settings()) is False  # no token, nothing to hide
    assert stat.S_IMODE(public.stat().st_mode) == 0o644


def test_a_token_file_that_cannot_be_made_private_is_an_error(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text(f'[api]\ntoken = "{TOKEN}"\n', encoding="utf-8")
    path.chmod(0o644)

    def refuse(self, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(type(path), "chmod", refuse)
    with pytest.raises(ConfigError, match="chmod 600"):
        protect_secrets(path, Settings.model_validate({"api": {"token": TOKEN}}))
