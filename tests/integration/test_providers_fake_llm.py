"""Each provider, through its real client (anthropic SDK, openai SDK, httpx for Ollama), against the
scripted LLM over loopback HTTP."""

import asyncio
import socket
import time

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from aosiq.fake_llm import start_in_background
from kernel_svc.providers import (
    LlmRequest,
    Message,
    ProviderError,
    ToolDef,
    estimate_input_tokens,
    make_provider,
)

BACKENDS = ["anthropic", "openai", "ollama"]
# Not shaped like a known key format, so only the provider's own scrubbing can hide it.
API_KEY = "k3y-0123456789abcdef-do-not-leak"
TOOLS = (
    ToolDef("fs.read_file", "Read a file.", {"type": "object", "properties": {"path": {"type": "string"}}}),
    ToolDef("fs.list_dir", "List a directory.", {"type": "object", "properties": {"path": {"type": "string"}}}),
)
TASK = """Summarise the notes.
plan:
1. call fs.list_dir {"path": "notes"}
2. call fs.read_file {"path": "notes/q3.txt"}
3. answer Q3 went well. [evidence: 2]
"""


def base_url(url: str, backend: str) -> str:
    # The OpenAI SDK appends /chat/completions to its base URL, the others their full paths.
    return f"{url}/v1" if backend == "openai" else url


@pytest.fixture(scope="module")
async def fake_llm():
    server = await start_in_background("127.0.0.1", 0)
    yield server.url
    await server.stop()


async def fake_requests(url: str) -> list[dict]:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/_fake/requests")).json()["requests"]


async def clear_requests(url: str) -> None:
    async with httpx.AsyncClient() as client:
        (await client.delete(f"{url}/_fake/requests")).raise_for_status()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_three_step_plan(fake_llm, backend):
    await clear_requests(fake_llm)
    provider = make_provider(backend, base_url=base_url(fake_llm, backend), api_key=API_KEY, timeout_s=10)
    messages: tuple[Message, ...] = (Message(role="user", content=TASK),)
    expected_calls = [("fs.list_dir", {"path": "notes"}), ("fs.read_file", {"path": "notes/q3.txt"})]
    try:
        for name, args in expected_calls:
            request = LlmRequest("aos-scripted", "You are careful.", messages, TOOLS, max_output_tokens=512)
            response = await provider.complete(request)
            (call,) = response.tool_calls
            assert (call.name, call.args) == (name, args)
            assert call.id
            assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
            assert estimate_input_tokens(request) >= response.usage.input_tokens
            messages += (
                Message(role="assistant", content=response.text, tool_calls=response.tool_calls),
                Message(role="tool", content=f"result of {name}", tool_call_id=call.id, tool_name=name),
            )
        request = LlmRequest("aos-scripted", "You are careful.", messages, TOOLS, max_output_tokens=512)
        final = await provider.complete(request)
    finally:
        await provider.aclose()
    assert final.text == "Q3 went well. [evidence: 2]"
    assert final.tool_calls == ()
    assert estimate_input_tokens(request) >= final.usage.input_tokens > 0

    log = await fake_requests(fake_llm)
    assert [entry["backend"] for entry in log] == [backend] * 3
    assert all(entry["body"]["model"] == "aos-scripted" for entry in log)
    # The conversation grows by one tool round per request: what the provider sent is what we built.
    assert "notes/q3.txt" in str(log[2]["body"]["messages"])
    assert API_KEY not in str(log)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_unoffered_tool_is_still_called_so_the_runtime_can_refuse_it(fake_llm, backend):
    provider = make_provider(backend, base_url=base_url(fake_llm, backend), api_key=API_KEY)
    task = 'plan:\n1. call fs.delete_file {"path": "x"}\n2. answer done'
    try:
        response = await provider.complete(
            LlmRequest("aos-scripted", "", (Message(role="user", content=task),), TOOLS, 64)
        )
    finally:
        await provider.aclose()
    assert [(c.name, c.args) for c in response.tool_calls] == [("fs.delete_file", {"path": "x"})]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_wait_delays_the_following_step(fake_llm, backend):
    provider = make_provider(backend, base_url=base_url(fake_llm, backend), api_key=API_KEY)
    task = "plan:\nwait 0.6\n1. answer slow"
    started = time.monotonic()
    try:
        response = await provider.complete(
            LlmRequest("aos-scripted", "", (Message(role="user", content=task),), (), 64)
        )
    finally:
        await provider.aclose()
    assert response.text == "slow"
    assert time.monotonic() - started >= 0.6


@pytest.mark.parametrize("backend", BACKENDS)
async def test_timeout_is_a_provider_error(fake_llm, backend):
    provider = make_provider(backend, base_url=base_url(fake_llm, backend), api_key=API_KEY, timeout_s=0.2)
    task = "plan:\nwait 2\n1. answer too late"
    try:
        with pytest.raises(ProviderError) as raised:
            await provider.complete(LlmRequest("m", "", (Message(role="user", content=task),), (), 64))
    finally:
        await provider.aclose()
    assert str(raised.value).startswith(f"{backend}: ")
    assert API_KEY not in str(raised.value)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_connection_refused_is_a_provider_error(backend):
    url = base_url(f"http://127.0.0.1:{free_port()}", backend)
    provider = make_provider(backend, base_url=url, api_key=API_KEY, timeout_s=5)
    try:
        with pytest.raises(ProviderError) as raised:
            await provider.complete(LlmRequest("m", "", (Message(role="user", content="hi"),), (), 64))
    finally:
        await provider.aclose()
    assert API_KEY not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.fixture(scope="module")
async def broken_upstream():
    """An upstream that misbehaves as the request's model asks: "http-500" answers 500 and echoes the
    caller's credentials in its error body; "not-json" and "empty-object" answer 200 with junk."""

    async def misbehave(request: Request) -> Response:
        model = (await request.json())["model"]
        if model == "not-json":
            return PlainTextResponse("surprise")
        if model == "empty-object":
            return JSONResponse({})
        echoed = f"{request.headers.get('x-api-key')} {request.headers.get('authorization')}"
        return JSONResponse({"error": {"message": f"boom, you sent {echoed}", "type": "server_error"}}, 500)

    app = Starlette(routes=[Route("/{path:path}", misbehave, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    await task


async def fail_against(url: str, backend: str, model: str) -> ProviderError:
    provider = make_provider(backend, base_url=url, api_key=API_KEY, timeout_s=5)
    try:
        with pytest.raises(ProviderError) as raised:
            await provider.complete(LlmRequest(model, "", (Message(role="user", content="hi"),), (), 64))
    finally:
        await provider.aclose()
    assert API_KEY not in str(raised.value)
    return raised.value


@pytest.mark.parametrize("backend", BACKENDS)
async def test_http_500_is_a_provider_error_without_the_key(broken_upstream, backend):
    error = await fail_against(broken_upstream, backend, "http-500")
    assert str(error).startswith(f"{backend}: HTTP 500")
    assert "boom" in str(error)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", ["not-json", "empty-object"])
async def test_malformed_reply_is_a_provider_error(broken_upstream, backend, model):
    error = await fail_against(broken_upstream, backend, model)
    assert str(error).startswith(f"{backend}: ")
