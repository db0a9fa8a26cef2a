"""What the services' asyncpg pools share."""

from __future__ import annotations


async def skip_reset(conn: object) -> None:
    """A pool's `reset` hook that sends nothing.

    asyncpg's default reset costs a round trip on every release, to undo
    session state these services never leave behind: their advisory locks are
    transaction-scoped, nothing is SET or LISTENed, and cursors live inside
    transactions. asyncpg still rolls back a transaction left open before it
    calls this hook.
    """
    return None
