from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from agent.sources import SourceSpecError, bundled_stream_path, open_source
from agent.sources.jsonl import JsonlSource
from core.events import Event
from core.sources import Rejection
from tests.helpers import event_record, write_jsonl


async def collect(source) -> list:
    return [item async for item in source.items()]


async def test_malformed_lines_are_rejected_with_line_numbers_and_good_lines_kept(tmp_path):
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            event_record(1),
            "{not json",
            event_record(2),
            "",  # blank lines are skipped, not rejected
            '["a", "list"]',
            {**event_record(3), "kind": "spaceship"},
            event_record(4),
        ],
    )
    items = await collect(JsonlSource(str(path)))

    events = [i for i in items if isinstance(i, Event)]
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert [e.text for e in events] == [event_record(i)["text"] for i in (1, 2, 4)]
    assert [r.position for r in rejections] == [2, 5, 6]
    assert rejections[0].reason.startswith("invalid JSON")
    assert rejections[0].raw == "{not json"
    assert "expected a JSON object" in rejections[1].reason
    assert "kind" in rejections[2].reason


async def test_festina_records_default_their_source_to_the_file(tmp_path):
    record = event_record(1)
    del record["source"]
    path = write_jsonl(tmp_path / "stream.jsonl", [record])
    [event] = await collect(JsonlSource(str(path)))
    assert event.source == "jsonl:stream"


async def test_stdin_replay():
    stdin = io.StringIO(json.dumps(event_record(1)) + "\nnope\n")
    items = await collect(JsonlSource("-", stdin=stdin))
    assert isinstance(items[0], Event)
    assert isinstance(items[1], Rejection)
    assert items[1].source == "stdin"
    assert items[1].position == 2


async def test_every_proactivebench_trace_replays_without_labels(proactivebench):
    splits = json.loads((proactivebench / "test_data" / "splits.json").read_text())
    for name in splits["all"]["files"]:
        path = proactivebench / "test_data" / name
        trace = json.loads(path.read_text())
        items = await collect(open_source(f"proactivebench:{path}"))
        assert all(isinstance(i, Event) for i in items), name
        assert len(items) == len(trace)
        assert [i.text for i in items] == [step["observation"]["event"] for step in trace]
        assert all("task_status" not in json.dumps(i.attributes) for i in items)
        assert len({i.id for i in items}) == len(items)


async def test_a_proactivebench_source_converts_trace_items_and_nothing_else(tmp_path):
    item = {
        "observation": {"time": "1717377997.0", "event": "The user searches on Google for 'x y z'."}
    }
    path = write_jsonl(
        tmp_path / "code_99.jsonl", [item, {"observation": {"time": "soon"}}, event_record(1)]
    )
    source = open_source(f"proactivebench:{path}")
    assert source.name == f"proactivebench:{path}"
    event, bad_time, festina_event = await collect(source)
    assert event.kind == "browser"
    assert event.source == "proactivebench:code_99"
    assert bad_time.position == 2
    assert "time" in bad_time.reason
    assert festina_event.position == 3
    assert "not a ProactiveBench trace item" in festina_event.reason


async def test_plain_jsonl_takes_festina_events_only(tmp_path, proactivebench):
    # The format is named by the source, never guessed: a trace item is no festina event.
    trace = proactivebench / "test_data" / "code_11.json"
    items = await collect(open_source(f"jsonl:{trace}"))
    assert items and all(isinstance(i, Rejection) for i in items)
    assert all("observation" in i.reason for i in items)


async def test_a_fault_in_an_adapter_costs_only_its_record(tmp_path):
    def broken(item, origin, position):
        if position == 2:
            raise KeyError("a bug in the adapter")
        return event_record(position)

    path = write_jsonl(tmp_path / "s.jsonl", [{"a": 1}, {"a": 2}, {"a": 3}])
    first, fault, third = await collect(JsonlSource(str(path), adapt=broken))
    assert isinstance(first, Event) and isinstance(third, Event)
    assert fault.position == 2 and "internal error" in fault.reason
    assert fault.raw == '{"a": 2}'


