"""gRPC servicers: protobuf in, domain calls, protobuf out. Nothing else."""

from __future__ import annotations

import json
from typing import Any

import grpc
from google.protobuf import struct_pb2

from aos.v1 import agent_classes_pb2 as classes_pb
from aos.v1 import agent_classes_pb2_grpc as classes_grpc
from aos.v1 import approvals_pb2 as approvals_pb
from aos.v1 import approvals_pb2_grpc as approvals_grpc
from aos.v1 import common_pb2
from aos.v1 import policy_internal_pb2 as policy_pb
from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos.v1 import status_pb2 as status_pb
from aos.v1 import status_pb2_grpc as status_grpc
from aos.v1 import tokens_pb2 as tokens_pb
from aos.v1 import tokens_pb2_grpc as tokens_grpc
from aos_common import provenance
from aos_common.decisions import ALLOW, DENY, PENDING
from aos_common.judging import JudgeConfig, judge_config
from aos_common.timestamps import to_timestamp
from policy_svc.agent_tokens import AgentToken, AgentTokens
from policy_svc.approvals import ApprovalDesk, effective_state
from policy_svc.authority import TokenAuthority
from policy_svc.classes import AgentClass
from policy_svc.operators import Operators
from policy_svc.requests import SyscallRequest
from policy_svc.syscalls import Syscalls, ToolPolicy

_KINDS = {
    policy_pb.SYSCALL_KIND_LLM_CALL: "llm_call",
    policy_pb.SYSCALL_KIND_TOOL_CALL: "tool_call",
    policy_pb.SYSCALL_KIND_SPAWN: "spawn",
    policy_pb.SYSCALL_KIND_KB_QUERY: "kb_query",
}
_DECISIONS = {
    ALLOW: policy_pb.DECISION_ALLOW,
    PENDING: policy_pb.DECISION_PENDING,
    DENY: policy_pb.DECISION_DENY,
}


def agent_class_pb(agent_class: AgentClass) -> classes_pb.AgentClass:
    return classes_pb.AgentClass(
        name=agent_class.name,
        backend=agent_class.backend,
        model=agent_class.model,
        allowed_backends=sorted(agent_class.allowed_backends),
        capabilities=sorted(agent_class.capabilities),
        cost_ceiling_usd=agent_class.cost_ceiling_usd,
        created_at=to_timestamp(agent_class.created_at),
        max_agents=agent_class.max_agents or 0,
        max_depth=agent_class.max_depth or 0,
        sandbox_limits=agent_class.sandbox_limits,
        untrusted_args=agent_class.untrusted_args,
        judge=judge_pb(agent_class.judge),
        approval_quorum=agent_class.approval_quorum,
        approval_excludes_spawner=agent_class.approval_excludes_spawner,
        approval_ttl_seconds=agent_class.approval_ttl_seconds or 0,
    )


def judge_pb(judge: JudgeConfig) -> classes_pb.JudgeConfig | None:
    if not judge.enabled:
        return None
    return classes_pb.JudgeConfig(backend=judge.backend, model=judge.model, on=sorted(judge.on), policy=judge.policy)


def approval_pb(row: dict[str, Any]) -> approvals_pb.Approval:
    args = struct_pb2.Struct()
    args.update(json.loads(row["args_canonical"]))
    evidence = [
        common_pb2.EvidenceItem(index=int(item.get("index", 0)), tool=str(item.get("tool", "")),
                                args_json=str(item.get("args_json", "")), content=str(item.get("content", "")),
                                injection_patterns=[str(p) for p in item.get("injection_patterns", [])])
        for item in json.loads(row["evidence"] or "[]")
    ]
    return approvals_pb.Approval(
        approval_id=row["approval_id"],
        agent_id=row["agent_id"],
        session_id=row["session_id"],
        tool=row["tool"],
        args=args,
        args_canonical=row["args_canonical"],
        args_hash=row["args_hash"],
        blast_radius=row["blast_radius"],
        evidence=evidence,
        capability_scope=list(row["capability_scope"]),
        state=effective_state(row),
        decided_by=row["decided_by"] or "",
        decided_jti=row["decided_jti"] or "",
        reason=row["reason"],
        created_at=to_timestamp(row["created_at"]),
        decided_at=to_timestamp(row["decided_at"]),
        expires_at=to_timestamp(row["expires_at"]),
        arg_provenance=json.loads(row["arg_provenance"] or "{}"),
        judge=_verdict_pb(json.loads(row["judge"] or "{}")),
        approvals_given=len(row["approvers"]),
        approvals_required=row["approvals_required"],
        approvers=[approvals_pb.Approver(subject=a["subject"], jti=a["jti"], at=to_timestamp(a["at"]))
                   for a in row["approvers"]],
    )


