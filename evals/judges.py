"""Judges: who says whether an agent's behaviour at an event was right.

* `HumanJudge`: ProactiveBench's human labels (`task_status`), offline and free. Timing
  only: a proposal is right when help was needed, silence when it was not.
* `LLMJudge`: any OpenAI-compatible endpoint, in the shape of ProactiveBench's
  reward-model protocol: the observation history and the proposed task (or null for
  silence) in, `{"thought", "judgement"}` out, one verdict per task. Serve the
  ProactiveBench reward model (or a strong LLM) behind vLLM, Ollama or llama.cpp's
  server for numbers comparable with the paper's. The released reward model's exact
  prompt wording is not in the data here; `judge_messages` is the one place to match it.
  Answers are cached on disk by (model, prompt), so re-running a report costs nothing
  and gives the same verdicts.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from agent.slowpath.llm import ChatError, ChatModel


@dataclass(frozen=True)
class JudgeCase:
    """One judged moment: what the user did up to now, and what the agent offered."""

    history: tuple[dict[str, str], ...]
    """ProactiveBench observations, oldest first: {"time": ..., "event": ...}."""
    task: str | None
    """The proposed task, or None when the agent stayed silent."""
    needed: bool
    """The human label at this event (ignored by model judges)."""


class Judge(Protocol):
    name: str

    def accepts(self, case: JudgeCase) -> bool: ...


class HumanJudge:
    name = "human labels"

    def accepts(self, case: JudgeCase) -> bool:
        return case.needed if case.task is not None else not case.needed


class Judgement(BaseModel):
    thought: str
    judgement: bool


JUDGEMENT_SCHEMA: dict[str, Any] = Judgement.model_json_schema()

_SYSTEM = (
    "You are the user in a proactive-assistant study. An assistant watches your computer "
    "activity and may propose a task to help you, or stay silent. Judge its behaviour at "
    "the latest event the way a real user would. If it proposed a task: would you accept "
    "that task now (it is relevant, timely and useful)? If it stayed silent: was staying "
    "silent right (you did not need help at this moment)? Answer with one JSON object: "
    '{"thought": "<one or two sentences>", "judgement": true|false}.'
)
MAX_HISTORY = 20


def judge_messages(case: JudgeCase) -> list[dict[str, str]]:
    """The reward-model judging prompt for one case (history capped at the last 20 events)."""
    history = "\n".join(f"[{o['time']}] {o['event']}" for o in case.history[-MAX_HISTORY:])
    offer = f"The assistant proposes: {case.task}" if case.task else "The assistant stays silent."
    user = f"Your activity, oldest first (the last line is now):\n{history}\n\n{offer}"
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


class JudgeError(RuntimeError):
    """The judge model gave no usable judgement."""


class LLMJudge:
    """A chat model as judge, with an on-disk answer cache (JSON, one file a model)."""

    def __init__(self, chat: ChatModel, cache_dir: Path | None = None) -> None:
        self.chat = chat
        self.name = f"LLM judge ({chat.name})"
        self.tokens = 0
        self._lock = threading.Lock()
        self._cache_path = (
            cache_dir / f"judge-{hashlib.sha256(chat.name.encode()).hexdigest()[:12]}.json"
            if cache_dir
            else None
        )
        self._cache: dict[str, bool] = {}
        if self._cache_path is not None and self._cache_path.exists():
            self._cache = json.loads(self._cache_path.read_text())

    def accepts(self, case: JudgeCase) -> bool:
        messages = judge_messages(case)
        key = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        try:
            reply = self.chat.complete(messages, JUDGEMENT_SCHEMA)
        except ChatError as error:
            raise JudgeError(str(error)) from error
        self.tokens += reply.prompt_tokens + reply.completion_tokens
        start, end = reply.text.find("{"), reply.text.rfind("}")
        try:
            verdict = Judgement.model_validate_json(reply.text[start : end + 1]).judgement
        except ValidationError as error:
            raise JudgeError(f"{self.chat.name} gave no judgement: {reply.text[:200]!r}") from error
        with self._lock:
            self._cache[key] = verdict
        return verdict

    def save(self) -> None:
        """Write the cache (call after a run; verdicts survive an interrupted run if saved)."""
        if self._cache_path is None:
            return
        self._cache_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._cache_path.write_text(json.dumps(self._cache, sort_keys=True))
