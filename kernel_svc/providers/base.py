"""The provider-neutral shape of an LLM call, which the agent loop codes against.

Each backend module translates these objects to its own wire format and back, so the kernel
never sees an SDK type. Tool names here are our dotted names (`fs.read_file`); the wire
encoding lives in `tool_names.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aos_common.capabilities import LLM_BACKENDS
from aos_common.logs import redact

BACKENDS = LLM_BACKENDS


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    tool_name: str = ""


@dataclass(frozen=True)
class ToolDef:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class LlmRequest:
    model: str
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolDef, ...]
    max_output_tokens: int


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class LlmResponse:
    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage


class Provider(Protocol):
    name: str

    async def complete(self, request: LlmRequest) -> LlmResponse: ...

    async def aclose(self) -> None:
        """Release the provider's HTTP connections."""


# The SDKs refuse to build a client without a key; the scripted LLM ignores it and a
# real endpoint answers 401, which surfaces as a ProviderError naming the status.
PLACEHOLDER_API_KEY = "no-key-configured"


class ProviderError(Exception):
    """A provider call failed: HTTP error, timeout, refused connection or a malformed reply.

    The message is written for operators and never contains the API key.
    """

    @classmethod
    def scrubbed(cls, backend: str, detail: str, api_key: str | None) -> ProviderError:
        # Error bodies from providers and proxies can echo request headers back; drop the
        # key before anything else sees the text, then cut it to a readable length.
        if api_key:
            detail = detail.replace(api_key, "[REDACTED]")
        return cls(f"{backend}: {redact(detail)[:400]}")


def describe_failure(exc: BaseException) -> str:
    """The exception and its direct cause in one line; SDKs wrap the transport error that says
    what actually went wrong ("connection refused") in a vaguer one of their own."""
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is None or str(cause) == str(exc):
        return text
    return f"{text} ({type(cause).__name__}: {cause})"


# Token accounting reserves cost *before* a call, so the estimate must not undercount. A byte-level
# BPE token covers at least one byte, so the UTF-8 size of the text bounds its token count even for
# adversarial tool output (punctuation, CJK, emoji) that defeats a chars-per-token rule of thumb.
# The fixed allowances cover what providers add around the text: role markers, ids, the tool-use
# preamble Anthropic injects when tools are present.
_BASE_OVERHEAD = 64
_TOOLS_PREAMBLE = 512
_PER_MESSAGE = 16
_PER_TOOL_CALL = 16
_PER_TOOL = 16


def estimate_input_tokens(request: LlmRequest) -> int:
    """A conservative upper bound on the input tokens a provider will report for this request."""
    texts: list[str] = [request.model, request.system]
    overhead = _BASE_OVERHEAD + _PER_MESSAGE * len(request.messages)
    for message in request.messages:
        texts += (message.content, message.tool_call_id, message.tool_name)
        overhead += _PER_TOOL_CALL * len(message.tool_calls)
        for call in message.tool_calls:
            texts += (call.id, call.name, json.dumps(call.args))
    if request.tools:
        overhead += _TOOLS_PREAMBLE + _PER_TOOL * len(request.tools)
    for tool in request.tools:
        texts += (tool.name, tool.description, json.dumps(tool.parameters))
    return overhead + sum(len(text.encode()) for text in texts)
