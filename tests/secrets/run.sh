#!/usr/bin/env bash
# tests/secrets/run.sh — secrets in one place (rt_secrets.c), under serve
# with many users at once: which secret each run resolves (the user's
# stored one; never the operator's FLOW_SECRET_*, which is for runs without
# a user: docs/project.md), and that each run's own secret is
# redacted from its output, the log, GET /runs, history, show and the
# state, while the API receives it. docs/runtime.md, "Secrets".
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/secrets" || exit 1
T=$(scratch)
export TOKEN=secrets-test-token
echo "$TOKEN" >"$T/token"
AUTH="Authorization: Bearer $TOKEN"
unset FLOW_STATE_DIR
KEY1=1111111111111111111111111111111111111111111111111111111111111111
KEY2=2222222222222222222222222222222222222222222222222222222222222222
ENVTOK=operator-env-token-77

if ! "$FLOWC" build sec.flow -o "$T/sec" 2>"$T/build.err"; then
    fail "secrets: build" "$(head -5 "$T/build.err")"
    exit 0
fi
cat >"$T/routes.json" <<'JSON'
[{"method": "POST", "path": "/echo/*", "responses": [{"status": 200, "body": {"$echo": true}}]}]
JSON
start_server "$T/routes.json"

USERS="alice bob carol"
tok_of() { echo "tok-$1-$(echo "$1" | sha256sum | cut -c1-12)"; }
for u in $USERS; do
    FLOW_SECRETS_KEY=$KEY1 "$T/sec" users set "$u" --secret "tok=$(tok_of "$u")" --state "$T/st" 2>>"$T/users.log"
done
FLOW_SECRETS_KEY=$KEY1 "$T/sec" users set dave --state "$T/st" 2>>"$T/users.log"     # stored, no secret

# serve_start STATE KEY LOG: serve with FLOW_SECRET_TOK set (the operator's
# development fall-back, which no user's run may use); sets SV_PID and SV.
serve_start() {
    rm -f "$T/port"
    FLOW_SECRETS_KEY=$2 FLOW_SECRET_TOK=$ENVTOK "$T/sec" serve --listen 127.0.0.1:0 --port-file "$T/port" \
        --state "$1" --token-file "$T/token" --workers 4 2>>"$3" &
    SV_PID=$!
    for _ in $(seq 1 200); do [ -s "$T/port" ] && break; sleep 0.05; done
    SV="http://127.0.0.1:$(cat "$T/port" 2>/dev/null)"
}
accept() {  # accept USER N: the run id ("" when the user's event was skipped: its reason is in $T/skip.USER)
    curl -s -X POST -H "$AUTH" -H "X-Flow-User: $1" --data-binary "{\"n\": $2}" "$SV/events/go" |
        python3 -c 'import json,sys; j = json.load(sys.stdin); print(j.get("run_id", ""))
if not j.get("run_id"): open(sys.argv[1], "w").write(json.dumps(j))' "$T/skip.$1"
}
wait_done() {   # wait_done ID: its final record (GET /runs/ID)
    local out
    for _ in $(seq 1 300); do
        out=$(curl -s -H "$AUTH" "$SV/runs/$1")
        case "$out" in *'"status":"succeeded"'*|*'"status":"failed"'*) echo "$out"; return;; esac
        sleep 0.05
    done
    echo "$out"
}

serve_start "$T/st" "$KEY1" "$T/serve.log"
declare -A RUNS
for n in 1 2 3 4; do
    for u in $USERS dave ghost; do RUNS[$u.$n]=$(accept "$u" "$n"); done
done
declare -A REC
for k in "${!RUNS[@]}"; do [ -n "${RUNS[$k]}" ] && REC[$k]=$(wait_done "${RUNS[$k]}"); done
kill -TERM "$SV_PID"; wait "$SV_PID"

