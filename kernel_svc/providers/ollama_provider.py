"""Ollama's native chat API (`POST /api/chat`, non-streaming) over httpx."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kernel_svc.providers.base import (
    LlmRequest,
    LlmResponse,
    Message,
    ProviderError,
    ToolCall,
    Usage,
    describe_failure,
    estimate_input_tokens,
)
from kernel_svc.providers.tool_names import decode_tool_name, encode_tool_name, function_tools

DEFAULT_BASE_URL = "http://127.0.0.1:11434"


class OllamaProvider:
    name = "ollama"

    def __init__(self, *, base_url: str | None, api_key: str | None, timeout_s: float) -> None:
        self._api_key = api_key
        # A local Ollama needs no key; one behind an authenticating proxy takes it as a bearer token.
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=base_url or DEFAULT_BASE_URL, headers=headers, timeout=timeout_s)

    async def complete(self, request: LlmRequest) -> LlmResponse:
        body: dict[str, Any] = {
            "model": request.model,
            "stream": False,
            "messages": to_wire_messages(request.system, request.messages),
            "options": {"num_predict": request.max_output_tokens},
        }
        if request.tools:
            body["tools"] = function_tools(request.tools)
        try:
            response = await self._client.post("/api/chat", json=body)
        except httpx.HTTPError as exc:
            raise ProviderError.scrubbed(self.name, describe_failure(exc), self._api_key) from None
        if response.status_code >= 400:
            raise ProviderError.scrubbed(self.name, f"HTTP {response.status_code}: {response.text}", self._api_key)
        try:
            reply = response.json()
        except ValueError:
            raise ProviderError(f"{self.name}: reply is not JSON") from None
        return self._from_wire(reply, request)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _from_wire(self, reply: Any, request: LlmRequest) -> LlmResponse:
        message = reply.get("message") if isinstance(reply, dict) else None
        if not isinstance(message, dict):
            raise ProviderError(f"{self.name}: reply has no message")
        calls = tuple(self._tool_call(call) for call in message.get("tool_calls") or ())
        # Ollama leaves the counts out when it served the prompt from its cache; fall back to the
        # bounds the call was priced with rather than report a free call.
        input_tokens = reply.get("prompt_eval_count")
        output_tokens = reply.get("eval_count")
        return LlmResponse(
            text=message.get("content") or "",
            tool_calls=calls,
            usage=Usage(
                input_tokens=input_tokens if isinstance(input_tokens, int) else estimate_input_tokens(request),
                output_tokens=output_tokens if isinstance(output_tokens, int) else request.max_output_tokens,
            ),
        )

    def _tool_call(self, call: Any) -> ToolCall:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ProviderError(f"{self.name}: malformed tool call in reply")
        args = function.get("arguments") or {}
        if not isinstance(args, dict):
            raise ProviderError(f"{self.name}: tool call arguments are not a JSON object")
        # Ollama's native API does not always name its tool calls; the kernel needs an id to pair
        # each result with its call.
        call_id = call.get("id") or f"call_{uuid.uuid4().hex[:24]}"
        return ToolCall(id=call_id, name=decode_tool_name(function["name"]), args=args)


def to_wire_messages(system: str, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Our conversation as Ollama chat messages; tool results carry the tool's wire name."""
    wire: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        entry: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.role == "tool" and message.tool_name:
            entry["tool_name"] = encode_tool_name(message.tool_name)
        if message.tool_calls:
            entry["tool_calls"] = [
                {"function": {"name": encode_tool_name(call.name), "arguments": call.args}}
                for call in message.tool_calls
            ]
        wire.append(entry)
    return wire
