"""Kernel-specific refusals, each mapped onto a contract reason."""

from __future__ import annotations

from aos_common.errors import InvalidTransition


class StaleEpoch(InvalidTransition):
    """A worker wrote for a claim that has since been superseded (the agent was
    reaped as an orphan and claimed again, or cancelled): the write is refused."""
