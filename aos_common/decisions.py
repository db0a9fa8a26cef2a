"""The three answers policy's Authorize gives, by name: one spelling for policy,
the kernel and the wire (`aos.v1.Decision` carries them as an enum)."""

from __future__ import annotations

ALLOW, PENDING, DENY = "ALLOW", "PENDING", "DENY"