def _verdict_pb(judge: dict[str, str]) -> approvals_pb.JudgeVerdict | None:
    if not judge:
        return None
    return approvals_pb.JudgeVerdict(verdict=judge["verdict"], reason=judge["reason"], model=judge["model"])


def _token_info(row: dict[str, Any]) -> tokens_pb.TokenInfo:
    return tokens_pb.TokenInfo(
        jti=row["jti"],
        parent_jti=row["parent_jti"] or "",
        subject=row["subject"],
        kind=row["kind"],
        grants=list(row["caps"]),
        backends=list(row["backends"]),
        session_id=row["session_id"] or "",
        issued_at=to_timestamp(row["issued_at"]),
        expires_at=to_timestamp(row["expires_at"]),
        revoked=row["revoked"],
    )


def _evidence(items: Any) -> list[dict[str, Any]]:
    return [{"index": e.index, "tool": e.tool, "args_json": e.args_json, "content": e.content,
             **({"injection_patterns": list(e.injection_patterns)} if e.injection_patterns else {})} for e in items]


class PolicyServicer(policy_grpc.PolicyServiceServicer):
    def __init__(self, syscalls: Syscalls, agent_tokens: AgentTokens, authority: TokenAuthority):
        self._syscalls = syscalls
        self._agent_tokens = agent_tokens
        self._authority = authority

    async def Authorize(self, request: policy_pb.AuthorizeRequest, context: grpc.aio.ServicerContext,
                        ) -> policy_pb.AuthorizeResponse:
        decision = await self._syscalls.authorize(SyscallRequest(
            token=request.token,
            kind=_KINDS.get(request.kind, "unspecified"),
            target=request.target,
            agent_id=request.agent_id,
            args_canonical=request.args_canonical,
            args_hash=request.args_hash,
            model=request.model,
            max_input_tokens=request.max_input_tokens,
            max_output_tokens=request.max_output_tokens,
            approval_id=request.approval_id,
            evidence=_evidence(request.evidence),
            invoked_by=request.invoked_by,
            invoked_by_jti=request.invoked_by_jti,
            definition_hash=request.definition_hash,
            limits=dict(request.limits),
            arg_provenance=dict(request.arg_provenance),
            judge_verdict=request.judge_verdict,
            judge_model=request.judge_model,
            judge_reason=request.judge_reason,
        ))
        return policy_pb.AuthorizeResponse(
            decision=_DECISIONS[decision.decision],
            reason=decision.reason,
            message=decision.message,
            approval_id=decision.approval_id,
            syscall_id=decision.syscall_id,
            reserved_usd=float(decision.reserved_usd),
            limits=decision.limits,
        )

    async def Complete(self, request: policy_pb.CompleteRequest, context: grpc.aio.ServicerContext,
                       ) -> policy_pb.CompleteResponse:
        settled = await self._syscalls.complete(
            request.token, request.syscall_id, request.ok, request.error, request.input_tokens,
            request.output_tokens, request.result_digest,
        )
        return policy_pb.CompleteResponse(cost_usd=float(settled.cost_usd),
                                          session_spent_usd=float(settled.session_spent_usd),
                                          overrun_usd=float(settled.overrun_usd))

    async def GetJwks(self, request: policy_pb.GetJwksRequest, context: grpc.aio.ServicerContext,
                      ) -> policy_pb.GetJwksResponse:
        return policy_pb.GetJwksResponse(jwks_json=json.dumps(self._authority.keys.jwks()))

    async def GetRevocations(self, request: policy_pb.GetRevocationsRequest, context: grpc.aio.ServicerContext,
                             ) -> policy_pb.GetRevocationsResponse:
        return policy_pb.GetRevocationsResponse(revoked_jtis=await self._authority.revoked())

    async def MintAgentToken(self, request: policy_pb.MintAgentTokenRequest, context: grpc.aio.ServicerContext,
                             ) -> policy_pb.MintAgentTokenResponse:
        minted = await self._agent_tokens.mint(
            request.caller_token, request.agent_class, list(request.requested_grants), request.session_id,
            request.agent_id, request.parent_agent_id,
        )
        return _mint_response(minted)

    async def RenewAgentToken(self, request: policy_pb.RenewAgentTokenRequest,
                              context: grpc.aio.ServicerContext) -> policy_pb.RenewAgentTokenResponse:
        renewed = await self._agent_tokens.renew(request.caller_token, request.agent_id, request.expired_jti)
        return policy_pb.RenewAgentTokenResponse(token=renewed.token, jti=renewed.claims.jti,
                                                 expires_at_unix=renewed.claims.expires_at)

    async def RegisterTools(self, request: policy_pb.RegisterToolsRequest, context: grpc.aio.ServicerContext,
                            ) -> policy_pb.RegisterToolsResponse:
        tools = [
            ToolPolicy(name=t.name, reversible=t.reversible,
                       blast_radius=t.blast_radius or ("low" if t.reversible else "high"),
                       idempotent=t.idempotent, args_schema_json=t.args_schema_json,
                       definition_hash=t.definition_hash, open_world=t.open_world)
            for t in request.tools
        ]
        return policy_pb.RegisterToolsResponse(registered=await self._syscalls.register_tools(tools))

    async def RetireAgentTokens(self, request: policy_pb.RetireAgentTokensRequest,
                                context: grpc.aio.ServicerContext) -> policy_pb.RetireAgentTokensResponse:
        revoked = await self._agent_tokens.retire(list(request.jtis))
        return policy_pb.RetireAgentTokensResponse(revoked_count=revoked)

    async def GetSessionCost(self, request: policy_pb.GetSessionCostRequest, context: grpc.aio.ServicerContext,
                             ) -> policy_pb.GetSessionCostResponse:
        ledger = await self._syscalls.session_cost(request.session_id)
        return policy_pb.GetSessionCostResponse(ceiling_usd=float(ledger["ceiling_usd"]),
                                                reserved_usd=float(ledger["reserved_usd"]),
                                                spent_usd=float(ledger["spent_usd"]))


