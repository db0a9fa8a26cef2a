"""The registered MCP servers of one kernel process: registration, pinned
approvals, live connections and the tools they put in the registry.

What the registry (and so the model) holds for a server is always its
*approved* set: the descriptions and schemas an operator pinned. What the
server presents now is compared with it on every call, twice: policy refuses
an Authorize whose presented definition differs (TOOL_DEFINITION_CHANGED), and
the call itself checks again just before anything is sent, so a change that
lands between the two is refused too. A new or changed definition waits, shown
to operators with its findings, until one approves that exact set by hash.

The database row is the truth every kernel process shares; each process keeps
its own connections and re-reads the rows on `patrol`, which also restarts
failing servers with exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jsonschema

from aos.v1 import policy_internal_pb2_grpc as policy_grpc
from aos_common import events
from aos_common.errors import AlreadyExists, InvalidArgument, NotFound, ToolDefinitionChanged, Unavailable
from aos_common.logs import log_fields
from aos_common.tokens import Claims
from kernel_svc.audit import AuditClient
from kernel_svc.mcp import definitions as defs
from kernel_svc.mcp.connection import Connection, ConnectionFailed, Endpoint, ServerRefused
from kernel_svc.mcp.registration import Registration
from kernel_svc.mcp.results import render
from kernel_svc.store import Store, ToolServerRow
from kernel_svc.tools.declarations import declare
from kernel_svc.tools.registry import Tool, ToolContext, ToolError, ToolRegistry

log = logging.getLogger(__name__)

PENDING_APPROVAL = "pending_approval"
ACTIVE = "active"
CHANGED = "changed"
FAILING = "failing"


@dataclass(frozen=True)
class McpSettings:
    workspace: Path
    connect_timeout_s: float = 15.0
    call_timeout_s: float = 20.0
    max_backoff_s: float = 30.0


@dataclass
class Live:
    """This process's view of one server: its row, its connection, what it presents."""

    row: ToolServerRow
    connection: Connection | None = None
    presented: dict[str, defs.Definition] | None = None
    failures: int = 0
    consecutive_failures: int = 0
    last_error: str = ""
    retry_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def listed(self) -> dict[str, defs.Definition]:
        """The latest listing: this process's own, else the one saved in the row."""
        if self.presented is not None:
            return self.presented
        return {name: defs.Definition.from_json(d) for name, d in self.row.listed.items()}

    @property
    def approved(self) -> dict[str, defs.Definition]:
        return {name: defs.Definition.from_json(d) for name, d in self.row.approved.items()}

    @property
    def state(self) -> str:
        if not self.row.approved_hash:
            return PENDING_APPROVAL
        if self.consecutive_failures:
            return FAILING
        if defs.set_hash(self.listed) != self.row.approved_hash:
            return CHANGED
        return ACTIVE

    def override(self, tool: str) -> defs.Override | None:
        value = self.row.overrides.get(tool)
        return defs.Override.from_json(value) if value else None


