"""'Explain this error' with a language model configured: the explanation streams from an
OpenAI-compatible server (a real local one, standing in for Ollama or vLLM), grows in
memory and on the dashboard while it streams, and falls back to the offline explanation,
with a note, when the server fails."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from click.testing import CliRunner

from agent.api import ApiServer, build_app
from agent.config import ApiSettings, EtiquetteSettings, SlowPathSettings
from agent.paths import FestinaPaths
from agent.slowpath.explain import ErrorExplainer, explanation_prompt
from agent.slowpath.factory import build_slow_path
from agent.slowpath.graph import ReasoningSlowPath, checkpoint_saver
from agent.slowpath.llm import ChatError, OpenAICompatibleChat, sse_piece
from agent.sources.http import HttpIngestSource
from core.outcome import StepStatus, outcomes_of
from festina_cli import cli
from gate.cues import CueGate
from gate.policy import GatePolicy
from memory.feedback import Outcome
from memory.store import Store
from tests.helpers import RecordingSurface, event_at, eventually, free_port, make_pipeline
from tests.test_slowpath import ScriptedChat, proposal, stored_event
from tools.base import ToolResult
from tui.app import FestinaApp

SOURCE = """\
TAX = 0.2
password = "hunter2hunter2"
def total(items):
    return sum(item["price"] * item["qty"] for item in items)
"""
TRACEBACK = """\
Traceback (most recent call last):
  File "{path}", line 4, in total
    return sum(item["price"] * item["qty"] for item in items)
KeyError: 'price'
"""
FIRST = ["The items passed to total() ", "lack a 'price' key. "]
REST = ["Check where the items are built, ", "or use item.get('price', 0)."]
WAIT_S = 20.0  # the longest a condition is waited for (the tests' own timeout is longer)


class StreamingServer(BaseHTTPRequestHandler):
    """A chat server that streams FIRST, waits for `release`, then streams REST."""

    requests: ClassVar[list[dict]] = []
    release: ClassVar[threading.Event] = threading.Event()
    pieces: ClassVar[tuple[list[str], list[str]]] = (FIRST, REST)

    def do_POST(self) -> None:
        StreamingServer.requests.append(
            json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self._send({"choices": [{"delta": {"role": "assistant"}}]})
        first, rest = self.pieces
        for piece in first:
            self._send({"choices": [{"delta": {"content": piece}}]})
            import time

            time.sleep(1.5)
        StreamingServer.release.wait(WAIT_S)
        for piece in rest:
            self._send({"choices": [{"delta": {"content": piece}}]})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _send(self, chunk: dict) -> None:
        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    with streaming_server() as url:
        yield url


@contextmanager
def streaming_server() -> Iterator[str]:
    """A `StreamingServer` on a free port, its script and requests reset; its URL."""
    StreamingServer.requests = []
    StreamingServer.release = threading.Event()
    StreamingServer.pieces = (FIRST, REST)
    server = ThreadingHTTPServer(("127.0.0.1", 0), StreamingServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        StreamingServer.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def unreachable_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there once it is free


@pytest.fixture
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path / 'festina.db'}")


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path)


def write_project(tmp_path: Path) -> Path:
    """A project whose invoice.py fails with the KeyError of TRACEBACK."""
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "invoice.py").write_text(SOURCE)
    return folder


def explaining_path(
    tmp_path, store, project, url: str, read_timeout_s: float = WAIT_S
) -> ReasoningSlowPath:
    """`read_timeout_s`: how long the model's server may pause mid-answer."""
    from tools import default_pool

    return ReasoningSlowPath(
        chat=ScriptedChat(proposal()),  # drafts; the explanation comes from `url`
        pool=default_pool(tmp_path / "ws", read_paths=[project]),
        store=store,
        gate=CueGate(),
        saver=checkpoint_saver(store.url, tmp_path / "checkpoints.sqlite"),
        # Every piece is kept as it comes, so the test need not wait out an interval.
        explainer=ErrorExplainer(
            OpenAICompatibleChat(url, "stand-in", timeout_s=read_timeout_s),
            timeout_s=WAIT_S,
            publish_every_s=0.0,
        ),
    )


