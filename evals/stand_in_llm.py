"""A stand-in OpenAI-compatible chat server, for the load benchmark and the tests (a remote
LLM is the one thing they cannot run here)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import ClassVar


class ChatCompletionHandler(BaseHTTPRequestHandler):
    """Answers POST /chat/completions with `reply(body)`; None sends nothing. A request
    asking for a stream (`"stream": true`) is answered piece by piece with `stream(body)`."""

    usage: ClassVar[dict[str, int]] = {"prompt_tokens": 50, "completion_tokens": 10}

    def reply(self, body: dict) -> str | None:
        raise NotImplementedError

    def stream(self, body: dict) -> Iterator[str]:
        raise NotImplementedError

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("stream"):
            self._send_stream(body)
            return
        content = self.reply(body)
        if content is None:
            return
        data = json.dumps(
            {"choices": [{"message": {"content": content}}], "usage": self.usage}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, body: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        # The client may have gone (a daemon stopped mid-answer) before the stream ends.
        with contextlib.suppress(OSError):
            for text in self.stream(body):
                chunk = {"choices": [{"delta": {"content": text}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args: object) -> None:
        pass
