#!/usr/bin/env bash
# Fanout and rate limits end to end: job binaries built from tests/fanout/*.flow
# run against the test server, which records how many requests it saw in
# flight at once (GET /_ctl/stats).
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/fanout" || exit 1
T=$(scratch)

build() {   # build NAME: compiles NAME.flow to $T/NAME
    if "$FLOWC" build "$1.flow" -o "$T/$1" 2>"$T/$1.build"; then return 0; fi
    fail "build $1" "$(head -5 "$T/$1.build")"
    return 1
}
# max_in_flight ROUTE: the most requests the server had in flight at once on it
max_in_flight() {
    curl -s "$API/_ctl/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['routes']['$1']['max_in_flight'])"
}

cat >"$T/routes.json" <<'JSON'
[
 {"method": "GET", "path": "/slow/*", "body": {"$echo": true}, "hold_ms": 150},
 {"method": "GET", "path": "/wide/*", "status": 200, "body": {}, "hold_ms": 150},
 {"method": "GET", "path": "/f/*", "status": 200, "body": {}},
 {"method": "GET", "path": "/f/bad", "status": 400, "body": {"error": "no such thing"}},
 {"method": "GET", "path": "/f/slow", "status": 200, "body": {}, "hold_ms": 400},
 {"method": "GET", "path": "/k/*", "body": {"$echo": true}, "delay_ms": 2},
 {"method": "GET", "path": "/flaky/1", "status": 200, "body": {}},
 {"method": "GET", "path": "/flaky/2", "responses": [{"status": 503}, {"status": 200, "body": {}}]},
 {"method": "GET", "path": "/flaky/3", "status": 200, "body": {}}
]
JSON
start_server "$T/routes.json"
export API

# ---- concurrency, --max-inflight, order ------------------------------------------
if build limits; then
    echo '{"n": 30, "k": 5}' >"$T/l.json"
    out=$("$T/limits" run --event "$T/l.json" --state "$T/l.state" 2>"$T/l.err"); rc=$?
    m=$(max_in_flight "GET /slow/*")
    [ $rc -eq 0 ] && [ "$m" == 5 ] && pass "concurrency 5: exactly 5 requests in flight at most" ||
        fail "concurrency 5 reached, never exceeded" "rc=$rc max_in_flight=$m $(tail -2 "$T/l.err")"
    if [ $rc -eq 0 ] && json_eval "$out" 'j["got"] == ["/slow/%d" % i for i in range(30)] and j["ordered"] == list(range(30))' | grep -q True; then
        pass "fanout output keeps input order (items finishing in reverse order)"
    else
        fail "fanout order" "$out"
    fi
    ctl_reset
    "$T/limits" run --event "$T/l.json" --state "$T/l2.state" --max-inflight 3 >/dev/null 2>"$T/l2.err"; rc=$?
    m1=$(max_in_flight "GET /slow/*"); m2=$(max_in_flight "GET /wide/*")
    [ $rc -eq 0 ] && [ "$m1" == 3 ] && [ "$m2" == 3 ] && pass "--max-inflight 3 caps every fanout (concurrency 5 and 10)" ||
        fail "--max-inflight" "rc=$rc slow=$m1 wide=$m2"
    "$T/limits" run --event "$T/l.json" --max-inflight 0 >/dev/null 2>"$T/l3.err"; rc=$?
    [ $rc -eq 2 ] && grep -q "max-inflight" "$T/l3.err" && pass "--max-inflight 0 is a usage error" ||
        fail "--max-inflight 0" "rc=$rc $(cat "$T/l3.err")"
fi

