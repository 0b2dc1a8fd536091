"""A stand-in OpenAI-compatible chat server, for the load benchmark and the tests (a remote
LLM is the one thing they cannot run here)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import ClassVar


class ChatCompletionHandler(BaseHTTPRequestHandler):
    """Answers POST /chat/completions with `reply(body)`; None sends nothing."""

    usage: ClassVar[dict[str, int]] = {"prompt_tokens": 50, "completion_tokens": 10}

    def reply(self, body: dict) -> str | None:
        raise NotImplementedError

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
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

    def log_message(self, *args: object) -> None:
        pass
