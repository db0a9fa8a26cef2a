"""The neutral provider interface: factory, token estimate, error scrubbing, wire conversions."""

import pytest

from kernel_svc.providers import (
    LlmRequest,
    Message,
    ProviderError,
    ToolCall,
    ToolDef,
    anthropic_provider,
    estimate_input_tokens,
    make_provider,
    ollama_provider,
    openai_provider,
)

READ = ToolDef("fs.read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})
CONVERSATION = (
    Message(role="user", content="task"),
    Message(
        role="assistant",
        content="Let me look.",
        tool_calls=(ToolCall("c1", "fs.read_file", {"path": "a"}), ToolCall("c2", "fs.list_dir", {})),
    ),
    Message(role="tool", content="A", tool_call_id="c1", tool_name="fs.read_file"),
    Message(role="tool", content="[a]", tool_call_id="c2", tool_name="fs.list_dir"),
    Message(role="user", content="Cite your evidence."),
)


def request(messages=CONVERSATION, tools=(READ,)) -> LlmRequest:
    return LlmRequest(model="m", system="sys", messages=messages, tools=tools, max_output_tokens=256)


@pytest.mark.parametrize("backend", ["anthropic", "openai", "ollama"])
async def test_make_provider_builds_each_backend(backend):
    provider = make_provider(backend, base_url="http://127.0.0.1:9", api_key=None)
    assert provider.name == backend
    await provider.aclose()


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown LLM backend 'gemini'"):
        make_provider("gemini", base_url=None, api_key=None)


def test_estimate_bounds_the_utf8_size_of_adversarial_text():
    # One token per byte is the worst a byte-level tokenizer can do; the estimate must cover it.
    hostile = "\u4e2d\U0001f600!" * 500
    req = request(messages=(Message(role="tool", content=hostile, tool_call_id="c", tool_name="x"),))
    assert estimate_input_tokens(req) >= len(hostile.encode())


def test_estimate_grows_with_every_part_of_the_request():
    base = estimate_input_tokens(request(messages=(), tools=()))
    assert estimate_input_tokens(request(messages=CONVERSATION[:1], tools=())) > base
    assert estimate_input_tokens(request(messages=(), tools=(READ,))) > base
    longer = ToolDef(READ.name, READ.description * 10, READ.parameters)
    assert estimate_input_tokens(request(tools=(longer,))) > estimate_input_tokens(request())


def test_scrubbed_error_drops_the_key_and_key_shaped_text():
    error = ProviderError.scrubbed("openai", "401: bad key my-secret-key, also sk-abcdefghijkl", "my-secret-key")
    assert "my-secret-key" not in str(error)
    assert "sk-abcdefghijkl" not in str(error)
    assert str(error).startswith("openai: 401")


def test_anthropic_wire_merges_tool_results_and_following_user_text():
    turns = anthropic_provider.to_wire_messages(CONVERSATION)
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"][1] == {
        "type": "tool_use",
        "id": "c1",
        "name": "fs__read_file",
        "input": {"path": "a"},
    }
    assert [block["type"] for block in turns[2]["content"]] == ["tool_result", "tool_result", "text"]
    assert turns[2]["content"][1] == {"type": "tool_result", "tool_use_id": "c2", "content": "[a]"}


def test_openai_wire_uses_tool_role_and_json_arguments():
    wire = openai_provider.to_wire_messages("sys", CONVERSATION)
    assert [m["role"] for m in wire] == ["system", "user", "assistant", "tool", "tool", "user"]
    assert wire[2]["tool_calls"][0] == {
        "id": "c1",
        "type": "function",
        "function": {"name": "fs__read_file", "arguments": '{"path": "a"}'},
    }
    assert wire[3] == {"role": "tool", "tool_call_id": "c1", "content": "A"}


def test_ollama_wire_names_tool_results_and_passes_object_arguments():
    wire = ollama_provider.to_wire_messages("", CONVERSATION)
    assert [m["role"] for m in wire] == ["user", "assistant", "tool", "tool", "user"]
    assert wire[1]["tool_calls"][0] == {"function": {"name": "fs__read_file", "arguments": {"path": "a"}}}
    assert wire[2] == {"role": "tool", "content": "A", "tool_name": "fs__read_file"}


def test_ungrantable_tool_names_never_reach_the_wire():
    bad = (Message(role="assistant", tool_calls=(ToolCall("c", "fs__x", {}),)),)
    with pytest.raises(ValueError, match="tool name"):
        openai_provider.to_wire_messages("", bad)