def _mint_response(minted: AgentToken) -> policy_pb.MintAgentTokenResponse:
    return policy_pb.MintAgentTokenResponse(
        token=minted.token,
        jti=minted.claims.jti,
        session_id=minted.claims.session_id,
        grants=sorted(minted.claims.capabilities),
        agent_class=agent_class_pb(minted.agent_class),
        expires_at_unix=minted.claims.expires_at,
    )


class TokenServicer(tokens_grpc.TokenServiceServicer):
    def __init__(self, operators: Operators, authority: TokenAuthority):
        self._operators = operators
        self._authority = authority

    async def MintToken(self, request: tokens_pb.MintTokenRequest, context: grpc.aio.ServicerContext,
                        ) -> tokens_pb.MintTokenResponse:
        caller = await self._authority.caller(context.invocation_metadata())
        token, claims = await self._operators.mint_token(caller, request.subject, list(request.grants),
                                                         list(request.backends), request.ttl_seconds)
        return tokens_pb.MintTokenResponse(token=token, jti=claims.jti, expires_at=to_timestamp(claims.expires_at),
                                           grants=sorted(claims.capabilities), subject=claims.subject)

    async def ListTokens(self, request: tokens_pb.ListTokensRequest, context: grpc.aio.ServicerContext,
                         ) -> tokens_pb.ListTokensResponse:
        caller = await self._authority.caller(context.invocation_metadata())
        rows = await self._operators.list_tokens(caller, request.include_revoked)
        return tokens_pb.ListTokensResponse(tokens=[_token_info(r) for r in rows])

    async def RevokeToken(self, request: tokens_pb.RevokeTokenRequest, context: grpc.aio.ServicerContext,
                          ) -> tokens_pb.RevokeTokenResponse:
        caller = await self._authority.caller(context.invocation_metadata())
        return tokens_pb.RevokeTokenResponse(revoked_count=await self._operators.revoke_token(caller, request.jti))


