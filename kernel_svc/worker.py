"""Workers: claim an agent, advance it, heartbeat while doing so.

A process runs N workers (AOS_WORKERS) sharing one heartbeat task. Every write a
worker makes about an agent is fenced by the epoch it claimed under, so once
the reaper has given the agent to someone else this worker's writes are refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass

from aos_common.errors import AosError, InvalidTransition
from aos_common.logs import log_fields
from kernel_svc import states
from kernel_svc.errors import StaleEpoch
from kernel_svc.loop import AgentLoop
from kernel_svc.process import AgentProcess
from kernel_svc.store import Store

log = logging.getLogger(__name__)

UNAVAILABLE_BACKOFF_SECONDS = 3.0


@dataclass(frozen=True)
class WorkerSettings:
    count: int
    heartbeat_seconds: float = 2.0
    idle_seconds: float = 0.5


def new_worker_id(index: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{index}:{uuid.uuid4().hex[:6]}"


class WorkerPool:
    def __init__(self, store: Store, loop: AgentLoop, settings: WorkerSettings):
        self._store = store
        self._loop = loop
        self._settings = settings
        self.worker_ids = [new_worker_id(i) for i in range(settings.count)]
        # Agents being advanced right now; only these are heartbeated, so an agent this
        # process could not settle (the database was down) is left to the reaper.
        self._held: set[str] = set()

    async def work_until(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; agents in hand are released for others to resume."""
        if not self.worker_ids:
            return
        for worker_id in self.worker_ids:
            await self._register(worker_id, stop)
        heartbeat = asyncio.create_task(self._heartbeat(), name="kernel-heartbeat")
        workers = [asyncio.create_task(self._work(w), name=f"kernel-worker-{w}") for w in self.worker_ids]
        log.info("workers started", extra=log_fields(workers=len(workers)))
        try:
            await stop.wait()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            try:
                await self._store.deregister_workers(self.worker_ids)
            except AosError:
                log.warning("could not deregister workers; the reaper will prune them")

    async def _register(self, worker_id: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._store.register_worker(worker_id, socket.gethostname(), os.getpid())
                return
            except AosError:
                log.warning("database unavailable; retrying worker registration")
                await asyncio.sleep(1.0)

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self._store.heartbeat(self.worker_ids, sorted(self._held))
            except AosError:
                log.warning("heartbeat failed; retrying")
            await asyncio.sleep(self._settings.heartbeat_seconds)

    async def _work(self, worker_id: str) -> None:
        while True:
            try:
                agent = await self._store.claim(worker_id)
            except AosError:
                log.warning("claim failed; database unavailable", extra=log_fields(worker_id=worker_id))
                agent = None
            if agent is None:
                await asyncio.sleep(self._settings.idle_seconds * random.uniform(0.5, 1.5))
                continue
            log.info("agent claimed", extra=log_fields(agent_id=agent.id, worker_id=worker_id, epoch=agent.epoch))
            self._held.add(agent.id)
            try:
                await self._advance(agent)
            finally:
                self._held.discard(agent.id)

    async def _advance(self, agent: AgentProcess) -> None:
        try:
            await self._loop.advance(agent)
        except StaleEpoch as error:
            log.warning("claim superseded; this worker's write was refused",
                        extra=log_fields(agent_id=agent.id, epoch=agent.epoch, detail=error.message))
        except InvalidTransition as error:
            log.info("agent left running under this worker", extra=log_fields(agent_id=agent.id,
                                                                              detail=error.message))
        except asyncio.CancelledError:
            await asyncio.shield(self._release(agent, 0.0))
            raise
        except AosError as error:
            await self._on_refusal(agent, error)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("agent step failed", extra=log_fields(agent_id=agent.id, ref=ref))
            await self._settle(agent, states.FAILED, ("INTERNAL", f"internal error in the kernel (reference {ref})"))

    async def _on_refusal(self, agent: AgentProcess, error: AosError) -> None:
        if error.reason == "UNAVAILABLE":
            # Policy, audit or the database is down: try again later from the checkpoint.
            log.warning("dependency unavailable; agent released", extra=log_fields(agent_id=agent.id,
                                                                                  detail=error.message))
            await self._release(agent, UNAVAILABLE_BACKOFF_SECONDS)
        elif error.reason == "TOKEN_EXPIRED":
            await self._settle(agent, states.SUSPENDED_TOKEN_EXPIRED,
                               ("TOKEN_EXPIRED", "the agent's capability token expired; renew the agent"))
        else:
            await self._settle(agent, states.FAILED, (error.reason, error.message))

    async def _release(self, agent: AgentProcess, delay_seconds: float) -> None:
        await self._settle(agent, states.RUNNABLE, None, delay_seconds)

    async def _settle(self, agent: AgentProcess, to_state: str, error: tuple[str, str] | None,
                      delay_seconds: float = 0.0) -> None:
        try:
            # Back to runnable is the scheduler's own business; an end or a suspension goes on the chain.
            await self._store.transition(agent.id, to_state, epoch=agent.epoch, error=error,
                                         delay_seconds=delay_seconds,
                                         record=self._loop.record_state_change if error else None)
        except AosError as failure:
            log.warning("could not settle agent", extra=log_fields(agent_id=agent.id, state=to_state,
                                                                   detail=failure.message))
