#!/usr/bin/env bash
# OAuth2 token refresh against a real token endpoint and an API that
# accepts only the current access token (tests/server `require_auth`).
# The cases (tests/oauth/cases, run by the end-to-end driver: docs/testing.md,
# "End-to-end cases"): the 401 refreshes once, the request is sent again with
# the new token, a rotated refresh token replaces the old one, the new tokens
# are sealed into the connected user's secrets (the next run uses them without
# refreshing), a revoked refresh fails the step, and no token reaches logs or
# state. This script adds concurrent runs of one user under `serve`, and
# `flowc test` mocking the token endpoint.
source "$(dirname "$0")/../lib/common.sh"
bash "$ROOT/tests/e2e/run.sh" "$ROOT/tests/oauth/cases"
cd "$ROOT/tests/oauth/cases" || exit 1
T=$(scratch)
echo '[]' >"$T/routes.json"
start_server "$T/routes.json"
export FLOW_CRM_BASE_URL="$API"
export FLOW_SECRETS_KEY=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
if ! "$FLOWC" build flow.flow -o "$T/crm_sync" 2>"$T/build.err"; then
    fail "oauth build" "$(head -5 "$T/build.err")"
    exit 0
fi
JOB="$T/crm_sync"

# ---- serve: concurrent runs of one user refresh once ----------------------
# The token endpoint rotates the refresh token and refuses the old one, as
# providers that rotate do: a second refresh would fail its run. The slow
# token endpoint keeps the first refresh in flight while the other workers'
# runs, started with the old token, get their 401s.
ctl_routes '[{"method": "POST", "path": "/oauth/token", "responses": [{"status": 200, "delay_ms": 400, "body": {"access_token": "access-SRV-3", "refresh_token": "refresh-SRV-3"}}, {"status": 400, "body": {"error": "invalid_grant"}}]},
             {"method": "GET", "path": "/contacts/*", "require_auth": "Bearer access-SRV-3", "responses": [{"status": 200, "body": {"name": "Cy"}}]}]'
ctl_reset
SST="$T/serve.state"
echo serve-token >"$T/api-token"
"$JOB" users set u2 --state "$SST" --secret crm_token=access-OLD-9 --secret crm_refresh=refresh-ORIG-9 \
    --secret crm_client_id=cid --secret crm_client_secret=csec >/dev/null 2>&1
"$JOB" serve --listen 127.0.0.1:0 --port-file "$T/port" --state "$SST" --token-file "$T/api-token" --workers 4 2>"$T/serve.err" &
SV_PID=$!
for _ in $(seq 1 200); do [ -s "$T/port" ] && break; sleep 0.05; done
SV="http://127.0.0.1:$(cat "$T/port")"
ids=()
for i in 1 2 3 4 5 6; do
    r=$(curl -s -X POST -H 'Authorization: Bearer serve-token' -H 'X-Flow-User: u2' -H 'Content-Type: application/json' \
        --data-binary "{\"id\": \"s$i\", \"related\": [\"r$i\", \"q$i\"]}" "$SV/events/contact.changed")
    ids+=("$(json_eval "$r" 'j["run_id"]')")
done
done_runs=0
for _ in $(seq 1 100); do
    done_runs=0
    for id in "${ids[@]}"; do
        st=$(json_eval "$(curl -s -H 'Authorization: Bearer serve-token' "$SV/runs/$id")" 'j.get("status")')
        [ "$st" == succeeded ] && done_runs=$((done_runs + 1))
    done
    [ $done_runs -eq 6 ] && break
    sleep 0.1
done
kill -TERM $SV_PID 2>/dev/null; wait $SV_PID 2>/dev/null
if [ $done_runs -eq 6 ] && [ "$(ctl_count /oauth/token)" == 1 ]; then
    pass "oauth2 under serve: 6 concurrent runs of one user, one refresh, all succeed"
else
    fail "oauth2 under serve: one refresh" "succeeded=$done_runs refreshes=$(ctl_count /oauth/token) err=$(grep -i error "$T/serve.err" | head -3)"
fi
if grep -qa -e access-SRV-3 -e refresh-SRV-3 -e refresh-ORIG-9 "$T/serve.err" || grep -rqa -e access-SRV-3 -e refresh-SRV-3 "$SST"; then
    fail "oauth2 under serve: no token in logs or state" "found"
else
    pass "oauth2 under serve: no token in logs or state"
fi

# ---- flowc test: the refresh goes through mocks like any request ----------
if "$FLOWC" test flow.flow >"$T/ft.out" 2>&1 && grep -q '^2 passed, 0 failed' "$T/ft.out"; then
    pass "oauth2: flowc test mocks the token endpoint"
else
    fail "oauth2: flowc test mocks the token endpoint" "$(tail -5 "$T/ft.out")"
fi
