"""A language model's explanation of an error, streamed, grounded in what `explain_error`
read (the failing lines from disk, the exception's documentation, the command's manual).

The tool itself stays offline (tools import only core); the slow path hands its result
to an `ErrorExplainer` when a model is configured, and the explanation replaces it as the
step's result. Whatever goes wrong with the model (unreachable, too slow, an empty
answer), the step still ends with the offline explanation and a note saying why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from agent.slowpath.llm import ChatError
from core.outcome import render
from memory.redaction import redact_text
from tools.base import ToolResult

logger = logging.getLogger("festina.slowpath")

EXPLAINED_TOOL = "explain_error"
PUBLISH_EVERY_S = 0.5
"""How often the text so far is handed on while it streams: often enough to read as it
grows, rarely enough that memory is not written for every few characters."""

SYSTEM = (
    "You explain a programming or shell error to the person who just hit it. Use only "
    "what you are given: the error, the failing source lines, the documentation and the "
    "manual excerpt. Say in two or three sentences what went wrong and where (file and "
    "line), then the most likely fix. Plain text, at most 120 words."
)


class StreamingChat(Protocol):
    """A chat model that writes a free-text answer piece by piece."""

    name: str

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]: ...


def explanation_prompt(gathered: str) -> list[dict[str, str]]:
    """The messages asking for an explanation of what `explain_error` gathered. The
    source lines were read from disk, not from a redacted event: secrets in them are
    redacted here, before anything leaves for the model's server."""
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": "What was read about the error:\n\n"
            f"{redact_text(gathered)}\n\nExplain this error and how to fix it.",
        },
    ]


class ErrorExplainer:
    """Turns `explain_error`'s offline result into `chat`'s streamed explanation."""

    tool = EXPLAINED_TOOL

    def __init__(
        self,
        chat: StreamingChat,
        *,
        timeout_s: float,
        publish_every_s: float = PUBLISH_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s}")
        self.chat = chat
        self.timeout_s = timeout_s
        self.publish_every_s = publish_every_s
        self._clock = clock

    def explain(self, offline: ToolResult, publish: Callable[[str], None]) -> ToolResult:
        """The model's explanation of `offline` (the tool's result), handing the text so
        far to `publish` every `publish_every_s` while it streams and once at the end.
        The offline result with a note instead when the model gives no explanation."""
        gathered = render(offline.output)
        if not offline.ok or not gathered:
            return offline
        try:
            text = self._streamed(explanation_prompt(gathered), publish)
        except ChatError as error:
            logger.warning("no explanation from the model: %s", error)
            return _with_note(offline, f"could not be reached ({error})")
        if not text:
            return _with_note(offline, "answered nothing")
        return ToolResult(output=text)

    def _streamed(self, messages: list[dict[str, str]], publish: Callable[[str], None]) -> str:
        pieces: list[str] = []
        started = last = self._clock()
        for piece in self.chat.stream(messages):
            pieces.append(piece)
            now = self._clock()
            # The client's timeout bounds each wait for a piece; this bounds the whole.
            if now - started > self.timeout_s:
                raise ChatError(f"no complete answer within {self.timeout_s:g} s")
            if now - last >= self.publish_every_s:
                publish("".join(pieces))
                last = now
        text = "".join(pieces).strip()
        if text:
            publish(text)
        return text


def _with_note(offline: ToolResult, what: str) -> ToolResult:
    note = f"The language model {what}: this is the explanation festina gives without one."
    message = f"{note} {offline.message}".strip()
    return offline.model_copy(update={"message": message})
