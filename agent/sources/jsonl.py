"""Replay of recorded event streams: JSON Lines files, stdin, or JSON list files.

Each record is a festina event, unless the source is opened with another format's
adapter (the `proactivebench:` source passes `gate.proactivebench`'s): the format is
named by the source, never guessed from a record. Position numbers are 1-based line
numbers for JSON Lines and 1-based item numbers for JSON list files.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

from agent.sources.pacing import paced
from core import jsonsafe
from core.records import RecordAdapter, record_to_item
from core.sources import EventSource, Rejection, SourceItem

logger = logging.getLogger("festina.sources")

MAX_LINE_BYTES = 1 << 20


def line_to_item(
    line: str, *, origin: str, position: int, adapt: RecordAdapter | None = None
) -> SourceItem | None:
    """Decode and validate one JSON Lines line (a festina event, or a record `adapt`
    maps to one); blank lines yield nothing."""
    if not line.strip():
        return None
    # surrogatepass: a line may hold lone surrogates (undecodable bytes) and still be sized.
    if len(line.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
        return Rejection(origin, position, f"line longer than {MAX_LINE_BYTES} bytes", line)
    try:
        record = jsonsafe.loads(line)
    except json.JSONDecodeError as error:
        return Rejection(
            origin, position, f"invalid JSON: {error.msg} at column {error.colno}", line
        )
    except ValueError as error:  # nested too deeply
        return Rejection(origin, position, str(error), line)
    return record_to_item(record, origin=origin, position=position, raw=line, adapt=adapt)


def raw_text(record: Any) -> str:
    """A decoded record written back as JSON, for keeping it whole when it is rejected."""
    return json.dumps(record, ensure_ascii=False)


def _tolerant(stream: IO[str]) -> IO[str]:
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="surrogateescape")
    return stream


class JsonlSource(EventSource):
    """Replays a file (JSON Lines or a JSON list) or standard input (`-`).

    A file replay keeps its recorded gaps at `speed` x real time (0: as fast as possible).
    Standard input is taken as it comes: it may be a live feed, and pacing a live feed by
    its timestamps would only delay it. Records are festina events; `adapt` reads another
    format's instead, and `scheme` names that format in the source's name.
    """

    def __init__(
        self,
        path: str,
        *,
        stdin: IO[str] | None = None,
        speed: float = 0.0,
        adapt: RecordAdapter | None = None,
        scheme: str = "jsonl",
    ) -> None:
        self.path = path
        self._stdin = stdin
        self.speed = 0.0 if path == "-" else speed
        self._adapt = adapt
        self.name = f"{scheme}:{path}"
        self._closed = False

    @property
    def _origin(self) -> str:
        return "stdin" if self.path == "-" else Path(self.path).stem

    def items(self) -> AsyncIterator[SourceItem]:
        return paced(self._unpaced(), self.speed)

    async def _unpaced(self) -> AsyncIterator[SourceItem]:
        if self.path != "-" and Path(self.path).suffix == ".json":
            for item in self._json_list_items():
                if self._closed:
                    return
                yield item
            return
        # surrogateescape: an undecodable byte costs its line (as a lone surrogate that
        # validation refuses), not the whole stream.
        opened = (
            contextlib.nullcontext(self._stdin or _tolerant(sys.stdin))
            if self.path == "-"
            else Path(self.path).open(encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
        )
        with opened as stream:
            position = 0
            while not self._closed:
                # A thread keeps a slow pipe from blocking the event loop.
                line = await asyncio.to_thread(stream.readline)
                if not line:
                    return
                position += 1
                item = line_to_item(
                    line.rstrip("\n"), origin=self._origin, position=position, adapt=self._adapt
                )
                if item is not None:
                    yield item

    def _json_list_items(self) -> Iterator[SourceItem]:
        text = Path(self.path).read_text(encoding="utf-8", errors="surrogateescape")
        try:
            records = jsonsafe.loads(text)
        except json.JSONDecodeError as error:
            yield Rejection(self._origin, error.lineno, f"invalid JSON: {error.msg}", text)
            return
        except ValueError as error:  # nested too deeply
            yield Rejection(self._origin, 1, str(error), text)
            return
        if not isinstance(records, list):
            yield Rejection(self._origin, 1, "a .json source must hold a list of records", text)
            return
        for position, record in enumerate(records, start=1):
            raw = raw_text(record)
            yield record_to_item(
                record, origin=self._origin, position=position, raw=raw, adapt=self._adapt
            )

    async def close(self) -> None:
        self._closed = True
