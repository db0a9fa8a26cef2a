"""In-memory stand-ins for the services the kernel calls — policy's internal API and
the audit writer — shared by the kernel's unit and integration tests, so there is one
copy of each to keep in step with the real services."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aos.v1 import agent_classes_pb2, audit_internal_pb2
from aos.v1 import policy_internal_pb2 as pb
from aos_common.canonical import args_hash
from aos_common.errors import Unavailable

IRREVERSIBLE = {"fs.delete_file"}


@dataclass
class FakePolicy:
    """Decides like policy does — or, given `answer`, always answers that — and remembers
    every request it saw. `down` makes RetireAgentTokens answer UNAVAILABLE."""

    grants: set[str] = field(default_factory=lambda: {"fs.read_file", "fs.list_dir", "fs.delete_file",
                                                       "agents.spawn"})
    backends: set[str] = field(default_factory=lambda: {"anthropic"})
    expired: bool = False
    answer: pb.AuthorizeResponse | None = None
    down: bool = False
    authorized: list[pb.AuthorizeRequest] = field(default_factory=list)
    completed: list[pb.CompleteRequest] = field(default_factory=list)
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)
    minted: list[pb.MintAgentTokenRequest] = field(default_factory=list)
    asked: list[list[str]] = field(default_factory=list)  # the jtis of each RetireAgentTokens call
    overrun_usd: float = 0.0

    async def Authorize(self, request: pb.AuthorizeRequest, **_: Any) -> pb.AuthorizeResponse:
        self.authorized.append(request)
        if self.answer is not None:
            return self.answer
        deny = lambda reason, message="": pb.AuthorizeResponse(decision=pb.DECISION_DENY, reason=reason,  # noqa: E731
                                                                message=message)
        if self.expired:
            return deny("TOKEN_EXPIRED", "token has expired")
        syscall_id = uuid.uuid4().hex
        if request.kind == pb.SYSCALL_KIND_LLM_CALL:
            if request.target not in self.backends:
                return deny("BACKEND_NOT_ALLOWED", f"{request.target} is not allowed for this class")
            return pb.AuthorizeResponse(decision=pb.DECISION_ALLOW, syscall_id=syscall_id)
        if request.target not in self.grants:
            return deny("INSUFFICIENT_AUTHORITY", f"{request.target} is not in the token")
        if request.args_hash != args_hash(json.loads(request.args_canonical)):
            return deny("INVALID_ARGUMENT", "args_hash mismatch")
        if request.target in IRREVERSIBLE:
            return self._approve(request, deny)
        return pb.AuthorizeResponse(decision=pb.DECISION_ALLOW, syscall_id=syscall_id)

    def _approve(self, request: pb.AuthorizeRequest, deny: Any) -> pb.AuthorizeResponse:
        """An irreversible call: PENDING until an operator decides, then one use."""
        if not request.approval_id:
            approval_id = uuid.uuid4().hex
            self.approvals[approval_id] = {"state": "pending", "args_hash": request.args_hash,
                                           "evidence": list(request.evidence)}
            return pb.AuthorizeResponse(decision=pb.DECISION_PENDING, approval_id=approval_id)
        approval = self.approvals[request.approval_id]
        if approval["state"] == "pending":
            return pb.AuthorizeResponse(decision=pb.DECISION_PENDING, approval_id=request.approval_id)
        if approval["state"] == "denied":
            return deny("INSUFFICIENT_AUTHORITY", f"operator denied: {approval['reason']}")
        if approval["state"] == "consumed":
            return deny("INSUFFICIENT_AUTHORITY", "approval already used")
        approval["state"] = "consumed"
        return pb.AuthorizeResponse(decision=pb.DECISION_ALLOW, approval_id=request.approval_id,
                                    syscall_id=f"approval:{request.approval_id}")

    async def Complete(self, request: pb.CompleteRequest, **_: Any) -> pb.CompleteResponse:
        self.completed.append(request)
        overrun = self.overrun_usd if request.output_tokens else 0.0
        return pb.CompleteResponse(cost_usd=0.001 if request.input_tokens else 0.0, overrun_usd=overrun)

    async def MintAgentToken(self, request: pb.MintAgentTokenRequest, **_: Any
                             ) -> pb.MintAgentTokenResponse:
        self.minted.append(request)
        return pb.MintAgentTokenResponse(
            token=f"child.token.{uuid.uuid4().hex}", jti=uuid.uuid4().hex, session_id=request.session_id,
            grants=[g for g in request.requested_grants if g in self.grants],
            agent_class=agent_classes_pb2.AgentClass(name=request.agent_class, backend="anthropic",
                                                     model="aos-scripted"),
            expires_at_unix=int(time.time()) + 3600,
        )

    async def RetireAgentTokens(self, request: pb.RetireAgentTokensRequest, **_: Any
                                ) -> pb.RetireAgentTokensResponse:
        if self.down:
            raise Unavailable("policy is down")
        self.asked.append(list(request.jtis))
        return pb.RetireAgentTokensResponse(revoked_count=len(request.jtis))

    def kinds(self) -> list[tuple[int, str]]:
        return [(r.kind, r.target) for r in self.authorized]


@dataclass
class FakeAudit:
    """The audit writer: keeps every appended event, refusing the types in `refuse`."""

    events: list[Any] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # event types to answer UNAVAILABLE

    async def AppendEvent(self, request: Any, **_: Any) -> Any:
        if request.event_type in self.refuse:
            raise Unavailable("the audit service is unavailable")
        self.events.append(request)
        return audit_internal_pb2.AppendEventResponse(chain_seq=len(self.events))

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [json.loads(e.payload_json) for e in self.events if e.event_type == event_type]
