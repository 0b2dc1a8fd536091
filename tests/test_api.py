"""The local HTTP API, served by uvicorn on loopback over a real pipeline and SQLite."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from types import SimpleNamespace

import httpx

from agent.api import ApiServer, build_app
from agent.config import ApiSettings
from agent.sources.http import HttpIngestSource, IdTaken
from core import records
from core.events import Event
from core.sources import Rejection
from memory.store import Store
from tests.helpers import event_record, eventually, make_pipeline

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_AUTH = {**AUTH, "Content-Type": "application/json"}


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
        assert store.existing_events([accepted]) == {accepted}  # stored before the answer
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
        broken = await client.post("/v1/events", content=b"{not json", headers=JSON_AUTH)
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
            await eventually(lambda: ingest.depth == 3, timeout=10, unless=filler)
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


def _strict_json(text: str) -> object:
    def refuse(token: str) -> None:
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _hostile_body(valid: list[dict]) -> tuple[bytes, int]:
    """A batch of the valid records with every kind of hostile record between them, as
    raw bytes (so it can hold what json.dumps never writes); and how many are hostile."""
    base = '{"time": 1795734442, "kind": "browser"'
    hostile = [
        base + r', "title": "a\ud800b"}',  # lone surrogate as a JSON escape
        base + ', "text": "a\udfffb", "title": "t"}',
        base + ', "title": "raw @@SURROGATE@@ bytes"}',  # ... and as raw bytes ED A0 80
        base + r', "title": "t", "attributes": {"\ud800": 1}}',
        base + r', "title": "t", "attributes": {"k": ["\udc00"]}}',
        base + r', "title": "t", "attributes": {"k": "nul \u0000"}}',
        base + r', "title": "nul \u0000"}',
        base + ', "title": "t", "attributes": {"k": NaN}}',
        base + ', "title": "t", "attributes": {"k": [Infinity]}}',
        base + ', "title": "t", "attributes": {"k": 1e400}}',
        base + ', "title": "t", "attributes": {"k": ' + "[" * 40 + "]" * 40 + "}}",
        base + ', "title": "t", "attributes": {"k": "' + "x" * 40_000 + '"}}',
        '{"time": 1' + "0" * 400 + ', "kind": "browser", "title": "t"}',
        '{"time": 1' + "0" * 5000 + ', "kind": "browser", "title": "t"}',
        '{"time": 1e400, "kind": "browser", "title": "t"}',
        '{"time": "9999-12-31T23:59:59-01:00", "kind": "browser", "title": "t"}',
        '{"time": "0001-01-01T00:00:00+01:00", "kind": "browser", "title": "t"}',
        '{"observation": {"time": "Day 99999999, 1:00 AM", "event": "The user types"}}',
    ]
    records = [*hostile]
    for place, record in enumerate(valid):  # valid ones among the hostile, not in a block
        records.insert(place * 4, json.dumps(record))
    text = "[" + ",\n".join(records) + "]"
    return text.replace("@@SURROGATE@@", "\ud800").encode("utf-8", "surrogatepass"), len(hostile)


async def test_hostile_records_are_rejected_one_by_one_and_the_valid_ones_stored(tmp_path):
    valid = [event_record(i) for i in range(4)]
    body, hostile = _hostile_body(valid)
    assert b"\xed\xa0\x80" in body
    async with serving(tmp_path, max_body_bytes=1 << 20) as (client, store):
        response = await client.post("/v1/events", content=body, headers=JSON_AUTH)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["stored"] is True
        ids = {Event.model_validate(record).id for record in valid}
        assert set(result["accepted"]) == ids
        assert store.existing_events(ids) == ids
        assert len(result["rejected"]) == hostile
        reasons = " | ".join(r["reason"] for r in result["rejected"])
        for expected in ("lone surrogates", "NUL", "nan is not", "inf is not", "nested deeper"):
            assert expected in reasons
        # The API takes festina events only: a ProactiveBench trace item is refused as one.
        assert "observation" in reasons
        # The pipeline lived through it: the next request is taken and stored.
        after = await client.post("/v1/events", json=event_record(9), headers=AUTH)
        assert after.status_code == 200 and after.json()["stored"] is True
        assert store.totals()["events"] == len(valid) + 1
    memory = Store(f"sqlite:///{tmp_path / 'f.db'}")
    try:
        rows = memory.rejections(limit=100)
        assert len(rows) == hostile  # kept whole, escaped
        assert sum("\\ud800" in row.raw for row in rows) == 2  # the JSON escapes
        assert any("\\udced\\udca0\\udc80" in row.raw for row in rows)  # the raw bytes
        for line in memory.export_records():  # every export line is strict JSON
            _strict_json(json.dumps(line, ensure_ascii=False, allow_nan=False))
    finally:
        memory.close()


async def test_nesting_beyond_the_limit_is_a_400_and_within_it_a_rejection(tmp_path):
    async with serving(tmp_path) as (client, store):
        for levels in (65, 990, 5000):
            body = ("[" * levels + "]" * levels).encode()
            response = await client.post("/v1/events", content=body, headers=JSON_AUTH)
            assert response.status_code == 400, levels
            assert "nested deeper than 64 levels" in response.json()["detail"]
        # 64 levels in all: the body, the record, its attributes and 61 more.
        record = {**event_record(1), "attributes": {"deep": 0}}
        text = json.dumps([record]).replace("0}", "[" * 61 + "]" * 61 + "}")
        within = await client.post("/v1/events", content=text.encode(), headers=JSON_AUTH)
        assert within.status_code == 200, within.text
        [rejected] = within.json()["rejected"]
        assert "attributes" in rejected["reason"] and "nested deeper than 16" in rejected["reason"]
        fine = await client.post("/v1/events", json=[event_record(2)], headers=AUTH)
        assert fine.status_code == 200 and len(fine.json()["accepted"]) == 1
    assert store.totals()["events"] == 1


async def test_a_second_record_with_the_same_id_and_other_content_is_rejected(tmp_path):
    first = {**event_record(1), "id": "hu-3"}
    same = dict(first)
    other = {**event_record(2), "id": "hu-3"}
    async with serving(tmp_path) as (client, store):
        response = await client.post("/v1/events", json=[first, same, other], headers=AUTH)
        assert response.status_code == 200
        result = response.json()
        assert result["accepted"] == ["hu-3", "hu-3"]  # a resend of the same event is fine
        [rejected] = result["rejected"]
        assert rejected["index"] == 2
        assert "id hu-3 is already used by record 0" in rejected["reason"]
        [event] = store.events_by_id(["hu-3"])  # stored when answered, decided later
        assert event.text == first["text"]


async def test_an_id_sent_again_later_with_other_content_is_rejected_and_kept(tmp_path):
    first = {**event_record(1), "id": "hu-4"}
    other = {**event_record(2), "id": "hu-4"}
    async with serving(tmp_path) as (client, store):
        assert (await client.post("/v1/events", json=first, headers=AUTH)).json()["stored"]
        response = await client.post("/v1/events", json=[event_record(3), other], headers=AUTH)
        assert response.status_code == 200
        result = response.json()
        assert len(result["accepted"]) == 1 and result["stored"] is True
        [rejected] = result["rejected"]
        assert rejected["index"] == 1
        assert "id hu-4 already names an event with other content" in rejected["reason"]
        again = await client.post("/v1/events", json=first, headers=AUTH)  # a resend: fine
        assert again.json() == {"accepted": ["hu-4"], "rejected": [], "stored": True}
        await eventually(lambda: len(store.rejections()) == 1, timeout=10)
        [kept] = store.rejections()
        assert json.loads(kept.raw)["text"] == other["text"]  # the refused content is kept
        [event] = store.events_by_id(["hu-4"])
        assert event.text == first["text"]


async def test_the_queue_refuses_an_id_it_holds_with_other_content_at_once():
    ingest = HttpIngestSource(capacity=8)
    first = Event.model_validate({**event_record(1), "id": "q-1"})
    other = Event.model_validate({**event_record(2), "id": "q-1"})
    [waiting] = await ingest.submit([first], timeout_s=1)
    [resent, refused] = await ingest.submit([first, other], timeout_s=1)
    assert isinstance(refused.exception(), IdTaken) and not resent.done()
    queued = [await anext(aiter(ingest.items())) for _ in range(3)]
    assert queued[:2] == [first, first]
    assert isinstance(queued[2], Rejection) and json.loads(queued[2].raw)["text"] == other.text
    ingest.recorded(["q-1"])
    assert waiting.result() is None and resent.result() is None
    # Stored and gone from the queue: the pipeline compares with memory from now on.
    [later] = await ingest.submit([other], timeout_s=1)
    ingest.refused({"q-1": "taken"})
    assert str(later.exception()) == "taken"


async def test_of_requests_racing_with_one_id_and_other_contents_one_is_stored(tmp_path):
    bodies = [{**event_record(i), "id": "hu-5"} for i in range(8)]
    async with serving(tmp_path) as (client, store):
        answers = await asyncio.gather(
            *(client.post("/v1/events", json=body, headers=AUTH) for body in bodies)
        )
        results = [answer.json() for answer in answers]
        assert all(answer.status_code == 200 for answer in answers)
        winners = [i for i, result in enumerate(results) if result["accepted"]]
        assert len(winners) == 1 and results[winners[0]]["accepted"] == ["hu-5"]
        assert sum(len(result["rejected"]) for result in results) == 7
        [event] = store.events_by_id(["hu-5"])
        assert event.text == bodies[winners[0]]["text"]
        # Refused while the winner was queued: answered at once, kept as it comes.
        await eventually(lambda: len(store.rejections()) == 7, timeout=10)


async def test_bodies_that_are_not_declared_json_get_415(tmp_path):
    body = json.dumps(event_record(1)).encode()
    async with serving(tmp_path) as (client, store):
        for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
            headers = dict(AUTH) if content_type is None else {**AUTH, "Content-Type": content_type}
            response = await client.post("/v1/events", content=body, headers=headers)
            assert response.status_code == 415, content_type
            assert "application/json" in response.json()["detail"]
        assert store.totals()["events"] == 0
        declared = {**AUTH, "Content-Type": "Application/JSON; charset=utf-8"}
        response = await client.post("/v1/events", content=body, headers=declared)
        assert response.status_code == 200
    assert store.totals()["events"] == 1


async def test_a_fault_validating_one_record_costs_only_that_record(tmp_path, monkeypatch):
    def model_validate(record):
        if record.get("text") == "the one that trips a bug":
            raise KeyError("a bug in validation")
        return Event.model_validate(record)

    monkeypatch.setattr(records, "Event", SimpleNamespace(model_validate=model_validate))
    body = [event_record(1), event_record(2, text="the one that trips a bug")]
    async with serving(tmp_path) as (client, store):
        response = await client.post("/v1/events", json=body, headers=AUTH)
        assert response.status_code == 200
        result = response.json()
        assert len(result["accepted"]) == 1 and result["stored"] is True
        [rejected] = result["rejected"]
        assert rejected["index"] == 1 and "internal error" in rejected["reason"]
    assert store.totals()["events"] == 1


async def test_an_internal_fault_answers_500_saying_nothing_was_stored(tmp_path, monkeypatch):
    async def failing_submit(self, items, timeout_s):
        raise RuntimeError("the queue broke")

    async with serving(tmp_path) as (client, store):
        monkeypatch.setattr(HttpIngestSource, "submit", failing_submit)  # this request only
        response = await client.post("/v1/events", json=[event_record(1)], headers=AUTH)
        monkeypatch.undo()
        assert response.status_code == 500
        result = response.json()
        assert result["stored"] is False and result["accepted"] == []
        assert "nothing of this request was stored" in result["detail"]
        again = await client.post("/v1/events", json=[event_record(1)], headers=AUTH)
        assert again.status_code == 200  # resending is safe and now succeeds
    assert store.totals()["events"] == 1
