"""One tool call on an operator's request, made under an agent's capability token.

The operator's token only opens the door (`tools.invoke`); what the call may do
is decided by policy from the *agent's* token, through the same boundary the
agent loop uses: the arguments are checked against the tool's schema, then
Authorize, then the tool runs, then Complete. An irreversible tool stops at its
approval gate (PENDING) and a DENY becomes the error policy gave.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aos_common.canonical import canonical_json, parse_json_object, sha256_hex
from aos_common.capabilities import PERM_TOOLS_INVOKE
from aos_common.decisions import ALLOW, PENDING
from aos_common.errors import REASON_CODES, InvalidArgument, InvalidTransition, error_for
from aos_common.logs import log_fields
from aos_common.permissions import require_operator
from aos_common.tokens import Claims
from kernel_svc import provenance, states
from kernel_svc.readers import require_visible
from kernel_svc.store import Store
from kernel_svc.syscalls import TOOL_CALL, Caller, SyscallBoundary
from kernel_svc.tools.registry import ToolContext, ToolRegistry

log = logging.getLogger(__name__)

MAX_ARGS_BYTES = 64 * 1024


@dataclass(frozen=True)
class Invocation:
    """What InvokeTool answers: a tool that ran (ALLOW) or an approval to wait for (PENDING)."""

    decision: str
    ok: bool = False
    result: str = ""
    syscall_id: str = ""
    approval_id: str = ""
    cost_usd: float = 0.0


class ToolInvoker:
    def __init__(self, store: Store, boundary: SyscallBoundary, registry: ToolRegistry, workspace: Path):
        self._store = store
        self._boundary = boundary
        self._registry = registry
        self._workspace = workspace

    async def invoke(self, operator: Claims, agent_id: str, tool_name: str, args_json: str) -> Invocation:
        require_operator(operator, PERM_TOOLS_INVOKE)
        if len(args_json.encode()) > MAX_ARGS_BYTES:
            raise InvalidArgument(f"args_json is larger than {MAX_ARGS_BYTES} bytes")
        tool = self._registry.get(tool_name)
        if tool is None:
            raise InvalidArgument(f"unknown tool {tool_name[:128]!r}")
        if not tool.idempotent and tool.reversible:
            # Exactly-once effects are fenced by a worker's claim on the agent; an
            # API call holds none, so such tools stay with the agent loop.
            raise InvalidArgument(f"{tool.name} is not idempotent; only the agent itself can call it")
        args = parse_json_object(args_json, "args_json")
        tool.validate(args)
        canonical = canonical_json(args).decode()
        digest = sha256_hex(canonical.encode())
        agent = require_visible(operator, await self._store.get_agent(agent_id))
        if agent.state in states.TERMINAL_STATES:
            raise InvalidTransition(f"agent {agent.id} is {agent.state}; tools can be invoked only for a live agent")
        caller = Caller(agent.id, agent.session_id, agent.token, agent.epoch)
        # Policy decides on the agent's token and names the operator who asked
        # in the same audit record, so who asked is on the chain before any effect.
        decision = await self._boundary.authorize(caller, kind=TOOL_CALL, target=tool.name, args_canonical=canonical,
                                                  args_digest=digest, invoked_by=operator,
                                                  definition_hash=tool.presented_definition_hash(),
                                                  limits=tool.requested_limits(args),
                                                  arg_provenance=provenance.operator_supplied(args))
        if decision.verdict == PENDING:
            return Invocation(PENDING, approval_id=decision.approval_id)
        if decision.verdict != ALLOW or decision.permit is None:
            reason = decision.reason if decision.reason in REASON_CODES else "INSUFFICIENT_AUTHORITY"
            raise error_for(reason, decision.message or f"policy refused the call to {tool.name}")
        ctx = ToolContext(workspace=self._workspace, agent_id=agent.id, session_id=agent.session_id,
                          grants=agent.grants)
        outcome = await self._boundary.run_tool(decision.permit, caller, tool, args, ctx)
        log.info("tool invoked for an agent", extra=log_fields(agent_id=agent.id, tool=tool.name, ok=outcome.ok,
                                                               syscall_id=decision.permit.syscall_id,
                                                               invoked_by=operator.subject))
        return Invocation(ALLOW, ok=outcome.ok, result=outcome.text, syscall_id=decision.permit.syscall_id,
                          approval_id=decision.approval_id, cost_usd=outcome.cost_usd)
