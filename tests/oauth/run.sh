#!/usr/bin/env bash
# OAuth2 token refresh against a real token endpoint and an API that
# accepts only the current access token (tests/server `require_auth`):
# the 401 refreshes once, the request is sent again with the new token, a
# rotated refresh token replaces the old one, the new tokens are sealed into
# the connected user's secrets (the next run uses them without refreshing),
# concurrent fanout items refresh once, and no token reaches logs or state.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/oauth" || exit 1
T=$(scratch)

cat >"$T/routes.json" <<'JSON'
[
 {"method": "POST", "path": "/oauth/token",
  "responses": [{"status": 200, "body": {"access_token": "access-NEW-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "refresh-ROTATED-1"}}]},
 {"method": "GET", "path": "/contacts/*", "require_auth": "Bearer access-NEW-1",
  "responses": [{"status": 200, "body": {"name": "Ada"}}]}
]
JSON
start_server "$T/routes.json"
export FLOW_CRM_BASE_URL="$API"
export FLOW_SECRETS_KEY=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

if ! "$FLOWC" build crm_sync.flow -o "$T/crm_sync" 2>"$T/build.err"; then
    fail "oauth build" "$(head -5 "$T/build.err")"
    exit 0
fi
JOB="$T/crm_sync"
ST="$T/state"
echo '{"id": "c1", "related": ["c2", "c3", "c4", "c5", "c6", "c7", "c8"]}' >"$T/ev.json"

# ---- a connected user whose stored access token has expired ---------------
"$JOB" users set u1 --state "$ST" --secret crm_token=access-OLD-0 --secret crm_refresh=refresh-ORIG-0 \
    --secret crm_client_id=client-abc --secret crm_client_secret=client-SECRET-xyz >/dev/null 2>"$T/users.err" \
    || fail "oauth users set" "$(cat "$T/users.err")"
out=$("$JOB" run --user u1 --event "$T/ev.json" --state "$ST" 2>"$T/run1.err"); rc=$?
if [ $rc -eq 0 ] && [ "$(json_eval "$out" 'j["name"], len(j["related"])')" == "('Ada', 7)" ]; then
    pass "oauth2: a 401 refreshes the token and the run succeeds"
else
    fail "oauth2: a 401 refreshes the token and the run succeeds" "rc=$rc out=$out err=$(tail -3 "$T/run1.err")"
fi

tok=$(ctl_log /oauth/token)
if json_eval "$tok" 'len(j) == 1 and sorted(j[0]["body"].split("&")) == sorted(["grant_type=refresh_token", "refresh_token=refresh-ORIG-0", "client_id=client-abc", "client_secret=client-SECRET-xyz"]) and j[0]["headers"]["content-type"] == "application/x-www-form-urlencoded"' | grep -q True; then
    pass "oauth2: one refresh (RFC 6749 form) even with 8 concurrent requests"
else
    fail "oauth2: one refresh (RFC 6749 form)" "$tok"
fi

log=$(ctl_log '/contacts/*')
if json_eval "$log" '(sum(r["status"] == 401 and r["headers"]["authorization"] == "Bearer access-OLD-0" for r in j) >= 1, sum(r["status"] == 200 for r in j), all(r["headers"]["authorization"] == "Bearer access-NEW-1" for r in j if r["status"] == 200), len(set(r["headers"]["idempotency-key"] for r in j if r["status"] == 200)))' | grep -q '(True, 8, True, 8)'; then
    pass "oauth2: refused requests are sent again once with the new token"
else
    fail "oauth2: refused requests are sent again" "$(echo "$log" | head -c 600)"
fi

# the next run uses the stored, refreshed token: no 401, no refresh
ctl_reset
out=$("$JOB" run --user u1 --event "$T/ev.json" --state "$ST" 2>"$T/run2.err"); rc=$?
if [ $rc -eq 0 ] && [ "$(ctl_count /oauth/token)" == 0 ] && json_eval "$(ctl_log '/contacts/*')" 'all(r["status"] == 200 for r in j) and len(j) == 8' | grep -q True; then
    pass "oauth2: the refreshed token is stored for the user and used by the next run"
else
    fail "oauth2: refreshed token stored for the user" "rc=$rc refreshes=$(ctl_count /oauth/token) err=$(tail -3 "$T/run2.err")"
fi

# nothing secret in the state directory, the logs or `users show`
"$JOB" users show u1 --state "$ST" >"$T/show.out" 2>&1
if grep -rqa -e access-NEW-1 -e refresh-ROTATED-1 -e refresh-ORIG-0 -e client-SECRET-xyz -e access-OLD-0 \
    "$ST" "$T/run1.err" "$T/run2.err" "$T/show.out"; then
    fail "oauth2: tokens never stored in the clear or logged" "$(grep -rla -e access-NEW-1 -e refresh-ROTATED-1 -e client-SECRET-xyz "$ST" "$T"/*.err "$T/show.out")"
else
    pass "oauth2: tokens never stored in the clear or logged"
fi
"$JOB" show "$(json_eval "$("$JOB" history --json --state "$ST" --limit 2)" 'j[-1]["id"]')" --json --state "$ST" >"$T/hist.json" 2>&1
if grep -qa -e access-OLD-0 -e access-NEW-1 "$T/hist.json"; then
    fail "oauth2: the request as sent shows the token redacted" "$(grep -oa 'Bearer[^"]*' "$T/hist.json" | head -3)"
else
    pass "oauth2: the request as sent shows the token redacted"
fi

# ---- a revoked refresh token: the step fails naming the token endpoint's answer
ctl_routes '[{"method": "POST", "path": "/oauth/token", "responses": [{"status": 400, "body": {"error": "invalid_grant", "error_description": "refresh token revoked"}}]},
             {"method": "GET", "path": "/contacts/*", "require_auth": "Bearer never-issued", "responses": [{"status": 200, "body": {"name": "Ada"}}]}]'
out=$("$JOB" run --user u1 --event "$T/ev.json" --state "$ST" 2>"$T/run3.err"); rc=$?
if [ $rc -eq 1 ] && grep -q "HTTP 401" "$T/run3.err" && grep -q "invalid_grant" "$T/run3.err" && grep -q "refresh token revoked" "$T/run3.err" \
    && ! grep -qa -e refresh-ROTATED-1 -e client-SECRET-xyz "$T/run3.err"; then
    pass "oauth2: a refused refresh fails the step with the endpoint's error, no secret in it"
else
    fail "oauth2: a refused refresh fails the step" "rc=$rc err=$(tail -3 "$T/run3.err")"
fi
if json_eval "$(ctl_log /oauth/token)" 'j[-1]["body"]' | grep -q 'refresh_token=refresh-ROTATED-1'; then
    pass "oauth2: a rotated refresh token replaces the old one"
else
    fail "oauth2: a rotated refresh token replaces the old one" "$(ctl_log /oauth/token | head -c 400)"
fi

# ---- development: tokens from FLOW_SECRET_*, no connected user ---------------
ctl_routes '[{"method": "POST", "path": "/oauth/token", "responses": [{"status": 200, "body": {"access_token": "access-DEV-2"}}]},
             {"method": "GET", "path": "/contacts/*", "require_auth": "Bearer access-DEV-2", "responses": [{"status": 200, "body": {"name": "Bo"}}]}]'
ctl_reset
out=$(FLOW_SECRET_CRM_TOKEN=access-OLD-0 FLOW_SECRET_CRM_REFRESH=refresh-DEV FLOW_SECRET_CRM_CLIENT_ID=cid FLOW_SECRET_CRM_CLIENT_SECRET=csec \
      "$JOB" run --event "$T/ev.json" --state "$T/dev.state" 2>"$T/run4.err"); rc=$?
if [ $rc -eq 0 ] && [ "$(json_eval "$out" 'j["name"]')" == Bo ] && [ "$(ctl_count /oauth/token)" == 1 ] && ! grep -q access-DEV-2 "$T/run4.err"; then
    pass "oauth2: without a connected user the refreshed token serves the rest of the run"
else
    fail "oauth2: refresh without a connected user" "rc=$rc out=$out refreshes=$(ctl_count /oauth/token) err=$(tail -3 "$T/run4.err")"
fi

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
if "$FLOWC" test crm_sync.flow >"$T/ft.out" 2>&1 && grep -q '^2 passed, 0 failed' "$T/ft.out"; then
    pass "oauth2: flowc test mocks the token endpoint"
else
    fail "oauth2: flowc test mocks the token endpoint" "$(tail -5 "$T/ft.out")"
fi
