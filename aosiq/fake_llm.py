"""The scripted LLM: a stand-in model server speaking the Anthropic, OpenAI and Ollama wire formats.

Its "model" follows a plan written in the task (grammar in docs/SCRIPTED_LLM.md), so tests and the
demo drive the real SDKs through real tool-calling conversations without a paid key. It is
stateless apart from an in-memory request log: the step to play is derived from each request.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aos_common.logs import setup_logging
from aosiq import compromised

MODEL_ID = "aos-scripted"
NO_PLAN_ANSWER = "I have no plan to follow."
# The log is for tests and the demo; a long-running demo must not grow without bound.
REQUEST_LOG_LIMIT = 10_000
_CHARS_PER_TOKEN = 4
# A `usage` line can claim at most this many output tokens (the wire formats carry 32-bit counts).
MAX_REPORTED_TOKENS = 1_000_000_000

_PLAN_HEADER = re.compile(r"^\s*plan:\s*$", re.IGNORECASE)
_WAIT = re.compile(r"^wait\s+(\S+)$")
_USAGE = re.compile(r"^usage\s+(\S+)$")
_STEP = re.compile(r"^(\d+)\.\s*(\S+)\s*(.*)$")
_CALL = re.compile(r"^(\S+)\s*(.*)$")
# A task may name a plan a harness registered (`PUT /_fake/plans`) instead of carrying it,
# so that its values are not in the task text the runtime trusts.
_PLAN_REF = re.compile(r"\[plan-ref ([A-Za-z0-9_.-]{1,64})\]")
MAX_PLANS = 100_000
# `call TOOL {json} [evidence: 1, 2]`: the citation travels as the reply's text beside the call.
_CALL_EVIDENCE = re.compile(r"^(.*?)\s*(\[evidence:[^\]]*\])\s*$")
# The first line of the kernel's judge prompt (kernel_svc/judge.py PROMPT_VERSION).
JUDGE_PROMPT_MARK = "aosiq-judge/"


class PlanError(ValueError):
    """The plan in a task does not follow the grammar."""


@dataclass(frozen=True)
class Step:
    kind: Literal["call", "answer"]
    tool: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    delay_s: float = 0.0
    # Output tokens the reply claims, whatever it emitted (None: counted honestly).
    reported_output_tokens: int | None = None


def parse_plan(task: str) -> tuple[Step, ...]:
    """The steps of the plan in `task`: the lines after a `plan:` line, up to the first line that
    is neither blank, a numbered step nor a `wait`. No `plan:` line means an empty plan."""
    lines = task.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if _PLAN_HEADER.match(line)), None)
    if start is None:
        return ()
    steps: list[Step] = []
    pending_delay = 0.0
    pending_usage: int | None = None
    for offset, raw in enumerate(lines[start:], start=start + 1):
        line = raw.strip()
        if not line:
            continue
        wait = _WAIT.match(line)
        usage = _USAGE.match(line)
        step = _STEP.match(line)
        if compromised.OBEY.match(line):
            if steps:
                raise PlanError(f"line {offset}: 'obey tool output' must come before the first step")
        elif wait:
            pending_delay += _seconds(wait.group(1), offset)
        elif usage:
            pending_usage = _token_count(usage.group(1), offset)
        elif step:
            number, verb, rest = int(step.group(1)), step.group(2).lower(), step.group(3).strip()
            if number != len(steps) + 1:
                raise PlanError(f"line {offset}: expected step {len(steps) + 1}, found step {number}")
            steps.append(replace(_step(verb, rest, pending_delay, offset), reported_output_tokens=pending_usage))
            pending_delay, pending_usage = 0.0, None
        else:
            break
    if pending_delay:
        raise PlanError("a wait must come before a step")
    if pending_usage is not None:
        raise PlanError("a usage line must come before a step")
    return tuple(steps)


def _seconds(value: str, line_no: int) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise PlanError(f"line {line_no}: wait takes a number of seconds, not {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise PlanError(f"line {line_no}: wait takes a non-negative number of seconds")
    return seconds


def _token_count(value: str, line_no: int) -> int:
    if not value.isdigit() or int(value) > MAX_REPORTED_TOKENS:
        raise PlanError(f"line {line_no}: usage takes a whole number of output tokens up to {MAX_REPORTED_TOKENS}")
    return int(value)


def _step(verb: str, rest: str, delay_s: float, line_no: int) -> Step:
    if verb == "answer":
        return Step(kind="answer", text=rest, delay_s=delay_s)
    if verb != "call":
        raise PlanError(f"line {line_no}: a step is 'call TOOL {{json}}' or 'answer TEXT', not {verb!r}")
    call = _CALL.match(rest)
    if call is None:
        raise PlanError(f"line {line_no}: call needs a tool name")
    args_text, evidence = call.group(2), ""
    cited = _CALL_EVIDENCE.match(args_text)
    if cited:
        args_text, evidence = cited.group(1), cited.group(2)
    try:
        args = json.loads(args_text or "{}")
    except json.JSONDecodeError as exc:
        raise PlanError(f"line {line_no}: arguments are not valid JSON ({exc.msg})") from None
    if not isinstance(args, dict):
        raise PlanError(f"line {line_no}: arguments must be a JSON object")
    return Step(kind="call", tool=call.group(1), args=args, text=evidence, delay_s=delay_s)


def step_for(plan: tuple[Step, ...], tool_results: int) -> Step:
    """The step to play after `tool_results` tool results: step k+1, then the last answer forever."""
    if tool_results < len(plan):
        return plan[tool_results]
    answers = [step for step in plan if step.kind == "answer"]
    return answers[-1] if answers else Step(kind="answer", text=NO_PLAN_ANSWER)


def choose_step(task: str, tool_results: int) -> Step:
    """The step for a request; a malformed plan is reported as the model's answer."""
    try:
        plan = parse_plan(task)
    except PlanError as exc:
        return Step(kind="answer", text=f"I cannot follow the plan: {exc}")
    return step_for(plan, tool_results)


