"""Following a running ActivityWatch server through its REST API.

ActivityWatch watchers write *buckets* of heartbeat-merged events: one event per stretch
of unchanged state (the same window, the same tab, away or not), whose duration grows
while the state lasts. A new festina event is made the first time an ActivityWatch event
is seen; its growing duration is not news.

Resuming: each bucket is its own festina source (``activitywatch:<bucket id>``), so the
newest event festina stored from it is where the next start picks up. Polls reach back a
little further than that (`OVERLAP`) so a watcher's late writes are not missed, and every
event keeps ActivityWatch's own id: what is read twice is dropped as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any

import httpx
from pydantic import ValidationError

from core.events import Event, EventKind, describe_validation_error
from core.sources import EventSource, LatestTimes, Rejection, SourceItem

logger = logging.getLogger("festina.sources.activitywatch")

SOURCE_PREFIX = "activitywatch:"
OVERLAP = timedelta(minutes=5)
PAGE_SIZE = 500
BUCKET_REFRESH_S = 30.0
MAX_BACKOFF_S = 30.0

_Converter = Callable[[str, dict[str, Any]], dict[str, Any]]


def _watcher_name(bucket_id: str, prefix: str) -> str:
    """'aw-watcher-web-firefox_host' -> 'firefox'; the app a watcher reports for."""
    name = bucket_id.split("_", 1)[0]
    return name.removeprefix(prefix) or name


def _window(bucket_id: str, data: dict[str, Any]) -> dict[str, Any]:
    app = data.get("app") or None
    return {
        "kind": EventKind.WINDOW,
        "app": app,
        "title": data.get("title") or app or "untitled window",
    }


def _afk(bucket_id: str, data: dict[str, Any]) -> dict[str, Any]:
    status = data.get("status")
    if status not in ("afk", "not-afk"):
        raise ValueError(f"afk status must be 'afk' or 'not-afk', got {status!r}")
    away = status == "afk"
    return {
        "kind": EventKind.AFK,
        "title": "away from keyboard" if away else "back at the keyboard",
        "attributes": {"status": status},
    }


def _web(bucket_id: str, data: dict[str, Any]) -> dict[str, Any]:
    url = data.get("url") or None
    return {
        "kind": EventKind.BROWSER,
        "app": _watcher_name(bucket_id, "aw-watcher-web-"),
        "title": data.get("title") or url,
        "url": url,
    }


def _editor(bucket_id: str, data: dict[str, Any]) -> dict[str, Any]:
    file = data.get("file") or ""
    details = ", ".join(f"{key} {data[key]}" for key in ("project", "language") if data.get(key))
    return {
        "kind": EventKind.EDITOR,
        "app": _watcher_name(bucket_id, "aw-watcher-"),
        "title": PurePath(file).name or file or None,
        "text": f"editing {file}" + (f" ({details})" if details else "") if file else "",
    }


# The bucket types the official watchers write, and how each reads as a festina event.
CONVERTERS: dict[str, _Converter] = {
    "currentwindow": _window,
    "afkstatus": _afk,
    "web.tab.current": _web,
    "app.editor.activity": _editor,
}


def event_id(bucket_id: str, aw_id: int) -> str:
    """A stable festina id for an ActivityWatch event, within the id pattern's limits."""
    readable = re.sub(r"[^A-Za-z0-9._:-]", "-", bucket_id)
    if len(readable) > 96:
        readable = hashlib.sha256(bucket_id.encode()).hexdigest()[:24]
    return f"aw.{readable}.{aw_id}"


def to_item(bucket_id: str, bucket_type: str, record: Any, position: int) -> SourceItem:
    """One ActivityWatch event as a festina event, or a rejection saying what is wrong."""
    raw = json.dumps(record, ensure_ascii=False, default=str)
    source = SOURCE_PREFIX + bucket_id
    try:
        if not isinstance(record, dict) or not isinstance(record.get("data"), dict):
            raise ValueError("an ActivityWatch event needs an object 'data'")
        aw_id = record.get("id")
        if not isinstance(aw_id, int) or isinstance(aw_id, bool):
            raise ValueError("an ActivityWatch event needs an integer 'id'")
        fields = CONVERTERS[bucket_type](bucket_id, record["data"])
        extras = {key: value for key, value in record["data"].items() if key not in fields}
        fields["attributes"] = {
            **extras,
            **fields.get("attributes", {}),
            "activitywatch": {"bucket": bucket_id, "id": aw_id},
        }
        return Event.model_validate(
            {
                "id": event_id(bucket_id, aw_id),
                "time": record.get("timestamp"),
                "source": source,
                **fields,
            }
        )
    except ValidationError as error:
        return Rejection(source, position, describe_validation_error(error), raw)
    except ValueError as error:
        return Rejection(source, position, str(error), raw)


