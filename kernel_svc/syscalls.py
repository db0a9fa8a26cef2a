"""The syscall boundary: the one place the kernel reaches a provider or a tool.

Authorize → effect → Complete. An effect needs a `Permit`, and a Permit exists
only when policy answered ALLOW (or when a checkpoint records that it did, for
an effect that was under way when its worker died). Nothing else in the kernel
calls `provider.complete` or `tool.run`; tests/unit/test_kernel_boundary.py
enforces that by reading the source.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aos.v1 import common_pb2
from aos.v1 import policy_internal_pb2 as pb
from aos.v1 import policy_internal_pb2_grpc as pb_grpc
from aos_common.canonical import args_hash, sha256_hex
from aos_common.decisions import ALLOW, DENY, PENDING
from aos_common.errors import AosError, InsufficientAuthority
from aos_common.logs import log_fields
from aos_common.rpc import call
from aos_common.tokens import Claims
from kernel_svc.checkpoint import ALLOWED, Inflight, ResultRecord
from kernel_svc.failpoints import AFTER_EFFECT, Failpoints
from kernel_svc.providers.base import LlmRequest, LlmResponse, Provider, ProviderError
from kernel_svc.store import Store
from kernel_svc.tools.registry import Tool, ToolContext, ToolError

log = logging.getLogger(__name__)

LLM_CALL = pb.SYSCALL_KIND_LLM_CALL
TOOL_CALL = pb.SYSCALL_KIND_TOOL_CALL

_VERDICTS = {pb.DECISION_ALLOW: ALLOW, pb.DECISION_PENDING: PENDING, pb.DECISION_DENY: DENY}
_SEAL = object()
MAX_TOOL_OUTPUT_CHARS = 64 * 1024
EVIDENCE_EXCERPT_CHARS = 2000


class ProviderFailed(Exception):
    """The LLM call was allowed but the provider failed; its syscall is completed as failed."""


@dataclass(frozen=True)
class Caller:
    """The agent on whose behalf a syscall is made, under the claim `epoch`."""

    agent_id: str
    session_id: str
    token: str = field(repr=False)
    epoch: int


@dataclass(frozen=True)
class Permit:
    """Proof of an ALLOW for exactly one (kind, target, args_hash)."""

    kind: int
    target: str
    args_hash: str
    syscall_id: str
    approval_id: str
    seal: object = field(repr=False, compare=False)
    # The resource limits the effect runs under, as policy allowed them.
    limits: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.seal is not _SEAL:
            raise InsufficientAuthority("a permit can only come from an ALLOW")


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str = ""
    message: str = ""
    approval_id: str = ""
    permit: Permit | None = None


@dataclass(frozen=True)
class Settled:
    """What policy charged for a syscall, and what the provider reported beyond its reservation."""

    cost_usd: float = 0.0
    overrun_usd: float = 0.0


@dataclass(frozen=True)
class LlmOutcome:
    response: LlmResponse
    cost_usd: float
    # Above 0: the provider reported more usage than was reserved (it is misbehaving).
    overrun_usd: float = 0.0


@dataclass(frozen=True)
class ToolOutcome:
    ok: bool
    text: str
    cost_usd: float = 0.0

    @property
    def digest(self) -> str:
        return sha256_hex(self.text.encode())


def allowed_limits(asked: Mapping[str, float], allowed: Mapping[str, float]) -> dict[str, float]:
    """The limits an effect runs under: policy's answer, which must name every limit
    asked for and may only lower it (a policy that raises one is not believed)."""
    missing = set(asked) - set(allowed)
    if missing:
        raise AosError(f"policy allowed the call without limits for {', '.join(sorted(missing))}")
    return {name: min(value, allowed[name]) for name, value in asked.items()}


def evidence_items(results: Sequence[ResultRecord]) -> list[common_pb2.EvidenceItem]:
    return [
        common_pb2.EvidenceItem(index=r.index, tool=r.tool, args_json=r.args_json, content=r.excerpt,
                                injection_patterns=list(r.patterns))
        for r in results
    ]


class SyscallBoundary:
    def __init__(
        self,
        policy: pb_grpc.PolicyServiceStub,
        store: Store,
        failpoints: Failpoints | None = None,
        timeout_s: float = 10.0,
        tool_timeout_s: float = 30.0,
    ):
        self._policy = policy
        self._store = store
        self._failpoints = failpoints or Failpoints()
        self._timeout_s = timeout_s
        self._tool_timeout_s = tool_timeout_s

    async def authorize(
        self,
        caller: Caller,
        *,
        kind: pb.SyscallKind,
        target: str,
        args_canonical: str = "",
        args_digest: str = "",
        model: str = "",
        max_input_tokens: int = 0,
        max_output_tokens: int = 0,
        approval_id: str = "",
        evidence: Sequence[ResultRecord] = (),
        invoked_by: Claims | None = None,
        definition_hash: str = "",
        limits: Mapping[str, float] | None = None,
        arg_provenance: Mapping[str, str] | None = None,
        judge: Mapping[str, str] | None = None,
    ) -> Decision:
        request = pb.AuthorizeRequest(
            token=caller.token,
            kind=kind,
            target=target,
            agent_id=caller.agent_id,
            args_canonical=args_canonical,
            args_hash=args_digest,
            model=model,
            max_input_tokens=max_input_tokens,
            max_output_tokens=max_output_tokens,
            approval_id=approval_id,
            evidence=evidence_items(evidence),
            invoked_by=invoked_by.subject if invoked_by else "",
            invoked_by_jti=invoked_by.jti if invoked_by else "",
            definition_hash=definition_hash,
            limits=limits or {},
            arg_provenance=arg_provenance or {},
            judge_verdict=(judge or {}).get("verdict", ""),
            judge_model=(judge or {}).get("model", ""),
            judge_reason=(judge or {}).get("reason", ""),
        )
        reply = await call(self._policy.Authorize(request, timeout=self._timeout_s), "policy")
        verdict = _VERDICTS.get(reply.decision, DENY)
        if verdict != ALLOW:
            return Decision(verdict, reply.reason or "INSUFFICIENT_AUTHORITY", reply.message, reply.approval_id)
        if not reply.syscall_id:
            raise AosError("policy allowed a syscall without naming it")
        permit = Permit(kind, target, args_digest, reply.syscall_id, reply.approval_id, _SEAL,
                        allowed_limits(limits or {}, reply.limits))
        return Decision(ALLOW, approval_id=reply.approval_id, permit=permit)

    def resume(self, inflight: Inflight) -> Permit:
        """The permit of a tool call whose ALLOW a checkpoint recorded before the worker died.

        Used only for non-idempotent tools, whose effect is then claimed through
        kernel.tool_executions so it still happens at most once."""
        if inflight.phase != ALLOWED or not inflight.syscall_id:
            raise InsufficientAuthority("the checkpoint records no ALLOW for this call")
        return Permit(TOOL_CALL, inflight.target, inflight.args_hash, inflight.syscall_id,
                      inflight.approval_id, _SEAL)

    async def call_llm(self, permit: Permit, caller: Caller, provider: Provider, request: LlmRequest) -> LlmOutcome:
        self._check(permit, LLM_CALL, provider.name, "")
        try:
            response = await provider.complete(request)
        except ProviderError as error:
            await self.report(caller, permit.syscall_id, ok=False, error=str(error)[:400])
            raise ProviderFailed(str(error)) from None
        except BaseException:
            await asyncio.shield(self.report(caller, permit.syscall_id, ok=False, error="provider call aborted"))
            raise
        settled = await self.report(
            caller,
            permit.syscall_id,
            ok=True,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            result_digest=sha256_hex(response.text.encode()),
        )
        return LlmOutcome(response, settled.cost_usd, settled.overrun_usd)

    async def run_tool(
        self, permit: Permit, caller: Caller, tool: Tool, args: Mapping[str, Any], ctx: ToolContext
    ) -> ToolOutcome:
        self._check(permit, TOOL_CALL, tool.name, args_hash(dict(args)))
        ctx = replace(ctx, limits=permit.limits)
        if tool.idempotent:
            outcome = await self._execute(tool, args, ctx)
        else:
            outcome = await self._execute_once(permit, caller, tool, args, ctx)
        settled = await self.report(
            caller,
            permit.syscall_id,
            ok=outcome.ok,
            error="" if outcome.ok else outcome.text[:400],
            result_digest=outcome.digest,
        )
        return ToolOutcome(outcome.ok, outcome.text, settled.cost_usd)

    async def report(
        self,
        caller: Caller,
        syscall_id: str,
        *,
        ok: bool,
        error: str = "",
        input_tokens: int = 0,
        output_tokens: int = 0,
        result_digest: str = "",
    ) -> Settled:
        """Report an outcome to policy; retried briefly, since the effect already happened."""
        request = pb.CompleteRequest(
            token=caller.token,
            syscall_id=syscall_id,
            ok=ok,
            error=error,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            result_digest=result_digest,
        )
        for attempt in range(3):
            try:
                reply = await call(self._policy.Complete(request, timeout=self._timeout_s), "policy")
                return Settled(reply.cost_usd, reply.overrun_usd)
            except AosError as failure:
                if failure.reason != "UNAVAILABLE" or attempt == 2:
                    log.warning(
                        "syscall completion not recorded by policy",
                        extra=log_fields(agent_id=caller.agent_id, syscall_id=syscall_id, reason=failure.reason),
                    )
                    return Settled()
                await asyncio.sleep(0.5 * (attempt + 1))
        return Settled()

    @staticmethod
    def _check(permit: Permit, kind: int, target: str, digest: str) -> None:
        if permit.kind != kind or permit.target != target or (kind == TOOL_CALL and permit.args_hash != digest):
            raise InsufficientAuthority(f"the permit does not cover this call to {target}")

    async def _execute(self, tool: Tool, args: Mapping[str, Any], ctx: ToolContext) -> ToolOutcome:
        """Run a tool under the per-call deadline. Every expected failure, an OS
        error of any kind and a missed deadline become a tool error the model sees."""
        deadline = asyncio.timeout(self._tool_timeout_s)
        try:
            async with deadline:
                text = await self._run(tool, args, ctx)
        except ToolError as error:
            return ToolOutcome(False, str(error))
        except OSError as error:  # TimeoutError too: the deadline's own, or one the tool met
            if deadline.expired():
                log.warning("tool missed its deadline; stopped", extra=log_fields(
                    tool=tool.name, agent_id=ctx.agent_id, deadline_seconds=self._tool_timeout_s))
                return ToolOutcome(False,
                                   f"{tool.name} did not finish within {self._tool_timeout_s:g} s and was stopped")
            log.warning("tool failed with an OS error", extra=log_fields(
                tool=tool.name, agent_id=ctx.agent_id, errno=error.errno))
            return ToolOutcome(False, f"{tool.name} failed: {os.strerror(error.errno) if error.errno else 'OS error'}")
        except AosError:
            raise
        except Exception:
            log.exception("tool failed", extra=log_fields(tool=tool.name, agent_id=ctx.agent_id))
            return ToolOutcome(False, f"{tool.name} failed with an internal error")
        if len(text) > MAX_TOOL_OUTPUT_CHARS:
            text = text[:MAX_TOOL_OUTPUT_CHARS] + f"\n... output truncated at {MAX_TOOL_OUTPUT_CHARS} characters"
        return ToolOutcome(True, text)

    async def _run(self, tool: Tool, args: Mapping[str, Any], ctx: ToolContext) -> str:
        await self._failpoints.in_tool(tool.name)
        return await tool.run(args, ctx)

    async def _execute_once(
        self, permit: Permit, caller: Caller, tool: Tool, args: Mapping[str, Any], ctx: ToolContext
    ) -> ToolOutcome:
        """Run a non-idempotent effect at most once per syscall: the claim row is
        written (fenced by the caller's epoch) before the effect starts."""
        key = permit.syscall_id
        if await self._store.begin_execution(key, caller.agent_id, caller.epoch, tool.name, permit.args_hash):
            outcome = await self._execute(tool, args, ctx)
            self._failpoints.hit(AFTER_EFFECT, tool.name)
            await self._store.finish_execution(key, outcome.ok, outcome.text)
            return outcome
        prior = await self._store.get_execution(key)
        log.warning("effect already claimed by an earlier attempt; not run again",
                    extra=log_fields(agent_id=caller.agent_id, tool=tool.name, syscall_id=key))
        if prior is None or prior.ok is None:
            return ToolOutcome(
                False,
                f"{tool.name} was started by an earlier attempt that stopped before recording its outcome. "
                "It is not run again because it is not idempotent; check its effect before asking again.",
            )
        return ToolOutcome(prior.ok, prior.result or "")
