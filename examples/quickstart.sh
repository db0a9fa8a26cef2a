#!/usr/bin/env bash
# The README's quick start as one script. Start the runtime first (`aosiq up`),
# then run this in another terminal. Each step prints what it does.
#
# An agent of class "janitor" reads a note, then asks to delete a stale one.
# fs.delete_file is irreversible, so the agent waits until an operator
# approves exactly those arguments; then it finishes and the session's audit
# chain is verified.
set -euo pipefail

AOSIQ=${AOSIQ:-aosiq}
AOS_HOME=${AOS_HOME:-$HOME/.aosiq}
export AOS_HOME
runtime() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$AOS_HOME/runtime.json" "$1"; }
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
HTTP=$(runtime http_url)
WORKSPACE=$(runtime workspace)

echo "== 1. health (no token needed)"
curl -fsS "$HTTP/api/v1/health"; echo
"$AOSIQ" status || echo "(not every part is ok yet)"

echo "== 2. an agent class: its backend, the tools it may ever hold, what a session may spend"
"$AOSIQ" classes create janitor --backend anthropic --model aos-scripted \
  -c fs.read_file -c fs.list_dir -c fs.delete_file --ceiling 0.50 \
  || echo "(class janitor already exists)"

echo "== 3. two notes in the agent's workspace"
mkdir -p "$WORKSPACE/notes"
echo "Q3 plan: ship the runtime." > "$WORKSPACE/notes/q3.txt"
echo "stale draft" > "$WORKSPACE/notes/old.txt"

echo "== 4. spawn the agent (its scripted model follows the plan in the task)"
TASK=$'Tidy the notes.\nplan:\n1. call fs.read_file {"path": "notes/q3.txt"}\n2. call fs.delete_file {"path": "notes/old.txt"}\n3. answer Deleted the stale note after reading the plan. [evidence: 1]'
AGENT_JSON=$("$AOSIQ" agents spawn janitor "$TASK" -g fs.read_file -g fs.delete_file --json)
AGENT_ID=$(echo "$AGENT_JSON" | field agent_id)
SESSION_ID=$(echo "$AGENT_JSON" | field session_id)
echo "agent $AGENT_ID in session $SESSION_ID"

echo "== 5. the delete waits for an operator (also visible at $HTTP/ui/)"
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
"$AOSIQ" approvals show "$APPROVAL_ID"

echo "== 6. approve exactly those arguments (the CLI sends the hash it showed)"
"$AOSIQ" approvals approve "$APPROVAL_ID" --yes

echo "== 7. the agent finishes"
STATE=""
for _ in $(seq 1 120); do
  STATE=$("$AOSIQ" agents get "$AGENT_ID" --json | field state)
  case "$STATE" in completed|failed|cancelled|abandoned_ungrounded) break ;; esac
  sleep 0.5
done
"$AOSIQ" agents get "$AGENT_ID"
[ "$STATE" = completed ] || { echo "agent ended $STATE" >&2; exit 1; }
[ ! -e "$WORKSPACE/notes/old.txt" ] && echo "notes/old.txt is gone"

echo "== 8. verify the session's audit chain (exit 0 = intact)"
"$AOSIQ" audit verify "$SESSION_ID"