async def accepted_explanation(tmp_path, store, project, url: str):
    """An accepted offer to explain the KeyError in `project`, its plan not yet run."""
    event, decision = stored_event(store, 1, text="KeyError: 'price' in pytest")
    path = explaining_path(tmp_path, store, project, url)
    args = {
        "error": "KeyError: 'price'",
        "context": TRACEBACK.format(path=project / "invoice.py"),
    }
    path.drafter.chat.answers = [  # type: ignore[attr-defined]
        proposal(
            task="Explain the KeyError in invoice.py",
            speak="Shall I explain that KeyError?",
            plan=[{"tool": "explain_error", "args": args}],
        )
    ]
    verdict = await path.deliberate([event], decision)
    assert verdict.offer is not None, verdict.reason
    store.resolve(event.id, verdict.action, verdict.decided_by, verdict.reason)
    store.record_feedback(event.id, Outcome.ACCEPTED)
    return event, path


def partial_text(store: Store, event_id: str) -> str:
    run = store.deliberation(event_id)
    return run.partial["text"] if run is not None and run.partial else ""


async def test_the_explanation_streams_into_memory_and_becomes_the_result(
    tmp_path, store, project, server_url
):
    event, path = await accepted_explanation(tmp_path, store, project, server_url)
    running = asyncio.ensure_future(asyncio.to_thread(path.poll_once))
    # Before the stream ends, a reader of memory sees what has arrived.
    await eventually(lambda: partial_text(store, event.id) == "".join(FIRST), WAIT_S)
    assert store.deliberation(event.id).executions is None
    StreamingServer.release.set()
    assert await asyncio.wait_for(running, WAIT_S) == 1
    run = store.deliberation(event.id)
    [outcome] = outcomes_of(run.executions)
    assert (outcome.tool, outcome.status) == ("explain_error", StepStatus.DONE)
    assert outcome.text == "".join(FIRST + REST).strip()
    assert run.partial is None  # the finished result replaces what was shown of it


async def test_the_prompt_holds_the_failing_lines_and_no_secret(
    tmp_path, store, project, server_url
):
    _, path = await accepted_explanation(tmp_path, store, project, server_url)
    StreamingServer.release.set()
    await asyncio.to_thread(path.poll_once)
    [body] = StreamingServer.requests
    assert body["stream"] is True and body["model"] == "stand-in"
    asked = body["messages"][-1]["content"]
    assert f"at {project / 'invoice.py'}, line 4, in total:" in asked
    assert '>    4 |     return sum(item["price"] * item["qty"] for item in items)' in asked
    assert "KeyError (a Python built-in exception)" in asked
    # Line 2 was read from disk, never redacted as an event: it is before it leaves.
    assert "hunter2" not in json.dumps(body)
    assert "[REDACTED:secret]" in asked


async def test_an_unreachable_server_leaves_the_offline_explanation_with_a_note(
    tmp_path, store, project, unreachable_url
):
    event, path = await accepted_explanation(tmp_path, store, project, unreachable_url)
    assert await asyncio.to_thread(path.poll_once) == 1
    [outcome] = outcomes_of(store.deliberation(event.id).executions)
    assert outcome.status is StepStatus.DONE
    assert outcome.text.startswith("The language model could not be reached (openai:stand-in")
    assert "this is the explanation festina gives without one" in outcome.text
    assert '>    4 |     return sum(item["price"]' in outcome.text
    assert "KeyError (a Python built-in exception)" in outcome.text


async def test_an_empty_answer_leaves_the_offline_explanation_with_a_note(
    tmp_path, store, project, server_url
):
    StreamingServer.pieces = ([], [])
    StreamingServer.release.set()
    event, path = await accepted_explanation(tmp_path, store, project, server_url)
    await asyncio.to_thread(path.poll_once)
    [outcome] = outcomes_of(store.deliberation(event.id).executions)
    assert outcome.text.startswith("The language model answered nothing: ")
    assert "The key 'price' is missing" in outcome.text


