"""`festina doctor`: each part the configuration asks for, checked for real; the slow
path's server reached and its model named (a stand-in server: a remote LLM cannot run
here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

from evals.stand_in_llm import ChatCompletionHandler
from gate.registry import DEFAULT_MODEL_DIR, read_manifest
from tests.helpers import festina


class Ready(ChatCompletionHandler):
    served = "qwen2.5:7b"

    def reply(self, body: dict) -> str:
        return "ready"

    def do_GET(self) -> None:
        data = json.dumps({"data": [{"id": self.served}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def chat_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _configure(home, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def test_a_fresh_install_runs_the_shipped_gate(tmp_path):
    done = festina("doctor", home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("ok") and "the bundled demo stream" in line for line in lines)
    shipped = read_manifest(DEFAULT_MODEL_DIR).version
    assert any(
        line.startswith("ok") and f"{shipped} (shipped with festina)" in line for line in lines
    )


def test_the_cue_gate_is_a_warning(tmp_path):
    _configure(tmp_path, '[gate]\nmodel = "cues"\n')
    done = festina("doctor", home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(
        line.startswith("warn") and "festina gate train" in line
        for line in done.stdout.splitlines()
    )


def test_the_slow_path_s_server_answers_and_its_model_is_named(tmp_path):
    with chat_server() as url:
        _configure(
            tmp_path,
            f'[slow_path]\nbackend = "openai"\nurl = "{url}"\nmodel = "qwen2.5:7b"\n',
        )
        done = festina("doctor", home=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{url} answers as qwen2.5:7b: 'ready'" in done.stdout
        _configure(
            tmp_path,
            f'[slow_path]\nbackend = "openai"\nurl = "{url}"\nmodel = "llama3"\n',
        )
        wrong = festina("doctor", home=tmp_path)
    assert wrong.returncode == 1
    assert "serves qwen2.5:7b, not llama3" in wrong.stdout


def test_what_is_missing_fails_with_what_to_do(tmp_path):
    _configure(
        tmp_path,
        '[daemon]\nsource = ["jsonl:/nowhere/trace.jsonl", "calendar:/nowhere/cal.ics"]\n'
        '[slow_path]\nbackend = "openai"\nurl = "http://127.0.0.1:9/v1"\nmodel = "m"\n',
    )
    done = festina("doctor", home=tmp_path)
    assert done.returncode == 1
    out = done.stdout
    assert "fail  source jsonl:/nowhere/trace.jsonl" in out and "no such file" in out
    assert "warn  source calendar:/nowhere/cal.ics" in out and "is not there (yet)" in out
    assert "does not answer chat completions" in out
