"""The local HTTP API, served by uvicorn on loopback over a real pipeline and SQLite."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict

import httpx

from agent.api import ApiServer, build_app
from agent.config import ApiSettings
from agent.events import Event
from agent.sources.http import HttpIngestSource
from memory.store import Store
from tests.conftest import event_record
from tests.test_pipeline import make_pipeline

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@asynccontextmanager
async def serving(tmp_path, **limits) -> AsyncIterator[tuple[httpx.AsyncClient, Store]]:
    """A pipeline fed by the API; on exit, the API stops and the pipeline drains."""
    settings = ApiSettings(port=0, token=TOKEN, **limits)
    ingest = HttpIngestSource(capacity=64)
    pipeline, store = make_pipeline(f"sqlite:///{tmp_path / 'f.db'}", ingest)
    server = ApiServer(build_app(settings, ingest, store, lambda: asdict(pipeline.stats)), settings)
    running = asyncio.create_task(pipeline.run())
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            yield client, store
    finally:
        await server.stop()
        pipeline.request_stop()
        await running
        store.close()


async def test_requests_without_the_token_are_refused(tmp_path):
    async with serving(tmp_path) as (client, store):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = await client.post("/v1/events", json=event_record(1), headers=headers)
            assert response.status_code == 401, headers
            assert (await client.get("/v1/decisions", headers=headers)).status_code == 401
        assert store.totals()["events"] == 0


async def test_posted_events_are_stored_before_the_answer_and_bad_ones_explained(tmp_path):
    async with serving(tmp_path) as (client, store):
        body = [event_record(1), {"time": "yesterday", "kind": "editor", "text": "x"}, 7]
        response = await client.post("/v1/events", json=body, headers=AUTH)
        assert response.status_code == 200
        result = response.json()
        assert result["stored"] is True
        [accepted] = result["accepted"]
        assert store.known_event_ids([accepted]) == {accepted}  # stored before the answer
        assert [r["index"] for r in result["rejected"]] == [1, 2]
        assert "time" in result["rejected"][0]["reason"]
        assert "JSON object" in result["rejected"][1]["reason"]

        single = await client.post("/v1/events", json=event_record(2), headers=AUTH)
        assert single.status_code == 200 and len(single.json()["accepted"]) == 1

        decisions = (await client.get("/v1/decisions?limit=5", headers=AUTH)).json()
        assert {d["event"]["id"] for d in decisions} == {accepted, *single.json()["accepted"]}
        assert all(d["event"]["source"] == "test" for d in decisions)
        status = (await client.get("/v1/status", headers=AUTH)).json()
        assert status["counts"]["decided"] == 2 and status["counts"]["rejected"] == 2
    store_rejections = Store(f"sqlite:///{tmp_path / 'f.db'}")
    assert len(store_rejections.rejections()) == 2  # kept whole, with the reason
    store_rejections.close()


async def test_a_resent_request_is_not_stored_twice(tmp_path):
    async with serving(tmp_path) as (client, store):
        body = [event_record(i) for i in range(5)]
        first = await client.post("/v1/events", json=body, headers=AUTH)
        again = await client.post("/v1/events", json=body, headers=AUTH)
        assert first.status_code == again.status_code == 200
        assert first.json()["accepted"] == again.json()["accepted"]
        assert store.totals()["events"] == 5


async def test_broken_and_oversized_bodies_get_clear_errors(tmp_path):
    async with serving(tmp_path, max_body_bytes=2048, max_events_per_request=3) as (
        client,
        store,
    ):
        broken = await client.post("/v1/events", content=b"{not json", headers=AUTH)
        assert broken.status_code == 400 and "invalid JSON" in broken.json()["detail"]
        empty = await client.post("/v1/events", json=[], headers=AUTH)
        assert empty.status_code == 400
        huge = await client.post("/v1/events", json=event_record(1, text="x" * 4000), headers=AUTH)
        assert huge.status_code == 413
        many = await client.post(
            "/v1/events", json=[event_record(i) for i in range(4)], headers=AUTH
        )
        assert many.status_code == 413 and "at most 3" in many.json()["detail"]
        fine = await client.post("/v1/events", json=event_record(9), headers=AUTH)
        assert fine.status_code == 200
    assert store.totals()["events"] == 1


async def test_a_full_queue_answers_503_and_takes_nothing(tmp_path):
    settings = ApiSettings(port=0, token=TOKEN, max_events_per_request=4)
    ingest = HttpIngestSource(capacity=4)  # nobody reads it: it stays full
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    server = ApiServer(build_app(settings, ingest, store, dict, queue_wait_s=0.2), settings)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            filler = asyncio.create_task(
                client.post("/v1/events", json=[event_record(i) for i in range(3)], headers=AUTH)
            )
            while ingest.depth < 3:
                await asyncio.sleep(0.01)
            response = await client.post(
                "/v1/events", json=[event_record(10), event_record(11)], headers=AUTH
            )
            assert response.status_code == 503 and response.headers["Retry-After"] == "1"
            assert ingest.depth == 3  # all or nothing: none of the refused request queued
            # Play the pipeline: the filler's events stored, its request completes.
            ingest.recorded(Event.model_validate(event_record(i)).id for i in range(3))
            assert (await filler).status_code == 200
    finally:
        await server.stop()
        store.close()


async def test_the_openapi_schema_describes_the_routes_and_the_event(tmp_path):
    async with serving(tmp_path) as (client, _):
        schema = (await client.get("/openapi.json")).json()
    assert {"/v1/events", "/v1/decisions", "/v1/status"} <= set(schema["paths"])
    body = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert json.dumps(body).count("#/components/schemas/Event") == 2
    assert "kind" in schema["components"]["schemas"]["Event"]["properties"]
