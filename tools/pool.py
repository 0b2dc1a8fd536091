"""The tool pool: lookup, validated calls, the confirmation gate, and a call log."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from core.events import describe_validation_error
from tools.base import Tool, ToolContext, ToolError, ToolResult

logger = logging.getLogger("festina.tools")


class UnknownTool(KeyError):
    pass


class ConfirmationRequired(RuntimeError):
    """A side-effecting call was made without the user's confirmation."""

    def __init__(self, tool: Tool, args: dict[str, Any]) -> None:
        super().__init__(f"{tool.name} changes things and needs your confirmation")
        self.tool = tool
        self.args = args


@dataclass(frozen=True)
class CallRecord:
    tool: str
    args: dict[str, Any]
    confirmed: bool
    result: ToolResult
    at: datetime


class ToolPool:
    def __init__(self, tools: Iterable[Tool], context: ToolContext) -> None:
        self.context = context
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"two tools named {tool.name!r}")
            self._tools[tool.name] = tool
        self.log: list[CallRecord] = []

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownTool(name) from None

    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self._tools.values()]

    def call(self, name: str, raw_args: dict[str, Any], *, confirmed: bool = False) -> ToolResult:
        """Validate and run one call. Invalid arguments and tool failures come back as
        a failed result with the reason; an unconfirmed side effect raises."""
        tool = self.get(name)
        try:
            args = tool.Args.model_validate(raw_args)
        except ValidationError as error:
            return self._record(
                tool,
                raw_args,
                confirmed,
                ToolResult(
                    ok=False, message=f"invalid arguments: {describe_validation_error(error)}"
                ),
            )
        if tool.side_effect and not confirmed and not self.context.dry_run:
            raise ConfirmationRequired(tool, args.model_dump(mode="json"))
        try:
            result = tool.run(args, self.context)
        except (ToolError, OSError) as error:
            result = ToolResult(ok=False, message=str(error))
        except Exception as error:
            # A tool's bug must not end the person's accepted plan in an exception (the
            # plan would be retried, and fail, at every poll): it is that step's failure.
            logger.exception("tool %s failed unexpectedly", tool.name)
            result = ToolResult(ok=False, message=f"{tool.name} failed unexpectedly: {error!r}")
        return self._record(tool, args.model_dump(mode="json"), confirmed, result)

    def _record(
        self, tool: Tool, args: dict[str, Any], confirmed: bool, result: ToolResult
    ) -> ToolResult:
        self.log.append(CallRecord(tool.name, args, confirmed, result, datetime.now(UTC)))
        return result
