"""Event sources, chosen by a spec string such as ``jsonl:trace.jsonl`` or ``jsonl:-``."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from agent.sources.base import EventSource, Rejection, SourceItem
from agent.sources.jsonl import JsonlSource

__all__ = ["EventSource", "Rejection", "SourceItem", "bundled_stream_path", "open_source"]

_FACTORIES: dict[str, Callable[[str], EventSource]] = {
    "jsonl": JsonlSource,
}


class SourceSpecError(ValueError):
    """The source spec names no known source or an unusable target."""


def bundled_stream_path() -> Path:
    """The demo stream replayed when no live source is configured."""
    return Path(str(resources.files("agent.data").joinpath("demo_stream.jsonl")))


def open_source(spec: str) -> EventSource:
    """Build the source a spec names; an empty spec replays the bundled demo stream."""
    if not spec:
        return JsonlSource(str(bundled_stream_path()))
    scheme, sep, target = spec.partition(":")
    if not sep or scheme not in _FACTORIES:
        known = ", ".join(f"{name}:<target>" for name in sorted(_FACTORIES))
        raise SourceSpecError(f"unknown source {spec!r}; expected one of {known}")
    if scheme == "jsonl" and target != "-" and not Path(target).is_file():
        raise SourceSpecError(f"no such file for source {spec!r}")
    return _FACTORIES[scheme](target)
