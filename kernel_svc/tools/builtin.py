"""The registry every kernel process starts with."""

from __future__ import annotations

from kernel_svc.tools.agents import spawn_tool
from kernel_svc.tools.fs import fs_tools
from kernel_svc.tools.noop import noop_tools
from kernel_svc.tools.registry import ToolRegistry


def builtin_registry() -> ToolRegistry:
    return ToolRegistry([*fs_tools(), spawn_tool(), *noop_tools()])