class Trickle:
    """A model that never stops writing, on a clock that moves one second a piece."""

    name = "trickle"

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def stream(self, messages):
        while True:
            self.now += 1.0
            yield "more "


def test_an_answer_that_outlasts_the_timeout_gives_the_offline_explanation():
    model = Trickle()
    shown: list[str] = []
    explainer = ErrorExplainer(model, timeout_s=5.0, publish_every_s=2.0, clock=model.clock)
    offline = ToolResult(output="KeyError: 'price'\nat a.py, line 4")
    result = explainer.explain(offline, shown.append)
    assert result.output == offline.output
    assert result.message.startswith("The language model could not be reached (no complete")
    assert shown == ["more more ", "more more more more "]  # every 2 s of the clock


def test_a_failed_or_empty_tool_result_is_not_sent_to_the_model():
    class Never:
        name = "never"

        def stream(self, messages):
            raise AssertionError("the model was asked")

    explainer = ErrorExplainer(Never(), timeout_s=5.0)
    failed = ToolResult(ok=False, message="invalid arguments")
    assert explainer.explain(failed, print) is failed
    assert explainer.explain(ToolResult(output=""), print).output == ""


def test_server_sent_event_lines_are_read_as_pieces():
    assert sse_piece('data: {"choices": [{"delta": {"content": "Hi"}}]}') == "Hi"
    assert sse_piece('data: {"choices": [{"delta": {"role": "assistant"}}]}') is None
    assert sse_piece(": keep-alive") is None and sse_piece("") is None
    assert sse_piece("data: [DONE]") is not None and not isinstance(sse_piece("data: [DONE]"), str)
    with pytest.raises(ValueError):
        sse_piece("data: {not json")


def test_a_server_error_status_is_a_chat_error(unreachable_url):
    chat = OpenAICompatibleChat(unreachable_url, "m", timeout_s=2.0)
    with pytest.raises(ChatError, match="openai:m"):
        list(chat.stream(explanation_prompt("KeyError: 'x'")))


def test_only_a_configured_server_explains(tmp_path):
    paths = FestinaPaths(tmp_path / "festina.toml", tmp_path / "data", tmp_path / "logs")
    store = Store(f"sqlite:///{tmp_path / 'festina.db'}")
    openai = build_slow_path(
        SlowPathSettings(backend="openai", model="llama3.2"), paths=paths, store=store,
        gate=CueGate(),
    )  # fmt: skip
    assert isinstance(openai.explainer.chat, OpenAICompatibleChat)
    templates = build_slow_path(SlowPathSettings(), paths=paths, store=store, gate=CueGate())
    assert templates.explainer is None


async def test_the_dashboard_shows_the_explanation_growing_while_it_streams(
    tmp_path, store, project, server_url
):
    _, path = await accepted_explanation(tmp_path, store, project, server_url)
    running = asyncio.ensure_future(asyncio.to_thread(path.poll_once))
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=(140, 40)) as pilot:

        def detail() -> str:
            return str(app.query_one("#detail").render())

        # Each piece is stored as it comes and the dashboard reads memory every second:
        # a reading may fall between the first two pieces, so wait for both.
        await eventually(
            lambda: (
                "explain_error: writing…\n  The items passed to total() lack a 'price' key."
                in detail()
            ),
            WAIT_S,
            unless=running,
        )
        assert "Check where the items are built" not in detail()
        StreamingServer.release.set()
        await eventually(lambda: "explain_error: done" in detail(), WAIT_S)
        assert "or use item.get('price', 0)." in detail()
        assert "writing…" not in detail()
        await pilot.pause()
    assert await asyncio.wait_for(running, WAIT_S) == 1


async def _plan_listed(client: httpx.AsyncClient, event_id: str) -> dict | None:
    """The plan of the offer on `event_id`, as GET /v1/decisions lists it."""
    response = await client.get("/v1/decisions")
    assert response.status_code == 200, response.text
    [offer] = [d for d in response.json() if d["event"]["id"] == event_id]
    return offer["plan"]


