"""Deliberate crash points, so recovery tests can kill a worker at the worst moment.

`AOS_KERNEL_FAILPOINT=<point>:<tool>:<marker file>` makes the process SIGKILL
itself when it reaches `<point>` for `<tool>`, once: the marker file is created
atomically first, so the worker that resumes the agent does not crash again.
Unset (always, in production) it does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass

from aos_common.logs import log_fields

log = logging.getLogger(__name__)

AFTER_EFFECT = "after_effect"  # the tool ran; its outcome is not recorded yet


@dataclass(frozen=True)
class Failpoints:
    spec: str = ""

    def hit(self, point: str, tool: str) -> None:
        if not self.spec:
            return
        want_point, _, rest = self.spec.partition(":")
        want_tool, _, marker = rest.partition(":")
        if want_point != point or want_tool != tool or not marker:
            return
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return
        log.warning("failpoint reached: killing this process", extra=log_fields(point=point, tool=tool))
        os.kill(os.getpid(), signal.SIGKILL)
