#!/usr/bin/env bash
# The test command: from a clean clone, install everything the tests need into
# .venv, check the contract (stubs fresh, buf lint, ruff, mypy), then run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# The audit verifier's hot path is C (audit_svc/_pagecheck.c): building it needs a
# compiler and OpenSSL's headers. Debian's machines usually have both.
if { ! command -v gcc >/dev/null 2>&1 || [ ! -e /usr/include/openssl/evp.h ]; } \
  && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing gcc and libssl-dev to build the audit verifier's C module"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libssl-dev >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# The bench extra too: the containment slice (tests/integration/test_containment_slice.py)
# plays AgentDojo's suites, which ship in its agentdojo package.
.venv/bin/python -m pip install --quiet -e '.[dev,bench]'

# The dashboard's browser tests drive Debian's chromium (never a downloaded browser).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing chromium for the browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "chromium could not be installed; browser tests will be skipped"
fi

# Real third-party MCP servers from npm for tests/integration/test_e2e_mcp.py
# (installed once into .tools/npm; the tests that need them skip where node is absent).
NPM_MCP="@modelcontextprotocol/server-filesystem@2026.8.31 @modelcontextprotocol/server-everything@2026.8.31"
if command -v npm >/dev/null 2>&1 \
  && [ ! -e .tools/npm/node_modules/@modelcontextprotocol/server-everything/package.json ]; then
  echo "== installing the npm MCP servers the tests drive"
  # shellcheck disable=SC2086
  npm install --silent --no-audit --no-fund --prefix .tools/npm $NPM_MCP >/dev/null \
    || echo "the npm MCP servers could not be installed; their tests will fail"
fi

echo "== generated stubs"
.venv/bin/python scripts/gen_protos.py --check
echo "== buf lint"
.venv/bin/buf lint
echo "== buf breaking"
# The contract as first published; later changes may add to it, never break it.
CONTRACT_BASE=08e315024e1fa29fb4959b7fbe5512ae9af70057
if git cat-file -e "${CONTRACT_BASE}^{commit}" 2>/dev/null; then
  .venv/bin/buf breaking --against ".git#ref=${CONTRACT_BASE}"
else
  echo "the contract's base commit is not in this clone; skipped"
fi
echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== the C verifier's checks are each held by a test"
.venv/bin/python scripts/pagecheck_mutants.py
echo "== tests"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
