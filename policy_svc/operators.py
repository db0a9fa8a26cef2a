"""Operator tokens and agent classes: what the TokenService and AgentClassService do."""

from __future__ import annotations

import re
from typing import Any

from aos_common import events
from aos_common.capabilities import PERM_CLASSES_WRITE, PERM_TOKENS_ADMIN, allows, check_grants
from aos_common.errors import AlreadyExists, InsufficientAuthority, InvalidArgument, NotFound
from aos_common.permissions import require_operator
from aos_common.tokens import Claims
from policy_svc.audit import AuditLog
from policy_svc.authority import TokenAuthority, new_jti, now
from policy_svc.capability import AGENT_SUBJECT_PREFIX, Grant, grant_of, is_anonymous, narrow
from policy_svc.classes import AgentClass
from policy_svc.store import Store

SUBJECT_PATTERN = re.compile(r"^[A-Za-z0-9_.@:+-]{1,128}$")
# A minted subject is "<minter>/<requested>": '/' never appears in a requested
# name, so a subject names its whole minting line and cannot be taken by another.
SUBJECT_SEPARATOR = "/"
MAX_SUBJECT_CHARS = 512
MAX_OPERATOR_TTL_SECONDS = 365 * 86400


def minted_subject(minter: Claims, requested: str) -> str:
    """The subject a token minted by `minter` for `requested` carries."""
    if not SUBJECT_PATTERN.match(requested) or requested.startswith(AGENT_SUBJECT_PREFIX):
        raise InvalidArgument("subject must be 1-128 characters of [A-Za-z0-9_.@:+-] and not start 'agent:'")
    subject = f"{minter.subject}{SUBJECT_SEPARATOR}{requested}"
    if len(subject) > MAX_SUBJECT_CHARS:
        raise InvalidArgument(f"the minted subject {subject[:64]!r}... would pass {MAX_SUBJECT_CHARS} characters; "
                              "mint from a token nearer the root")
    return subject


class Operators:
    def __init__(self, authority: TokenAuthority, store: Store, audit: AuditLog, admin_ttl_seconds: int):
        self._authority = authority
        self._store = store
        self._audit = audit
        self._admin_ttl = admin_ttl_seconds

    async def mint_token(self, caller: Claims, subject: str, grants: list[str], backends: list[str],
                         ttl_seconds: int) -> tuple[str, Claims]:
        """A caller token never broader, nor longer-lived, than the caller's own,
        for a subject in the caller's namespace."""
        require_operator(caller)
        subject = minted_subject(caller, subject)
        check_grants(grants)
        if ttl_seconds < 0 or ttl_seconds > MAX_OPERATOR_TTL_SECONDS:
            raise InvalidArgument(f"ttl_seconds must be between 0 and {MAX_OPERATOR_TTL_SECONDS}")
        issued = now()
        granted = narrow(
            grant_of(caller),
            Grant(frozenset(grants), frozenset(backends), issued + (ttl_seconds or self._admin_ttl)),
        )
        if not granted.caps:
            raise InsufficientAuthority("none of the requested grants are held by the calling token")
        if granted.expires_at <= issued:
            raise InsufficientAuthority("the calling token expires too soon to mint from")
        claims = Claims(
            jti=new_jti(), subject=subject, kind="operator", capabilities=granted.caps,
            backends=granted.backends, issued_at=issued, expires_at=granted.expires_at,
            parent_jti="" if is_anonymous(caller) else caller.jti,
        )
        async with self._store.transaction() as tx:
            token = await self._authority.issue(tx, claims)
            await self._audit.append(events.SYSTEM_SESSION_ID, events.TOKEN_MINTED, caller, minted_payload(claims))
        return token, claims

    async def list_tokens(self, caller: Claims, include_revoked: bool) -> list[dict[str, Any]]:
        require_operator(caller)
        everything = allows(caller.capabilities, PERM_TOKENS_ADMIN)
        return await self._store.list_tokens(None if everything else caller.jti, include_revoked)

    async def revoke_token(self, caller: Claims, jti: str) -> int:
        """Revoke `jti` and every token descended from it; the caller must be
        the token itself, one of its ancestors, or hold tokens.admin."""
        require_operator(caller)
        lineage = await self._store.token_lineage(jti)
        if not lineage:
            raise NotFound(f"no token with jti {jti!r}")
        in_line = any(record.jti == caller.jti for record in lineage)
        if not in_line and not allows(caller.capabilities, PERM_TOKENS_ADMIN):
            raise InsufficientAuthority("only the token's ancestors or a tokens.admin holder may revoke it")
        async with self._store.transaction() as tx:
            revoked = await tx.revoke_subtree(jti)
            await self._audit.append(events.SYSTEM_SESSION_ID, events.TOKEN_REVOKED, caller,
                                     {"jti": jti, "revoked_count": len(revoked), "revoked_jtis": revoked[:100]})
        return len(revoked)

    async def create_class(self, caller: Claims, agent_class: AgentClass) -> AgentClass:
        require_operator(caller, PERM_CLASSES_WRITE)
        async with self._store.transaction() as tx:
            try:
                created = await tx.insert_class(agent_class, caller.subject)
            except AlreadyExists:
                raise AlreadyExists(f"agent class {agent_class.name!r} already exists") from None
            await self._audit.append(events.SYSTEM_SESSION_ID, events.AGENT_CLASS_CREATED, caller, {
                "name": created.name,
                "backend": created.backend,
                "model": created.model,
                "allowed_backends": sorted(created.allowed_backends),
                "capabilities": sorted(created.capabilities),
                "cost_ceiling_usd": created.cost_ceiling_usd,
                "approval_quorum": created.approval_quorum,
                "approval_excludes_spawner": created.approval_excludes_spawner,
                "approval_ttl_seconds": created.approval_ttl_seconds or 0,
            })
        return created

    async def get_class(self, name: str) -> AgentClass:
        found = await self._store.get_class(name)
        if found is None:
            raise NotFound(f"no agent class named {name!r}")
        return found

    async def list_classes(self) -> list[AgentClass]:
        return await self._store.list_classes()


def minted_payload(claims: Claims) -> dict[str, Any]:
    return {
        "jti": claims.jti,
        "subject": claims.subject,
        "kind": claims.kind,
        "grants": sorted(claims.capabilities),
        "backends": sorted(claims.backends),
        "parent_jti": claims.parent_jti,
        "expires_at": claims.expires_at,
    }
