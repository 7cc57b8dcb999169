#!/usr/bin/env bash
# End-to-end tests of job binaries: flowc builds each workflow in
# tests/e2e/, the job runs against the real test server on 127.0.0.1, and
# the tests assert the requests the server saw and the run's output.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/e2e" || exit 1
T=$(scratch)

build() {   # build NAME: compiles NAME.flow to $T/NAME
    if "$FLOWC" build "$1.flow" -o "$T/$1" 2>"$T/$1.build"; then return 0; fi
    fail "build $1" "$(head -5 "$T/$1.build")"
    return 1
}

cat >"$T/routes.json" <<'JSON'
[
 {"method": "GET", "path": "/people/p1", "responses": [{"status": 200, "body": {"title": "CTO", "employees": 500}}]},
 {"method": "POST", "path": "/notify", "responses": [{"status": 200, "body": {"ok": true}}]},
 {"method": "POST", "path": "/people/p1/tags", "responses": [{"status": 201, "body": {}}]},
 {"method": "GET", "path": "/flaky", "responses": [{"status": 503}, {"status": 503}, {"status": 200, "body": {"v": 1}}]},
 {"method": "GET", "path": "/limited", "responses": [{"status": 429, "headers": {"Retry-After": "1"}}, {"status": 200, "body": {}}]},
 {"method": "GET", "path": "/missing", "responses": [{"status": 404, "body": {"error": "no"}}]},
 {"method": "POST", "path": "/bad", "responses": [{"status": 400, "body": {"error": "bad input"}}]},
 {"method": "GET", "path": "/check", "responses": [{"status": 200, "body": {"ok": false, "n": 1}}]},
 {"method": "POST", "path": "/s1", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/s2", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/s3", "responses": [{"status": 200, "body": {}, "hold_ms": 3000}, {"status": 200, "body": {}}]},
 {"method": "POST", "path": "/s5", "responses": [{"status": 200, "body": {}}]},
 {"method": "GET", "path": "/notjson", "responses": [{"status": 200, "body": "this is not json"}]},
 {"method": "GET", "path": "/mistyped", "responses": [{"status": 200, "body": {"id": "seven", "name": "x"}}]},
 {"method": "GET", "path": "/huge", "responses": [{"status": 200, "body_bytes": 52428800}]},
 {"method": "GET", "path": "/cut", "responses": [{"status": 200, "body_bytes": 100000, "close_mid_response": true}]},
 {"method": "GET", "path": "/people/a1", "responses": [{"status": 200, "body": {"name": "Ada"}}]},
 {"method": "POST", "path": "/people", "responses": [{"status": 503}, {"status": 201, "body": {"id": 7}}]}
]
JSON
start_server "$T/routes.json"
export FLOW_STATE_DIR="$T/state"

