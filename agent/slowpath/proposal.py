"""The schema-locked proposal a model drafts, its prompt, and its validation.

A proposal only counts when it parses, follows the schema, and every planned call names
a tool in the pool with arguments that tool accepts; otherwise the reason goes back to
the model for one more try, and then the slow path falls back to silence.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.events import Event, describe_validation_error
from core.offer import PlannedCall
from tools.pool import ToolPool

MAX_TOOLS_IN_PROMPT = 8
_ALWAYS_OFFERED = ("web_search_query", "summarize_text", "create_note", "show_notification")
_WORD = re.compile(r"[a-z]{3,}")
_ALTERNATIVES = re.compile(r"\^\(([\w|-]+)\)\$")


class Proposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speak: str = Field(
        max_length=300,
        description="what to say to the user to make the offer, one or two short sentences; "
        "empty if staying silent is better",
    )
    task: str = Field(min_length=3, max_length=200, description="the concrete help offered")
    why_now: str = Field(max_length=200)
    tool_plan: list[PlannedCall] = Field(default_factory=list, max_length=3)
    expected_benefit: str = Field(max_length=200)


PROPOSAL_SCHEMA: dict[str, Any] = Proposal.model_json_schema()


ARG_MAX_LENGTH = 200
"""Longest string argument a draft may plan with: a drafted call carries a query, a title,
a short text; a longer bound only makes the grammar of constrained decoding larger."""
ARG_MAX_ITEMS = 5
"""Longest list argument a draft may plan with, for the same reason."""
_GRAMMAR_FORMATS = {"date", "time", "date-time"}


def draft_schema(tools: list[dict[str, Any]], pool: ToolPool) -> dict[str, Any]:
    """The proposal schema narrowed to `tools` (names from `shortlist`): each planned call
    is one of them with exactly the arguments it accepts. A model decoding under this
    schema (llama.cpp's grammar, a server's `response_format`) cannot plan a tool that
    does not exist or leave out a required argument; the answer is still validated."""
    schema = json.loads(json.dumps(PROPOSAL_SCHEMA))
    calls = []
    for tool in tools:
        args = _plain(pool.get(tool["name"]).Args.model_json_schema())
        if args is None:
            continue
        calls.append(
            {
                "type": "object",
                "properties": {"tool": {"const": tool["name"]}, "args": args},
                "required": ["tool", "args"],
                "additionalProperties": False,
            }
        )
    schema.pop("$defs", None)
    schema["properties"]["tool_plan"] = {
        "type": "array",
        "items": {"anyOf": calls} if calls else {"type": "object"},
        "maxItems": 3,
    }
    return schema


def _plain(schema: dict[str, Any]) -> dict[str, Any] | None:
    """An argument schema a grammar can hold: no titles or defaults, strings at most
    `ARG_MAX_LENGTH` long, lists at most `ARG_MAX_ITEMS`, a pattern of alternatives
    (`^(a|b)$`) as an enum and any other pattern dropped (the tool's own validation still
    applies). None for a tool whose arguments need what a grammar cannot say (an e-mail
    address, a URL, a reference to another definition): a model cannot plan it under the
    schema. Dates and times are formats llama.cpp's grammars hold."""
    formats = set(re.findall(r'"format": "([^"]+)"', json.dumps(schema)))
    if "$defs" in schema or formats - _GRAMMAR_FORMATS:
        return None
    properties = {name: _bounded(field) for name, field in schema.get("properties", {}).items()}
    return {
        "type": "object",
        "properties": properties,
        "required": [n for n in properties if n in schema.get("required", [])],
        "additionalProperties": False,
    }


def _bounded(field: dict[str, Any]) -> dict[str, Any]:
    choices = _ALTERNATIVES.fullmatch(str(field.get("pattern", "")))
    field = {k: v for k, v in field.items() if k not in ("title", "pattern", "default")}
    if choices:
        field["enum"] = choices.group(1).split("|")
    if field.get("type") == "string":
        field["maxLength"] = min(int(field.get("maxLength", ARG_MAX_LENGTH)), ARG_MAX_LENGTH)
    if field.get("type") == "array":
        field["maxItems"] = min(int(field.get("maxItems", ARG_MAX_ITEMS)), ARG_MAX_ITEMS)
        if isinstance(field.get("items"), dict):
            field["items"] = _bounded(field["items"])
    return field


class ProposalError(ValueError):
    """The model's answer is not a usable proposal; the message says why."""


def shortlist(pool: ToolPool, window: list[Event]) -> list[dict[str, Any]]:
    """The tools most related to the window's words, so a small model's prompt stays short."""
    words = set(_WORD.findall(" ".join(e.summary() for e in window).lower()))
    scored = []
    for tool in pool.tools():
        vocabulary = set(_WORD.findall(f"{tool.name.replace('_', ' ')} {tool.description}".lower()))
        scored.append((-(len(words & vocabulary) + 10 * (tool.name in _ALWAYS_OFFERED)), tool.name))
    chosen = [name for _, name in sorted(scored)[:MAX_TOOLS_IN_PROMPT]]
    return [
        {
            "name": name,
            "description": pool.get(name).description,
            "args": sorted(pool.get(name).Args.model_fields),
        }
        for name in chosen
    ]


def build_messages(
    window: list[Event],
    recalled: list[str],
    lessons: list[str],
    tools: list[dict[str, Any]],
    error: str | None = None,
) -> list[dict[str, str]]:
    history = "\n".join(f"- {e.time:%H:%M:%S} [{e.kind.value}] {e.summary()}" for e in window)
    memory = "\n".join(f"- {line}" for line in recalled) or "- (nothing similar remembered)"
    rules = "\n".join(f"- {lesson}" for lesson in lessons) or "- (no lessons yet)"
    system = (
        "You are festina, a careful assistant that watches what the user does and offers help "
        "only when it is clearly worth interrupting them. Answer with one JSON object that "
        "follows the given schema and nothing else. Plan only with the listed tools."
    )
    user = (
        f"Recent activity, oldest first (the last line is happening now):\n{history}\n\n"
        f"Similar past moments and what happened:\n{memory}\n\n"
        f"Lessons from offers the user turned down:\n{rules}\n\n"
        f"Tools: {json.dumps(tools)}\n\n"
        "Draft one concrete offer of help for right now: the task, why now, a tool plan, and "
        "the expected benefit, and in speak the words that offer it to the user. Leave speak "
        "empty if silence is better."
    )
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    if error:
        messages.append(
            {"role": "user", "content": f"Your last answer was unusable: {error}. Try again."}
        )
    return messages


def parse_proposal(text: str, pool: ToolPool) -> Proposal:
    """Validate a model's answer against the schema and the tool pool."""
    proposal = parse_schema(text)
    check_plan(proposal, pool)
    return proposal


def parse_schema(text: str) -> Proposal:
    """The answer's JSON object as a proposal, or why it is not one."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ProposalError("no JSON object in the answer")
    try:
        return Proposal.model_validate_json(text[start : end + 1])
    except ValidationError as error:
        raise ProposalError(describe_validation_error(error, "proposal")) from error


def check_plan(proposal: Proposal, pool: ToolPool) -> None:
    """Every planned call must name a pool tool with arguments that tool accepts."""
    for call in proposal.tool_plan:
        if call.tool not in pool:
            raise ProposalError(f"unknown tool {call.tool!r}")
        try:
            pool.get(call.tool).Args.model_validate(call.args)
        except ValidationError as error:
            raise ProposalError(f"{call.tool}: {describe_validation_error(error)}") from error
