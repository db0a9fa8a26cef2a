"""Who is calling: bearer-token checks at the edge, in the three modes of AOS_AUTH_MODE.

The gateway only verifies (with policy's public keys); it forwards the
caller's own `authorization` value so every backend verifies it again and
never takes the gateway's word for who called.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aos_common.errors import AosError, Unauthenticated
from aos_common.logs import log_fields
from aos_common.permissions import operator_only
from aos_common.tokens import Claims
from aos_common.verifier import ANONYMOUS, TokenVerifier, bearer_from_metadata

log = logging.getLogger(__name__)

# Public RPCs anyone may call: operators' alerting must reach health without a token.
OPEN_METHODS = frozenset({"/aos.v1.HealthService/GetHealth"})

WARNING_HEADER = "X-AOS-Auth-Warning"


@dataclass(frozen=True)
class AuthOutcome:
    """The caller as the edge sees it and what travels on to the backend."""

    claims: Claims
    # The `authorization` value to forward; None sends the call on without one.
    forward: str | None
    # Set in warn mode when the request would have been refused.
    warning: str | None = None


class Authenticator:
    def __init__(self, mode: str, verifier: TokenVerifier):
        self.mode = mode
        self._verifier = verifier

    async def authenticate(self, authorization: str | None, where: str) -> AuthOutcome:
        """Check the caller; raises the contract's AosError when enforced mode refuses.

        `where` names the call for the warn-mode log line (never the token).
        """
        if self.mode == "disabled":
            # Nothing is checked here; a token that is present still goes on,
            # so backends can attribute (or refuse) it themselves.
            return AuthOutcome(ANONYMOUS, authorization)
        try:
            claims = await self._verify(authorization)
        except AosError as error:
            if self.mode == "enforced":
                raise
            warning = f"{error.reason}: {error.message}; request passed because AOS_AUTH_MODE=warn"
            log.warning("auth warning", extra=log_fields(call=where, reason=error.reason, detail=error.message))
            # An unverified token is not forwarded: backends see an anonymous caller, not a forged one.
            return AuthOutcome(ANONYMOUS, None, warning)
        return AuthOutcome(claims, authorization)

    async def _verify(self, authorization: str | None) -> Claims:
        token = bearer_from_metadata([("authorization", authorization)]) if authorization is not None else None
        if token is None:
            raise Unauthenticated("no authorization token was sent")
        return operator_only(await self._verifier.verify(token))