def with_registered_plan(convo: Conversation, plans: dict[str, str]) -> Conversation:
    """The conversation as if its task carried the plan its `[plan-ref ID]` names
    (the registered text first, then the task itself); unchanged without one."""
    ref = _PLAN_REF.search(convo.task)
    if ref is None or ref.group(1) not in plans:
        return convo
    return replace(convo, task=f"{plans[ref.group(1)]}\n\n{convo.task}")


def next_step(convo: Conversation, rules: tuple[compromised.Rule, ...] = ()) -> Step:
    """The step for a request: the plan's, or in compromised mode first whatever
    the tool output told the model to do (aosiq/compromised.py)."""
    if not compromised.obeys(convo.task):
        return choose_step(convo.task, convo.tool_results)
    injected, played = compromised.replay(convo.calls, convo.results, convo.task, rules)
    if injected is not None:
        return Step(kind="call", tool=injected.tool, args=injected.args)
    return choose_step(convo.task, played)


@dataclass(frozen=True)
class Conversation:
    """What the scripted model needs from a request, whatever its wire format."""

    task: str
    tool_results: int
    tool_wire_names: tuple[str, ...]
    # The tool calls the model made and the results they got, in order (compromised mode).
    calls: tuple[tuple[str, dict[str, Any]], ...] = field(default=(), compare=False)
    results: tuple[str, ...] = field(default=(), compare=False)

    def wire_name(self, tool: str) -> str:
        """The name to call `tool` by: the offered tool it denotes, else its encoded form.

        Offered or not, the call is emitted, so tests can show the runtime refuses ungranted tools.
        """
        for wire in self.tool_wire_names:
            if tool in (wire, wire.replace("__", ".")):
                return wire
        return tool.replace(".", "__")


