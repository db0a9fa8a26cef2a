"""PostgreSQL access for the policy service: the only module that imports asyncpg.

Statements come from `queries.sql`. Database failures become AosErrors by
SQLSTATE (aos_common.sql), so callers see contract reasons, never driver exceptions.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import asyncpg

from aos_common import judging
from aos_common.errors import Internal, NotFound
from aos_common.pools import skip_reset
from aos_common.sql import DRIVER_ERRORS, Connection, load_queries, translate
from policy_svc.capability import TokenRecord
from policy_svc.classes import AgentClass

P = ParamSpec("P")
T = TypeVar("T")

SQL = load_queries(Path(__file__).with_name("queries.sql"))


def _translated(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except DRIVER_ERRORS as exc:
            raise translate(exc, "policy") from exc

    return wrapper


def _token(row: Any) -> TokenRecord:
    ceiling = row["cost_ceiling_usd"]
    return TokenRecord(
        jti=row["jti"],
        parent_jti=row["parent_jti"],
        kid=row["kid"],
        subject=row["subject"],
        kind=row["kind"],
        caps=frozenset(row["caps"]),
        backends=frozenset(row["backends"]),
        issued_at=int(row["issued_at"]),
        expires_at=int(row["expires_at"]),
        session_id=row["session_id"] or "",
        agent_id=row["agent_id"] or "",
        agent_class=row["agent_class"] or "",
        ceiling_usd=float(ceiling) if ceiling is not None else None,
        revoked=row["revoked"],
    )


def _agent_class(row: Any) -> AgentClass:
    return AgentClass(
        name=row["name"],
        backend=row["backend"],
        model=row["model"],
        allowed_backends=frozenset(row["allowed_backends"]),
        capabilities=frozenset(row["capabilities"]),
        cost_ceiling_usd=float(row["cost_ceiling_usd"]),
        created_at=row["created_at"],
        max_agents=row["max_agents"],
        max_depth=row["max_depth"],
        sandbox_limits=json.loads(row["sandbox_limits"]),
        untrusted_args=row["untrusted_args"],
        judge=judging.from_dict(json.loads(row["judge"])),
        approval_quorum=json.loads(row["approval_quorum"]),
        approval_excludes_spawner=row["approval_excludes_spawner"],
        approval_ttl_seconds=row["approval_ttl_seconds"],
    )


def _approval(row: Any) -> dict[str, Any]:
    """An approval row, its approvers as [{subject, jti, at}] in the order they approved."""
    approval = dict(row)
    approval["approvers"] = [
        {"subject": a["subject"], "jti": a["jti"], "at": datetime.fromtimestamp(a["at"], UTC)}
        for a in json.loads(approval["approvers"])
    ]
    return approval


class Queries:
    """Statements run on a pool (each its own transaction) or on one transaction's connection."""

    def __init__(self, executor: asyncpg.Pool | Connection):
        self._db = executor

    # agent classes
    @_translated
    async def insert_class(self, cls: AgentClass, created_by: str) -> AgentClass:
        row = await self._db.fetchrow(
            SQL["insert_class"], cls.name, cls.backend, cls.model, sorted(cls.allowed_backends),
            sorted(cls.capabilities), Decimal(str(cls.cost_ceiling_usd)), created_by, cls.max_agents, cls.max_depth,
            json.dumps(cls.sandbox_limits), cls.untrusted_args, json.dumps(cls.judge.as_dict()),
            json.dumps(cls.approval_quorum), cls.approval_excludes_spawner, cls.approval_ttl_seconds,
        )
        return _agent_class(row)

    @_translated
    async def get_class(self, name: str) -> AgentClass | None:
        row = await self._db.fetchrow(SQL["get_class"], name)
        return _agent_class(row) if row else None

    @_translated
    async def list_classes(self) -> list[AgentClass]:
        return [_agent_class(r) for r in await self._db.fetch(SQL["list_classes"])]

    # tokens
    @_translated
    async def insert_token(self, record: TokenRecord) -> None:
        ceiling = Decimal(str(record.ceiling_usd)) if record.ceiling_usd is not None else None
        await self._db.execute(
            SQL["insert_token"], record.jti, record.parent_jti, record.kid, record.subject, record.kind,
            sorted(record.caps), sorted(record.backends), record.session_id or None, record.agent_id or None,
            record.agent_class or None, ceiling, record.issued_at, record.expires_at,
        )

    @_translated
    async def token_lineage(self, jti: str) -> list[TokenRecord]:
        return [_token(r) for r in await self._db.fetch(SQL["token_lineage"], jti)]

    @_translated
    async def revoke_subtree(self, jti: str) -> list[str]:
        return [r["jti"] for r in await self._db.fetch(SQL["revoke_subtree"], jti)]

    @_translated
    async def list_tokens(self, under_jti: str | None, include_revoked: bool) -> list[dict[str, Any]]:
        if under_jti is None:
            rows = await self._db.fetch(SQL["list_all_tokens"], include_revoked)
        else:
            rows = await self._db.fetch(SQL["list_tokens_under"], under_jti, include_revoked)
        return [dict(r) for r in rows]

    @_translated
    async def latest_agent_token(self, agent_id: str) -> TokenRecord | None:
        row = await self._db.fetchrow(SQL["latest_agent_token"], agent_id)
        return _token(row) if row else None

    @_translated
    async def revoked_unexpired(self) -> list[str]:
        return [r["jti"] for r in await self._db.fetch(SQL["revoked_unexpired"])]

    @_translated
    async def kids_in_use(self) -> set[str]:
        return {r["kid"] for r in await self._db.fetch(SQL["kids_in_use"])}

    # cost ledger and syscalls
    @_translated
    async def insert_ledger(self, session_id: str, agent_class: str, ceiling_usd: float) -> None:
        await self._db.execute(SQL["insert_ledger"], session_id, agent_class, Decimal(str(ceiling_usd)))

    @_translated
    async def get_ledger(self, session_id: str) -> dict[str, Any] | None:
        row = await self._db.fetchrow(SQL["get_ledger"], session_id)
        return dict(row) if row else None

    @_translated
    async def admit_agent(self, session_id: str, agent_id: str, parent_agent_id: str, default_max_agents: int,
                          default_max_depth: int) -> int | None:
        """The admitted agent's depth, or None when the session is at a limit."""
        return await self._db.fetchval(SQL["admit_agent"], session_id, agent_id, parent_agent_id,
                                       default_max_agents, default_max_depth)

    @_translated
    async def spawn_limits(self, session_id: str, parent_agent_id: str, default_max_agents: int,
                           default_max_depth: int) -> dict[str, Any]:
        row = await self._db.fetchrow(SQL["spawn_limits"], session_id, parent_agent_id, default_max_agents,
                                      default_max_depth)
        if row is None:
            raise NotFound(f"session {session_id} has no ledger")
        return dict(row)

    @_translated
    async def reserve(self, session_id: str, amount: Decimal, syscall_id: str, agent_id: str, token_jti: str,
                      kind: str, target: str, model: str) -> dict[str, Any] | None:
        row = await self._db.fetchrow(SQL["reserve"], session_id, amount, syscall_id, agent_id, token_jti, kind,
                                      target, model)
        return dict(row) if row else None

    @_translated
    async def insert_syscall(self, syscall_id: str, session_id: str, agent_id: str, token_jti: str, kind: str,
                             target: str, args_hash: str, approval_id: str | None) -> None:
        await self._db.execute(SQL["insert_syscall"], syscall_id, session_id, agent_id, token_jti, kind, target,
                               args_hash, approval_id)

    @_translated
    async def get_syscall(self, syscall_id: str) -> dict[str, Any] | None:
        row = await self._db.fetchrow(SQL["get_syscall"], syscall_id)
        return dict(row) if row else None

    @_translated
    async def settlement(self, syscall_id: str, caller_jti: str) -> tuple[dict[str, Any] | None, TokenRecord | None]:
        """A syscall, and the record of the token `caller_jti` (each None when missing)."""
        row = await self._db.fetchrow(SQL["settlement"], syscall_id, caller_jti)
        if row is None:  # the statement always answers one row; its columns say what is missing
            raise Internal("the settlement lookup returned no row")
        syscall = dict(row)
        caller = {name.removeprefix("caller_"): syscall.pop(name) for name in list(syscall)
                  if name.startswith("caller_")}
        record = _token(caller) if caller["jti"] is not None else None
        return (syscall if syscall["syscall_id"] is not None else None), record

    @_translated
    async def settle(self, syscall_id: str, agent_id: str, ok: bool, error: str, result_digest: str,
                     reported: Decimal) -> tuple[Decimal, Decimal] | None:
        """(the session's spend after settling, the charge: `reported` clamped to the
        reservation), or None when already settled."""
        row = await self._db.fetchrow(SQL["settle"], syscall_id, agent_id, ok, error, result_digest, reported)
        return (row["spent_usd"], row["charged_usd"]) if row else None

    # tools
    @_translated
    async def upsert_tool(self, name: str, reversible: bool, blast_radius: str, idempotent: bool,
                          schema: str, definition_hash: str = "", open_world: bool = False) -> bool:
        return await self._db.fetchval(SQL["upsert_tool"], name, reversible, blast_radius, idempotent, schema,
                                       definition_hash, open_world)

    @_translated
    async def get_tool(self, name: str) -> dict[str, Any] | None:
        row = await self._db.fetchrow(SQL["get_tool"], name)
        return dict(row) if row else None

    # approvals
    @_translated
    async def expire_stale_approvals(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._db.fetch(SQL["expire_stale_approvals"])]

    @_translated
    async def insert_approval(self, approval_id: str, agent_id: str, session_id: str, tool: str,
                              args_canonical: str, args_hash: str, blast_radius: str,
                              evidence: list[dict[str, Any]], scope: list[str], requested_jti: str,
                              ttl_seconds: int, arg_provenance: dict[str, str], judge: dict[str, str],
                              approvals_required: int, excluded_approvers: list[str]) -> bool:
        """True when inserted; False when a pending one for the same call already exists."""
        inserted = await self._db.fetchval(
            SQL["insert_approval"], approval_id, agent_id, session_id, tool, args_canonical, args_hash,
            blast_radius, json.dumps(evidence), scope, requested_jti, float(ttl_seconds), json.dumps(arg_provenance),
            json.dumps(judge), approvals_required, excluded_approvers,
        )
        return inserted is not None

    @_translated
    async def pending_approval(self, agent_id: str, tool: str, args_hash: str) -> str | None:
        return await self._db.fetchval(SQL["pending_approval"], agent_id, tool, args_hash)

    @_translated
    async def get_approval(self, approval_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        """The approval with its approvers; `for_update`: locked, without them (approvers_of)."""
        if for_update:
            locked = await self._db.fetchrow(SQL["lock_approval"], approval_id)
            return dict(locked) if locked else None
        row = await self._db.fetchrow(SQL["get_approval"], approval_id)
        return _approval(row) if row else None

    @_translated
    async def approvers_of(self, approval_id: str) -> list[dict[str, str]]:
        return [dict(r) for r in await self._db.fetch(SQL["approvers_of"], approval_id)]

    @_translated
    async def list_approvals(self, state: str, session_id: str | None, limit: int) -> list[dict[str, Any]]:
        return [_approval(r) for r in await self._db.fetch(SQL["list_approvals"], state, session_id, limit)]

    @_translated
    async def add_approver(self, approval_id: str, subject: str, jti: str) -> bool:
        """False when `subject` had already approved it."""
        return await self._db.fetchval(SQL["add_approver"], approval_id, subject, jti) is not None

    @_translated
    async def agent_spawners(self, token_jti: str, agent_id: str) -> list[str]:
        return [r["subject"] for r in await self._db.fetch(SQL["agent_spawners"], token_jti, agent_id)]

    @_translated
    async def decide_approval(self, approval_id: str, state: str, subject: str, jti: str, reason: str) -> bool:
        return await self._db.fetchval(SQL["decide_approval"], approval_id, state, subject, jti, reason) is not None

    @_translated
    async def consume_approval(self, approval_id: str, agent_id: str, tool: str, args_hash: str,
                               syscall_id: str) -> bool:
        row = await self._db.fetchval(SQL["consume_approval"], approval_id, agent_id, tool, args_hash, syscall_id)
        return row is not None


class Store(Queries):
    def __init__(self, pool: asyncpg.Pool):
        super().__init__(pool)
        self._pool = pool

    @classmethod
    async def connect(cls, dsn: str, min_size: int = 1, max_size: int = 10) -> Store:
        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=skip_reset)
        except DRIVER_ERRORS as exc:
            raise translate(exc, "policy") from exc
        return cls(pool)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        """One transaction: commits when the block ends, rolls back if it raises
        (e.g. the audit append failed, so the effect must not exist)."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield Queries(conn)
        except DRIVER_ERRORS as exc:
            raise translate(exc, "policy") from exc

    async def close(self) -> None:
        await self._pool.close()
