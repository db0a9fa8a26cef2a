"""API fuzzing: schemathesis against the gateway's own OpenAPI document, with a valid token.

`st run … --checks all` with a fixed seed and `AOS_FUZZ_EXAMPLES` examples per
operation (default 25), plus one check of ours (`fuzz_hooks.contract_error_shape`:
every error body is in the contract's shape). Two of schemathesis's checks are
left out because they test something the contract does not promise:

* `positive_data_acceptance` expects every schema-valid request to succeed. The
  document is generated from the protos and carries types, not the services'
  own validation (ids are UUIDs, hashes 64 hex digits, subjects a pattern), so
  schema-valid but semantically invalid requests are rightly refused with 400.
* `allow_header_conformance` compares `Allow` with the methods documented for
  the OpenAPI path. `/api/v1/agents/x:cancel` also matches
  `GET /api/v1/agents/{agent_id}` (agent_id "x:cancel", as in grpc-gateway,
  where a variable takes the whole segment when its pattern has no verb), so
  `Allow: GET, POST` is what the gateway really serves there.

`POST /api/v1/tokens/{jti}:revoke` runs on its own, with a token minted for
the purpose: in the main run the fuzzer finds the operator token's jti in
`GET /api/v1/tokens` and revokes it, after which every case is a 401 that tests
nothing. Authentication is checked on every operation directly as well (no
token, a forged token: 401), since schemathesis's `ignored_auth` probes an
operation only once a generated request has succeeded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.contract import contract_error
from tests.stack import ROOT, RunningStack, stack  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("AOS_FUZZ_EXAMPLES", "25"))
SEED = 20260501
REVOKE = "TokenService_RevokeToken"
EXCLUDED_CHECKS = "positive_data_acceptance,allow_header_conformance"


@pytest.fixture(scope="module")
def openapi(stack: RunningStack) -> dict[str, Any]:  # noqa: F811
    stack.wait_healthy(90)
    reply = httpx.get(stack.http_url + "/api/v1/openapi.json", timeout=10)
    assert reply.status_code == 200
    return reply.json()


def schemathesis_run(stack: RunningStack, token: str, report_dir: Path, *selection: str  # noqa: F811
                     ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One `st run` against the stack; returns the process and its JSON report."""
    command = [
        str(Path(sys.executable).with_name("st")), "run", stack.http_url + "/api/v1/openapi.json",
        "-H", f"Authorization: Bearer {token}",
        "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
        "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", "2",
        "--request-timeout", "35", "--max-failures", "50",
        "--report", "json", "--report-dir", str(report_dir),
        *selection,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.faults.fuzz_hooks", "PYTHONPATH": str(ROOT)}
    process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    (report,) = report_dir.glob("*.json")
    return process, json.loads(report.read_text())


def summary(report: dict[str, Any]) -> str:
    cases, ops = report["test_cases"], report["operations"]
    failures = ", ".join(f"{f['code']} {f['title']} x{f['count']}" for f in report["failures"]) or "no failures"
    return (f"{ops['tested']}/{ops['selected']} operations, {cases['generated']} cases, "
            f"{cases['with_failures']} failing, {cases['errored']} errored "
            f"({failures}; {len(report['errors'])} errors)")


def test_schemathesis_finds_nothing(stack: RunningStack, tmp_path: Path) -> None:  # noqa: F811
    main, report = schemathesis_run(stack, stack.admin_token, tmp_path / "main", "--exclude-operation-id", REVOKE)
    with stack.client() as client:
        minted = client.post("/api/v1/tokens", json={"subject": "fuzzer", "grants": ["*"], "ttl_seconds": 600})
    assert minted.status_code == 200, minted.text
    revoke, revoke_report = schemathesis_run(stack, minted.json()["token"], tmp_path / "revoke",
                                             "--include-operation-id", REVOKE)
    print(f"\nschemathesis --checks all (seed {SEED}, {EXAMPLES} examples/operation): {summary(report)}; "
          f"revoke alone: {summary(revoke_report)}")

    for process, result in ((main, report), (revoke, revoke_report)):
        assert process.returncode == 0 and result["failures"] == [] and result["errors"] == [], \
            process.stdout[-6000:]
        assert result["operations"]["tested"] == result["operations"]["selected"] > 0
        assert result["test_cases"]["generated"] > 0


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(method, path with its variables filled in, whether it needs a token) for every operation."""
    for template, methods in document["paths"].items():
        path = template
        while "{" in path:
            start, end = path.index("{"), path.index("}")
            path = path[:start] + str(uuid.uuid4()) + path[end + 1:]
        for method, operation in methods.items():
            yield method.upper(), path, bool(operation.get("security", document.get("security")))


def test_every_operation_refuses_anonymous_and_forged_callers(stack: RunningStack,  # noqa: F811
                                                              openapi: dict[str, Any]) -> None:
    forged = stack.admin_token[:-8] + ("A" * 8 if not stack.admin_token.endswith("A" * 8) else "B" * 8)
    refused, open_ok, wrong = 0, 0, []
    with httpx.Client(base_url=stack.http_url, timeout=35) as client:
        for method, path, secured in operations(openapi):
            for headers in ({}, {"Authorization": f"Bearer {forged}"}):
                reply = client.request(method, path, headers=headers, json={} if method == "POST" else None)
                body = reply.json()
                if secured and reply.status_code == 401 and contract_error(body, 401):
                    refused += 1
                elif not secured and reply.status_code == 200:
                    open_ok += 1
                else:
                    wrong.append(f"{method} {path} {'forged' if headers else 'anonymous'}: {reply.status_code}")
    print(f"\nauthentication sweep: {refused} secured calls refused with 401, {open_ok} open calls answered, "
          f"{len(wrong)} wrong")
    assert wrong == [] and refused > 0


def test_requests_no_route_takes_answer_in_the_contract_shape(stack: RunningStack) -> None:  # noqa: F811
    """A path whose variable holds a newline and a method outside the usual set once got
    Starlette's plain-text 404/405 instead of the contract's JSON."""
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    with httpx.Client(base_url=stack.http_url, timeout=35, headers=headers) as client:
        newline = client.post("/api/v1/agents/%0A:cancel", json={})
        trace = client.request("TRACE", "/api/v1/agents")
        trace_openapi = client.request("TRACE", "/api/v1/openapi.json")
    assert newline.status_code == 400 and contract_error(newline.json(), 400), newline.text
    assert trace.status_code == 405 and contract_error(trace.json(), 405), trace.text
    assert trace.headers["allow"] == "GET, POST"
    assert trace_openapi.status_code == 405 and contract_error(trace_openapi.json(), 405), trace_openapi.text
