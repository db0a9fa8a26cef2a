"""Who may do what on the public RPCs: the one operator-permission check every
service uses.

The public API is for operators. An agent's token only ever travels inside the
kernel's syscalls, so one that reaches a public route (leaked, or outliving
its agent) is refused, whatever names its class template holds.
"""

from __future__ import annotations

from aos_common.capabilities import allows
from aos_common.errors import InsufficientAuthority
from aos_common.tokens import Claims


def operator_only(claims: Claims) -> Claims:
    """`claims` if they are an operator's; INSUFFICIENT_AUTHORITY for an agent's."""
    if claims.kind != "operator":
        raise InsufficientAuthority("agent tokens are not accepted on the public API; use an operator token")
    return claims


def require_operator(claims: Claims, permission: str | None = None) -> None:
    """An operator token, carrying `permission` when one is named."""
    operator_only(claims)
    if permission is not None and not allows(claims.capabilities, permission):
        raise InsufficientAuthority(f"this action needs the {permission!r} permission")
