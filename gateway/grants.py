"""Clamping requested grants to the caller's own claims before a request leaves the edge.

This is a first cut only: the policy service computes the authoritative
intersection (caller ∩ request ∩ class template) and refuses an empty one.
Clamping here means a caller's over-broad request never even reaches a backend.
"""

from __future__ import annotations

from google.protobuf.message import Message

from aos_common.capabilities import check_grants, intersect, normalize
from aos_common.errors import InsufficientAuthority
from aos_common.tokens import Claims

# RPCs whose request asks for capabilities, and the field that holds them.
GRANT_FIELDS: dict[str, str] = {
    "/aos.v1.AgentService/SpawnAgent": "grants",
    "/aos.v1.TokenService/MintToken": "grants",
}


def clamp(grpc_path: str, request: Message, claims: Claims) -> None:
    """Narrow the request's grants in place to what the caller holds; refuse a malformed pattern."""
    field = GRANT_FIELDS.get(grpc_path)
    if field is None:
        return
    requested = normalize(getattr(request, field))
    if not requested:
        return
    check_grants(requested)
    granted = intersect(claims.capabilities, requested)
    if not granted:
        raise InsufficientAuthority(
            f"none of the requested grants ({', '.join(sorted(requested))}) is held by the caller"
        )
    container = getattr(request, field)
    del container[:]
    container.extend(sorted(granted))
