"""Deliberation for events near the gate's boundary."""

from agent.slowpath.base import GateRuleSlowPath, SlowPath, Verdict

__all__ = ["GateRuleSlowPath", "SlowPath", "Verdict"]