class AgentClassServicer(classes_grpc.AgentClassServiceServicer):
    def __init__(self, operators: Operators, authority: TokenAuthority):
        self._operators = operators
        self._authority = authority

    async def CreateAgentClass(self, request: classes_pb.CreateAgentClassRequest,
                               context: grpc.aio.ServicerContext) -> classes_pb.CreateAgentClassResponse:
        caller = await self._authority.caller(context.invocation_metadata())
        agent_class = AgentClass(
            name=request.name, backend=request.backend, model=request.model,
            allowed_backends=frozenset(request.allowed_backends), capabilities=frozenset(request.capabilities),
            cost_ceiling_usd=request.cost_ceiling_usd,
            max_agents=request.max_agents or None, max_depth=request.max_depth or None,
            sandbox_limits=dict(request.sandbox_limits),
            untrusted_args=request.untrusted_args or provenance.DEFAULT_UNTRUSTED_ARGS,
            judge=judge_config(request.judge.backend, request.judge.model, request.judge.on, request.judge.policy,
                               request.allowed_backends),
            approval_quorum=dict(request.approval_quorum),
            approval_excludes_spawner=request.approval_excludes_spawner,
            approval_ttl_seconds=request.approval_ttl_seconds or None,
        )
        created = await self._operators.create_class(caller, agent_class)
        return classes_pb.CreateAgentClassResponse(agent_class=agent_class_pb(created))

    async def GetAgentClass(self, request: classes_pb.GetAgentClassRequest, context: grpc.aio.ServicerContext,
                            ) -> classes_pb.GetAgentClassResponse:
        await self._authority.caller(context.invocation_metadata())
        found = await self._operators.get_class(request.name)
        return classes_pb.GetAgentClassResponse(agent_class=agent_class_pb(found))

    async def ListAgentClasses(self, request: classes_pb.ListAgentClassesRequest,
                               context: grpc.aio.ServicerContext) -> classes_pb.ListAgentClassesResponse:
        await self._authority.caller(context.invocation_metadata())
        found = await self._operators.list_classes()
        return classes_pb.ListAgentClassesResponse(agent_classes=[agent_class_pb(c) for c in found])


class ApprovalServicer(approvals_grpc.ApprovalServiceServicer):
    def __init__(self, desk: ApprovalDesk, authority: TokenAuthority):
        self._desk = desk
        self._authority = authority

    async def ListApprovals(self, request: approvals_pb.ListApprovalsRequest, context: grpc.aio.ServicerContext,
                            ) -> approvals_pb.ListApprovalsResponse:
        caller = await self._authority.caller(context.invocation_metadata())
        rows = await self._desk.list(caller, request.state, request.session_id, request.limit)
        return approvals_pb.ListApprovalsResponse(approvals=[approval_pb(r) for r in rows])

    async def GetApproval(self, request: approvals_pb.GetApprovalRequest, context: grpc.aio.ServicerContext,
                          ) -> approvals_pb.GetApprovalResponse:
        caller = await self._authority.caller(context.invocation_metadata())
        return approvals_pb.GetApprovalResponse(approval=approval_pb(await self._desk.get(caller,
                                                                                          request.approval_id)))

    async def Approve(self, request: approvals_pb.ApproveRequest, context: grpc.aio.ServicerContext,
                      ) -> approvals_pb.ApproveResponse:
        caller = await self._authority.caller(context.invocation_metadata())
        row = await self._desk.approve(caller, request.approval_id, request.args_hash)
        return approvals_pb.ApproveResponse(approval=approval_pb(row))

    async def Deny(self, request: approvals_pb.DenyRequest, context: grpc.aio.ServicerContext,
                   ) -> approvals_pb.DenyResponse:
        caller = await self._authority.caller(context.invocation_metadata())
        return approvals_pb.DenyResponse(approval=approval_pb(await self._desk.deny(caller, request.approval_id,
                                                                                    request.reason)))


class StatusServicer(status_grpc.StatusServiceServicer):
    async def GetStatus(self, request: status_pb.GetStatusRequest, context: grpc.aio.ServicerContext,
                        ) -> status_pb.GetStatusResponse:
        return status_pb.GetStatusResponse(service="policy")
