"""What a pipeline's run counts, as its stages go."""

from __future__ import annotations

from dataclasses import dataclass

from memory.store import RunCounts


@dataclass
class PipelineStats:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    decided: int = 0
    escalated: int = 0
    intervened: int = 0
    # Deliberations that raised: the gate's action stood (see DecisionChain.fall_back).
    slow_path_failures: int = 0
    # Only counted, never stored: left out by a privacy rule, or taken while paused.
    excluded: int = 0
    paused: int = 0

    def counts(self) -> RunCounts:
        """The counts memory keeps with the run."""
        return RunCounts(
            self.accepted, self.duplicates, self.rejected, self.decided, self.excluded, self.paused
        )