# ---- failing items, continue on failure, nesting -----------------------------------
if build failing; then
    ctl_reset
    echo '{"items": ["a", "bad", "slow", "b"], "cont": true}' >"$T/f1.json"
    out=$("$T/failing" run --event "$T/f1.json" --state "$T/f1.state" 2>"$T/f1.err"); rc=$?
    if [ $rc -eq 0 ] && json_eval "$out" 'j["grid"] == [[10, 20], [20, 40], [30, 60]] and [s["ok"] for s in j["soft"]] == [True, False, True, True]' | grep -q True; then
        pass "nested fanout output; a failed item with on failure continue does not fail the fanout"
    else
        fail "nested / continue" "rc=$rc out=$out $(tail -2 "$T/f1.err")"
    fi
    ctl_reset
    echo '{"items": ["bad", "slow", "a", "b", "c", "d", "e", "f"], "cont": false}' >"$T/f2.json"
    out=$("$T/failing" run --event "$T/f2.json" --state "$T/f2.state" 2>"$T/f2.err"); rc=$?
    slow=$("$T/failing" show "$("$T/failing" history --state "$T/f2.state" --json | json_eval "$(cat)" 'j[0]["id"]')" --state "$T/f2.state" --json 2>/dev/null |
           python3 -c 'import json,sys; s=json.load(sys.stdin)["steps"]; print([st["status"] for st in (s.values() if isinstance(s, dict) else s) if isinstance(st, dict) and "hard[1].h" in json.dumps(st)][:1])' 2>/dev/null)
    if [ $rc -eq 1 ] && grep -q "item 0" "$T/f2.err" && grep -q "HTTP 400" "$T/f2.err"; then
        pass "a failing item fails the fanout, naming the item and the status"
    else
        fail "failing item" "rc=$rc $(tail -3 "$T/f2.err")"
    fi
    if grep -q "hard\[1\].h' succeeded" "$T/f2.err"; then
        pass "items in flight when one fails finish and are checkpointed"
    else
        fail "in-flight items finish" "$slow $(grep -c . "$T/f2.err") lines: $(grep "hard\[1\]" "$T/f2.err" | head -3)"
    fi
fi

# ---- step clauses on a fanout: timeout and retry ----------------------------------
if build clauses; then
    ctl_reset
    echo '{"items": [1, 2, 3, 4, 5, 6]}' >"$T/cl.json"
    out=$("$T/clauses" run --event "$T/cl.json" --state "$T/cl.state" 2>"$T/cl.err"); rc=$?
    slow=$(ctl_count '/slow/*')
    if [ $rc -eq 0 ] && [ "$(json_eval "$out" 'j["slow_ok"]')" == False ] \
       && echo "$out" | grep -q "timed out after 400 ms with [0-9] of 6 items done" && [ "$slow" -lt 6 ]; then
        pass "timeout on a fanout: no item starts after it, the step fails with 'timed out' ($slow of 6 started)"
    else
        fail "fanout timeout" "rc=$rc slow=$slow out=$out $(tail -2 "$T/cl.err")"
    fi
    if [ $rc -eq 0 ] && [ "$(json_eval "$out" 'j["flaky"]')" == "[200, 200, 200]" ] \
       && [ "$(ctl_count /flaky/1)" == 1 ] && [ "$(ctl_count /flaky/3)" == 1 ] && [ "$(ctl_count /flaky/2)" == 2 ]; then
        pass "retry on a fanout runs it again: the finished items replay (sent once), the failed one runs again"
    else
        fail "fanout retry" "rc=$rc out=$out counts=$(ctl_count /flaky/1)/$(ctl_count /flaky/2)/$(ctl_count /flaky/3) $(tail -2 "$T/cl.err")"
    fi
fi

# ---- function steps in concurrent items: crash guard and timeouts ---------------
if build guard; then
    out=$("$T/guard" run --state "$T/guard.state" 2>"$T/guard.err"); rc=$?
    got=$(json_eval "$out" '[(x["ok"], x["v"], ("SIGSEGV" in x["error"]) or ("timed out" in x["error"]), x["path"]) for x in j]')
    want="[(True, 0, False, '/k/0'), (False, -1, True, '/k/1'), (False, -1, True, '/k/2'), (False, -1, True, '/k/3'), (False, -1, True, '/k/4'), (True, 50, False, '/k/5')]"
    if [ $rc -eq 0 ] && [ "$got" == "$want" ]; then
        pass "concurrent items: a crash, a stack overflow and two runaway function steps are caught, the others go on"
    else
        fail "fanout crash guard" "rc=$rc got=$got $(tail -3 "$T/guard.err")"
    fi