# ---- basic: every core step kind ---------------------------------------
if build basic; then
    echo '{"id": "p1", "name": "Ada", "score": 95, "email": null, "tags": ["vip", "new", "x"]}' >"$T/ev.json"
    out=$(FLOW_SECRET_CRM_TOKEN=s3cr3t-token "$T/basic" run --event "$T/ev.json" --state "$T/basic.state" 2>"$T/basic.err"); rc=$?
    if [ $rc -eq 0 ] && [ "$(json_eval "$out" 'j["grade"], j["tagged"], j["lead"], j["first"]["tag"]')" == "('A', 3, 'p1', 'vip')" ]; then
        pass "basic run output"
    else
        fail "basic run output" "rc=$rc out=$out err=$(tail -3 "$T/basic.err")"
    fi
    log=$(ctl_log /people/p1)
    if json_eval "$log" 'j[0]["headers"]["authorization"] == "Bearer s3cr3t-token" and "idempotency-key" in j[0]["headers"] and "full=true" in j[0]["query"] and "q=a%20b%26c" in j[0]["query"]' | grep -q True; then
        pass "basic request headers, query encoding, idempotency key"
    else
        fail "basic request headers" "$log"
    fi
    n=$(json_eval "$(ctl_log /notify)" 'j[0]["body"]')
    if echo "$n" | grep -q '"channel": *"#sales"' && echo "$n" | grep -q 'grade A' && echo "$n" | grep -q '"email": *"none"'; then
        pass "basic json body with settings default and interpolation"
    else
        fail "basic json body" "$n"
    fi
    if [ "$(ctl_count /people/p1/tags)" == 3 ] && json_eval "$(ctl_log /people/p1/tags)" 'sorted(r["body"] for r in j)' | grep -q "tag=new"; then
        pass "basic fanout sends one form request per item"
    else
        fail "basic fanout" "$(ctl_log /people/p1/tags | head -c 400)"
    fi
    if grep -rq "s3cr3t-token" "$T/basic.state" "$T/basic.err"; then
        fail "basic secret never stored or logged" "found in state or logs"
    else
        pass "basic secret never stored or logged"
    fi
    # same output through flowc run (in memory)
    out2=$(FLOW_SECRET_CRM_TOKEN=s3cr3t-token "$FLOWC" run basic.flow --event "$T/ev.json" --state "$T/basic2.state" 2>"$T/basic2.err"); rc=$?
    if [ $rc -eq 0 ] && [ "$(json_eval "$out" 'json.dumps(j, sort_keys=True)')" == "$(json_eval "$out2" 'json.dumps(j, sort_keys=True)')" ]; then
        pass "flowc run gives the built binary's output"
    else
        fail "flowc run gives the built binary's output" "rc=$rc out=$out2 err=$(tail -3 "$T/basic2.err")"
    fi
    # bad payloads: exit 2, message naming the field, no run stored
    for bad in '{"id": 1, "name": "x", "score": 1, "tags": []}' '{"name": "x", "score": 1, "tags": []}' 'not json' '{"id": "a", "name": "x", "score": 1, "tags": [1]}'; do
        echo "$bad" >"$T/bad.json"
        "$T/basic" run --event "$T/bad.json" --state "$T/bad.state" >"$T/bad.out" 2>&1; rc=$?
        runs=$("$T/basic" history --state "$T/bad.state" --json 2>/dev/null | python3 -c 'import json,sys; d=sys.stdin.read().strip(); print(len(json.loads(d)) if d else 0)' 2>/dev/null || echo 0)
        if [ $rc -eq 2 ] && [ "$runs" == 0 ] && grep -qiE "id|tags|json" "$T/bad.out"; then
            pass "bad payload rejected: $bad"
        else
            fail "bad payload rejected: $bad" "rc=$rc runs=$runs $(head -2 "$T/bad.out")"
        fi
    done
fi

# ---- retries -----------------------------------------------------------
if build retry; then
    start=$(date +%s%N)
    out=$("$T/retry" run --state "$T/retry.state" 2>"$T/retry.err"); rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ $rc -eq 0 ] && [ "$(json_eval "$out" 'j["flaky"], j["limited"], j["missing"], j["broken_ok"], j["check_ok"]')" == "(200, 200, 404, False, False)" ]; then
        pass "retry outputs (503 retried, 429, accept 404, continue on failure, fail when)"
    else
        fail "retry outputs" "rc=$rc out=$out $(tail -3 "$T/retry.err")"
    fi
    [ "$(ctl_count /flaky)" == 3 ] && pass "503 twice then 200: three requests" || fail "503 retried" "count=$(ctl_count /flaky)"
    [ "$(ctl_count /bad)" == 1 ] && pass "400 is not retried" || fail "400 not retried" "count=$(ctl_count /bad)"
    [ $ms -ge 1000 ] && pass "Retry-After: 1 honoured" || fail "Retry-After honoured" "run took ${ms}ms"
    if json_eval "$out" 'j["broken_error"]' | grep -q 400; then pass "continued step's error names the status"; else fail "continued error" "$out"; fi
fi
if build fail400; then
    ctl_reset
    "$T/fail400" run --state "$T/f400.state" >"$T/f400.out" 2>&1; rc=$?
    if [ $rc -eq 1 ] && grep -q "400" "$T/f400.out" && grep -q "bad" "$T/f400.out"; then
        pass "failed run exits 1 naming the step's status"
    else
        fail "failed run exits 1" "rc=$rc $(head -3 "$T/f400.out")"
    fi
fi