class ToolServers:
    def __init__(self, store: Store, registry: ToolRegistry, policy: policy_grpc.PolicyServiceStub,
                 audit: AuditClient, settings: McpSettings):
        self._store = store
        self._registry = registry
        self._policy = policy
        self._audit = audit
        self._settings = settings
        self._live: dict[str, Live] = {}

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Load every registered server and put its approved tools in the registry
        (before workers resume agents whose calls may be in flight). Connections
        open on first use or on the next patrol."""
        await self.sync()

    async def sync(self) -> None:
        """Follow the shared rows: servers added, approved or removed by another process."""
        rows = {row.name: row for row in await self._store.list_tool_servers()}
        for name in [n for n in self._live if n not in rows]:
            await self._forget(name)
        for name, row in rows.items():
            live = self._live.get(name)
            if live is None:
                self._live[name] = Live(row)
                self._install(self._live[name])
            elif (row.approved_hash, row.listed_hash) != (live.row.approved_hash, live.row.listed_hash):
                approved_changed = row.approved_hash != live.row.approved_hash
                live.row = row
                if approved_changed:
                    self._install(live)

    async def patrol(self, stop: asyncio.Event, interval_s: float) -> None:
        """Re-read the rows and (re)connect approved servers that are down, with backoff."""
        while not stop.is_set():
            try:
                await self.sync()
                for live in list(self._live.values()):
                    if live.row.approved_hash and not (live.connection and live.connection.open) \
                            and time.monotonic() >= live.retry_at:
                        await self._try_connect(live)
            except Exception:  # a failed round is retried on the next one
                log.exception("tool server patrol failed")
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass

    async def close(self) -> None:
        for live in self._live.values():
            if live.connection is not None:
                await live.connection.close()

    def health(self) -> list[tuple[str, str, int]]:
        """(name, state, failures) of every server, for /api/v1/health."""
        return [(name, live.state, live.failures) for name, live in sorted(self._live.items())]

    def get(self, name: str) -> Live:
        live = self._live.get(name)
        if live is None:
            raise NotFound(f"no tool server {name!r}")
        return live

    def all(self) -> list[Live]:
        return [self._live[name] for name in sorted(self._live)]

    # --- operator actions -----------------------------------------------------

    async def register(self, operator: Claims, registration: Registration) -> Live:
        """Connect, list and record a server; its tools wait for an approval."""
        await self.sync()
        if registration.name in self._live:
            raise AlreadyExists(f"a tool server named {registration.name!r} is registered already")
        try:
            connection, listed = await self._open(registration.endpoint())
        except ConnectionFailed as error:
            raise Unavailable(f"the tool server could not be used: {error}") from None
        except defs.BadListing as error:
            raise InvalidArgument(f"the tool server's tool list is not usable: {error}") from None
        row = ToolServerRow(
            name=registration.name, transport=registration.transport, command=registration.command,
            url=registration.url, secret_env=dict(registration.env), secret_headers=dict(registration.headers),
            overrides={k: v.to_json() for k, v in registration.overrides.items()},
            listed={n: d.to_json() for n, d in listed.items()}, listed_hash=defs.set_hash(listed),
            approved={}, approved_hash="", approved_by="", created_by=operator.subject, created_at=None,
        )
        live = Live(row, connection=connection, presented=listed)
        try:
            await self._audit.append_for_operator(events.SYSTEM_SESSION_ID, events.TOOL_SERVER_REGISTERED,
                                                  operator, registration.audit_payload(self._tool_summaries(live)))
            if not await self._store.insert_tool_server(row):
                raise AlreadyExists(f"a tool server named {registration.name!r} is registered already")
        except BaseException:
            await connection.close()
            raise
        stored = await self._store.get_tool_server(row.name)
        live.row = stored or row
        self._live[row.name] = live
        log.info("tool server registered", extra=log_fields(server=row.name, transport=row.transport,
                                                            tools=len(listed)))
        return live

    async def approve(self, operator: Claims, name: str, definitions_hash: str) -> Live:
        """Pin the set the operator reviewed. It must be the set the server presents now."""
        await self.sync()
        live = self.get(name)
        listed = live.listed
        current = defs.set_hash(listed)
        if definitions_hash != current or live.row.listed_hash != current:
            raise ToolDefinitionChanged(
                f"{name} now presents definitions {current[:12]}…, not the {definitions_hash[:12] or 'empty'}… "
                "you approved; review them again")
        tools = [self._tool(live, definition) for definition in listed.values()]
        await self._audit.append_for_operator(events.SYSTEM_SESSION_ID, events.TOOL_DEFINITIONS_APPROVED, operator, {
            "server": name,
            "definitions_hash": current,
            "previous_hash": live.row.approved_hash,
            "tools": [{"name": t.name, "definition_hash": t.definition_hash, "reversible": t.reversible,
                       "blast_radius": t.blast_radius, "idempotent": t.idempotent} for t in tools],
        })
        await declare(self._policy, tools)
        if not await self._store.approve_tool_definitions(name, current, operator.subject):
            raise ToolDefinitionChanged(f"{name} presented new definitions while this approval was recorded; "
                                        "review them again")
        stored = await self._store.get_tool_server(name)
        if stored is not None:
            live.row = stored
        self._install(live)
        log.info("tool definitions approved", extra=log_fields(server=name, definitions_hash=current,
                                                               approved_by=operator.subject))
        return live

    async def refresh(self, operator: Claims, name: str) -> Live:
        """Reconnect and list again; a difference becomes pending (and is audited)."""
        await self.sync()
        live = self.get(name)
        async with live.lock:
            if live.connection is not None:
                await live.connection.close()
                live.connection = None
            live.retry_at = 0.0
        await self._try_connect(live)
        return live

    async def remove(self, operator: Claims, name: str) -> None:
        await self.sync()
        live = self.get(name)
        await self._audit.append_for_operator(events.SYSTEM_SESSION_ID, events.TOOL_SERVER_REMOVED, operator, {
            "server": name, "definitions_hash": live.row.approved_hash,
        })
        await self._store.delete_tool_server(name)
        await self._forget(name)
        log.info("tool server removed", extra=log_fields(server=name, removed_by=operator.subject))

    # --- calls ----------------------------------------------------------------

    async def call(self, server: str, tool: str, args: Mapping[str, Any]) -> str:
        """One tools/call, after the presented definition is checked against the pinned one."""
        live = self._live.get(server)
        if live is None:
            raise ToolError(f"tool server {server!r} is not registered")
        connection = await self._connected(live)
        presented = (live.presented or {}).get(tool)
        approved = live.approved.get(tool)
        if presented is None or approved is None or presented.hash != approved.hash:
            raise ToolError(f"TOOL_DEFINITION_CHANGED: {defs.qualified(server, tool)} is offered under a definition "
                            "nobody approved; nothing was sent to the server")
        try:
            result = await connection.call_tool(tool, dict(args), self._settings.call_timeout_s)
        except ConnectionFailed as error:
            self._failed(live, str(error))
            raise ToolError(str(error)) from None
        except ServerRefused as error:
            raise ToolError(f"{defs.qualified(server, tool)} was refused by its server: {error}") from None
        return render(result)

    def presented_hash(self, server: str, tool: str) -> str:
        """The hash of what the server presents for `tool` now ("" if it no longer offers it)."""
        live = self._live.get(server)
        definition = live.listed.get(tool) if live is not None else None
        return definition.hash if definition is not None else ""

    # --- inside ---------------------------------------------------------------

    def _tool(self, live: Live, definition: defs.Definition) -> Tool:
        server = live.row.name
        safety = defs.effective_safety(definition.annotations, live.override(definition.name))

        async def run(args: Mapping[str, Any], ctx: ToolContext) -> str:
            return await self.call(server, definition.name, args)

        return Tool(
            name=defs.qualified(server, definition.name),
            description=definition.description or f"{definition.name} (tool server {server})",
            parameters=definition.input_schema,
            reversible=safety.reversible,
            blast_radius=safety.blast_radius,
            idempotent=safety.idempotent,
            open_world=safety.open_world,
            run=run,
            presented_definition=lambda: self.presented_hash(server, definition.name),
            definition_hash=definition.hash,
        )

    def _install(self, live: Live) -> None:
        tools: list[Tool] = []
        for definition in live.approved.values():
            try:
                tools.append(self._tool(live, definition))
            except (ValueError, jsonschema.SchemaError) as error:
                log.warning("approved tool not installed", extra=log_fields(server=live.row.name,
                                                                            tool=definition.name, error=str(error)))
        self._registry.replace_prefix(defs.server_prefix(live.row.name), tools)

    async def _forget(self, name: str) -> None:
        live = self._live.pop(name, None)
        self._registry.replace_prefix(defs.server_prefix(name), [])
        if live is not None and live.connection is not None:
            await live.connection.close()

    def _endpoint(self, row: ToolServerRow) -> Endpoint:
        return Endpoint(row.name, row.transport, row.command, row.url, dict(row.secret_env),
                        dict(row.secret_headers))

    async def _open(self, endpoint: Endpoint) -> tuple[Connection, dict[str, defs.Definition]]:
        """A started connection and the server's checked listing; ConnectionFailed or BadListing."""
        connection = Connection(endpoint, self._settings.workspace,
                                on_list_changed=lambda: self._relist(endpoint.name))
        await connection.start(self._settings.connect_timeout_s)
        try:
            listed = defs.from_listing(await connection.list_tools(self._settings.connect_timeout_s))
            for definition in listed.values():
                jsonschema.Draft202012Validator.check_schema(definition.input_schema)
        except jsonschema.SchemaError as error:
            await connection.close()
            raise defs.BadListing(f"an input schema is not a JSON schema: {error.message[:200]}") from None
        except BaseException:
            await connection.close()
            raise
        return connection, listed

    async def _connected(self, live: Live) -> Connection:
        async with live.lock:
            if live.connection is not None and live.connection.open:
                return live.connection
            wait = live.retry_at - time.monotonic()
            if wait > 0:
                raise ToolError(f"tool server {live.row.name} is failing ({live.last_error}); "
                                f"next attempt in {wait:.0f} s")
            return await self._connect_locked(live)

    async def _try_connect(self, live: Live) -> None:
        async with live.lock:
            if live.connection is not None and live.connection.open:
                return
            try:
                await self._connect_locked(live)
            except ToolError:
                pass  # recorded in live; health shows it

    async def _connect_locked(self, live: Live) -> Connection:
        """Open a connection and take its listing; a failure is recorded and raised as a ToolError."""
        try:
            connection, listed = await self._open(self._endpoint(live.row))
        except (ConnectionFailed, defs.BadListing) as error:
            self._failed(live, str(error))
            raise ToolError(str(error)) from None
        live.connection = connection
        live.consecutive_failures = 0
        live.retry_at = 0.0
        await self._presented(live, listed)
        return connection

    async def _relist(self, name: str) -> None:
        """The server said its tool list changed: read it again."""
        live = self._live.get(name)
        if live is None or live.connection is None or not live.connection.open:
            return
        try:
            listed = defs.from_listing(await live.connection.list_tools(self._settings.connect_timeout_s))
        except (ConnectionFailed, defs.BadListing) as error:
            self._failed(live, str(error))
            return
        await self._presented(live, listed)

    async def _presented(self, live: Live, listed: dict[str, defs.Definition]) -> None:
        """Take a new listing; a set that differs from the approved one is audited once."""
        live.presented = listed
        listed_hash = defs.set_hash(listed)
        if listed_hash == live.row.listed_hash:
            return
        as_json = {n: d.to_json() for n, d in listed.items()}
        first = await self._store.save_tool_listing(live.row.name, as_json, listed_hash)
        live.row = replace(live.row, listed=as_json, listed_hash=listed_hash)
        if first and live.row.approved_hash and listed_hash != live.row.approved_hash:
            approved = live.approved
            payload = {
                "server": live.row.name,
                "definitions_hash": listed_hash,
                "approved_hash": live.row.approved_hash,
                "changed": sorted(n for n in listed if n in approved and listed[n].hash != approved[n].hash),
                "added": sorted(n for n in listed if n not in approved),
                "removed": sorted(n for n in approved if n not in listed),
                "tools": self._tool_summaries(live),
            }
            log.warning("tool server presents definitions nobody approved", extra=log_fields(
                server=live.row.name, changed=payload["changed"], added=payload["added"],
                removed=payload["removed"]))
            try:
                await self._audit.append_own(events.SYSTEM_SESSION_ID, events.TOOL_DEFINITION_CHANGED, payload)
            except Exception:  # the refusal stands either way; the change stays visible in health
                log.warning("TOOL_DEFINITION_CHANGED not recorded", extra=log_fields(server=live.row.name))

    def _tool_summaries(self, live: Live) -> list[dict[str, Any]]:
        return [{"name": n, "definition_hash": d.hash, "findings": d.findings()} for n, d in live.listed.items()]

    def _failed(self, live: Live, error: str) -> None:
        live.failures += 1
        live.consecutive_failures += 1
        live.last_error = error[:300]
        # The first failure may be the call's alone: the next call reconnects at once.
        # Repeated ones back off exponentially, so a crashing server is not restarted in a loop.
        backoff = 0.0 if live.consecutive_failures == 1 else 0.5 * 2 ** (live.consecutive_failures - 2)
        live.retry_at = time.monotonic() + min(backoff, self._settings.max_backoff_s)
        if live.connection is not None and not live.connection.open:
            live.connection = None
        log.warning("tool server failing", extra=log_fields(server=live.row.name, failures=live.failures,
                                                            error=live.last_error))
