"""OpenAI Chat Completions (function calling) through the official `openai` SDK."""

from __future__ import annotations

import json
from typing import Any

import openai

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
from kernel_svc.providers.tool_names import decode_tool_name, encode_tool_name, function_tools


class OpenAIProvider:
    name = "openai"

    def __init__(self, *, base_url: str | None, api_key: str | None, timeout_s: float) -> None:
        self._api_key = api_key
        # No SDK retries: each call is one authorized, accounted syscall, and a silent retry
        # would spend tokens the ledger never reserved. Retrying is the kernel's decision.
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or PLACEHOLDER_API_KEY, timeout=timeout_s, max_retries=0
        )

    async def complete(self, request: LlmRequest) -> LlmResponse:
        params: dict[str, Any] = {
            "model": request.model,
            "max_completion_tokens": request.max_output_tokens,
            "messages": to_wire_messages(request.system, request.messages),
        }
        if request.tools:
            params["tools"] = function_tools(request.tools)
        try:
            reply = await self._client.chat.completions.create(**params)
        except openai.APIStatusError as exc:
            raise ProviderError.scrubbed(self.name, f"HTTP {exc.status_code}: {exc.message}", self._api_key) from None
        except openai.OpenAIError as exc:
            raise ProviderError.scrubbed(self.name, describe_failure(exc), self._api_key) from None
        try:
            return self._from_wire(reply)
        except (AttributeError, TypeError, ValueError) as exc:
            # The SDK parses leniently, so a reply missing required fields surfaces only here.
            raise ProviderError(f"{self.name}: malformed reply ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        await self._client.close()

    def _from_wire(self, reply: Any) -> LlmResponse:
        if not reply.choices:
            raise ProviderError(f"{self.name}: reply has no choices")
        message = reply.choices[0].message
        calls = tuple(self._tool_call(call) for call in message.tool_calls or ())
        if reply.usage is None:
            raise ProviderError(f"{self.name}: reply carries no usage")
        return LlmResponse(
            text=message.content or "",
            tool_calls=calls,
            usage=Usage(input_tokens=reply.usage.prompt_tokens, output_tokens=reply.usage.completion_tokens),
        )

    def _tool_call(self, call: Any) -> ToolCall:
        try:
            args = json.loads(call.function.arguments or "{}")
        except json.JSONDecodeError:
            raise ProviderError(f"{self.name}: tool call arguments are not valid JSON") from None
        if not isinstance(args, dict):
            raise ProviderError(f"{self.name}: tool call arguments are not a JSON object")
        return ToolCall(id=call.id, name=decode_tool_name(call.function.name), args=args)


def to_wire_messages(system: str, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Our conversation as Chat Completions messages (system prompt first, tool results as role "tool")."""
    wire: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if message.role == "tool":
            wire.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content})
        elif message.role == "assistant" and message.tool_calls:
            wire.append(
                {
                    "role": "assistant",
                    "content": message.content or None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": encode_tool_name(call.name),
                                "arguments": json.dumps(call.args),
                            },
                        }
                        for call in message.tool_calls
                    ],
                }
            )
        else:
            wire.append({"role": message.role, "content": message.content})
    return wire