# ---- crash and resume ----------------------------------------------------
if build chain; then
    ctl_reset
    echo '{"n": 21}' >"$T/n.json"
    "$T/chain" run --event "$T/n.json" --state "$T/chain.state" >"$T/chain.out" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do [ "$(ctl_count /s3)" -ge 1 ] && break; sleep 0.05; done
    kill -9 $pid; wait $pid 2>/dev/null
    "$T/chain" resume --state "$T/chain.state" >"$T/resume.out" 2>&1; rc=$?
    c1=$(ctl_count /s1); c2=$(ctl_count /s2); c3=$(ctl_count /s3); c5=$(ctl_count /s5)
    if [ $rc -eq 0 ] && [ "$c1" == 1 ] && [ "$c2" == 1 ] && [ "$c3" == 2 ] && [ "$c5" == 1 ]; then
        pass "kill -9 during a request, resume: committed steps not re-sent"
    else
        fail "kill -9 then resume" "rc=$rc s1=$c1 s2=$c2 s3=$c3 s5=$c5 $(tail -3 "$T/resume.out")"
    fi
    if grep -q '"y": *42' "$T/resume.out" || "$T/chain" history --state "$T/chain.state" 2>&1 | grep -q succeeded; then
        pass "resumed run succeeded"
    else
        fail "resumed run succeeded" "$(cat "$T/resume.out" | head -5)"
    fi
    k1=$(json_eval "$(ctl_log /s3)" 'j[0]["headers"].get("idempotency-key")')
    k2=$(json_eval "$(ctl_log /s3)" 'j[1]["headers"].get("idempotency-key")')
    [ -n "$k1" ] && [ "$k1" == "$k2" ] && pass "re-sent request carries the same Idempotency-Key" || fail "idempotency key stable" "$k1 vs $k2"
fi

# ---- function steps: crash inside, C errors at .flow lines --------------------
if build crash; then
    out=$("$T/crash" run --state "$T/crash.state" 2>"$T/crash.err"); rc=$?
    if [ $rc -eq 0 ] && json_eval "$out" 'j["ok"] == False and "signal" in j["error"].lower() or "segmentation" in j["error"].lower()' | grep -q True; then
        pass "segfault in a function step fails the step, not the process"
    else
        fail "segfault in function step" "rc=$rc out=$out $(tail -2 "$T/crash.err")"
    fi
fi
"$FLOWC" build cerror.flow -o "$T/cerror" >"$T/cerror.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "^cerror.flow:4:[0-9]*: error:" "$T/cerror.out"; then
    pass "C error in a function step reported at its .flow line"
else
    fail "C error at .flow line" "rc=$rc $(head -3 "$T/cerror.out")"
fi

# ---- bad responses ---------------------------------------------------------
if build badresp; then
    for which in notjson mistyped huge cut; do
        echo "{\"which\": \"$which\"}" >"$T/w.json"
        "$T/badresp" run --event "$T/w.json" --state "$T/br.state" >"$T/br.out" 2>&1; rc=$?
        if [ $rc -eq 1 ] && grep -qi "error\|fail" "$T/br.out"; then
            pass "bad response '$which' fails the run cleanly"
        else
            fail "bad response '$which'" "rc=$rc $(head -3 "$T/br.out")"
        fi
    done
    grep -q "id" "$T/br.out" || true
    echo '{"which": "mistyped"}' >"$T/w.json"
    "$T/badresp" run --event "$T/w.json" --state "$T/br2.state" >"$T/br.out" 2>&1
    grep -q "'id'" "$T/br.out" && grep -qi "int" "$T/br.out" && pass "mistyped field named in the error" || fail "mistyped field named" "$(head -3 "$T/br.out")"
    API=http://127.0.0.1:1 "$T/badresp" run --event "$T/w.json" --state "$T/br3.state" >"$T/br.out" 2>&1; rc=$?
    [ $rc -eq 1 ] && pass "unreachable host fails the run" || fail "unreachable host" "rc=$rc $(head -3 "$T/br.out")"
    "$T/badresp" history --state "$T/br.state" >"$T/hist.out" 2>&1 && grep -q failed "$T/hist.out" && pass "failed runs recorded intact" || fail "failed runs recorded" "$(head -3 "$T/hist.out")"
fi

# ---- actions and integrations ----------------------------------------------
if build action; then
    ctl_reset
    echo '{"id": "a1"}' >"$T/a.json"
    out=$(FLOW_API_BASE_URL="$API" FLOW_SECRET_API_TOKEN=tok-123 "$T/action" run --event "$T/a.json" --state "$T/act.state" 2>"$T/act.err"); rc=$?
    if [ $rc -eq 0 ] && [ "$(json_eval "$out" 'j["name"], j["id"]')" == "('Ada', 7)" ]; then
        pass "actions through an integration with base URL override"
    else
        fail "actions" "rc=$rc out=$out $(tail -3 "$T/act.err")"
    fi
    if json_eval "$(ctl_log /people)" 'j[-1]["headers"]["authorization"] == "Bearer tok-123" and "\"role\": \"user\"" in j[-1]["body"].replace("\"role\":\"user\"", "\"role\": \"user\"")' | grep -q True; then
        pass "action auth bearer and parameter default"
    else
        fail "action auth and default" "$(ctl_log /people | head -c 500)"
    fi
    [ "$(ctl_count /people)" == 2 ] && pass "action's own retry clause applies" || fail "action retry" "count=$(ctl_count /people)"
fi
