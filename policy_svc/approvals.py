"""Human approvals of irreversible tool calls, bound to the exact arguments.

An approval names (agent, tool, SHA-256 of the canonical args). The operator
approves the hash they were shown; the agent's call goes through only with
that same hash, once. States: pending -> approved | denied | expired;
approved -> consumed (by the one syscall it allowed).

A class may need more than one operator (its approval quorum): each approval
is recorded, and the approval turns approved only when as many distinct
operators as it was opened with have approved the same hash.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from aos_common import events
from aos_common.capabilities import PERM_APPROVALS_DECIDE, PERM_APPROVALS_READ, allows
from aos_common.errors import (
    ApprovalArgsMismatch,
    InsufficientAuthority,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    Unavailable,
)
from aos_common.permissions import require_operator
from aos_common.tokens import Claims
from policy_svc.audit import AuditLog
from policy_svc.operators import SUBJECT_SEPARATOR
from policy_svc.store import Queries, Store

log = logging.getLogger(__name__)

STATES = ("pending", "approved", "denied", "expired", "consumed")
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MAX_REASON_CHARS = 1000
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000

# Namespace of the idempotency keys of approved calls (uuid5 of the approval id).
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c2a52-4f0e-4d0e-9a57-2b1f3c9e8d11")


def syscall_id_for(approval_id: str) -> str:
    """The one syscall id an approval can ever allow: the kernel keys execution
    on it, so a retry after a crash cannot run the tool a second time."""
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, approval_id))


def check_uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(f"{what} must be a UUID") from None


def effective_state(row: dict[str, Any]) -> str:
    """A pending approval past its expiry is expired, whether or not the row says so yet."""
    return "expired" if row["state"] == "pending" and row["past_expiry"] else row["state"]


def require_decider(caller: Claims) -> None:
    """Deciding needs `approvals.decide` and `approvals.read`: nobody decides
    what they may not see."""
    require_operator(caller, PERM_APPROVALS_DECIDE)
    require_operator(caller, PERM_APPROVALS_READ)


def require_authority_over(caller: Claims, row: dict[str, Any]) -> None:
    """A decider must hold the tool the approval is for: approving lends the
    agent an effect, and nobody lends what they do not hold."""
    if not allows(caller.capabilities, row["tool"]):
        raise InsufficientAuthority(f"deciding this approval needs a token that holds {row['tool']!r}")


def same_operator(subject: str, other: str) -> bool:
    """Whether two subjects count as one operator: the same, or one minted in the
    other's namespace ("<minter>/<name>"), which its minter can always mint again."""
    return subject == other or subject.startswith(other + SUBJECT_SEPARATOR) or \
        other.startswith(subject + SUBJECT_SEPARATOR)


def check_approver(caller: Claims, row: dict[str, Any], approvers: list[dict[str, str]]) -> None:
    """Refuse an approval that would not come from one more distinct operator:
    a subject who already approved (or one of its own line), or, where the class
    says so, the operator who started the agent's tree (or one it minted)."""
    for spawner in row["excluded_approvers"]:
        if caller.subject == spawner or caller.subject.startswith(spawner + SUBJECT_SEPARATOR):
            raise InsufficientAuthority(f"{caller.subject} started this agent's tree (or was minted by who did); "
                                        "its class needs the approval of other operators")
    for approver in approvers:
        if approver["subject"] == caller.subject:
            raise InvalidTransition(f"{caller.subject} already approved this; it needs "
                                    f"{row['approvals_required']} distinct operators, each counted once")
        if same_operator(caller.subject, approver["subject"]):
            raise InsufficientAuthority(f"{caller.subject} and {approver['subject']}, who already approved, are in "
                                        "one minting line and count as one operator")


def approval_payload(row: dict[str, Any]) -> dict[str, Any]:
    """What the chain records about an approval: identifiers and the hash, never the args."""
    return {
        "approval_id": row["approval_id"],
        "agent_id": row["agent_id"],
        "tool": row["tool"],
        "args_hash": row["args_hash"],
        "blast_radius": row["blast_radius"],
    }


