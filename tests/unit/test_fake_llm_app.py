"""The scripted LLM's HTTP surface, in process (no sockets)."""

from starlette.testclient import TestClient

from aosiq.fake_llm import create_app

PLAN = 'plan:\n1. call fs.read_file {"path": "a.txt"}\n2. answer done [evidence: 1]'


def client() -> TestClient:
    return TestClient(create_app())


def test_anthropic_tool_call_then_answer():
    c = client()
    body = {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": PLAN}],
        "tools": [{"name": "fs__read_file", "input_schema": {"type": "object"}}],
    }
    first = c.post("/v1/messages", json=body).json()
    assert first["stop_reason"] == "tool_use"
    (block,) = first["content"]
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "fs__read_file", {"path": "a.txt"})
    assert first["model"] == "claude-x" and first["usage"]["input_tokens"] > 0

    body["messages"] += [
        {"role": "assistant", "content": [block]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block["id"], "content": "hi"}]},
    ]
    second = c.post("/v1/messages", json=body).json()
    assert second["stop_reason"] == "end_turn"
    assert second["content"] == [{"type": "text", "text": "done [evidence: 1]"}]


def test_openai_and_ollama_shapes():
    c = client()
    chat = {"model": "m", "messages": [{"role": "user", "content": PLAN}]}
    openai = c.post("/chat/completions", json=chat).json()
    choice = openai["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "fs__read_file",
        "arguments": '{"path": "a.txt"}',
    }
    usage = openai["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    ollama = c.post("/api/chat", json={**chat, "stream": False}).json()
    assert ollama["done"] is True
    assert ollama["message"]["tool_calls"] == [{"function": {"name": "fs__read_file", "arguments": {"path": "a.txt"}}}]
    assert ollama["prompt_eval_count"] > 0 and ollama["eval_count"] > 0


def test_request_log_records_without_headers_and_clears():
    c = client()
    c.post("/v1/chat/completions", json={"messages": []}, headers={"Authorization": "Bearer sk-secret-123456"})
    c.post("/api/chat", content=b"not json")
    log = c.get("/_fake/requests").json()["requests"]
    assert log == [
        {"backend": "openai", "path": "/v1/chat/completions", "body": {"messages": []}},
        {"backend": "ollama", "path": "/api/chat", "body": None},
    ]
    assert "sk-secret" not in c.get("/_fake/requests").text
    assert c.delete("/_fake/requests").status_code == 200
    assert c.get("/_fake/requests").json() == {"requests": []}


def test_bad_requests_get_each_backends_error_shape():
    c = client()
    anthropic = c.post("/v1/messages", content=b"[")
    assert anthropic.status_code == 400 and anthropic.json()["type"] == "error"
    openai = c.post("/v1/chat/completions", json={"messages": [], "stream": True})
    assert openai.status_code == 400 and "stream" in openai.json()["error"]["message"]
    assert c.post("/api/chat", json=[1]).json() == {"error": "request body must be a JSON object"}


def test_healthz():
    assert client().get("/healthz").json() == {"status": "ok", "model": "aos-scripted"}


def test_usage_line_over_reports_output_tokens_on_every_wire():
    c = client()
    task = "plan:\nusage 50000\n1. answer hi"
    chat = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": task}]}
    assert c.post("/v1/messages", json=chat).json()["usage"]["output_tokens"] == 50000
    assert c.post("/chat/completions", json=chat).json()["usage"]["completion_tokens"] == 50000
    assert c.post("/api/chat", json={**chat, "stream": False}).json()["eval_count"] == 50000


def test_compromise_rules_are_set_over_http_and_played_in_every_wire_format():
    c = client()
    assert c.put("/_fake/compromise", content=b"{").status_code == 400
    rules = {"rules": [{"result_contains": "<INFORMATION>", "calls": [{"tool": "bank.send", "args": {"to": "X"}}]}]}
    assert c.put("/_fake/compromise", json=rules).json() == {"rules": 1}
    task = 'plan:\nobey tool output\n1. call fs.read_file {"path": "a.txt"}\n2. answer done [evidence: 1]'
    anthropic = {"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": task},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "fs__read_file",
                                           "input": {"path": "a.txt"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                      "content": [{"type": "text", "text": "&lt;INFORMATION&gt;"}]}]}]}
    (block,) = c.post("/v1/messages", json=anthropic).json()["content"]
    assert (block["name"], block["input"]) == ("bank__send", {"to": "X"})
    chat = {"model": "m", "messages": [
        {"role": "user", "content": task},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "fs__read_file", "arguments": '{"path": "a.txt"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "<INFORMATION>"}]}
    call = c.post("/chat/completions", json=chat).json()["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call["name"] == "bank__send"
    assert c.delete("/_fake/compromise").json() == {"rules": 0}
    assert c.post("/chat/completions", json=chat).json()["choices"][0]["message"]["content"] == "done [evidence: 1]"


def test_a_registered_plan_is_played_for_a_task_that_names_it():
    c = client()
    assert c.put("/_fake/plans", json={"plans": {"bad id!": "x"}}).status_code == 400
    assert c.put("/_fake/plans", json={"plans": {"p-1": PLAN}}).json() == {"plans": 1}
    chat = {"model": "m", "messages": [{"role": "user", "content": "Read a.txt please. [plan-ref p-1]"}]}
    message = c.post("/chat/completions", json=chat).json()["choices"][0]["message"]
    assert message["tool_calls"][0]["function"]["arguments"] == '{"path": "a.txt"}'
    assert c.delete("/_fake/plans").json() == {"plans": 0}
    assert c.post("/chat/completions", json=chat).json()["choices"][0]["message"]["content"]
