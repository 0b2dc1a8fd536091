"""How much the done-by-hand rule (`memory.by_hand`) says about need, on real recordings.

No recording here shows what a user did after an offer they declined, so the rule cannot be
checked where it applies. What can be checked: on the labelled recordings, take the
template drafter's offer at every event, let the rule watch the events that follow (within
`DONE_WITHIN_S`), and compare how often it fires at events the annotators marked as needing
help with the base rate. A rule that carries signal about need fires more often where help
was needed; one at the base rate carries none on these labels.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.slowpath.drafter import DraftRequest
from agent.slowpath.template_drafter import TemplateDrafter
from core.offer import Offer
from evals.drafts import draft_cases
from gate.data import Trace
from memory.by_hand import DONE_WITHIN_S, done_by_hand
from tools import default_pool


@dataclass
class ByHandReport:
    offers: int
    """Events where the template drafter had an offer to make."""
    needed: int
    """Of those, events labelled as needing help (task_status)."""
    fired: int
    """Offers the rule saw done by hand in a later event."""
    fired_needed: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base_rate(self) -> float:
        return self.needed / self.offers if self.offers else 0.0

    @property
    def precision(self) -> float | None:
        return self.fired_needed / self.fired if self.fired else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "base_rate": self.base_rate, "precision": self.precision}

    def table(self) -> str:
        precision = "n/a" if self.precision is None else f"{self.precision:.3f}"
        return "\n".join(
            [
                f"template offers at {self.offers} events; {self.needed} labelled as needing "
                f"help (base rate {self.base_rate:.3f})",
                f"done by hand within {DONE_WITHIN_S:.0f} s: {self.fired} offers, "
                f"{self.fired_needed} of them where help was needed (share {precision})",
                "(a rule that carries signal about need shows a share above the base rate)",
            ]
        )


def measure_by_hand(traces: Sequence[Trace], window: int, examples: int = 10) -> ByHandReport:
    """The rule watched over every template offer of `traces` (see the module docstring)."""
    later_events = {trace.name: trace.events for trace in traces}
    with tempfile.TemporaryDirectory(prefix="festina-by-hand-") as scratch:
        drafter = TemplateDrafter(default_pool(Path(scratch)))
        report = ByHandReport(0, 0, 0, 0)
        for case in draft_cases(list(traces), window):
            draft = json.loads(drafter.draft(DraftRequest(case.window)).text)
            if not draft["speak"].strip():
                continue
            offer, event = Offer.from_proposal(draft, drafter.name), case.window[-1]
            report.offers += 1
            report.needed += case.needed
            following = later_events[case.trace][case.index + 1 :]
            done = next((later for later in following if done_by_hand(offer, event, later)), None)
            if done is None:
                continue
            report.fired += 1
            report.fired_needed += case.needed
            if len(report.examples) < examples:
                report.examples.append(
                    {
                        "trace": case.trace,
                        "index": case.index,
                        "needed": case.needed,
                        "task": offer.task,
                        "done": done.summary()[:160],
                    }
                )
    return report