def _text_of(content: Any) -> str:
    """Text of a message's content: a string, or a list of text blocks/parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _first_user_text(messages: list[Any]) -> str:
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def read_anthropic(body: dict[str, Any]) -> Conversation:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    blocks = [
        (message["role"], block)
        for message in messages
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if isinstance(block, dict)
    ]
    results = tuple(_text_of(b.get("content"))
                    for role, b in blocks if role == "user" and b.get("type") == "tool_result")
    calls = tuple((str(b.get("name", "")), _object(b.get("input")))
                  for role, b in blocks if role == "assistant" and b.get("type") == "tool_use")
    names = tuple(t["name"] for t in body.get("tools") or () if isinstance(t, dict) and "name" in t)
    return Conversation(_first_user_text(messages), len(results), names, calls, results)


def read_chat(body: dict[str, Any]) -> Conversation:
    """OpenAI Chat Completions and Ollama chat share this shape: tool results are role "tool"."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    results = tuple(_text_of(m.get("content")) for m in messages if m.get("role") == "tool")
    calls = tuple(
        (str(c["function"].get("name", "")), _object(c["function"].get("arguments")))
        for m in messages if m.get("role") == "assistant" and isinstance(m.get("tool_calls"), list)
        for c in m["tool_calls"] if isinstance(c, dict) and isinstance(c.get("function"), dict)
    )
    names = tuple(
        t["function"]["name"]
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and "name" in t["function"]
    )
    return Conversation(_first_user_text(messages), len(results), names, calls, results)


def _object(value: Any) -> dict[str, Any]:
    """Tool-call arguments as an object: OpenAI sends JSON text, the others an object."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def count_tokens(value: Any) -> int:
    """~4 characters a token over every string in a request body (keys and structure excluded)."""
    return math.ceil(_chars(value) / _CHARS_PER_TOKEN)


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_chars(v) for v in value.values())
    if isinstance(value, list):
        return sum(_chars(v) for v in value)
    return 0


def _output_tokens(step: Step, wire_name: str) -> int:
    if step.reported_output_tokens is not None:
        return step.reported_output_tokens
    emitted = step.text if step.kind == "answer" else step.text + wire_name + json.dumps(step.args)
    return max(1, math.ceil(len(emitted) / _CHARS_PER_TOKEN))


def _id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def anthropic_reply(body: dict[str, Any], step: Step, convo: Conversation) -> dict[str, Any]:
    wire_name = convo.wire_name(step.tool)
    if step.kind == "call":
        content: list[dict[str, Any]] = [{"type": "text", "text": step.text}] if step.text else []
        content.append({"type": "tool_use", "id": _id("toolu_"), "name": wire_name, "input": step.args})
    else:
        content = [{"type": "text", "text": step.text}]
    return {
        "id": _id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model") or MODEL_ID,
        "content": content,
        "stop_reason": "tool_use" if step.kind == "call" else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": count_tokens(body), "output_tokens": _output_tokens(step, wire_name)},
    }


def openai_reply(body: dict[str, Any], step: Step, convo: Conversation) -> dict[str, Any]:
    wire_name = convo.wire_name(step.tool)
    message: dict[str, Any] = {"role": "assistant",
                               "content": step.text if step.kind == "answer" else step.text or None}
    if step.kind == "call":
        message["tool_calls"] = [
            {
                "id": _id("call_"),
                "type": "function",
                "function": {"name": wire_name, "arguments": json.dumps(step.args)},
            }
        ]
    prompt, completion = count_tokens(body), _output_tokens(step, wire_name)
    return {
        "id": _id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if step.kind == "call" else "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def ollama_reply(body: dict[str, Any], step: Step, convo: Conversation) -> dict[str, Any]:
    wire_name = convo.wire_name(step.tool)
    message: dict[str, Any] = {"role": "assistant", "content": step.text}
    if step.kind == "call":
        message["tool_calls"] = [{"function": {"name": wire_name, "arguments": step.args}}]
    return {
        "model": body.get("model") or MODEL_ID,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "message": message,
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": count_tokens(body),
        "eval_count": _output_tokens(step, wire_name),
    }


def system_text(body: dict[str, Any]) -> str:
    """The system prompt of a request in any of the three formats."""
    system = body.get("system")
    if system is not None:
        return _text_of(system)
    return "".join(
        _text_of(m.get("content"))
        for m in body.get("messages") or ()
        if isinstance(m, dict) and m.get("role") == "system"
    )


def is_judge_request(body: dict[str, Any]) -> bool:
    return system_text(body).startswith(JUDGE_PROMPT_MARK)


@dataclass(frozen=True)
class JudgeRule:
    contains: str
    verdict: str
    reason: str = ""
    relied_on: tuple[int, ...] = ()
    # Reply with this text verbatim instead of the JSON verdict (to test the parser).
    raw: str | None = None


@dataclass(frozen=True)
class JudgeScript:
    """How the scripted judge answers: the first rule whose `contains` is in the prompt, else the default."""

    rules: tuple[JudgeRule, ...] = ()
    default: str = "agree"
    default_reason: str = "the evidence supports the proposal"
    raw: str | None = None
    # The judge is down: every judge request gets a 503 in the backend's error shape.
    down: bool = False

    def reply(self, prompt: str) -> str:
        rule = next((r for r in self.rules if r.contains in prompt), None)
        if rule is None:
            if self.raw is not None:
                return self.raw
            return json.dumps({"verdict": self.default, "reason": self.default_reason, "relied_on": []})
        if rule.raw is not None:
            return rule.raw
        return json.dumps({"verdict": rule.verdict, "reason": rule.reason, "relied_on": list(rule.relied_on)})


def parse_judge_script(body: Any) -> JudgeScript:
    """`PUT /_fake/judge` body, or ValueError with a message for the 400."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    unknown = set(body) - {"rules", "default", "reason", "raw", "down"}
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    rules = []
    for rule in body.get("rules") or []:
        if not isinstance(rule, dict) or not isinstance(rule.get("contains"), str) or not rule["contains"]:
            raise ValueError("each rule needs a non-empty string 'contains'")
        relied_on = rule.get("relied_on", [])
        if not isinstance(relied_on, list) or not all(isinstance(n, int) for n in relied_on):
            raise ValueError("a rule's relied_on must be a list of result numbers")
        rules.append(JudgeRule(rule["contains"], str(rule.get("verdict", "disagree")), str(rule.get("reason", "")),
                               tuple(relied_on), None if rule.get("raw") is None else str(rule["raw"])))
    return JudgeScript(
        rules=tuple(rules),
        default=str(body.get("default", "agree")),
        default_reason=str(body.get("reason", JudgeScript.default_reason)),
        raw=None if body.get("raw") is None else str(body["raw"]),
        down=bool(body.get("down", False)),
    )