class ApprovalDesk:
    def __init__(self, store: Store, audit: AuditLog):
        self._store = store
        self._audit = audit

    async def expire_stale(self) -> None:
        """Mark overdue pending approvals expired, each with its audit record.
        Best effort: the effective state is computed on read regardless."""
        try:
            async with self._store.transaction() as tx:
                for row in await tx.expire_stale_approvals():
                    await self._audit.append(row["session_id"], events.HUMAN_APPROVAL_EXPIRED, None, row)
        except Unavailable:
            log.warning("could not record approval expiries now; will retry")

    async def list(self, caller: Claims, state: str, session_id: str, limit: int) -> list[dict[str, Any]]:
        require_operator(caller, PERM_APPROVALS_READ)
        if state and state not in STATES:
            raise InvalidArgument(f"state must be one of {', '.join(STATES)}")
        if limit < 0:
            raise InvalidArgument("limit cannot be negative")
        session = check_uuid(session_id, "session_id") if session_id else None
        await self.expire_stale()
        return await self._store.list_approvals(state, session, min(limit or DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT))

    async def get(self, caller: Claims, approval_id: str) -> dict[str, Any]:
        require_operator(caller, PERM_APPROVALS_READ)
        row = await self._store.get_approval(check_uuid(approval_id, "approval_id"))
        if row is None:
            raise NotFound(f"no approval {approval_id}")
        return row

    async def approve(self, caller: Claims, approval_id: str, args_hash: str) -> dict[str, Any]:
        """Approve exactly the args whose hash the operator was shown."""
        require_decider(caller)
        if not HASH_PATTERN.match(args_hash):
            raise InvalidArgument("args_hash must be the 64-character lowercase hex SHA-256 shown with the approval")
        return await self._decide(caller, check_uuid(approval_id, "approval_id"), "approved", args_hash, "")

    async def deny(self, caller: Claims, approval_id: str, reason: str) -> dict[str, Any]:
        require_decider(caller)
        if len(reason) > MAX_REASON_CHARS:
            raise InvalidArgument(f"reason must be at most {MAX_REASON_CHARS} characters")
        return await self._decide(caller, check_uuid(approval_id, "approval_id"), "denied", None,
                                  reason.strip() or "denied by an operator")

    async def _decide(self, caller: Claims, approval_id: str, state: str, args_hash: str | None,
                      reason: str) -> dict[str, Any]:
        await self.expire_stale()
        async with self._store.transaction() as tx:
            row = await tx.get_approval(approval_id, for_update=True)
            if row is None:
                raise NotFound(f"no approval {approval_id}")
            require_authority_over(caller, row)
            if args_hash is not None and row["args_hash"] != args_hash:
                raise ApprovalArgsMismatch("args_hash differs from the arguments this approval is bound to")
            current = effective_state(row)
            if current != "pending":
                raise InvalidTransition(f"approval is {current}; only a pending approval can be decided")
            if state == "approved":
                await self._count_approval(tx, caller, row)
            else:
                await tx.decide_approval(approval_id, state, caller.subject, caller.jti, reason)
                await self._audit.append(row["session_id"], events.HUMAN_APPROVAL_DENIED, caller,
                                         {**approval_payload(row), "reason": reason})
        decided = await self._store.get_approval(approval_id)
        assert decided is not None  # it was just updated and approvals are never deleted
        return decided

    async def _count_approval(self, tx: Queries, caller: Claims, row: dict[str, Any]) -> None:
        """Record one operator's approval; the one that reaches the quorum approves.
        Runs under the approval's row lock, so concurrent approvals count one at a time."""
        earlier = await tx.approvers_of(row["approval_id"])
        check_approver(caller, row, earlier)
        if not await tx.add_approver(row["approval_id"], caller.subject, caller.jti):
            raise InvalidTransition(f"{caller.subject} already approved this")
        approvers = [*earlier, {"subject": caller.subject, "jti": caller.jti}]
        required = row["approvals_required"]
        payload = {**approval_payload(row), "reason": "", "approver_subject": caller.subject,
                   "approver_jti": caller.jti, "approvals_given": len(approvers), "approvals_required": required}
        if len(approvers) < required:
            await self._audit.append(row["session_id"], events.HUMAN_APPROVAL_GIVEN, caller, payload)
            return
        await tx.decide_approval(row["approval_id"], "approved", caller.subject, caller.jti, "")
        await self._audit.append(row["session_id"], events.HUMAN_APPROVAL_GRANTED, caller,
                                 {**payload, "approvers": approvers})
