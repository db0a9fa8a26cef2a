"""`HealthService.GetHealth`, answered by the gateway from the backends' own status reports.

Each backend gets one short-deadline `StatusService.GetStatus` call, all at
once, so health answers within about that deadline whatever is down: a
service that is unreachable or slow is reported as down, never waited for.
Health always answers (HTTP 200); `status` says whether all is well.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from aos.v1 import health_pb2, status_pb2, status_pb2_grpc
from aos_common.logs import log_fields
from gateway.upstream import Upstream

log = logging.getLogger(__name__)

GET_HEALTH_PATH = "/aos.v1.HealthService/GetHealth"
BACKENDS = ("kernel", "policy", "audit")


def _why_down(error: grpc.aio.AioRpcError, timeout: float) -> str:
    # Short, fixed wording: grpc's own messages name internal addresses.
    code = error.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"no answer within {timeout:g}s"
    if code == grpc.StatusCode.UNAVAILABLE:
        return "unreachable"
    return f"status check failed ({code.name})"


class HealthReporter:
    def __init__(self, upstream: Upstream, auth_mode: str, timeout_seconds: float = 1.0):
        self._upstream = upstream
        self._auth_mode = auth_mode
        self._timeout = timeout_seconds

    async def _status(self, backend: str) -> status_pb2.GetStatusResponse | str:
        stub = status_pb2_grpc.StatusServiceStub(self._upstream.channel_of(backend))
        try:
            return await stub.GetStatus(status_pb2.GetStatusRequest(), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            why = _why_down(error, self._timeout)
            log.warning("backend down", extra=log_fields(backend=backend, detail=why))
            return why

    async def report(self) -> health_pb2.GetHealthResponse:
        answers = await asyncio.gather(*(self._status(b) for b in BACKENDS))
        response = health_pb2.GetHealthResponse(auth_mode=self._auth_mode)
        for backend, answer in zip(BACKENDS, answers, strict=True):
            if isinstance(answer, str):
                response.services.add(name=backend, status="down", detail=answer)
                continue
            response.services.add(name=backend, status="ok")
            if backend == "kernel" and answer.HasField("scheduler"):
                response.scheduler.CopyFrom(answer.scheduler)
            if backend == "kernel":
                response.tool_servers.extend(answer.tool_servers)
                if answer.HasField("sandbox"):
                    response.sandbox.CopyFrom(answer.sandbox)
            if backend == "audit" and answer.HasField("anchors"):
                response.audit_anchors.CopyFrom(answer.anchors)
        if isinstance(answers[BACKENDS.index("kernel")], str):
            response.scheduler.status = "down"
        elif not response.scheduler.status:
            response.scheduler.status = "ok"
        if isinstance(answers[BACKENDS.index("audit")], str):
            # Zero failures from a service we could not ask would read as "all is well".
            response.audit_anchors.store = "unknown"
        all_up = all(s.status == "ok" for s in response.services)
        response.status = "ok" if all_up and response.scheduler.status == "ok" else "degraded"
        return response

    async def get_health(self, request: bytes) -> bytes:
        """The local handler both edges call for GetHealth (the request has no fields)."""
        health_pb2.GetHealthRequest.FromString(request)
        return (await self.report()).SerializeToString()