def _record_key(record: Any) -> int | str:
    """What tells records apart: the ActivityWatch id, or for a record without an integer
    one (a stray a proxy or a broken watcher sent) its text."""
    key = record.get("id") if isinstance(record, dict) else None
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    return json.dumps(record, sort_keys=True, default=str)


class _Bucket:
    """What has been read from one bucket: the newest time and the ids near it."""

    def __init__(self, bucket_id: str, bucket_type: str, cursor: datetime) -> None:
        self.id = bucket_id
        self.type = bucket_type
        self.cursor = cursor
        # ActivityWatch ids, and for a record without one its text: reported once each.
        self.seen: dict[int | str, datetime] = {}
        self.position = 0

    def forget_old(self) -> None:
        horizon = self.cursor - OVERLAP
        self.seen = {key: when for key, when in self.seen.items() if when >= horizon}


class ActivityWatchSource(EventSource):
    """Polls an aw-server for window, AFK, web and editor events until closed."""

    def __init__(
        self,
        url: str,
        *,
        poll_s: float = 1.0,
        backfill_s: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"ActivityWatch URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self.name = f"activitywatch:{self.url}"
        self.poll_s = poll_s
        self.backfill = timedelta(seconds=backfill_s)
        self._client = httpx.AsyncClient(base_url=self.url, timeout=10.0, transport=transport)
        self._latest: dict[str, datetime] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._closed = asyncio.Event()

    async def resume(self, latest_times: LatestTimes) -> None:
        self._latest = await latest_times(SOURCE_PREFIX)

    async def items(self) -> AsyncIterator[SourceItem]:
        backoff = self.poll_s
        refreshed_at = float("-inf")
        loop = asyncio.get_running_loop()
        while not self._closed.is_set():
            try:
                if loop.time() - refreshed_at >= BUCKET_REFRESH_S:
                    await self._refresh_buckets()
                    refreshed_at = loop.time()
                batch = [
                    item for bucket in self._buckets.values() for item in await self._poll(bucket)
                ]
                backoff = self.poll_s
            except Exception as error:
                if self._closed.is_set():  # the client was closed under a request
                    return
                if not isinstance(error, httpx.HTTPError | ValueError):
                    raise
                # The server may be restarting; keep the daemon up and try again later.
                logger.warning(
                    "ActivityWatch at %s: %s; retrying in %.0fs", self.url, error, backoff
                )
                batch = []
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            for item in batch:
                yield item
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), timeout=backoff)

    async def _get(self, path: str, **params: Any) -> Any:
        response = await self._client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    async def _refresh_buckets(self) -> None:
        listing = await self._get("/api/0/buckets/")
        if not isinstance(listing, dict):
            raise ValueError("bucket listing is not an object")
        first_start = datetime.now(UTC) - self.backfill
        for bucket_id, info in listing.items():
            bucket_type = info.get("type") if isinstance(info, dict) else None
            if bucket_id in self._buckets or bucket_type not in CONVERTERS:
                continue
            cursor = self._latest.get(SOURCE_PREFIX + bucket_id, first_start)
            self._buckets[bucket_id] = _Bucket(bucket_id, bucket_type, cursor)
            logger.info("following bucket %s (%s) from %s", bucket_id, bucket_type, cursor)

    async def _poll(self, bucket: _Bucket) -> list[SourceItem]:
        """Every event of `bucket` not yet seen, oldest first, paging back as needed."""
        start = (bucket.cursor - OVERLAP).isoformat()
        records: dict[int, Any] = {}
        strays: dict[str, Any] = {}
        end: str | None = None
        while True:
            params: dict[str, Any] = {"start": start, "limit": PAGE_SIZE}
            if end is not None:
                params["end"] = end
            page = await self._get(f"/api/0/buckets/{bucket.id}/events", **params)
            if not isinstance(page, list):
                raise ValueError(f"events of {bucket.id} are not a list")
            fresh = 0
            for record in page:
                key = _record_key(record)
                if isinstance(key, str):
                    strays[key] = record
                elif key not in records:
                    records[key] = record
                    fresh += 1
            # Newest first: a full page may hide older events; ask again below its oldest.
            if len(page) < PAGE_SIZE or not fresh:
                break
            end = min(str(r.get("timestamp")) for r in page if isinstance(r, dict))
        items: list[SourceItem] = []
        in_order = sorted(records.items(), key=lambda kv: (str(kv[1].get("timestamp")), kv[0]))
        for key, record in [*strays.items(), *in_order]:
            if key in bucket.seen:
                continue
            bucket.position += 1
            item = to_item(bucket.id, bucket.type, record, bucket.position)
            if isinstance(item, Event):  # only records with an integer id become events
                bucket.seen[key] = item.time
                bucket.cursor = max(bucket.cursor, item.time)
            else:
                bucket.seen[key] = bucket.cursor  # a bad record is reported once
            items.append(item)
        bucket.forget_old()
        return items

    async def close(self) -> None:
        self._closed.set()
        await self._client.aclose()