async def test_a_json_file_that_is_not_a_list_is_one_rejection(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"observation": 1}')
    [rejection] = await collect(JsonlSource(str(path)))
    assert "list of records" in rejection.reason


async def test_bundled_stream_is_valid():
    items = await collect(open_source(""))
    assert str(bundled_stream_path()).endswith("demo_stream.jsonl")
    assert len(items) > 100
    assert all(isinstance(i, Event) for i in items)


@pytest.mark.parametrize(
    "spec",
    ["kafka:topic", "nocolon", "jsonl:/does/not/exist.jsonl", "proactivebench:/not/there.json"],
)
def test_bad_source_specs_are_refused(spec):
    with pytest.raises(SourceSpecError):
        open_source(spec)


def test_open_source_accepts_existing_files(tmp_path: Path):
    path = write_jsonl(tmp_path / "ok.jsonl", [event_record(1)])
    assert open_source(f"jsonl:{path}").name == f"jsonl:{path}"
    assert open_source(f"proactivebench:{path}").name == f"proactivebench:{path}"


async def test_hostile_lines_cost_only_themselves(tmp_path):
    lines = [
        json.dumps(event_record(1)).encode(),
        b'{"time": 1, "kind": "text", "text": "bad byte \xff and raw surrogate \xed\xa0\x80"}',
        b'{"time": 1, "kind": "text", "text": "escaped \\ud800"}',
        b"[" * 5000 + b"]" * 5000,  # beyond the recursion limit
        b'{"time": 1' + b"0" * 5000 + b', "kind": "text", "text": "x"}',
        json.dumps({"observation": {"time": "Day 99999999, 1:00 AM", "event": "x"}}).encode(),
        b"\xff not even JSON",
        json.dumps(event_record(2)).encode(),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    items = await collect(JsonlSource(str(path)))
    assert [i.text for i in items if isinstance(i, Event)] == [
        event_record(i)["text"] for i in (1, 2)
    ]
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert [r.position for r in rejections] == [2, 3, 4, 5, 6, 7]
    assert "lone surrogates" in rejections[0].reason and "lone surrogates" in rejections[1].reason
    assert "nested deeper than 64" in rejections[2].reason
    assert "out of range" in rejections[3].reason or "finite" in rejections[3].reason
    assert "observation" in rejections[4].reason  # a trace item is no festina event
    for rejection in rejections:  # kept, escaped: valid UTF-8 with no NUL
        rejection.raw.encode("utf-8")
    assert "\\udcff" in rejections[0].raw and "\\udced\\udca0\\udc80" in rejections[0].raw


async def test_a_json_list_file_with_hostile_records(tmp_path):
    path = tmp_path / "trace.json"
    path.write_bytes(
        b'[{"observation": {"time": "Day 1, 9:05 AM", "event": "The user types"}},'
        b' {"observation": {"time": "Day 99999999, 1:00 AM", "event": "x"}},'
        b' {"observation": {"time": "Day 1, 9:06 AM", "event": "\xed\xa0\x80"}},'
        b' {"observation": 1}]'
    )
    event, day, surrogate, shapeless = await collect(open_source(f"proactivebench:{path}"))
    assert isinstance(event, Event)
    assert "scene day" in day.reason and "lone surrogates" in surrogate.reason
    assert "not a ProactiveBench trace item" in shapeless.reason
    festina = tmp_path / "festina.json"
    festina.write_bytes(b'[{"time": 1, "kind": "text", "text": "\xed\xa0\x80"}]')
    [surrogate] = await collect(JsonlSource(str(festina)))
    assert "lone surrogates" in surrogate.reason
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    [rejection] = await collect(JsonlSource(str(deep)))
    assert "nested deeper than 64" in rejection.reason
