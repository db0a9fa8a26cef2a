"""Anthropic Messages API through the official `anthropic` SDK."""

from __future__ import annotations

from typing import Any

import anthropic

from kernel_svc.providers.base import (
    PLACEHOLDER_API_KEY,
    LlmRequest,
    LlmResponse,
    Message,
    ProviderError,
    ToolCall,
    Usage,
    describe_failure,
)
from kernel_svc.providers.tool_names import decode_tool_name, encode_tool_name


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, *, base_url: str | None, api_key: str | None, timeout_s: float) -> None:
        self._api_key = api_key
        # No SDK retries: each call is one authorized, accounted syscall, and a silent retry
        # would spend tokens the ledger never reserved. Retrying is the kernel's decision.
        self._client = anthropic.AsyncAnthropic(
            base_url=base_url, api_key=api_key or PLACEHOLDER_API_KEY, timeout=timeout_s, max_retries=0
        )

    async def complete(self, request: LlmRequest) -> LlmResponse:
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_output_tokens,
            "messages": to_wire_messages(request.messages),
        }
        if request.system:
            params["system"] = request.system
        if request.tools:
            params["tools"] = [
                {"name": encode_tool_name(t.name), "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        try:
            reply = await self._client.messages.create(**params)
        except anthropic.APIStatusError as exc:
            raise ProviderError.scrubbed(self.name, f"HTTP {exc.status_code}: {exc.message}", self._api_key) from None
        except anthropic.AnthropicError as exc:
            raise ProviderError.scrubbed(self.name, describe_failure(exc), self._api_key) from None
        try:
            return self._from_wire(reply)
        except (AttributeError, TypeError, ValueError) as exc:
            # The SDK parses leniently, so a reply missing required fields surfaces only here.
            raise ProviderError(f"{self.name}: malformed reply ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        await self._client.close()

    def _from_wire(self, reply: Any) -> LlmResponse:
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in reply.content or ():
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                if not isinstance(block.input, dict):
                    raise ProviderError(f"{self.name}: tool_use input is not a JSON object")
                calls.append(ToolCall(id=block.id, name=decode_tool_name(block.name), args=block.input))
        usage = reply.usage
        if usage is None:
            raise ProviderError(f"{self.name}: reply carries no usage")
        # Cache reads and writes are billed input too.
        input_tokens = (
            usage.input_tokens
            + (getattr(usage, "cache_creation_input_tokens", None) or 0)
            + (getattr(usage, "cache_read_input_tokens", None) or 0)
        )
        return LlmResponse(
            text="".join(texts),
            tool_calls=tuple(calls),
            usage=Usage(input_tokens=input_tokens, output_tokens=usage.output_tokens),
        )


def to_wire_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Our conversation as Anthropic turns.

    Tool results travel as `tool_result` blocks inside a user turn; consecutive user-side turns
    (several tool results, then perhaps a kernel nudge) are merged into one, as the API expects
    turns to alternate.
    """
    turns: list[dict[str, Any]] = []
    for message in messages:
        role, blocks = _blocks(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(message: Message) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "tool":
        return "user", [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": encode_tool_name(call.name), "input": call.args})
    return message.role, blocks
