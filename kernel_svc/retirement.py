"""Ended agents lend no authority: their tokens are revoked.

Once an agent is completed, failed, abandoned or cancelled, its capability
token (and every token descended from it: its children's) is revoked in
policy. Every terminal transition is picked up from the process table, so the
mechanism does not depend on which code path ended the agent, and an end that
happened while policy was down is revoked on a later pass.
"""

from __future__ import annotations

import asyncio
import logging

from aos.v1 import policy_internal_pb2 as pb
from aos.v1 import policy_internal_pb2_grpc as pb_grpc
from aos_common.errors import AosError
from aos_common.logs import log_fields
from aos_common.rpc import call
from kernel_svc.store import Store

log = logging.getLogger(__name__)

BATCH = 100


class Retirement:
    def __init__(self, store: Store, policy: pb_grpc.PolicyServiceStub, *, interval_seconds: float,
                 timeout_s: float = 10.0):
        self._store = store
        self._policy = policy
        self._interval = interval_seconds
        self._timeout_s = timeout_s

    async def retire_once(self) -> int:
        """Revoke the tokens of ended agents not yet retired; returns how many agents were."""
        ended = await self._store.unrevoked_ends(BATCH)
        if not ended:
            return 0
        request = pb.RetireAgentTokensRequest(jtis=[jti for _, jti in ended])
        reply = await call(self._policy.RetireAgentTokens(request, timeout=self._timeout_s), "policy")
        await self._store.mark_tokens_revoked([agent_id for agent_id, _ in ended])
        log.info("ended agents' tokens revoked", extra=log_fields(agents=len(ended), tokens=reply.revoked_count))
        return len(ended)

    async def patrol(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                while await self.retire_once() == BATCH:
                    pass
            except AosError as error:
                log.warning("token retirement pass failed; will retry", extra=log_fields(reason=error.reason,
                                                                                          detail=error.message))
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
            except TimeoutError:
                pass