fi

# ---- kill -9 at random moments during a 2,000-item fanout --------------------------
if build crash; then
    ctl_reset
    echo '{"n": 2000}' >"$T/c.json"
    "$T/crash" run --event "$T/c.json" --state "$T/ref.state" >"$T/ref.out" 2>"$T/ref.err"
    ctl_reset
    kills=0
    : >"$T/c.out"    # only the process that finishes the run prints its output
    "$T/crash" run --event "$T/c.json" --state "$T/c.state" >>"$T/c.out" 2>/dev/null &
    pid=$!
    for delay in 0.15 0.2 0.1 0.25; do
        sleep "$delay"
        if kill -0 $pid 2>/dev/null; then kill -9 $pid; wait $pid 2>/dev/null; kills=$((kills + 1)); fi
        "$T/crash" resume --state "$T/c.state" >>"$T/c.out" 2>/dev/null &
        pid=$!
    done
    wait $pid; rc=$?
    # a request may be sent twice only if its item was in flight at a kill
    counts=$(curl -s "$API/_ctl/log?path=/k/*" | python3 -c '
import json, sys, collections
c = collections.Counter(r["path"] for r in json.load(sys.stdin))
print(len(c), sum(c.values()), max(c.values()))')
    read -r distinct total most <<<"$counts"
    if [ $rc -eq 0 ] && cmp -s <(json_eval "$(cat "$T/ref.out")" 'json.dumps(j, sort_keys=True)') <(json_eval "$(cat "$T/c.out")" 'json.dumps(j, sort_keys=True)'); then
        pass "2,000-item fanout killed $kills times: output identical to an uninterrupted run"
    else
        fail "fanout kill -9 output" "rc=$rc kills=$kills $(head -c 200 "$T/c.out") ref: $(tail -2 "$T/ref.err")"
    fi
    if [ "$distinct" == 2000 ] && [ "$most" -le 2 ] && [ "$total" -le $((2000 + 16 * kills)) ]; then
        pass "every item's request sent, re-sent only for items in flight at a kill ($total requests, $kills kills)"
    else
        fail "fanout kill -9 requests" "distinct=$distinct total=$total most=$most kills=$kills"
    fi
fi

# ---- a 429 storm pauses the host for every item ------------------------------------
if build storm; then
    ctl_routes '{"method": "GET", "path": "/rl/*", "responses": [
        {"status": 429, "headers": {"Retry-After": "1"}}, {"status": 429, "headers": {"Retry-After": "1"}},
        {"status": 429, "headers": {"Retry-After": "1"}}, {"status": 429, "headers": {"Retry-After": "1"}},
        {"status": 429, "headers": {"Retry-After": "1"}}, {"status": 200, "body": {}, "delay_ms": 20}]}'
    ctl_reset
    out=$("$T/storm" run --state "$T/s.state" 2>"$T/s.err"); rc=$?
    early=$(curl -s "$API/_ctl/log?path=/rl/*" | python3 -c '
import json, sys
log = json.load(sys.stdin)
first = min(r["time_ms"] for r in log)
# requests sent after the first 429 came back, but before its Retry-After ran out
print(sum(1 for r in log[10:] if r["time_ms"] < first + 900))')
    if [ $rc -eq 0 ] && json_eval "$out" 'j["statuses"] == [200] * 20' | grep -q True; then
        pass "429 storm: every item succeeds after the pause"
    else
        fail "429 storm" "rc=$rc out=$out $(tail -3 "$T/s.err")"
    fi
    [ "$early" == 0 ] && pass "after a 429 with Retry-After, no item sends to that host before the pause ends" ||
        fail "host pause" "$early requests within the pause"
fi
