"""The syscall boundary: Authorize decides, Complete settles.

Authorize answers with a decision, not an error: ALLOW, PENDING (an approval
to wait for) or DENY with a contract reason. Each decision that changes
anything is appended to the session's audit chain inside the same database
transaction that makes it effective, before the answer: if the append fails
the transaction rolls back and the caller gets UNAVAILABLE, never an ALLOW.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aos_common import events, judging, provenance
from aos_common.capabilities import PERM_AGENTS_SPAWN, allows
from aos_common.decisions import ALLOW, DENY, PENDING
from aos_common.errors import AosError, InsufficientAuthority, InvalidArgument, NotFound, TokenExpired
from aos_common.logs import log_fields
from aos_common.tokens import Claims
from policy_svc import decisions
from policy_svc.approvals import ApprovalDesk, check_uuid, syscall_id_for
from policy_svc.audit import AuditLog
from policy_svc.authority import TokenAuthority
from policy_svc.capability import agent_id_of
from policy_svc.classes import BLAST_RADII, CAPABILITY_PATTERN, AgentClass
from policy_svc.decisions import Refused
from policy_svc.pricing import PriceTable
from policy_svc.requests import SyscallRequest
from policy_svc.store import Store

log = logging.getLogger(__name__)

LLM_CALL, TOOL_CALL, SPAWN, KB_QUERY = "llm_call", "tool_call", "spawn", "kb_query"
MAX_ERROR_CHARS = 2000
MAX_EVIDENCE_ITEMS = 50
MAX_EVIDENCE_CHARS = 20_000
DIGEST_PATTERN = re.compile(r"^([0-9a-f]{64})?$")


@dataclass(frozen=True)
class Decision:
    decision: str
    reason: str = ""
    message: str = ""
    approval_id: str = ""
    syscall_id: str = ""
    reserved_usd: Decimal = Decimal(0)
    # The resource limits the effect may run under (a sandboxed tool's).
    limits: dict[str, float] = field(default_factory=dict)
    # A tool call's argument labels, as policy checked them (recorded with the decision).
    arg_provenance: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settlement:
    """`cost_usd` is what the session was charged (at most the reservation);
    `overrun_usd` what the provider reported beyond it."""

    cost_usd: Decimal
    session_spent_usd: Decimal
    overrun_usd: Decimal = Decimal(0)


@dataclass(frozen=True)
class ToolPolicy:
    name: str
    reversible: bool
    blast_radius: str
    idempotent: bool
    args_schema_json: str = ""
    definition_hash: str = ""
    open_world: bool = False

    def __post_init__(self) -> None:
        if not CAPABILITY_PATTERN.match(self.name):
            raise InvalidArgument(f"tool name {self.name!r} is not a valid name")
        if self.blast_radius not in BLAST_RADII:
            raise InvalidArgument(f"blast_radius of {self.name} must be one of {', '.join(BLAST_RADII)}")
        if self.args_schema_json:
            try:
                json.loads(self.args_schema_json)
            except json.JSONDecodeError as exc:
                raise InvalidArgument(f"args schema of {self.name} is not JSON: {exc}") from exc


class Syscalls:
    def __init__(self, authority: TokenAuthority, store: Store, audit: AuditLog, prices: PriceTable,
                 approvals: ApprovalDesk, approval_ttl_seconds: int):
        self._authority = authority
        self._store = store
        self._audit = audit
        self._prices = prices
        self._approvals = approvals
        self._approval_ttl = approval_ttl_seconds

    async def authorize(self, request: SyscallRequest) -> Decision:
        try:
            claims = await self._authority.verify(request.token)
        except TokenExpired as error:
            return await self._deny_unverified(request, "TOKEN_EXPIRED", error.message)
        except AosError as error:
            if error.reason == "UNAVAILABLE":
                raise
            return await self._deny_unverified(request, "UNAUTHENTICATED", error.message)
        try:
            decisions.check_caller(claims, request)
            if request.kind == TOOL_CALL:
                return await self._tool_call(claims, request)
            if request.kind == LLM_CALL:
                return await self._llm_call(claims, request)
            if request.kind == SPAWN:
                return await self._plain(claims, request, PERM_AGENTS_SPAWN)
            if request.kind == KB_QUERY:
                return await self._plain(claims, request, request.target)
            raise Refused("INVALID_ARGUMENT", "syscall kind is missing or unknown")
        except Refused as refusal:
            return await self._deny(claims, request, refusal.reason, refusal.message, refusal.record)

    # --- the kinds

    async def _plain(self, claims: Claims, request: SyscallRequest, needed: str,
                     limits: dict[str, float] | None = None, labels: dict[str, str] | None = None) -> Decision:
        decisions.check_capability(claims, needed)
        decision = Decision(ALLOW, syscall_id=str(uuid.uuid4()), limits=limits or {}, arg_provenance=labels or {})
        # The decision goes on the chain first, then the row Complete settles
        # (one autocommit statement). A failed append leaves neither a row nor
        # an ALLOW; a failed insert leaves an ALLOWED record that no effect
        # follows, as when a kernel dies right after an ALLOW.
        await self._record(claims, request, decision)
        await self._store.insert_syscall(decision.syscall_id, claims.session_id, agent_id_of(claims), claims.jti,
                                         request.kind, request.target, request.args_hash, None)
        return decision

    async def _tool_call(self, claims: Claims, request: SyscallRequest) -> Decision:
        # A target outside the caps is refused without reading the registration.
        held = allows(claims.capabilities, request.target)
        tool = await self._store.get_tool(request.target) if held else None
        route = decisions.tool_route(claims, request, tool)
        assert tool is not None  # tool_route refuses an unregistered tool
        labels = decisions.arg_labels(request)
        if not (decisions.consequential(tool) or request.limits
                or judging.may_be_judged(tool["reversible"], tool["blast_radius"])):
            # Reversible, closed-world, low blast radius, unsandboxed: nothing the class
            # says applies, so the common call is spared reading it.
            return await self._plain(claims, request, request.target, None, labels)
        agent_class = await self._agent_class(claims)
        if decisions.consequential(tool):
            route = decisions.untrusted_gate(route, request, labels, agent_class)
        # The limits a sandboxed call asked for, each lowered to its class's ceiling.
        limits = decisions.sandbox_limits(request, agent_class) if request.limits else {}
        judged = self._judged(request, tool, route, agent_class)
        if route == decisions.RUN:
            return await self._plain(claims, request, request.target, limits, labels)
        if route == decisions.USE_APPROVAL:
            return await self._use_approval(claims, request, limits, labels)
        return await self._request_approval(claims, request, tool["blast_radius"], labels, judged, agent_class)

    @staticmethod
    def _judged(request: SyscallRequest, tool: dict[str, Any], route: str,
                agent_class: AgentClass) -> dict[str, str]:
        """The class judge's verdict the call carries, or Refused (decisions.judge_gate). A call
        that uses an approval was judged before its approval was opened; one an operator asked
        for (InvokeTool) is the operator's proposal, not the agent's, and is not judged."""
        if route == decisions.USE_APPROVAL or request.invoked_by:
            return {}
        return decisions.judge_gate(request, agent_class, tool)

    async def _agent_class(self, claims: Claims) -> AgentClass:
        agent_class = await self._store.get_class(claims.agent_class)
        if agent_class is None:
            raise Refused("INSUFFICIENT_AUTHORITY", f"the agent's class {claims.agent_class!r} does not exist")
        return agent_class

    async def _request_approval(self, claims: Claims, request: SyscallRequest, blast_radius: str,
                                labels: dict[str, str], judge: dict[str, str], agent_class: AgentClass) -> Decision:
        agent_id = agent_id_of(claims)
        await self._approvals.expire_stale()
        existing = await self._store.pending_approval(agent_id, request.target, request.args_hash)
        if existing:
            # Asking again for the same call waits on the same request; the
            # chain already holds HUMAN_APPROVAL_REQUESTED for it.
            return Decision(PENDING, approval_id=existing, message="waiting for an operator's approval")
        approval_id = str(uuid.uuid4())
        # The quorum and who may not count are fixed now: a later class change cannot lower them.
        required = agent_class.approvals_required(blast_radius)
        excluded = (await self._store.agent_spawners(claims.jti, agent_id)
                    if agent_class.approval_excludes_spawner else [])
        async with self._store.transaction() as tx:
            inserted = await tx.insert_approval(
                approval_id, agent_id, claims.session_id, request.target, request.args_canonical,
                request.args_hash, blast_radius, _bounded_evidence(request.evidence),
                sorted(claims.capabilities), claims.jti, agent_class.approval_ttl_seconds or self._approval_ttl,
                labels, judge, required, excluded,
            )
            if inserted:
                decision = Decision(PENDING, approval_id=approval_id, message="waiting for an operator's approval",
                                    arg_provenance=labels)
                await self._record(claims, request, decision, events.HUMAN_APPROVAL_REQUESTED,
                                   {"blast_radius": blast_radius, "approvals_required": required,
                                    **({"excluded_approvers": excluded} if excluded else {}),
                                    **({"judge": judge} if judge else {})})
                return decision
        # Another call for the same args created the request first.
        existing = await self._store.pending_approval(agent_id, request.target, request.args_hash)
        return Decision(PENDING, approval_id=existing or "", message="waiting for an operator's approval")

    async def _use_approval(self, claims: Claims, request: SyscallRequest, limits: dict[str, float],
                            labels: dict[str, str]) -> Decision:
        agent_id = agent_id_of(claims)
        try:
            approval_id = check_uuid(request.approval_id, "approval_id")
        except InvalidArgument as error:
            raise Refused("INVALID_ARGUMENT", error.message) from None
        row = await self._store.get_approval(approval_id)
        if decisions.approval_verdict(row, agent_id, request) == decisions.APPROVAL_PENDING:
            return Decision(PENDING, approval_id=approval_id, message="waiting for an operator's approval")
        syscall_id = syscall_id_for(approval_id)
        async with self._store.transaction() as tx:
            consumed = await tx.consume_approval(approval_id, agent_id, request.target, request.args_hash,
                                                 syscall_id)
            if consumed:
                await tx.insert_syscall(syscall_id, claims.session_id, agent_id, claims.jti, request.kind,
                                        request.target, request.args_hash, approval_id)
                decision = Decision(ALLOW, approval_id=approval_id, syscall_id=syscall_id, limits=limits,
                                    arg_provenance=labels)
                await self._record(claims, request, decision)
                return decision
        raise Refused("INSUFFICIENT_AUTHORITY", "approval was already used; approvals are single-use")

    async def _llm_call(self, claims: Claims, request: SyscallRequest) -> Decision:
        backend = request.target
        # A backend outside the token is refused without reading the class.
        agent_class = await self._store.get_class(claims.agent_class) if backend in claims.backends else None
        estimate = decisions.llm_estimate(claims, request, agent_class, self._prices)
        syscall_id = str(uuid.uuid4())
        async with self._store.transaction() as tx:
            ledger = await tx.reserve(claims.session_id, estimate, syscall_id, agent_id_of(claims), claims.jti,
                                      request.kind, backend, request.model)
            if ledger is not None:
                decision = Decision(ALLOW, syscall_id=syscall_id, reserved_usd=estimate)
                await self._record(claims, request, decision, extra={
                    "model": request.model,
                    "session_reserved_usd": float(ledger["reserved_usd"]),
                    "session_spent_usd": float(ledger["spent_usd"]),
                    "ceiling_usd": float(ledger["ceiling_usd"]),
                })
                return decision
        raise Refused("COST_CEILING_EXCEEDED",
                       f"reserving ${estimate} for {request.model} would pass the session's cost ceiling")

    # --- completion

    async def complete(self, token: str, syscall_id: str, ok: bool, error: str, input_tokens: int,
                       output_tokens: int, result_digest: str) -> Settlement:
        # Settling grants nothing and records an effect that already happened:
        # it needs a token policy minted (signature, even past expiry, and its
        # record), but not one still unrevoked - refusing would lose the record.
        claims = self._authority.identify(token)
        syscall, record = await self._store.settlement(check_uuid(syscall_id, "syscall_id"), claims.jti)
        self._authority.check_minted(token, claims, record)
        if syscall is None:
            raise NotFound(f"no syscall {syscall_id}")
        agent_id = agent_id_of(claims)
        if claims.kind != "agent" or syscall["agent_id"] != agent_id:
            raise InsufficientAuthority("only the agent that made a syscall can complete it")
        if not DIGEST_PATTERN.match(result_digest):
            raise InvalidArgument("result_digest must be a hex SHA-256 or empty")
        reported = Decimal(0)
        if syscall["kind"] == LLM_CALL:
            reported = self._prices.cost(syscall["model"], input_tokens, output_tokens)
        if not syscall["completed"]:
            async with self._store.transaction() as tx:
                settled = await tx.settle(syscall["syscall_id"], agent_id, ok, error[:MAX_ERROR_CHARS],
                                          result_digest, reported)
                if settled is not None:
                    spent, charged = settled
                    await self._audit.append(syscall["session_id"], events.SYSCALL_COMPLETED, claims, {
                        "syscall_id": syscall["syscall_id"],
                        "agent_id": agent_id,
                        "kind": syscall["kind"],
                        "target": syscall["target"],
                        "ok": ok,
                        "error": error[:500],
                        "result_digest": result_digest,
                        "cost_usd": float(charged),
                        "released_usd": float(syscall["reserved_usd"]),
                    })
                    if reported > charged:
                        await self._audit.append(syscall["session_id"], events.COST_OVERRUN_REPORTED, claims, {
                            "syscall_id": syscall["syscall_id"],
                            "agent_id": agent_id,
                            "target": syscall["target"],
                            "model": syscall["model"],
                            "input_tokens": input_tokens,
                            "output_tokens": output_tokens,
                            "reported_usd": float(reported),
                            "charged_usd": float(charged),
                            "overrun_usd": float(reported - charged),
                        })
                    return Settlement(charged, spent, reported - charged)
        # Already settled: report what was recorded, change nothing.
        recorded = await self._store.get_syscall(syscall["syscall_id"])
        ledger = await self._store.get_ledger(syscall["session_id"])
        assert recorded is not None and ledger is not None  # syscalls and ledgers are never deleted
        charged = recorded["cost_usd"] or Decimal(0)
        overrun = max((recorded["reported_usd"] or charged) - charged, Decimal(0))
        return Settlement(charged, ledger["spent_usd"], overrun)

    # --- tools and costs

    async def register_tools(self, tools: list[ToolPolicy]) -> int:
        async with self._store.transaction() as tx:
            for tool in tools:
                reversible = await tx.upsert_tool(tool.name, tool.reversible, tool.blast_radius, tool.idempotent,
                                                  tool.args_schema_json, tool.definition_hash, tool.open_world)
                if reversible != tool.reversible:
                    log.warning("tool stays irreversible; a registration cannot remove its approval gate",
                                extra=log_fields(tool=tool.name))
        return len(tools)

    async def session_cost(self, session_id: str) -> dict[str, Any]:
        ledger = await self._store.get_ledger(check_uuid(session_id, "session_id"))
        if ledger is None:
            raise NotFound(f"no session {session_id}")
        return ledger

    # --- recording decisions

    async def _record(self, claims: Claims, request: SyscallRequest, decision: Decision,
                      event_type: str | None = None, extra: dict[str, Any] | None = None) -> None:
        if event_type is None:
            event_type = events.SYSCALL_ALLOWED if decision.decision == ALLOW else events.SYSCALL_DENIED
        payload = {
            "agent_id": agent_id_of(claims) or request.agent_id,
            "kind": request.kind,
            "target": request.target[:200],
            "args_hash": request.args_hash[:64],
            "decision": decision.decision,
            "reason": decision.reason,
            "message": decision.message[:500],
            "approval_id": decision.approval_id,
            "syscall_id": decision.syscall_id,
            "reserved_usd": float(decision.reserved_usd),
            **({"limits": decision.limits} if decision.limits else {}),
            **({"arg_labels": provenance.on_chain(decision.arg_provenance)} if decision.arg_provenance else {}),
            **request.requester(),
            **(extra or {}),
        }
        await self._audit.append(claims.session_id or events.SYSTEM_SESSION_ID, event_type, claims, payload)

    async def _deny(self, claims: Claims, request: SyscallRequest, reason: str, message: str,
                    extra: dict[str, Any] | None = None) -> Decision:
        decision = Decision(DENY, reason=reason, message=message, approval_id=request.approval_id[:64])
        await self._record(claims, request, decision, extra=extra)
        return decision

    async def _deny_unverified(self, request: SyscallRequest, reason: str, message: str) -> Decision:
        """A token policy cannot trust names no session worth believing: the
        refusal goes to the system chain, attributed to no one."""
        decision = Decision(DENY, reason=reason, message=message)
        payload = {
            "agent_id": request.agent_id[:128],
            "kind": request.kind,
            "target": request.target[:200],
            "decision": DENY,
            "reason": reason,
            "message": message,
            **request.requester(),
        }
        await self._audit.append(events.SYSTEM_SESSION_ID, events.SYSCALL_DENIED, None, payload)
        return decision


def _bounded_evidence(evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evidence is shown to operators, not trusted; keep it to a readable size."""
    bounded = []
    for item in evidence[:MAX_EVIDENCE_ITEMS]:
        bounded.append({**item, "content": str(item.get("content", ""))[:MAX_EVIDENCE_CHARS]})
    return bounded
