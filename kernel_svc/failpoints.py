"""Deliberate faults, so recovery tests can hit the kernel at the worst moment.

`AOS_KERNEL_FAILPOINT=<point>:<tool>:<marker file>` (several joined by `,`)
fires when the process reaches `<point>` for `<tool>`, once: the marker file is
created atomically first, so the process that resumes the agent does not fail
again. `after_effect` SIGKILLs the process after the tool ran; `hang_in_tool`
makes the tool never finish (await forever); `stall_loop` blocks the event
loop inside the tool, as a tool making a blocking call would.
Unset (always, in production) it does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass

from aos_common.logs import log_fields

log = logging.getLogger(__name__)

AFTER_EFFECT = "after_effect"  # the tool ran; its outcome is not recorded yet
HANG_IN_TOOL = "hang_in_tool"  # the tool is running and never returns
STALL_LOOP = "stall_loop"  # the tool blocks the event loop
STALL_SECONDS = 3600.0


@dataclass(frozen=True)
class Failpoints:
    spec: str = ""

    def fires(self, point: str, tool: str) -> bool:
        """True, once per marker file, when a spec names `point` for `tool`."""
        for spec in filter(None, self.spec.split(",")):
            want_point, _, rest = spec.partition(":")
            want_tool, _, marker = rest.partition(":")
            if want_point != point or want_tool != tool or not marker:
                continue
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                return False
            log.warning("failpoint reached", extra=log_fields(point=point, tool=tool))
            return True
        return False

    def hit(self, point: str, tool: str) -> None:
        """`after_effect`: SIGKILL this process."""
        if self.fires(point, tool):
            os.kill(os.getpid(), signal.SIGKILL)

    async def in_tool(self, tool: str) -> None:
        """`stall_loop` and `hang_in_tool`, reached as the tool starts."""
        if self.fires(STALL_LOOP, tool):
            time.sleep(STALL_SECONDS)  # noqa: ASYNC251 (deliberately blocks the event loop)
        if self.fires(HANG_IN_TOOL, tool):
            await asyncio.Event().wait()
