"""No code path reaches a provider or a tool except through the syscall boundary.

Structural half of the proof (the behavioural half is in
tests/integration/test_kernel_loop.py): in the kernel's source, only
`syscalls.py` calls `.complete(...)` on a provider or `.run(...)` on a tool, and
a Permit cannot be made without policy's ALLOW.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from aos_common.errors import InsufficientAuthority
from kernel_svc.checkpoint import PENDING, Inflight
from kernel_svc.syscalls import TOOL_CALL, Permit, SyscallBoundary

KERNEL = Path(__file__).resolve().parents[2] / "kernel_svc"
EFFECT_METHODS = {"complete", "run"}


def effect_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in EFFECT_METHODS:
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id == "asyncio":
                continue
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_only_the_boundary_calls_providers_and_tools() -> None:
    sources = [p for p in KERNEL.rglob("*.py") if "providers" not in p.relative_to(KERNEL).parts]
    assert len(sources) > 10
    offenders = [hit for p in sources if p.name != "syscalls.py" for hit in effect_calls(p)]
    assert offenders == []
    # The boundary itself does make those calls (so the scan is looking at the right thing).
    assert len(effect_calls(KERNEL / "syscalls.py")) >= 2


def test_a_permit_cannot_be_forged() -> None:
    with pytest.raises(InsufficientAuthority):
        Permit(TOOL_CALL, "fs.delete_file", "ab", "syscall", "", object())


def test_resume_needs_a_recorded_allow() -> None:
    boundary = SyscallBoundary(policy=None, store=None)  # type: ignore[arg-type]
    with pytest.raises(InsufficientAuthority):
        boundary.resume(Inflight(kind="tool", target="fs.delete_file", phase=PENDING, approval_id="a"))
