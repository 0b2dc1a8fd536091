"""Which recordings train and which score, in every evaluation of the gate and runtime.

The 18 labelled recordings are all the labelled data there is, and every variant scored
on them spends some of their honesty. So:

* a *confirmation* split is set aside by a rule written here, before any result: in each
  collection (test_data/, extra_traces/), the highest-numbered recording of each series
  (code, writing). No model-selection run sees it; it is scored only for the shipped
  configuration (`festina gate eval --confirm`), once per release;
* the other recordings (*tuning*) are scored three ways: leave one recording out, and
  across collections both ways (train on one collection, score the other): different
  recordings, people and times, the closest there is to a new user.

A `Scheme` maps each scored recording to the recordings its gate must not be trained on
(its own, and what the scheme holds out with it; the confirmation split always).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gate.data import Trace

_NUMBERED = re.compile(r"^(?P<series>.+?)_(?P<number>\d+)$")


def _series_and_number(name: str) -> tuple[str, int]:
    match = _NUMBERED.match(name)
    if match is None:
        return name, -1
    return match["series"], int(match["number"])


def confirmation_names(traces: Sequence[Trace]) -> frozenset[str]:
    """The confirmation split: per collection and series, the highest-numbered recording."""
    last: dict[tuple[str, str], tuple[int, str]] = {}
    for trace in traces:
        series, number = _series_and_number(trace.name)
        key = (trace.folder, series)
        if key not in last or number > last[key][0]:
            last[key] = (number, trace.name)
    return frozenset(name for _, name in last.values())


@dataclass(frozen=True)
class Scheme:
    """A way of scoring: each scored recording and the recordings its gate is trained
    without (itself included)."""

    name: str
    held_out: dict[str, frozenset[str]]

    @property
    def scored(self) -> list[str]:
        return list(self.held_out)


def tuning_schemes(traces: Sequence[Trace]) -> list[Scheme]:
    """Leave one tuning recording out, then each collection scored by a gate trained on
    the other; the confirmation split is never trained on or scored."""
    confirmation = confirmation_names(traces)
    tuning = [t for t in traces if t.name not in confirmation]
    schemes = [
        Scheme(
            "leave one recording out",
            {t.name: frozenset({t.name}) | confirmation for t in tuning},
        )
    ]
    folders = list(dict.fromkeys(t.folder for t in tuning))
    for scored in folders:
        members = frozenset(t.name for t in tuning if t.folder == scored)
        others = [f for f in folders if f != scored]
        if not others or not members:
            continue
        schemes.append(
            Scheme(
                f"{'+'.join(others)} -> {scored}",
                {name: members | confirmation for name in sorted(members)},
            )
        )
    return schemes


def confirmation_scheme(traces: Sequence[Trace]) -> Scheme:
    """The confirmation split scored by one gate trained on every tuning recording."""
    confirmation = confirmation_names(traces)
    return Scheme("confirmation", {name: confirmation for name in sorted(confirmation)})
