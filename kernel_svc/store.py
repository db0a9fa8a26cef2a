"""The kernel's tables. The only module that imports asyncpg; its statements are in queries.sql,
and SQLSTATEs become AosErrors through aos_common.sql (plus the state-machine trigger's own)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from aos_common import judging
from aos_common.errors import AosError, InvalidArgument, InvalidTransition, NotFound
from aos_common.pools import skip_reset
from aos_common.sql import DRIVER_ERRORS, Connection, load_queries, translate
from kernel_svc.errors import StaleEpoch
from kernel_svc.process import AgentProcess, NewAgent

SQL = load_queries(Path(__file__).with_name("queries.sql"))

# The state-machine trigger's refusal of an illegal state change (migrations/0004_kernel.sql).
_OWN_SQLSTATES = {"AOS01": InvalidTransition}


@dataclass(frozen=True)
class Execution:
    """A recorded non-idempotent tool effect; `ok is None` means it started and never finished."""

    idempotency_key: str
    tool: str
    ok: bool | None
    result: str | None


@dataclass(frozen=True, repr=False)
class ToolServerRow:
    """A registered MCP server as stored. `secret_env` and `secret_headers` are
    the server's credentials: they leave this process only towards the server."""

    name: str
    transport: str
    command: tuple[str, ...]
    url: str
    secret_env: dict[str, str]
    secret_headers: dict[str, str]
    overrides: dict[str, dict[str, Any]]
    listed: dict[str, dict[str, Any]]
    listed_hash: str
    approved: dict[str, dict[str, Any]]
    approved_hash: str
    approved_by: str
    created_by: str
    created_at: Any

    def __repr__(self) -> str:
        return f"ToolServerRow(name={self.name!r}, transport={self.transport!r})"


def _to_tool_server(row: asyncpg.Record) -> ToolServerRow:
    return ToolServerRow(
        name=row["name"], transport=row["transport"], command=tuple(row["command"]), url=row["url"],
        secret_env=dict(row["secret_env"]), secret_headers=dict(row["secret_headers"]),
        overrides=dict(row["overrides"]), listed=dict(row["listed"]), listed_hash=row["listed_hash"],
        approved=dict(row["approved"]), approved_hash=row["approved_hash"], approved_by=row["approved_by"],
        created_by=row["created_by"], created_at=row["created_at"],
    )


@dataclass(frozen=True)
class SchedulerCounts:
    workers: int
    runnable: int
    running: int
    waiting_approval: int
    suspended_token_expired: int
    orphans_recovered: int


