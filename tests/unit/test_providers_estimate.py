"""The pre-call estimate never undercounts what the scripted LLM will report for the same request.

Bodies are built with the providers' own message converters; tools are left out here because the
integration tests cover them with the real SDKs.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from aosiq.fake_llm import count_tokens
from kernel_svc.providers import (
    LlmRequest,
    Message,
    ToolCall,
    anthropic_provider,
    estimate_input_tokens,
    ollama_provider,
    openai_provider,
)

_text = st.text(max_size=200)
_name = st.sampled_from(["fs.read_file", "fs.list_dir", "agents.spawn"])
_args = st.dictionaries(st.text(max_size=10), st.one_of(_text, st.integers(), st.booleans()), max_size=4)
_call = st.builds(ToolCall, id=st.text(min_size=1, max_size=30), name=_name, args=_args)
_message = st.one_of(
    st.builds(Message, role=st.just("user"), content=_text),
    st.builds(Message, role=st.just("assistant"), content=_text, tool_calls=st.tuples(_call) | st.just(())),
    st.builds(Message, role=st.just("tool"), content=_text, tool_call_id=st.text(max_size=30), tool_name=_name),
)


@settings(max_examples=200)
@given(system=_text, messages=st.lists(_message, max_size=8).map(tuple), model=st.text(max_size=20))
def test_estimate_covers_the_scripted_count_for_every_backend(system, messages, model):
    request = LlmRequest(model, system, messages, (), max_output_tokens=100)
    estimate = estimate_input_tokens(request)
    bodies = [
        {"model": model, "system": system, "messages": anthropic_provider.to_wire_messages(messages)},
        {"model": model, "messages": openai_provider.to_wire_messages(system, messages)},
        {"model": model, "messages": ollama_provider.to_wire_messages(system, messages)},
    ]
    for body in bodies:
        assert estimate >= count_tokens(body)
