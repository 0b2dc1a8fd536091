"""Labelled data for the gate: ProactiveBench traces and reward pairs, and labelled JSONL.

Every example carries the trace it came from (`group`), because reward histories are
prefixes of the test traces: leave-one-trace-out must drop a scored trace's reward items
from training too, or the score is leaked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.events import Event
from core.records import RecordAdapter, record_to_item
from gate import proactivebench


def default_data_dir() -> Path:
    """The ProactiveBench data: `FESTINA_PROACTIVEBENCH`, else `shared/data/proactivebench`
    beside the checkout festina runs from (found from this file, never from the current
    directory)."""
    if path := os.environ.get("FESTINA_PROACTIVEBENCH"):
        return Path(path).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "proactivebench"


@dataclass(frozen=True)
class Trace:
    """A recorded session with a need label per event."""

    name: str
    events: list[Event]
    needs: list[bool]
    observations: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)
    folder: str = ""


@dataclass(frozen=True)
class RewardItem:
    """A judged (history, proposed task) pair; `task` None means "stay silent" was judged."""

    history: list[Event]
    task: str | None
    valid: bool
    help_needed: bool
    category: str
    groups: frozenset[str] = field(default_factory=frozenset)


def _events(
    records: Iterable[dict[str, Any]], origin: str, adapt: RecordAdapter | None = None
) -> list[Event]:
    """Festina event records as events, or another format's records through `adapt`."""
    events = []
    for position, record in enumerate(records, start=1):
        item = record_to_item(record, origin=origin, position=position, raw="", adapt=adapt)
        if not isinstance(item, Event):
            raise ValueError(f"{origin}:{position}: {item.reason}")
        events.append(item)
    return events


# Folders of labelled recordings: test_data/ has the collection-time agent's proposals
# (`candidate_task`), extra_traces/ labels only.
TRACE_FOLDERS = ("test_data", "extra_traces")


def load_traces(root: Path, folders: Sequence[str] = TRACE_FOLDERS) -> list[Trace]:
    """The labelled ProactiveBench recordings listed in each folder's `splits.json`
    (a folder that is absent is skipped)."""
    traces = []
    for folder in folders:
        directory = root / folder
        if not (directory / "splits.json").is_file():
            continue
        names = json.loads((directory / "splits.json").read_text())["all"]["files"]
        for name in names:
            items = json.loads((directory / name).read_text())
            stem = Path(name).stem
            traces.append(
                Trace(
                    stem,
                    _events(items, stem, proactivebench.to_event_record),
                    [bool(i["task_status"]) for i in items],
                    [i["observation"] for i in items],
                    folder,
                )
            )
    return traces


def _observation_key(observation: dict[str, Any]) -> tuple[str, str]:
    return str(observation["time"]), observation["event"]


def load_reward_items(path: Path, traces: list[Trace]) -> list[RewardItem]:
    """Reward judgements, each tagged with every trace that shares one of its events."""
    owners: dict[tuple[str, str], set[str]] = {}
    for trace in traces:
        for observation in trace.observations:
            owners.setdefault(_observation_key(observation), set()).add(trace.name)
    items = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        row = json.loads(line)
        groups: set[str] = set()
        for observation in row["obs"]:
            groups |= owners.get(_observation_key(observation), set())
        origin = f"reward-{path.stem}-{line_number}"
        history = _events(
            ({"observation": o} for o in row["obs"]), origin, proactivebench.to_event_record
        )
        items.append(
            RewardItem(
                history=history,
                task=row["pred_task"],
                valid=bool(row["valid"]),
                help_needed=bool(row["help_needed"]),
                category=row["category"],
                groups=frozenset(groups),
            )
        )
    return items


def load_labelled_jsonl(path: Path) -> list[Trace]:
    """Labelled events, one JSON object a line: ``{"event": {...}, "need": true}``, the
    event a festina event.

    Consecutive lines of one event source form one trace, so windows see real history.
    """
    by_source: dict[str, tuple[list[Event], list[bool]]] = {}
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict) or "event" not in row or not isinstance(row.get("need"), bool):
            raise ValueError(
                f"{path}:{line_number}: expected {{'event': {{...}}, 'need': true|false}}"
            )
        [event] = _events([row["event"]], f"{path.stem}:{line_number}")
        events, needs = by_source.setdefault(event.source, ([], []))
        events.append(event)
        needs.append(row["need"])
    return [Trace(f"{path.stem}:{src}", ev, nd) for src, (ev, nd) in by_source.items()]