async def _until(check, timeout: float, running: asyncio.Future) -> None:
    """Await `check()` until it is true; fail after `timeout` s or if `running` ends."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert not running.done(), running
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_the_api_and_the_command_line_show_the_explanation_while_learning_goes_on(
    tmp_path, project, server_url
):
    """The daemon's pipeline with its API: an accepted explanation streams; GET
    /v1/decisions and `festina decisions --offers` show its text so far, and another offer
    turned down meanwhile is learnt from before the explanation has finished."""
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    surface = RecordingSurface()
    ingest = HttpIngestSource(16)
    pipeline, store = make_pipeline(
        f"sqlite:///{home / 'data' / 'festina.db'}",
        ingest,
        surface=surface,
        draft_offers=True,
        etiquette=EtiquetteSettings(cooldown_s=0),
    )
    # The stream pauses while the test checks what is shown and answers another offer,
    # which may take longer than the other tests' few seconds on a busy machine.
    path = explaining_path(tmp_path, store, project, server_url, read_timeout_s=WAIT_S)
    args = {"error": "KeyError: 'price'", "context": TRACEBACK.format(path=project / "invoice.py")}
    path.drafter.chat.answers = [  # type: ignore[attr-defined]
        proposal(
            task="Explain the KeyError in invoice.py",
            speak="Shall I explain that KeyError?",
            plan=[{"tool": "explain_error", "args": args}],
        )
    ]
    pipeline.slow_path = path
    settings = ApiSettings(port=0, token="test-token-0123456789")
    server = ApiServer(build_app(settings, ingest, store, lambda: {}), settings)
    running = asyncio.ensure_future(pipeline.run())
    await server.start()
    auth = {"Authorization": f"Bearer {settings.token}"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}", headers=auth, timeout=WAIT_S
        ) as client:
            first = event_at(0, "I need help: KeyError: 'price' in pytest")
            await asyncio.gather(*await ingest.submit([first], 5))
            await eventually(lambda: len(surface.offers) == 1, WAIT_S, unless=running)
            store.record_feedback(first.id, Outcome.ACCEPTED)

            async def writing() -> bool:
                # Each piece is stored as it comes: wait for both before the pause.
                plan = await _plan_listed(client, first.id)
                return bool(plan and plan["writing"] and plan["writing"]["text"] == "".join(FIRST))

            await _until(writing, WAIT_S, running)
            plan = await _plan_listed(client, first.id)
            assert plan == {
                "done": [],
                "writing": {"step": 0, "tool": "explain_error", "text": "".join(FIRST)},
                "waiting_for": [],
                "finished": False,
            }
            shown = CliRunner().invoke(
                cli, ["decisions", "--offers"], env={"FESTINA_HOME": str(home)}
            )
            assert shown.exit_code == 0, shown.output
            assert "explain_error: writing…\n" in shown.output
            assert "The items passed to total() lack a 'price' key." in shown.output

            # An offer turned down while the explanation streams is learnt from meanwhile.
            second = event_at(1, "I need help with the invoice totals")
            await asyncio.gather(*await ingest.submit([second], 5))
            await eventually(lambda: len(surface.offers) == 2, WAIT_S, unless=running)
            learnt = pipeline.chain.personal.answers
            store.record_feedback(second.id, Outcome.REJECTED)
            await eventually(
                lambda: pipeline.chain.personal.answers == learnt + 1, WAIT_S, unless=running
            )
            assert partial_text(store, first.id) == "".join(FIRST)  # still streaming

            StreamingServer.release.set()

            async def finished() -> bool:
                plan = await _plan_listed(client, first.id)
                return bool(plan and plan["finished"])

            await _until(finished, WAIT_S, running)
            plan = await _plan_listed(client, first.id)
            [step] = plan["done"]
            assert step["text"] == "".join(FIRST + REST).strip()
            assert plan["writing"] is None
    finally:
        StreamingServer.release.set()
        await server.stop()
        pipeline.request_stop()
        await running
        store.close()
