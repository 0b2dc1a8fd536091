"""The ActivityWatch source against a real aw-server, fed by aw-client as watchers do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from agent.sources.activitywatch import ActivityWatchSource, to_item
from core.events import Event, EventKind
from core.sources import Rejection
from memory.store import Store
from tests.activitywatch import AwServer, aw_venv, running_aw_server
from tests.helpers import collect_items, make_pipeline

WINDOW = "aw-watcher-window_testhost"
AFK = "aw-watcher-afk_testhost"
WEB = "aw-watcher-web-firefox_testhost"
EDITOR = "aw-watcher-vscode_testhost"


@pytest.fixture
def aw_server():
    venv = aw_venv()
    if venv is None:
        pytest.skip("aw-server venv missing: `make .venv-aw/bin/aw-server` builds it")
    with running_aw_server(venv) as server:
        yield server


def _ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


async def test_watcher_buckets_become_readable_events(aw_server: AwServer):
    aw_server.watch(
        WINDOW,
        "currentwindow",
        [
            (_ago(60), {"app": "Code", "title": "main.py - festina"}),
            (_ago(57), {"app": "Code", "title": "main.py - festina"}),  # merged heartbeat
            (_ago(50), {"app": "Firefox", "title": "TypeError - Stack Overflow"}),
        ],
    )
    aw_server.watch(AFK, "afkstatus", [(_ago(45), {"status": "afk"})])
    aw_server.watch(
        WEB,
        "web.tab.current",
        [
            (
                _ago(40),
                {"url": "https://docs.python.org/3/", "title": "Python docs", "audible": False},
            )
        ],
    )
    aw_server.watch(
        EDITOR,
        "app.editor.activity",
        [(_ago(30), {"file": "/src/festina/gate.py", "project": "festina", "language": "python"})],
    )
    source = ActivityWatchSource(aw_server.url, poll_s=0.1, backfill_s=3600)
    items = await collect_items(source, 5)
    by_bucket: dict[str, list[Event]] = {}
    for item in items:
        assert isinstance(item, Event), item
        by_bucket.setdefault(item.attributes["activitywatch"]["bucket"], []).append(item)

    assert [e.summary() for e in by_bucket[WINDOW]] == [
        "Code | main.py - festina",
        "Firefox | TypeError - Stack Overflow",
    ]
    assert all(e.kind is EventKind.WINDOW for e in by_bucket[WINDOW])
    [away] = by_bucket[AFK]
    assert (away.kind, away.attributes["status"], away.title) == (
        EventKind.AFK,
        "afk",
        "away from keyboard",
    )
    [tab] = by_bucket[WEB]
    assert (tab.kind, tab.app, tab.url, tab.title) == (
        EventKind.BROWSER,
        "firefox",
        "https://docs.python.org/3/",
        "Python docs",
    )
    assert tab.attributes["audible"] is False
    [edit] = by_bucket[EDITOR]
    assert edit.kind is EventKind.EDITOR
    assert (
        edit.summary()
        == "vscode | gate.py | editing /src/festina/gate.py (project festina, language python)"
    )
    assert all(
        e.source == f"activitywatch:{e.attributes['activitywatch']['bucket']}" for e in items
    )


async def test_new_events_arrive_while_following(aw_server: AwServer):
    aw_server.watch(WINDOW, "currentwindow", [(_ago(20), {"app": "Code", "title": "a.py"})])
    source = ActivityWatchSource(aw_server.url, poll_s=0.1, backfill_s=3600)
    stream = source.items()
    try:
        # a.py delivered: the backlog is read and the source is following the server.
        first = await asyncio.wait_for(anext(stream), 30)
        assert first.title == "a.py"
        await asyncio.to_thread(
            aw_server.watch, WINDOW, "currentwindow", [(_ago(1), {"app": "Code", "title": "b.py"})]
        )
        second = await asyncio.wait_for(anext(stream), 30)
        assert second.title == "b.py"
    finally:
        await stream.aclose()
        await source.close()


async def test_a_backlog_larger_than_a_page_arrives_whole_and_in_order(
    aw_server: AwServer, monkeypatch
):
    monkeypatch.setattr("agent.sources.activitywatch.PAGE_SIZE", 7)
    titles = [f"doc{i}.md" for i in range(30)]
    aw_server.watch(
        WINDOW,
        "currentwindow",
        [(_ago(300 - i), {"app": "Writer", "title": t}) for i, t in enumerate(titles)],
        mode="insert",
    )
    items = await collect_items(ActivityWatchSource(aw_server.url, poll_s=0.1, backfill_s=3600), 30)
    assert [item.title for item in items] == titles


async def test_a_malformed_watcher_event_is_rejected_and_the_rest_flow(
    aw_server: AwServer,
):
    aw_server.watch(
        AFK,
        "afkstatus",
        [(_ago(30), {"status": "sleeping"}), (_ago(20), {"status": "not-afk"})],
        mode="insert",
    )
    items = await collect_items(ActivityWatchSource(aw_server.url, poll_s=0.1, backfill_s=3600), 2)
    rejected, accepted = items
    assert isinstance(rejected, Rejection)
    assert "afk status" in rejected.reason and "sleeping" in rejected.raw
    assert isinstance(accepted, Event) and accepted.attributes["status"] == "not-afk"


async def test_restart_resumes_without_duplicates_or_gaps(aw_server: AwServer, tmp_path):
    url = f"sqlite:///{tmp_path / 'festina.db'}"
    first = [(_ago(200 - i), {"app": "Term", "title": f"step {i}"}) for i in range(5)]
    aw_server.watch(WINDOW, "currentwindow", first, mode="insert")

    async def run_until_stored(expected: int) -> tuple[int, int]:
        source = ActivityWatchSource(aw_server.url, poll_s=0.1, backfill_s=3600)
        pipeline, store = make_pipeline(url, source)
        running = asyncio.create_task(pipeline.run())
        deadline = asyncio.get_running_loop().time() + 30
        while len(store.latest_event_times("activitywatch:" + WINDOW)) == 0 or (
            store.totals()["events"] < expected
        ):
            assert asyncio.get_running_loop().time() < deadline, store.totals()
            await asyncio.sleep(0.1)
        pipeline.request_stop()
        stats = await running
        store.close()
        return stats.decided, stats.duplicates

    decided, _ = await run_until_stored(5)
    assert decided == 5
    # Written while festina was down: the next start must pick these up, and only these.
    later = [(_ago(100 - i), {"app": "Term", "title": f"step {5 + i}"}) for i in range(3)]
    aw_server.watch(WINDOW, "currentwindow", later, mode="insert")
    decided, duplicates = await run_until_stored(8)
    assert decided == 3
    assert duplicates == 5  # the overlap re-read is recognised, not stored again

    store = Store(url)
    stored = sorted(e.title for e, _ in store.decisions(limit=100))
    store.close()
    assert stored == sorted(f"step {i}" for i in range(8))
    assert {f"aw.{WINDOW}.{e['id']}" for e in aw_server.events(WINDOW)} == {
        e.id for e, _ in Store(url).decisions(limit=100)
    }


async def test_an_unreachable_server_is_retried_not_fatal():
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/api/0/buckets/":
            return httpx.Response(200, json={"w": {"id": "w", "type": "currentwindow"}})
        return httpx.Response(
            200,
            json=[
                {
                    "id": 1,
                    "timestamp": _ago(5).isoformat(),
                    "duration": 1.0,
                    "data": {"app": "A", "title": "t"},
                }
            ],
        )

    source = ActivityWatchSource(
        "http://aw.invalid:5600",
        poll_s=0.01,
        backfill_s=60,
        transport=httpx.MockTransport(handler),
    )
    [item] = await collect_items(source, 1, timeout=10)
    assert isinstance(item, Event) and item.title == "t"
    assert calls["n"] >= 3


def test_bucket_ids_that_do_not_fit_an_event_id_are_hashed():
    bucket = "aw-watcher-window_" + "h" * 200
    item = to_item(
        bucket,
        "currentwindow",
        {"id": 7, "timestamp": "2026-01-01T00:00:00+00:00", "data": {"app": "A"}},
        1,
    )
    assert isinstance(item, Event)
    assert item.id.startswith("aw.") and item.id.endswith(".7") and len(item.id) <= 128
    assert item.title == "A"  # an untitled window is named after its app


async def test_answers_that_are_not_what_activitywatch_sends_are_retried_or_rejected():
    """A server (or a proxy before it) answering nonsense: a listing or a page of the wrong
    shape is retried; records of the wrong shape are rejected once each, with the reason
    (those without an id too: they were reported again on every poll);
    buckets festina cannot read are left alone; the good event still flows."""
    listings = iter([["not", "an", "object"]])
    pages = iter([{"not": "a list"}])
    good = {"id": 3, "timestamp": _ago(5).isoformat(), "duration": 1.0, "data": {"app": "A"}}
    page = [
        "a string",
        {"timestamp": _ago(6).isoformat(), "data": {"app": "B"}},  # no id
        {"id": 1, "timestamp": _ago(7).isoformat(), "data": "not an object"},
        {"id": True, "timestamp": _ago(8).isoformat(), "data": {"app": "C"}},
        {"id": 2, "timestamp": "yesterday", "data": {"app": "D"}},
        good,
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/0/buckets/":
            listing = next(listings, None) or {
                "w": {"id": "w", "type": "currentwindow"},
                "odd": "not an object",
                "other": {"id": "other", "type": "aw-watcher-unknown"},
            }
            return httpx.Response(200, json=listing)
        assert request.url.path == "/api/0/buckets/w/events"  # never the others
        return httpx.Response(200, json=next(pages, None) or page)

    source = ActivityWatchSource(
        "http://aw.invalid:5600", poll_s=0.01, transport=httpx.MockTransport(handler)
    )
    items = await collect_items(source, len(page), timeout=10)
    rejected = [item for item in items if isinstance(item, Rejection)]
    [event] = [item for item in items if isinstance(item, Event)]
    assert (event.app, event.id) == ("A", "aw.w.3")
    reasons = " | ".join(r.reason for r in rejected)
    assert len({r.raw for r in rejected}) == len(rejected) == 5  # each once, however often polled
    assert "needs an object 'data'" in reasons and "needs an integer 'id'" in reasons
    assert "time" in reasons  # "yesterday" is not a timestamp


def test_an_activitywatch_url_must_be_http():
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        ActivityWatchSource("localhost:5600")
