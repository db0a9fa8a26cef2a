"""Resource limits of a sandboxed effect: their names, their bounds, and how a
class's ceilings lower what a call asks for.

Three parties set them. The deployment sets defaults (kernel, `AOS_SANDBOX_*`);
an agent class may set ceilings (policy, the class's `sandbox_limits`); a call
may ask for less (`timeout_s`). The kernel sends policy the limits a call would
run under; policy lowers each to the class's ceiling, records the result with
its ALLOW, and the kernel runs the effect under exactly what was allowed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from aos_common.errors import InvalidArgument

# name -> (least, most) a deployment or a class may set.
LIMIT_BOUNDS: dict[str, tuple[float, float]] = {
    "cpu_s": (1, 3600),
    "memory_mb": (32, 65536),
    "processes": (2, 4096),
    "file_size_mb": (1, 65536),
    "open_files": (16, 65536),
    "wall_s": (0.1, 3600),
    "output_bytes": (1024, 64 * 1024 * 1024),
    "tmpfs_mb": (1, 65536),
}
FRACTIONAL = frozenset({"wall_s"})


def check_limits(limits: Mapping[str, float], what: str) -> dict[str, float]:
    """The limits as given, if every name is known and every value in bounds;
    InvalidArgument naming the first that is not."""
    checked: dict[str, float] = {}
    for name, value in sorted(limits.items()):
        if name not in LIMIT_BOUNDS:
            raise InvalidArgument(f"{what}: unknown limit {name!r}; known: {', '.join(sorted(LIMIT_BOUNDS))}")
        least, most = LIMIT_BOUNDS[name]
        if not math.isfinite(value) or not least <= value <= most:
            raise InvalidArgument(f"{what}: {name} must be between {least:g} and {most:g}")
        if name not in FRACTIONAL and value != int(value):
            raise InvalidArgument(f"{what}: {name} must be a whole number")
        checked[name] = float(value)
    return checked


def lower(requested: Mapping[str, float], ceilings: Mapping[str, float]) -> dict[str, float]:
    """Each requested limit, lowered to its ceiling where there is one (never raised)."""
    return {name: min(value, ceilings.get(name, value)) for name, value in requested.items()}
