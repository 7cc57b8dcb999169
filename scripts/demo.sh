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
