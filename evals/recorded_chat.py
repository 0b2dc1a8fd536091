"""A chat model that answers with ProactiveBench's recorded agent, for offline replays.

Every ProactiveBench event carries the tasks a collection-time LLM agent proposed there
(`agent_response.candidate_task`, empty when it stayed silent). Replaying those answers
as the slow path's drafts runs the whole reasoning graph (recall, counterfactual check
with the draft's own p_accept, repeat check, decision) without a model server: a
deterministic stand-in for a remote LLM, with real recorded content. Its token count is
zero; a live endpoint's tokens are reported when one is used.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent.slowpath.llm import ChatError, ChatReply

# The drafting prompt lists the window as "- HH:MM:SS [kind] summary", current event last.
_HISTORY_LINE = re.compile(r"^- \d\d:\d\d:\d\d \[[^\]]+\] (.*)$", re.M)


class RecordedChat:
    name = "recorded:proactivebench-collection-agent"

    def __init__(self, tasks_by_summary: dict[str, list[str]]) -> None:
        self._tasks = tasks_by_summary

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> ChatReply:
        prompt = messages[1]["content"].split("\n\nSimilar past moments", 1)[0]
        lines = _HISTORY_LINE.findall(prompt)
        if not lines:
            raise ChatError("recorded chat: no activity in the prompt")
        # An event the collection-time agent never saw (noise in a PIRA-style trajectory)
        # gets the answer it would have had nothing to say to: silence.
        recorded = self._tasks.get(lines[-1], [])
        tasks = [t for t in recorded if isinstance(t, str) and len(t.strip()) >= 3]
        proposal = {
            # The recorded agent left tasks only; its task is what it would have said.
            "speak": tasks[0][:300] if tasks else "",
            "task": tasks[0][:200] if tasks else "stay silent",
            "why_now": "the collection-time agent proposed this here" if tasks else "",
            "tool_plan": [],
            "expected_benefit": "",
        }
        return ChatReply(json.dumps(proposal))
