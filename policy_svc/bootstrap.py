"""The bootstrap operator token: the root every other token descends from.

Written to AOS_BOOTSTRAP_TOKEN_FILE (0600) when the file is missing or its
token no longer verifies. Minting it needs the audit service (TOKEN_MINTED is
recorded before the token exists), which may start after policy, so minting
retries until audit answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from aos_common import events
from aos_common.capabilities import WILDCARD
from aos_common.errors import AosError, Unavailable
from aos_common.logs import log_fields
from aos_common.tokens import Claims
from policy_svc.audit import AuditLog
from policy_svc.authority import TokenAuthority, new_jti, now
from policy_svc.operators import minted_payload
from policy_svc.store import Store

log = logging.getLogger(__name__)

SUBJECT = "bootstrap-admin"
RETRY_SECONDS = 1.0


def read_token(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


async def current_token_valid(authority: TokenAuthority, path: Path) -> bool:
    token = read_token(path)
    if not token:
        return False
    try:
        await authority.verify(token)
    except AosError as error:
        if error.reason == "UNAVAILABLE":
            raise
        return False
    return True


async def mint_bootstrap_token(authority: TokenAuthority, store: Store, audit: AuditLog, ttl_seconds: int) -> str:
    issued = now()
    claims = Claims(
        jti=new_jti(), subject=SUBJECT, kind="operator", capabilities=frozenset({WILDCARD}),
        backends=frozenset({WILDCARD}), issued_at=issued, expires_at=issued + ttl_seconds,
    )
    async with store.transaction() as tx:
        token = await authority.issue(tx, claims)
        await audit.append(events.SYSTEM_SESSION_ID, events.TOKEN_MINTED, claims, minted_payload(claims))
    log.info("minted bootstrap operator token", extra=log_fields(jti=claims.jti, subject=SUBJECT))
    return token


def write_secret(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    os.replace(scratch, path)


async def ensure_bootstrap_token(authority: TokenAuthority, store: Store, audit: AuditLog, path: Path,
                                 ttl_seconds: int, *, wait: bool = True) -> None:
    """Keep a valid bootstrap token at `path`; with `wait`, retry until audit answers."""
    while True:
        try:
            if await current_token_valid(authority, path):
                return
            write_secret(path, await mint_bootstrap_token(authority, store, audit, ttl_seconds))
            return
        except Unavailable as error:
            if not wait:
                raise
            log.warning("bootstrap token not minted yet; retrying", extra=log_fields(reason=error.message))
            await asyncio.sleep(RETRY_SECONDS)