def _to_agent(row: asyncpg.Record) -> AgentProcess:
    return AgentProcess(
        id=str(row["id"]),
        session_id=row["session_id"],
        parent_id=str(row["parent_id"]) if row["parent_id"] else "",
        agent_class=row["agent_class"],
        backend=row["backend"],
        model=row["model"],
        state=row["state"],
        task=row["task"],
        grants=tuple(row["grants"]),
        token=row["token"],
        token_jti=row["token_jti"],
        token_expires_at=row["token_expires_at"],
        worker_id=row["worker_id"] or "",
        attempts=row["attempts"],
        checkpoint=row["checkpoint"] or {},
        result=row["result"] or "",
        error_reason=row["error_reason"] or "",
        error_message=row["error_message"] or "",
        cost_usd=float(row["cost_usd"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=row["created_by"],
        judge=judging.from_dict(row["judge"]),
    )


def _uuid(value: str, what: str = "agent_id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(f"{what} must be a UUID") from None


class Store:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> Store:
        async def init(conn: asyncpg.Connection) -> None:
            await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=init,
                                             reset=skip_reset)
        except DRIVER_ERRORS as exc:
            raise translate(exc, "kernel", _OWN_SQLSTATES) from exc
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Connection]:
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except AosError:
            raise
        except DRIVER_ERRORS as exc:
            raise translate(exc, "kernel", _OWN_SQLSTATES) from exc

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self._conn() as conn:
            return await conn.fetchrow(sql, *args)

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._conn() as conn:
            return list(await conn.fetch(sql, *args))

    async def _execute(self, sql: str, *args: Any) -> str:
        async with self._conn() as conn:
            return await conn.execute(sql, *args)

    # --- agents -------------------------------------------------------------

    async def insert_agent(self, agent: NewAgent) -> AgentProcess:
        row = await self._fetchrow(
            SQL["insert_agent"],
            _uuid(agent.id),
            agent.session_id,
            _uuid(agent.parent_id, "parent_id") if agent.parent_id else None,
            agent.agent_class,
            agent.backend,
            agent.model,
            agent.task,
            list(agent.grants),
            agent.token,
            agent.token_jti,
            agent.token_expires_at_unix,
            agent.created_by,
            agent.judge.as_dict(),
        )
        assert row is not None
        return _to_agent(row)

    async def get_agent(self, agent_id: str) -> AgentProcess:
        row = await self._fetchrow(SQL["get_agent"], _uuid(agent_id))
        if row is None:
            raise NotFound(f"agent {agent_id} not found")
        return _to_agent(row)

    async def root_task(self, agent_id: str) -> str:
        """The task of the agent's root: the one text of its tree an operator wrote
        ("" if the chain of parents is broken or deeper than 64)."""
        row = await self._fetchrow(SQL["root_task"], _uuid(agent_id))
        return row["task"] if row else ""

    async def list_agents(self, state: str = "", session_id: str = "", limit: int = 100,
                          created_by: str | None = None) -> list[AgentProcess]:
        """Newest first; with `created_by`, only the agents that subject created."""
        rows = await self._fetch(SQL["list_agents"], state, session_id, limit, created_by)
        return [_to_agent(r) for r in rows]

    async def unrevoked_ends(self, limit: int = 100) -> list[tuple[str, str]]:
        """(agent id, token jti) of ended agents whose token is not yet revoked."""
        return [(str(r["id"]), r["token_jti"]) for r in await self._fetch(SQL["unrevoked_ends"], limit)]

    async def mark_tokens_revoked(self, agent_ids: Sequence[str]) -> None:
        await self._execute(SQL["mark_tokens_revoked"], [_uuid(a) for a in agent_ids])

    async def transition(
        self,
        agent_id: str,
        to_state: str,
        *,
        epoch: int | None = None,
        result: str | None = None,
        error: tuple[str, str] | None = None,
        checkpoint: dict[str, Any] | None = None,
        cost_delta: float = 0.0,
        delay_seconds: float = 0.0,
        record: Callable[[AgentProcess, AgentProcess], Awaitable[None]] | None = None,
    ) -> AgentProcess:
        """Move an agent to `to_state` if the state machine allows it from where it is
        (and, for a worker, if its claim `epoch` is still current).

        With `record`, the change commits only after `record(before, after)` has
        returned: audit before effect, for the changes the chain keeps (terminal
        states, suspensions, operator cancels)."""
        args = (_uuid(agent_id), to_state, epoch, result, error[0] if error else None,
                error[1] if error else None, checkpoint, cost_delta, delay_seconds)
        async with self._conn() as conn, (conn.transaction() if record else nullcontext()):
            before = await conn.fetchrow(SQL["lock_agent"], args[0]) if record else None
            row = await conn.fetchrow(SQL["transition"], *args)
            if row is None:
                raise await self._why_not(agent_id, to_state, epoch)
            after = _to_agent(row)
            if record is not None and before is not None:
                await record(_to_agent(before), after)
        return after

    async def renew_token(
        self, agent_id: str, to_state: str, token: str, jti: str, expires_at_unix: int
    ) -> AgentProcess:
        row = await self._fetchrow(SQL["renew_token"], _uuid(agent_id), to_state, token, jti, expires_at_unix)
        if row is None:
            raise await self._why_not(agent_id, to_state, None)
        return _to_agent(row)

    async def _why_not(self, agent_id: str, to_state: str, epoch: int | None) -> AosError:
        current = await self.get_agent(agent_id)
        if epoch is not None and (current.attempts != epoch or current.state != "running"):
            return StaleEpoch(
                f"refused: this worker's claim on agent {agent_id} (epoch {epoch}) was superseded "
                f"(agent is {current.state}, epoch {current.attempts})"
            )
        return InvalidTransition(f"agent {agent_id} cannot go from {current.state} to {to_state}")

    async def save_checkpoint(
        self, agent_id: str, epoch: int, checkpoint: dict[str, Any], cost_delta: float = 0.0
    ) -> None:
        row = await self._fetchrow(SQL["save_checkpoint"], _uuid(agent_id), epoch, checkpoint, cost_delta)
        if row is None:
            raise await self._why_not(agent_id, "running", epoch)

    # --- scheduling ---------------------------------------------------------

    async def claim(self, worker_id: str) -> AgentProcess | None:
        row = await self._fetchrow(SQL["claim"], worker_id)
        return _to_agent(row) if row is not None else None

    async def register_worker(self, worker_id: str, host: str, pid: int) -> None:
        await self._execute(SQL["register_worker"], worker_id, host, pid)

    async def heartbeat(self, worker_ids: Sequence[str], agent_ids: Sequence[str]) -> None:
        """Mark the workers alive, and the agents in `agent_ids` they hold as still being advanced."""
        async with self._conn() as conn, conn.transaction():
            await conn.execute(SQL["heartbeat_workers"], list(worker_ids))
            await conn.execute(SQL["heartbeat_agents"], list(worker_ids), list(agent_ids))

    async def deregister_workers(self, worker_ids: Sequence[str]) -> None:
        await self._execute(SQL["deregister_workers"], list(worker_ids))

    async def prune_workers(self, older_than_seconds: float) -> None:
        await self._execute(SQL["prune_workers"], older_than_seconds)

    async def reap_orphans(self, silent_for_seconds: float) -> list[str]:
        return [str(r["id"]) for r in await self._fetch(SQL["reap_orphans"], silent_for_seconds)]

    async def suspend_expired(self) -> list[str]:
        return [str(r["id"]) for r in await self._fetch(SQL["suspend_expired"])]

    async def scheduler_counts(self, live_within_seconds: float) -> SchedulerCounts:
        row = await self._fetchrow(SQL["scheduler_counts"], live_within_seconds)
        assert row is not None
        return SchedulerCounts(**{key: int(row[key]) for key in SchedulerCounts.__dataclass_fields__})

    # --- non-idempotent effects ---------------------------------------------

    async def begin_execution(self, key: str, agent_id: str, epoch: int, tool: str, args_hash: str) -> bool:
        """True: the caller owns the effect and must run it. False: it was already
        claimed (by this agent's earlier attempt). Stale callers are refused."""
        row = await self._fetchrow(SQL["begin_execution"], key, _uuid(agent_id), epoch, tool, args_hash)
        if row is not None:
            return True
        if await self.get_execution(key) is not None:
            return False
        raise await self._why_not(agent_id, "running", epoch)

    async def get_execution(self, key: str) -> Execution | None:
        row = await self._fetchrow(SQL["get_execution"], key)
        if row is None:
            return None
        return Execution(idempotency_key=row["idempotency_key"], tool=row["tool"], ok=row["ok"], result=row["result"])

    async def finish_execution(self, key: str, ok: bool, result: str) -> None:
        await self._execute(SQL["finish_execution"], key, ok, result)

    # --- tool servers ---------------------------------------------------------

    async def insert_tool_server(self, row: ToolServerRow) -> bool:
        """False when a server of that name exists already."""
        inserted = await self._fetchrow(
            SQL["insert_tool_server"], row.name, row.transport, list(row.command), row.url, row.secret_env,
            row.secret_headers, row.overrides, row.listed, row.listed_hash, row.created_by)
        return inserted is not None

    async def get_tool_server(self, name: str) -> ToolServerRow | None:
        row = await self._fetchrow(SQL["get_tool_server"], name)
        return _to_tool_server(row) if row else None

    async def list_tool_servers(self) -> list[ToolServerRow]:
        return [_to_tool_server(r) for r in await self._fetch(SQL["list_tool_servers"])]

    async def save_tool_listing(self, name: str, listed: dict[str, dict[str, Any]], listed_hash: str) -> bool:
        """Record what the server presents now; True when it differs from the last listing."""
        return await self._fetchrow(SQL["save_tool_listing"], name, listed, listed_hash) is not None

    async def approve_tool_definitions(self, name: str, listed_hash: str, approved_by: str) -> bool:
        """Pin the current listing if it is still `listed_hash`."""
        return await self._fetchrow(SQL["approve_tool_definitions"], name, listed_hash, approved_by) is not None

    async def delete_tool_server(self, name: str) -> bool:
        return await self._fetchrow(SQL["delete_tool_server"], name) is not None
