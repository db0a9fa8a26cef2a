"""Schemathesis hooks for the API fuzz run (loaded through SCHEMATHESIS_HOOKS).

Adds one check to schemathesis's own: every error the gateway answers is in
the contract's shape, whatever produced it (the gateway, a backend, or a
framework default that slipped through).
"""

from __future__ import annotations

from typing import Any

import schemathesis

from tests.faults.contract import contract_error


@schemathesis.check
def contract_error_shape(ctx: Any, response: Any, case: Any) -> None:
    if response.status_code < 400 or response.request.method == "HEAD":  # HEAD answers carry no body
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if not contract_error(body, response.status_code):
        raise AssertionError(f"error body not in the contract's shape: {response.text[:300]!r}")
