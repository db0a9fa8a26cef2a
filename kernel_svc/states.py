"""Agent states. The allowed transitions live in SQL (`kernel.allowed_predecessors`,
migration 0004), where every state change is checked; this module only names them."""

from __future__ import annotations

RUNNABLE = "runnable"
RUNNING = "running"
WAITING_APPROVAL = "waiting_approval"
COMPLETED = "completed"
# The judge disagreed with the final answer: the answer is kept for review, nothing runs after it.
COMPLETED_DISPUTED = "completed_disputed"
FAILED = "failed"
ABANDONED_UNGROUNDED = "abandoned_ungrounded"
SUSPENDED_TOKEN_EXPIRED = "suspended_token_expired"  # noqa: S105 (a state name, not a secret)
CANCELLED = "cancelled"

ALL_STATES = (
    RUNNABLE,
    RUNNING,
    WAITING_APPROVAL,
    COMPLETED,
    COMPLETED_DISPUTED,
    FAILED,
    ABANDONED_UNGROUNDED,
    SUSPENDED_TOKEN_EXPIRED,
    CANCELLED,
)

# No transition leaves these.
TERMINAL_STATES = frozenset({COMPLETED, COMPLETED_DISPUTED, FAILED, ABANDONED_UNGROUNDED, CANCELLED})
