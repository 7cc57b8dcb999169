#!/usr/bin/env bash
# scripts/demo.sh — `make demo`: compiles examples/demo.flow into a native
# job binary and runs it against a local API (the test server, on
# 127.0.0.1, port chosen by the kernel). Then it kills a second run in the
# middle with SIGKILL and resumes it, to show the checkpoints at work.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/demo
mkdir -p "$OUT"
rm -rf "$OUT/state"

cat >"$OUT/routes.json" <<'JSON'
[
 {"method": "GET", "path": "/leads", "responses": [{"status": 200, "body": {"leads": [
   {"id": "l1", "name": "Ada Lovelace", "score": 95, "email": "ada@example.com"},
   {"id": "l2", "name": "Charles Babbage", "score": 41, "email": null},
   {"id": "l3", "name": "Grace Hopper", "score": 78, "email": "grace@example.com"},
   {"id": "l4", "name": "Alan Turing", "score": 88, "email": null}]}}]},
 {"method": "POST", "path": "/leads/l1/grade", "responses": [{"status": 201, "body": {}}]},
 {"method": "POST", "path": "/leads/l3/grade", "responses": [{"status": 201, "body": {}}]},
 {"method": "POST", "path": "/leads/l4/grade", "responses": [{"status": 503}, {"status": 201, "body": {}}]},
 {"method": "POST", "path": "/summary", "responses": [{"status": 200, "body": {}, "hold_ms": 1000}]}
]
JSON

build/tests/flowtest-server --port 0 --routes "$OUT/routes.json" >"$OUT/server.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q '^PORT ' "$OUT/server.out" && break; sleep 0.05; done
export DEMO_URL="http://127.0.0.1:$(sed -n 's/^PORT //p' "$OUT/server.out")"
export FLOW_STATE_DIR="$OUT/state"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "flowc check examples/demo.flow"
build/bin/flowc check examples/demo.flow && echo "ok: every reference between steps type-checks"

step "flowc build examples/demo.flow -o $OUT/demo"
start=$(date +%s%N)
build/bin/flowc build examples/demo.flow -o "$OUT/demo"
echo "native executable in $(( ($(date +%s%N) - start) / 1000000 )) ms: $(file -b "$OUT/demo" | cut -d, -f1-2)"

step "$OUT/demo run   (API at $DEMO_URL)"
echo '{}' >"$OUT/event.json"
"$OUT/demo" run --event "$OUT/event.json"

step "kill -9 a run while /summary is being posted, then resume it"
"$OUT/demo" run --event "$OUT/event.json" 2>"$OUT/killed.log" &
job=$!
sleep 0.7
kill -9 $job 2>/dev/null || true
wait $job 2>/dev/null || true
sed 's/^/  /' "$OUT/killed.log"
echo "  ... killed (SIGKILL)"
"$OUT/demo" resume

step "$OUT/demo history"
"$OUT/demo" history

echo
echo "The API saw $(curl -s "$DEMO_URL/_ctl/log?path=/leads" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') GET /leads and $(curl -s "$DEMO_URL/_ctl/log?path=/summary" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') POST /summary for 2 runs: the resumed run replayed its checkpoints and re-sent only the interrupted step (same Idempotency-Key)."

# ---- an integration project: one binary, two users, one event ---------------------------
step "flowc build examples/project -o $OUT/app   (five workflows, one binary, one state)"
build/bin/flowc build examples/project -o "$OUT/app"
"$OUT/app" info | grep -E '^(project|workflow|trigger)'
API="$DEMO_URL"
curl -s -o /dev/null -X POST --data-binary '[
 {"method": "POST", "path": "/slack/chat.postMessage", "body": {"ok": true, "ts": "1717.1", "channel": "C0"}},
 {"method": "PATCH", "path": "/acme/services/data/v59.0/sobjects/Contact/*", "status": 201, "body": {"id": "003ACME", "success": true, "created": true, "errors": []}},
 {"method": "POST", "path": "/hubspot/crm/v3/objects/contacts", "status": 201, "body": {"id": "901", "properties": {}, "createdAt": "2024-05-01T10:00:00Z", "updatedAt": "2024-05-01T10:00:00Z", "archived": false}}
]' "$API/_ctl/routes"
curl -s -o /dev/null -X POST "$API/_ctl/reset"
export FLOW_SLACK_BASE_URL="$API/slack" FLOW_HUBSPOT_BASE_URL="$API/hubspot"
P="$OUT/project.state"
rm -rf "$P"
app() { "$OUT/app" "$@" --state "$P" 2>&1 | sed 's/^[0-9:.]* app /  /'; }

step "two users, each with their own connections and settings"
echo '{"channel": "#alice-sales", "mention": "@here"}' >"$OUT/alice.json"
echo '{"channel": "#bob-leads"}' >"$OUT/bob.json"
app users set alice
app connect alice slack --secret slack_token=xoxb-alice-demo
app connect alice salesforce --secret salesforce_token=sf-alice-demo --field instance_url="$API/acme"
app users enable alice --workflow slack_notify --settings "$OUT/alice.json"
app users enable alice --workflow sf_contact_sync
app users set bob
app connect bob slack --secret slack_token=xoxb-bob-demo
app connect bob hubspot --secret hubspot_token=hub-bob-demo
app users enable bob --workflow slack_notify --settings "$OUT/bob.json"
app users enable bob --workflow hubspot_import
"$OUT/app" users list --state "$P"

step "$OUT/app serve, and one contact.created event for each user"
rm -f "$OUT/app.port"
"$OUT/app" serve --listen 127.0.0.1:0 --port-file "$OUT/app.port" --state "$P" 2>"$OUT/app.log" &
sv=$!
trap 'kill $server $sv 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$OUT/app.port" ] && break; sleep 0.05; done
SV="http://127.0.0.1:$(cat "$OUT/app.port")"
event='{"id": "c42", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "company": "Analytical Engines"}'
for u in alice bob; do
    echo "POST /events/contact.created  X-Flow-User: $u"
    curl -s -X POST -H "X-Flow-User: $u" --data-binary "$event" "$SV/events/contact.created" | python3 -c '
import json, sys
a = json.load(sys.stdin)
for r in a["runs"]: print("  runs     %-18s %s" % (r["workflow"], r["run_id"]))
for s in a["skipped"]: print("  skipped  %-18s %s" % (s["workflow"], s["reason"]))'
done
for _ in $(seq 1 100); do
    [ "$(curl -s "$API/_ctl/log" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -ge 4 ] && break
    sleep 0.05
done
sleep 0.3

step "what the APIs received: each user's own credentials, org and settings"
curl -s "$API/_ctl/log" | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if not r["path"].startswith(("/slack", "/acme", "/hubspot")): continue
    body = json.loads(r["body"] or "{}")
    what = body.get("channel") and "channel %s: %s" % (body["channel"], body.get("text", "").strip()) or \
           "email %s" % (body.get("Email") or body.get("properties", {}).get("email"))
    print("  %-6s %-52s %-28s %s" % (r["method"], r["path"][:52], r["headers"].get("authorization"), what))'
kill -TERM $sv; wait $sv || true
step "$OUT/app history"
"$OUT/app" history --state "$P"
