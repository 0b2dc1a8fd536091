"""`festina doctor`: each part the configuration asks for, checked for real; the slow
path's server reached and its model named (a stand-in server: a remote LLM cannot run
here)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.config import Settings
from agent.doctor import Finding, Level, diagnose
from agent.paths import FestinaPaths
from agent.sources.backend import BackendUnavailable
from agent.sources.power import read_battery
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


# Each source, gate and surface check, in process, with the environment set per case.


class Answers(BaseHTTPRequestHandler):
    """A server that answers every GET with the status in its path ("/500/..." -> 500)."""

    def do_GET(self) -> None:
        self.send_response(int(self.path.split("/")[1]))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def status_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _findings(tmp_path, **sections) -> dict[str, list[Finding]]:
    settings = Settings.model_validate(sections)
    paths = FestinaPaths(tmp_path / "config.toml", tmp_path / "data", tmp_path / "logs")
    found: dict[str, list[Finding]] = {}
    for finding in diagnose(settings, paths):
        found.setdefault(finding.part, []).append(finding)
    return found


def _only_path(monkeypatch, tmp_path, *programs: str) -> None:
    """PATH holding only these programs (links to the real ones)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for program in programs:
        if real := shutil.which(program):
            (folder / program).symlink_to(real)
    monkeypatch.setenv("PATH", str(folder))


def test_live_sources_without_what_they_read_fail_or_warn(monkeypatch, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    _only_path(monkeypatch, tmp_path)
    with status_server() as url:
        sources = ["http", f"activitywatch:{url}/500", "notifications", "screen"]
        found = _findings(tmp_path, daemon={"source": sources}, api={"token": "t" * 16})
    [http] = found["source http"]
    assert (http.level, http.says) == (
        Level.WARN,
        "API on 127.0.0.1:8765; the shell hook needs curl, not installed",
    )
    [watcher] = found[f"source activitywatch:{url}/500"]
    assert watcher.level is Level.FAIL and watcher.says.endswith("answered 500")
    [bus] = found["source notifications"]
    assert bus.level is Level.WARN and "no session bus" in bus.says
    assert [(f.level, f.says.split(" (")[0]) for f in found["source screen"]] == [
        (Level.FAIL, "no X server"),
        (Level.FAIL, "tesseract is not installed"),
    ]
    [notifications] = found["desktop notifications"]
    assert notifications.level is Level.WARN
    assert notifications.says.endswith("offers show in the log and dashboard only")
    [opener] = found["opening results"]
    assert (opener.level, opener.says) == (Level.WARN, "no xdg-open: results have no Open button")


def test_live_sources_with_what_they_read_are_ok(monkeypatch, tmp_path):
    monkeypatch.setenv("DISPLAY", ":42")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/bus")
    _only_path(monkeypatch, tmp_path, "curl", "tesseract", "xdg-open")
    with status_server() as url:
        sources = ["http", f"activitywatch:{url}/200", "notifications", "screen"]
        found = _findings(tmp_path, daemon={"source": sources}, api={"token": "t" * 16})
    assert found["source http"][0].level is (Level.OK if shutil.which("curl") else Level.WARN)
    assert found[f"source activitywatch:{url}/200"][0].level is Level.OK
    assert found["source notifications"][0].level is Level.OK
    [screen] = found["source screen"]
    if shutil.which("tesseract"):
        assert (screen.level, screen.says) == (Level.OK, "X display :42, tesseract installed")
    assert found["desktop notifications"][0].level is Level.OK


@pytest.mark.parametrize(
    ("sources", "opt_in", "level", "says"),
    [
        (["screen"], False, Level.FAIL, "no X server (DISPLAY unset); on Wayland XWayland, or"),
        (["screen"], True, Level.FAIL, "on Wayland festina captures only while window events"),
        (["screen", "http"], True, Level.WARN, "Wayland, through the desktop portal: the whole"),
    ],
)
def test_the_screen_on_wayland_needs_the_opt_in_and_window_events(
    monkeypatch, tmp_path, sources, opt_in, level, says
):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/bus")
    found = _findings(
        tmp_path,
        daemon={"source": sources},
        api={"token": "t" * 16},
        screen={"wayland_portal": opt_in},
    )
    first = found["source screen"][0]
    assert first.level is level and first.says.startswith(says)


def test_a_watcher_server_that_is_not_there_fails(tmp_path):
    found = _findings(tmp_path, daemon={"source": ["activitywatch:http://127.0.0.1:9"]})
    [watcher] = found["source activitywatch:http://127.0.0.1:9"]
    assert watcher.level is Level.FAIL and "does not answer" in watcher.says


def test_the_battery_is_described_as_read_or_its_absence_said(tmp_path):
    [battery] = _findings(tmp_path, daemon={"source": ["power"]})["source power"]
    try:
        reading = read_battery()
    except BackendUnavailable as error:
        assert (battery.level, battery.says) == (Level.WARN, str(error))
    else:
        expected = (
            (Level.WARN, "this machine reports no battery")
            if reading is None
            else (Level.OK, reading.describe())
        )
        assert (battery.level, battery.says) == expected


def test_a_gate_that_cannot_load_and_a_missing_api_key_fail(monkeypatch, tmp_path):
    monkeypatch.delenv("FESTINA_TEST_KEY", raising=False)
    found = _findings(
        tmp_path,
        gate={"model": str(tmp_path / "no-model-here")},
        slow_path={"backend": "openai", "model": "m", "api_key_env": "FESTINA_TEST_KEY"},
    )
    [gate] = found["gate"]
    assert gate.level is Level.FAIL and gate.says.startswith("cannot load: ")
    [slow] = found["slow path (openai)"]
    assert (slow.level, slow.says) == (Level.FAIL, "$FESTINA_TEST_KEY is not set")
