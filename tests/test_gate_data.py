from __future__ import annotations

import json

import pytest

from core.events import Event
from gate.data import load_labelled_jsonl, load_reward_items, load_traces
from gate.training import build_dataset


def keys(events: list[Event]) -> set[tuple[float, str]]:
    return {(round(e.timestamp, 3), e.text) for e in events}


def test_traces_load_with_their_labels(proactivebench):
    traces = load_traces(proactivebench)
    assert len(traces) == 18  # eight test recordings, ten extra ones (data README)
    assert sum(len(t.events) for t in traces) == 352
    assert all(len(t.events) == len(t.needs) for t in traces)
    assert sum(sum(t.needs) for t in traces if t.folder == "extra_traces") == 86
    assert len(load_traces(proactivebench, ["test_data"])) == 8


def test_reward_items_are_tagged_with_the_traces_they_overlap(proactivebench):
    traces = load_traces(proactivebench)
    items = load_reward_items(proactivebench / "reward_data" / "train_data.jsonl", traces)
    assert len(items) == 1176
    tagged = [i for i in items if i.groups]
    assert len(tagged) == len(items)  # every history is a prefix of a labelled recording
    by_name = {t.name: keys(t.events) for t in traces}
    for item in tagged[:50]:
        for group in item.groups:
            assert keys(item.history) & by_name[group]


def test_leave_one_trace_out_never_trains_on_the_scored_traces_events(proactivebench):
    traces = load_traces(proactivebench)
    reward = load_reward_items(proactivebench / "reward_data" / "train_data.jsonl", traces)
    dataset = build_dataset(traces, reward, window=8)
    for trace in traces:
        held_out = keys(trace.events)
        train = dataset.without(trace.name)
        seen = set()
        for window in [*train.need.windows, *train.tasks.windows]:
            seen |= keys(window)
        assert not (seen & held_out), trace.name
        assert len(train.need.labels) == 352 - len(trace.events)


def test_labelled_jsonl_groups_events_by_source(tmp_path):
    rows = [
        {
            "event": {"time": i, "source": f"s{i % 2}", "kind": "editor", "text": f"e{i}"},
            "need": i == 3,
        }
        for i in range(4)
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    traces = load_labelled_jsonl(path)
    assert sorted(len(t.events) for t in traces) == [2, 2]
    assert sum(sum(t.needs) for t in traces) == 1


def test_labelled_jsonl_rejects_rows_without_a_label(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps({"event": {"time": 1, "source": "s", "kind": "editor", "text": "x"}})
    )
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        load_labelled_jsonl(path)


def test_scene_clock_histories_belong_to_the_extra_recordings(proactivebench):
    traces = load_traces(proactivebench)
    items = load_reward_items(proactivebench / "reward_data" / "train_data.jsonl", traces)
    # The data README: 80 reward histories ("Day 1, ..." clocks) come from code_1..code_4.
    scene = [i for i in items if i.groups & {"code_1", "code_2", "code_3", "code_4"}]
    assert len({tuple(e.text for e in i.history) for i in scene}) >= 80
    # Scene clocks map to days from a fixed epoch (the recordings' "Day 1" wraps past
    # midnight without a new day number, so order within a history is not checked).
    assert all(e.time.year == 2024 for item in scene for e in item.history)
