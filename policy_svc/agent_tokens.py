"""Agent capability tokens: minted at spawn, re-minted on renewal.

Grants are the requested names narrowed by the caller's token and by the
class template; an empty result is refused before anything is recorded, so a
spawn that could do nothing never starts.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from aos_common import events
from aos_common.capabilities import PERM_AGENTS_SPAWN, allows, check_grants
from aos_common.errors import BackendNotAllowed, InsufficientAuthority, InvalidArgument, NotFound
from aos_common.permissions import require_operator
from aos_common.tokens import Claims
from policy_svc.approvals import check_uuid
from policy_svc.audit import AuditLog
from policy_svc.authority import TokenAuthority, new_jti, now
from policy_svc.capability import UNBOUNDED_EXP, Grant, agent_id_of, agent_subject, grant_of, is_anonymous, narrow
from policy_svc.classes import AgentClass
from policy_svc.spawn_limits import SpawnLimits
from policy_svc.store import Store

AGENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
MAX_RETIRE_BATCH = 100


@dataclass(frozen=True)
class AgentToken:
    token: str
    claims: Claims
    agent_class: AgentClass


class AgentTokens:
    def __init__(self, authority: TokenAuthority, store: Store, audit: AuditLog, token_ttl_seconds: int,
                 limits: SpawnLimits):
        self._authority = authority
        self._store = store
        self._audit = audit
        self._ttl = token_ttl_seconds
        self._limits = limits

    async def mint(self, caller_token: str, class_name: str, requested: list[str], session_id: str,
                   agent_id: str, parent_agent_id: str) -> AgentToken:
        caller = await self._authority.caller_from_token(caller_token)
        if not AGENT_ID_PATTERN.match(agent_id):
            raise InvalidArgument("agent_id must be 1-128 characters of [A-Za-z0-9_.:-]")
        check_grants(requested)
        if caller.kind == "agent":
            # A child joins its parent's session and needs the parent's leave to spawn.
            if not allows(caller.capabilities, PERM_AGENTS_SPAWN):
                raise InsufficientAuthority("the parent agent does not hold agents.spawn")
            if session_id and session_id != caller.session_id:
                raise InsufficientAuthority("a child agent can only join its parent's session")
            if parent_agent_id and parent_agent_id != agent_id_of(caller):
                raise InsufficientAuthority("parent_agent_id is not the agent whose token was presented")
            session_id, parent_agent_id = caller.session_id, agent_id_of(caller)
        elif session_id:
            session_id = check_uuid(session_id, "session_id")
        agent_class = await self._store.get_class(class_name)
        if agent_class is None:
            raise NotFound(f"no agent class named {class_name!r}")
        ledger = await self._store.get_ledger(session_id) if session_id else None
        if session_id and ledger is None:
            raise NotFound(f"no session {session_id}")
        ceiling = float(ledger["ceiling_usd"]) if ledger else agent_class.cost_ceiling_usd

        issued = now()
        requested_grant = Grant(frozenset(requested), frozenset(), issued + self._ttl)
        template = Grant(agent_class.capabilities, agent_class.allowed_backends, UNBOUNDED_EXP, ceiling)
        granted = narrow(narrow(grant_of(caller), requested_grant), template)
        if not granted.caps:
            raise InsufficientAuthority(
                "the requested grants, the caller's token and the class template have nothing in common"
            )
        if not granted.backends:
            raise BackendNotAllowed("the caller's token allows none of the class's backends")
        new_session = not session_id
        session_id = session_id or str(uuid.uuid4())
        claims = Claims(
            jti=new_jti(), subject=agent_subject(agent_id), kind="agent", capabilities=granted.caps,
            backends=granted.backends, issued_at=issued, expires_at=granted.expires_at, session_id=session_id,
            parent_jti="" if is_anonymous(caller) else caller.jti,
            cost_ceiling_usd=granted.ceiling_usd, agent_class=agent_class.name,
        )
        async with self._store.transaction() as tx:
            if new_session:
                await tx.insert_ledger(session_id, agent_class.name, ceiling)
            depth = await self._limits.admit(tx, session_id, agent_id, parent_agent_id)
            token = await self._authority.issue(tx, claims, agent_id)
            await self._audit.append(session_id, events.AGENT_SPAWNED, caller, {
                "agent_id": agent_id,
                "agent_class": agent_class.name,
                "grants": sorted(granted.caps),
                "backends": sorted(granted.backends),
                "parent_agent_id": parent_agent_id,
                "depth": depth,
                "token_jti": claims.jti,
                "caller_subject": caller.subject,
                "caller_jti": caller.jti,
                "cost_ceiling_usd": ceiling,
                "expires_at": claims.expires_at,
            })
        return AgentToken(token, claims, agent_class)

    async def renew(self, caller_token: str, agent_id: str, expired_jti: str) -> AgentToken:
        """Re-mint an agent's token within today's limits: the old grants narrowed
        by the current class template and the renewing operator's own token."""
        caller = await self._authority.caller_from_token(caller_token)
        require_operator(caller, PERM_AGENTS_SPAWN)
        old = await self._store.latest_agent_token(agent_id)
        if old is None:
            raise NotFound(f"no token was ever minted for agent {agent_id!r}")
        if expired_jti and expired_jti != old.jti:
            raise InvalidArgument("expired_jti is not the agent's latest token")
        if old.revoked:
            raise InsufficientAuthority("the agent's token was revoked; revoked authority is not renewed")
        agent_class = await self._store.get_class(old.agent_class)
        if agent_class is None:
            raise NotFound(f"agent class {old.agent_class!r} no longer exists")
        issued = now()
        template = Grant(agent_class.capabilities, agent_class.allowed_backends, UNBOUNDED_EXP, old.ceiling_usd)
        previous = Grant(old.caps, old.backends, issued + self._ttl, old.ceiling_usd)
        granted = narrow(narrow(grant_of(caller), previous), template)
        if not granted.caps:
            raise InsufficientAuthority("nothing of the agent's grants is still allowed")
        if not granted.backends:
            raise BackendNotAllowed("none of the agent's backends is still allowed")
        claims = Claims(
            jti=new_jti(), subject=old.subject, kind="agent", capabilities=granted.caps, backends=granted.backends,
            issued_at=issued, expires_at=granted.expires_at, session_id=old.session_id,
            parent_jti="" if is_anonymous(caller) else caller.jti,
            cost_ceiling_usd=granted.ceiling_usd, agent_class=old.agent_class,
        )
        async with self._store.transaction() as tx:
            token = await self._authority.issue(tx, claims, agent_id)
            await tx.revoke_subtree(old.jti)
            await self._audit.append(old.session_id, events.AGENT_TOKEN_RENEWED, caller, {
                "agent_id": agent_id,
                "old_jti": old.jti,
                "token_jti": claims.jti,
                "grants": sorted(granted.caps),
                "expires_at": claims.expires_at,
            })
        return AgentToken(token, claims, agent_class)

    async def retire(self, jtis: Sequence[str]) -> int:
        """Revoke the tokens of agents that ended, and every token descended from
        them: an ended agent lends no authority, nor do the children it made.
        Returns how many tokens were newly revoked; a jti already revoked (a
        retry) or never minted here is skipped."""
        if len(jtis) > MAX_RETIRE_BATCH:
            raise InvalidArgument(f"at most {MAX_RETIRE_BATCH} tokens may be retired at once")
        revoked_count = 0
        for jti in dict.fromkeys(jtis):
            lineage = await self._store.token_lineage(jti)
            if not lineage or lineage[0].revoked:
                continue
            record = lineage[0]
            if record.kind != "agent":
                raise InvalidArgument(f"token {jti[:64]!r} is not an agent's; operator tokens are revoked by operators")
            async with self._store.transaction() as tx:
                revoked = await tx.revoke_subtree(jti)
                await self._audit.append(record.session_id, events.TOKEN_REVOKED, None, {
                    "jti": jti,
                    "agent_id": record.agent_id,
                    "why": "agent ended",
                    "revoked_count": len(revoked),
                    "revoked_jtis": revoked[:100],
                })
            revoked_count += len(revoked)
        return revoked_count
