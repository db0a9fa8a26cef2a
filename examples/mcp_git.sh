#!/usr/bin/env bash
# Bring your own tools: mcp-server-git (a third-party MCP server from PyPI) as a
# governed tool pack. Start the runtime first (`aosiq up`), then run this in
# another terminal. Each step prints what it does (docs/TOOL_SERVERS.md).
#
# The kernel starts the server over stdio, lists its tools and keeps them
# uncallable until an operator approves that exact set of definitions. An agent
# then reads the log through the read-only git_log and proposes git_commit,
# which is not read-only: it waits for an approval bound to its arguments, runs
# once approved, and the session's audit chain is verified.
set -euo pipefail

AOSIQ=${AOSIQ:-aosiq}
AOS_HOME=${AOS_HOME:-$HOME/.aosiq}
export AOS_HOME
# The interpreter that has mcp-server-git (the one aosiq is installed in).
PYTHON=${PYTHON:-$(dirname "$(command -v "$AOSIQ")")/python}
runtime() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$AOS_HOME/runtime.json" "$1"; }
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
WORKSPACE=$(runtime workspace)
REPO="$WORKSPACE/demo-repo-$$"
SERVER="git$$"

echo "== 1. a throw-away repository with one commit and a staged change"
git init -q "$REPO"
git -C "$REPO" -c user.name=Demo -c user.email=demo@example.com commit -q --allow-empty -m "Initial commit"
echo "- added a changelog" > "$REPO/CHANGELOG.md"
git -C "$REPO" add CHANGELOG.md

echo "== 2. register mcp-server-git over stdio (env values are write-only secrets)"
"$AOSIQ" tools register "$SERVER" \
  -e GIT_AUTHOR_NAME="AOSIQ agent" -e GIT_AUTHOR_EMAIL=agent@example.com \
  -e GIT_COMMITTER_NAME="AOSIQ agent" -e GIT_COMMITTER_EMAIL=agent@example.com \
  -- "$PYTHON" -m mcp_server_git --repository "$REPO" >/dev/null

echo "== 3. review the definitions: read-only tools run freely, the rest wait for approval"
"$AOSIQ" tools show "$SERVER"
HASH=$("$AOSIQ" tools show "$SERVER" --json | field pending_definitions_hash)

echo "== 4. approve exactly that set (its hash)"
"$AOSIQ" tools approve "$SERVER" --hash "$HASH" --yes

echo "== 5. a class that may use the server's tools (a pattern grant)"
CLASS="committer$$"
"$AOSIQ" classes create "$CLASS" --backend anthropic --model aos-scripted -c "mcp.$SERVER.*" --ceiling 0.50 >/dev/null

echo "== 6. spawn the agent: read the log, then commit the staged change"
TASK=$'Commit the staged changelog.\nplan:\n'"1. call mcp.$SERVER.git_log {\"repo_path\": \"$REPO\"}"$'\n'"2. call mcp.$SERVER.git_commit {\"repo_path\": \"$REPO\", \"message\": \"Add a changelog\"}"$'\n3. answer Committed the changelog on top of the initial commit. [evidence: 1, 2]'
AGENT_JSON=$("$AOSIQ" agents spawn "$CLASS" "$TASK" -g "mcp.$SERVER.*" --json)
AGENT_ID=$(echo "$AGENT_JSON" | field agent_id)
SESSION_ID=$(echo "$AGENT_JSON" | field session_id)
echo "agent $AGENT_ID in session $SESSION_ID"

echo "== 7. the commit waits for an operator"
APPROVAL_ID=""
for _ in $(seq 1 120); do
  APPROVAL_ID=$("$AOSIQ" approvals list --session "$SESSION_ID" --json | python3 -c '
import json, sys
items = json.load(sys.stdin)
items = items.get("approvals", items) if isinstance(items, dict) else items
print(items[0]["approval_id"] if items else "")')
  [ -n "$APPROVAL_ID" ] && break
  sleep 0.5
done
[ -n "$APPROVAL_ID" ] || { echo "no approval appeared" >&2; exit 1; }
[ "$(git -C "$REPO" rev-list --count HEAD)" = 1 ] && echo "nothing committed yet"

echo "== 8. approve exactly those arguments"
"$AOSIQ" approvals approve "$APPROVAL_ID" --yes

echo "== 9. the agent finishes and the commit is there"
STATE=""
for _ in $(seq 1 120); do
  STATE=$("$AOSIQ" agents get "$AGENT_ID" --json | field state)
  case "$STATE" in completed|failed|cancelled|abandoned_ungrounded) break ;; esac
  sleep 0.5
done
[ "$STATE" = completed ] || { echo "agent ended $STATE" >&2; exit 1; }
git -C "$REPO" log --format='%s (%an)'

echo "== 10. verify the session's audit chain (exit 0 = intact)"
"$AOSIQ" audit verify "$SESSION_ID"
