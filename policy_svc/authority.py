"""The signer and verifier of capability tokens: keys plus policy's own records."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from aos_common.errors import Unauthenticated
from aos_common.permissions import operator_only
from aos_common.tokens import Claims, kid_of
from aos_common.verifier import ANONYMOUS
from policy_svc.capability import (
    TokenRecord,
    bearer_or_anonymous,
    check_lineage,
    check_record,
    record_of,
    verify_signature,
)
from policy_svc.keys import KeyRing
from policy_svc.store import Queries, Store


def new_jti() -> str:
    return str(uuid.uuid4())


def now() -> int:
    return int(time.time())


class TokenAuthority:
    def __init__(self, keys: KeyRing, store: Store, auth_mode: str):
        self._keys = keys
        self._store = store
        self.auth_mode = auth_mode

    @property
    def keys(self) -> KeyRing:
        return self._keys

    async def verify(self, token: str, *, allow_expired: bool = False) -> Claims:
        """Signature and time, then the record and its lineage in policy's database."""
        claims = verify_signature(token, self._keys.public_keys(), allow_expired=allow_expired)
        kid = kid_of(token)
        check_lineage(claims, kid, await self._store.token_lineage(claims.jti))
        return claims

    def identify(self, token: str) -> Claims:
        """Who a token names: signature and claims, even past expiry. The caller
        then checks the token's record with `check_minted`."""
        return verify_signature(token, self._keys.public_keys(), allow_expired=True)

    @staticmethod
    def check_minted(token: str, claims: Claims, record: TokenRecord | None) -> None:
        """That policy minted this very token (its own record; not its lineage or revocation)."""
        check_record(claims, kid_of(token), record)

    async def revoked(self) -> list[str]:
        """Revoked jtis not yet expired: what services verifying locally must refuse."""
        return await self._store.revoked_unexpired()

    async def caller(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Claims:
        """The operator calling a public RPC, from its bearer metadata (ANONYMOUS
        only outside enforced mode); agent tokens are refused."""
        token = bearer_or_anonymous(metadata, self.auth_mode)
        return ANONYMOUS if token is None else operator_only(await self.verify(token))

    async def caller_from_token(self, token: str) -> Claims:
        """The caller named by a token field (MintAgentToken, RenewAgentToken)."""
        if not token:
            if self.auth_mode == "enforced":
                raise Unauthenticated("a caller token is required")
            return ANONYMOUS
        return await self.verify(token)

    async def issue(self, tx: Queries, claims: Claims, agent_id: str = "") -> str:
        """Sign `claims` and record them in the caller's transaction: the token
        becomes usable only if that transaction commits."""
        token, kid = self._keys.sign(claims.to_payload())
        await tx.insert_token(record_of(claims, kid, agent_id))
        return token
