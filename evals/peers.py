"""What the published agents and the reward annotators said about the labelled events.

Peers (`peer_traces/` for the eight test recordings, `peer_traces_extra/` for the ten
extra ones) answered on their own cut of the same recordings, each event with its own
`task_status`: a peer is scored against the labels of its own files. Their consensus and
the reward annotators' votes are also read per event of festina's traces, as references
(how well people and LLMs read these labels) and as candidate soft targets for training.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gate.data import Trace

PEER_FOLDERS = {"test_data": "peer_traces", "extra_traces": "peer_traces_extra"}


@dataclass(frozen=True)
class PeerAnswers:
    """One agent's decisions (offered or not) and the labels of the events it saw."""

    name: str
    proposed: list[bool]
    labels: list[bool]


def proposed(response: object) -> bool:
    """A peer offered when its answer holds a task; empty, null and "null" are silence."""
    if isinstance(response, list):
        return any(
            isinstance(t, str) and t.strip() and t.strip().lower() != "null" for t in response
        )
    return (
        isinstance(response, str) and bool(response.strip()) and response.strip().lower() != "null"
    )


def _peer_files(root: Path, folders: Sequence[str]) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = defaultdict(list)
    for folder in folders:
        peers = root / PEER_FOLDERS[folder]
        if not peers.is_dir():
            continue
        for agent in sorted(p for p in peers.iterdir() if p.is_dir()):
            files[agent.name].extend(sorted(agent.glob("*.json")))
    return files


def load_peer_answers(
    root: Path,
    folders: Sequence[str] = tuple(PEER_FOLDERS),
    recordings: Collection[str] | None = None,
) -> list[PeerAnswers]:
    """Every peer's answers over the recordings of `folders` it has files for (only those
    named in `recordings`, when given)."""
    answers = []
    for name, paths in sorted(_peer_files(root, folders).items()):
        offered, labels = [], []
        for path in paths:
            if recordings is not None and path.stem not in recordings:
                continue
            for step in json.loads(path.read_text()):
                offered.append(proposed(step.get("agent_response")))
                labels.append(bool(step["task_status"]))
        if labels:
            answers.append(PeerAnswers(name, offered, labels))
    return answers


def peer_consensus(root: Path, traces: Sequence[Trace]) -> list[np.ndarray]:
    """Per trace, the share of peers that offered at each event (NaN where no peer's cut
    has the event). Events are matched by text within the same recording, in order."""
    folders = sorted({trace.folder for trace in traces if trace.folder in PEER_FOLDERS})
    files = _peer_files(root, folders)
    shares = []
    for trace in traces:
        votes: list[list[bool]] = [[] for _ in trace.observations]
        for paths in files.values():
            path = next((p for p in paths if p.stem == trace.name), None)
            if path is None:
                continue
            by_text: dict[str, list[bool]] = defaultdict(list)
            for step in json.loads(path.read_text()):
                by_text[step["observation"]["event"]].append(proposed(step.get("agent_response")))
            used: dict[str, int] = defaultdict(int)
            for i, observation in enumerate(trace.observations):
                text = observation["event"]
                if used[text] < len(by_text[text]):
                    votes[i].append(by_text[text][used[text]])
                    used[text] += 1
        shares.append(np.array([np.mean(v) if v else np.nan for v in votes]))
    return shares


def annotator_votes(root: Path, traces: Sequence[Trace]) -> list[np.ndarray]:
    """Per trace, the share of reward annotators' votes accepting the tasks proposed at
    each event (NaN where no task was judged there)."""
    votes: dict[tuple[str, str], list[float]] = defaultdict(list)
    for name in ("train_data", "test_data"):
        path = root / "reward_data" / f"{name}.jsonl"
        for line in path.read_text().splitlines() if path.is_file() else []:
            row = json.loads(line)
            if row["pred_task"] is not None:
                last = row["obs"][-1]
                votes[(str(last["time"]), last["event"])].append(float(np.mean(row["annotation"])))
    return [
        np.array(
            [
                np.mean(votes[key]) if (key := (str(o["time"]), o["event"])) in votes else np.nan
                for o in trace.observations
            ]
        )
        for trace in traces
    ]