log=$(curl -s "$API/_ctl/log?path=/echo/*")
# what the API received, per user: the X-Api-Key values
sent() { echo "$log" | python3 -c '
import json, sys
u = sys.argv[1]
print(" ".join(sorted({r["headers"].get("x-api-key", "") for r in json.load(sys.stdin) if r["path"] == "/echo/" + u})))' "$1"; }

ok=1; why=
for u in $USERS; do
    [ "$(sent "$u")" == "$(tok_of "$u")" ] || { ok=0; why+="$u sent '$(sent "$u")'; "; }
done
[ $ok -eq 1 ] && pass "secrets: each user's run sends that user's stored secret, not FLOW_SECRET_TOK (3 users, 4 runs each, 4 workers)" \
             || fail "secrets: each user's own secret is sent" "$why"

ghost_ids="${RUNS[ghost.1]}${RUNS[ghost.2]}${RUNS[ghost.3]}${RUNS[ghost.4]}"
if [ -z "$ghost_ids" ] && [ -z "$(sent ghost)" ] && grep -q "unknown user 'ghost'" "$T/skip.ghost"; then
    pass "secrets: an event for a user the state does not hold starts no run (skipped, with the reason); nothing sent"
else
    fail "secrets: unknown user" "runs '$ghost_ids', sent '$(sent ghost)', answer $(cat "$T/skip.ghost" 2>/dev/null)"
fi

ok=1; why=
for n in 1 2 3 4; do
    r=${REC[dave.$n]}
    case "$r" in *'"status":"failed"'*"secret 'tok' is not set for user dave"*) ;; *) ok=0; why+="dave.$n: $(echo "$r" | head -c 200); ";; esac
done
[ $ok -eq 1 ] && [ -z "$(sent dave)" ] \
    && pass "secrets: a stored user without the secret: the run fails naming it; FLOW_SECRET_TOK is not sent in its place" \
    || fail "secrets: no fall-back for a user without the secret" "sent '$(sent dave)'; $why"

# each succeeded run's output echoes its own secret: stored redacted
ok=1; why=
for u in $USERS; do
    for n in 1 2 3 4; do
        r=${REC[$u.$n]}
        tok=$(tok_of "$u")
        case "$r" in *'"status":"succeeded"'*) ;; *) ok=0; why+="$u.$n not succeeded: $(echo "$r" | head -c 200); "; continue;; esac
        if echo "$r" | grep -qF "$tok" || ! echo "$r" | grep -qF '[redacted]'; then ok=0; why+="$u.$n output: $(echo "$r" | head -c 200); "; fi
    done
done
[ $ok -eq 1 ] && pass "secrets: every run's own secret is redacted in its output as GET /runs/ID shows it" \
             || fail "secrets: outputs redacted" "$why"

# nothing of any secret in serve's log, history, show or the state's files
all_toks="$ENVTOK"; for u in $USERS; do all_toks+=" $(tok_of "$u")"; done
leaks() {   # leaks FILE...: the secrets found
    local t f found=
    for t in $all_toks; do for f in "$@"; do grep -qaF "$t" "$f" && found+="$t in $(basename "$f"); "; done; done
    echo "$found"
}
FLOW_SECRETS_KEY=$KEY1 "$T/sec" history --json --limit 100 --state "$T/st" >"$T/history.json" 2>"$T/history.err"
: >"$T/show.json"
for k in "${!RUNS[@]}"; do
    [ -n "${RUNS[$k]}" ] || continue
    FLOW_SECRETS_KEY=$KEY1 "$T/sec" show "${RUNS[$k]}" --json --state "$T/st" >>"$T/show.json" 2>>"$T/show.err"
done
l=$(leaks "$T/serve.log" "$T/history.json" "$T/show.json" "$T/st/data.mdb")
if [ -z "$l" ] && grep -q "log: sent \[redacted\] for alice" "$T/serve.log" && grep -q '\[redacted\]' "$T/show.json"; then
    pass "secrets: no user's secret in serve's log lines, history, show or the state's data file"
else
    fail "secrets: no secret anywhere" "${l:-log line or show without [redacted]}"
fi

# secrets sealed with another key: the run fails, and the operator's
# FLOW_SECRET_TOK is not sent in their place
cp -r "$T/st" "$T/st2"
before=$(echo "$log" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
serve_start "$T/st2" "$KEY2" "$T/serve2.log"
id=$(accept alice 9)
r=$(wait_done "$id")
kill -TERM "$SV_PID"; wait "$SV_PID"
after=$(curl -s "$API/_ctl/log?path=/echo/*" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
if echo "$r" | grep -q '"status":"failed"' && echo "$r" | grep -q "another key" && [ "$after" == "$before" ]; then
    pass "secrets: a user whose secrets do not open (another key) fails the run before any request; FLOW_SECRET_TOK is not used"
else
    fail "secrets: unopenable secrets fail the run" "requests $before -> $after; $(echo "$r" | head -c 300)"
fi
