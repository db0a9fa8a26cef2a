"""Who may do what on policy's operator-facing RPCs."""

from __future__ import annotations

from aos_common.capabilities import allows
from aos_common.errors import InsufficientAuthority
from aos_common.tokens import Claims


def require_operator(claims: Claims, permission: str | None = None) -> None:
    """Operator actions need an operator token (an agent never decides for
    itself, whatever names its class template holds) carrying `permission`."""
    if claims.kind != "operator":
        raise InsufficientAuthority("this action needs an operator token, not an agent's")
    if permission is not None and not allows(claims.capabilities, permission):
        raise InsufficientAuthority(f"this action needs the {permission!r} permission")
