"""What a pipeline's run counts, as its stages go."""

from __future__ import annotations

from dataclasses import dataclass, fields

from memory.store import RunCounts


@dataclass
class PipelineStats(RunCounts):
    """The run's counts memory keeps (`RunCounts`), and what only the running daemon
    reports."""

    escalated: int = 0
    intervened: int = 0
    # Deliberations that raised: the gate's action stood (see DecisionChain.fall_back).
    slow_path_failures: int = 0

    def counts(self) -> RunCounts:
        """The counts memory keeps with the run."""
        return RunCounts(**{field.name: getattr(self, field.name) for field in fields(RunCounts)})
