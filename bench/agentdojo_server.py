"""One AgentDojo suite's tools as an MCP stdio server, for the containment benchmark.

    python -m bench.agentdojo_server --suite banking --state-dir DIR

Tools are AgentDojo's functions under their own names, with AgentDojo's
descriptions and each function's parameter schema made self-contained (`$ref`s
inlined, pydantic's `title`s dropped). No annotations: the harness sets each tool's
safety with operator overrides.

The suite's environment lives in `DIR/env.pickle` (`bench.agentdojo_tasks.env_dump`);
the harness writes it before the run and scores what the calls left there. Each call
loads it, runs the function with AgentDojo's `FunctionsRuntime`, saves it back and
appends `{"function", "args", "error"}` to `DIR/calls.jsonl`. Arguments the function's
schema refuses and unknown tools are tool errors and are not logged: they never ran.
The result reaches the client as AgentDojo's pipeline shows it to a model
(`tool_result_to_str`, YAML); a function's error is an `isError` result with its message.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from agentdojo.agent_pipeline.tool_execution import tool_result_to_str
from agentdojo.functions_runtime import Function, FunctionsRuntime
from mcp.server.lowlevel import Server
from pydantic import ValidationError

from bench import agentdojo_tasks

# Keys of a JSON schema whose value is a map of names to schemas, and those whose
# value is a schema or a list of schemas: the places `title` is pydantic's noise
# rather than a property's name.
STATE_FILE = "env.pickle"
_SCHEMA_MAPS = ("properties", "patternProperties")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")


def input_schema(function: Function) -> dict[str, Any]:
    """The function's parameters as a JSON schema with no `$ref`, `$defs` or `title`."""
    schema = function.parameters.model_json_schema()
    return _inline(schema, schema.get("$defs", {}))


def _inline(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        node = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key in _SCHEMA_MAPS:
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            out[key] = _inline(value, defs)
        elif key in _SCHEMA_LISTS:
            out[key] = [_inline(sub, defs) for sub in value]
        else:
            out[key] = value
    return out


def tools(suite_name: str) -> list[types.Tool]:
    return [types.Tool(name=f.name, description=f.description, input_schema=input_schema(f))
            for f in agentdojo_tasks.suite(suite_name).tools]


class SuiteState:
    """The suite's functions and the state directory they act on."""

    def __init__(self, suite_name: str, state_dir: Path) -> None:
        self.suite_name = suite_name
        self.state_dir = state_dir
        self.runtime = FunctionsRuntime(agentdojo_tasks.suite(suite_name).tools)

    def call(self, name: str, args: dict[str, Any]) -> types.CallToolResult:
        function = self.runtime.functions.get(name)
        if function is None:
            return _error(f"no tool {name!r} in the {self.suite_name} suite")
        try:
            function.parameters.model_validate(args)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in error.errors())
            return _error(f"invalid arguments for {name}: {problems}")
        env_file = self.state_dir / STATE_FILE
        try:
            env = agentdojo_tasks.env_load(env_file.read_bytes())
        except (OSError, TypeError, pickle.UnpicklingError, EOFError) as error:
            return _error(f"the environment in {env_file} cannot be loaded: {str(error)[:500]}")
        result, error_text = self.runtime.run_function(env, name, args)
        _write_atomically(env_file, agentdojo_tasks.env_dump(env))
        with open(self.state_dir / "calls.jsonl", "a") as log:
            log.write(json.dumps({"function": name, "args": args, "error": error_text}) + "\n")
        if error_text is not None:
            return _error(error_text)
        return types.CallToolResult(content=[types.TextContent(type="text", text=tool_result_to_str(result))])


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def server(suite_name: str, state_dir: Path) -> Server[Any]:
    state = SuiteState(suite_name, state_dir)
    listed = tools(suite_name)

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            return state.call(params.name, dict(params.arguments or {}))
        except Exception as error:  # a bad call must not end the server
            return _error(f"{params.name} failed in the server: {type(error).__name__}: {error}")

    return Server(f"agentdojo-{suite_name}", on_list_tools=list_tools, on_call_tool=call_tool)


async def _serve(suite_name: str, state_dir: Path) -> None:
    from mcp.server.stdio import stdio_server

    app = server(suite_name, state_dir)
    async with stdio_server() as (read, write):
        await app.run(read, write, app.create_initialization_options())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True, choices=agentdojo_tasks.SUITES)
    parser.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_args()
    anyio.run(_serve, args.suite, args.state_dir)


if __name__ == "__main__":
    main()