def _anthropic_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"type": "error", "error": {"type": "invalid_request_error", "message": message}}, status_code=status
    )


def _openai_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}},
        status_code=status,
    )


def _ollama_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@dataclass(frozen=True)
class _Backend:
    name: str
    read: Callable[[dict[str, Any]], Conversation]
    reply: Callable[[dict[str, Any], Step, Conversation], dict[str, Any]]
    error: Callable[[int, str], JSONResponse]


_ANTHROPIC = _Backend("anthropic", read_anthropic, anthropic_reply, _anthropic_error)
_OPENAI = _Backend("openai", read_chat, openai_reply, _openai_error)
_OLLAMA = _Backend("ollama", read_chat, ollama_reply, _ollama_error)


def create_app() -> Starlette:
    """The scripted LLM as an ASGI app, with its own empty request log."""
    log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
    rules: list[tuple[compromised.Rule, ...]] = [()]
    plans: dict[str, str] = {}
    # The judge's script, replaced whole by PUT /_fake/judge (a one-item list so handlers can rebind it).
    judge = [JudgeScript()]

    def endpoint(backend: _Backend) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def handle(request: Request) -> JSONResponse:
            raw = await request.body()
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
            # Logged before any delay, so a test can see a request that was sent even if its
            # client died waiting. Headers are never logged: they carry API keys.
            log.append({"backend": backend.name, "path": request.url.path, "body": body})
            if not isinstance(body, dict):
                return backend.error(400, "request body must be a JSON object")
            if body.get("stream"):
                return backend.error(400, "the scripted LLM does not stream; send stream=false")
            convo = backend.read(body)
            if is_judge_request(body):
                if judge[0].down:
                    return backend.error(503, "the scripted judge is down")
                return JSONResponse(backend.reply(body, Step(kind="answer", text=judge[0].reply(convo.task)), convo))
            step = next_step(with_registered_plan(convo, plans), rules[0])
            if step.delay_s:
                await asyncio.sleep(step.delay_s)
            return JSONResponse(backend.reply(body, step, convo))

        return handle

    async def list_requests(_: Request) -> JSONResponse:
        return JSONResponse({"requests": list(log)})

    async def clear_requests(_: Request) -> JSONResponse:
        log.clear()
        return JSONResponse({"requests": []})

    async def put_compromise(request: Request) -> JSONResponse:
        try:
            rules[0] = compromised.parse_rules(json.loads(await request.body()))
        except (json.JSONDecodeError, UnicodeDecodeError, compromised.RuleError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"rules": len(rules[0])})

    async def put_plans(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        given = body.get("plans") if isinstance(body, dict) else None
        if not isinstance(given, dict) or not all(
            isinstance(k, str) and _PLAN_REF.fullmatch(f"[plan-ref {k}]") and isinstance(v, str)
            for k, v in given.items()
        ):
            return JSONResponse({"error": 'the body must be {"plans": {"<id>": "<task text with a plan>"}}'},
                                status_code=400)
        if len(plans) + len(given) > MAX_PLANS:
            return JSONResponse({"error": f"at most {MAX_PLANS} plans"}, status_code=400)
        plans.update(given)
        return JSONResponse({"plans": len(plans)})

    async def clear_plans(_: Request) -> JSONResponse:
        plans.clear()
        return JSONResponse({"plans": 0})

    async def clear_compromise(_: Request) -> JSONResponse:
        rules[0] = ()
        return JSONResponse({"rules": 0})
    async def set_judge(request: Request) -> JSONResponse:
        try:
            judge[0] = parse_judge_script(json.loads(await request.body()))
        except (ValueError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"rules": len(judge[0].rules), "default": judge[0].default, "down": judge[0].down})

    async def reset_judge(_: Request) -> JSONResponse:
        judge[0] = JudgeScript()
        return JSONResponse({"rules": 0, "default": judge[0].default, "down": False})

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": MODEL_ID})

    return Starlette(
        routes=[
            Route("/v1/messages", endpoint(_ANTHROPIC), methods=["POST"]),
            Route("/v1/chat/completions", endpoint(_OPENAI), methods=["POST"]),
            Route("/chat/completions", endpoint(_OPENAI), methods=["POST"]),
            Route("/api/chat", endpoint(_OLLAMA), methods=["POST"]),
            Route("/_fake/requests", list_requests, methods=["GET"]),
            Route("/_fake/requests", clear_requests, methods=["DELETE"]),
            Route("/_fake/compromise", put_compromise, methods=["PUT"]),
            Route("/_fake/compromise", clear_compromise, methods=["DELETE"]),
            Route("/_fake/plans", put_plans, methods=["PUT"]),
            Route("/_fake/plans", clear_plans, methods=["DELETE"]),
            Route("/_fake/judge", set_judge, methods=["PUT"]),
            Route("/_fake/judge", reset_judge, methods=["DELETE"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def serve(host: str, port: int) -> None:
    """Serve the scripted LLM until interrupted, logging one JSON object a line."""
    setup_logging("fake_llm")
    uvicorn.run(create_app(), host=host, port=port, log_config=None, lifespan="off")


@dataclass
class BackgroundServer:
    """A scripted LLM running in the current event loop; `url` has no trailing slash."""

    url: str
    _server: uvicorn.Server
    _task: asyncio.Task[None]

    async def stop(self) -> None:
        self._server.should_exit = True
        await self._task


async def start_in_background(host: str = "127.0.0.1", port: int = 0) -> BackgroundServer:
    """Start the scripted LLM on (host, port) in this event loop; port 0 picks a free port."""
    server = uvicorn.Server(uvicorn.Config(create_app(), host=host, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # surfaces the bind error
            raise RuntimeError("scripted LLM exited before it started")
        await asyncio.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    return BackgroundServer(url=f"http://{host}:{bound_port}", _server=server, _task=task)
