#!/usr/bin/env bash
# tests/runtime/run.sh — the runtime's own tests:
#   1. unit tests (test_runtime.c) built by gcc with ASan/UBSan over the
#      runtime's sources;
#   2. a hand-written workflow in flowc's generated shape (wf_handmade.c)
#      compiled by tcc against build/include/flowc + libflowrt.a, run against
#      the test API server: requests, retries, crash guard, fanout, secrets,
#      bad payloads, kill -9 + resume, SIGTERM + resume.
# Prints "PASS: name" / "FAIL: name: why" per test.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT" || exit 1
T=$(scratch)

make -s all >/dev/null 2>"$T/make.err" || { fail "runtime build" "$(tail -5 "$T/make.err")"; exit 0; }

# ---- 1. unit tests ---------------------------------------------------------
if gcc -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE $SANFLAGS -Iruntime -Istdlib -o "$T/test_runtime" \
        tests/runtime/test_runtime.c "$SAN_RTLIB" $RT_LIBS 2>"$T/unit.build"; then
    ASAN_OPTIONS=detect_leaks=1:allow_user_segv_handler=1:use_sigaltstack=0 "$T/test_runtime" 2>"$T/unit.err"
    rc=$?
    if [ $rc -ne 0 ] && ! grep -q '^FAIL' "$T/unit.err"; then
        sanitizer_report "$T/unit.err" && fail "runtime unit tests are sanitizer-clean" "$(grep -m3 -E 'ERROR|runtime error' "$T/unit.err")"
    fi
else
    fail "runtime unit tests build" "$(head -5 "$T/unit.build")"
fi

# ---- 2. a tcc-compiled job binary -------------------------------------------
INC=$ROOT/build/include/flowc
LIB=$ROOT/build/lib/flowc/libflowrt.a
JOB=$T/handmade
if tcc -I"$INC" -o "$JOB" tests/runtime/wf_handmade.c "$LIB" -lcurl -lcrypto -ljansson -llmdb -lmicrohttpd -lpthread -lm -ldl 2>"$T/tcc.err"; then
    pass "runtime: libflowrt.a links under tcc"
else
    fail "runtime: libflowrt.a links under tcc" "$(head -5 "$T/tcc.err")"
    exit 0
fi
[ -x "$SERVER_BIN" ] || bash tests/server/build.sh >/dev/null 2>&1
cat >"$T/routes.json" <<'JSON'
[
 {"method": "POST", "path": "/s1", "responses": [{"status": 200, "body": {"ok": true}}]},
 {"method": "GET", "path": "/flaky", "responses": [{"status": 503}, {"status": 503}, {"status": 200, "body": {"v": 1}}]},
 {"method": "POST", "path": "/hold", "responses": [{"status": 200, "body": {"held": true}}]},
 {"method": "POST", "path": "/tg", "responses": [{"status": 201, "body": {}}]},
 {"method": "GET", "path": "/cur", "responses": [{"status": 200, "body": {"data": {"items": [1, 2]}, "next": "c2"}},
                                                 {"status": 200, "body": {"data": {"items": [3]}, "next": null}}]},
 {"method": "GET", "path": "/lk1", "responses": [{"status": 200, "headers": {"Link": "</lk2?x=1>; rel=\"next\""}, "body": {"items": [{"id": 1}]}}]},
 {"method": "GET", "path": "/lk2", "responses": [{"status": 200, "body": {"items": [{"id": 2}]}}]}
]
JSON
start_server "$T/routes.json"
export FLOW_API_BASE_URL=$API FLOW_SECRET_TOK=tok-secret-4711
echo '{"n": 21, "tags": ["a", "bb", "ccc"]}' >"$T/ev.json"

out=$("$JOB" run --event "$T/ev.json" --state "$T/s1" 2>"$T/run1.err"); rc=$?
if [ $rc -eq 0 ] && [ "$(json_eval "$out" '(j["y"], j["tags"], j["boom_ok"], "SIGSEGV" in j["boom_error"])')" == "(42, ['A', 'BB', 'CCC'], False, True)" ]; then
    pass "runtime: tcc job runs requests, functions, a crashing function and a fanout"
else
    fail "runtime: tcc job run" "rc=$rc out=$out $(tail -3 "$T/run1.err")"
fi
log=$(ctl_log /s1)
if json_eval "$log" 'j[0]["headers"]["authorization"] == "Bearer tok-secret-4711" and j[0]["headers"]["idempotency-key"].endswith(":s1") and j[0]["headers"]["user-agent"] == "flowc/0.1" and json.loads(j[0]["body"]) == {"n": 21, "greeting": "hi"} and j[0]["headers"]["content-type"] == "application/json"' | grep -q True; then
    pass "runtime: integration base URL override, bearer auth, idempotency key, JSON body"
else
    fail "runtime: integration request" "$log"
fi
if [ "$(json_eval "$out" '(j["pages"], j["npages"], j["linked"])')" == "([1, 2, 3], 2, [{'id': 1}, {'id': 2}])" ] \
        && [ "$(json_eval "$(ctl_log /cur)" '[r["query"] for r in j]')" == "['', 'cursor=c2']" ] \
        && [ "$(json_eval "$(ctl_log /lk2)" 'j[0]["query"]')" == "x=1" ]; then
    pass "runtime: cursor and Link pagination concatenate the pages' items"
else
    fail "runtime: pagination" "out=$out cur=$(ctl_log /cur | head -c 300)"
fi
[ "$(ctl_count /flaky)" == 3 ] && pass "runtime: 503 retried with backoff" || fail "runtime: 503 retried" "count=$(ctl_count /flaky)"
json_eval "$(ctl_log /flaky)" 'j[0]["query"]' | grep -q 'q=a%20b%26c' && pass "runtime: query URL-encoded" \
    || fail "runtime: query encoding" "$(ctl_log /flaky | head -c 300)"
if grep -rq "tok-secret-4711" "$T/s1" "$T/run1.err"; then
    fail "runtime: secrets not stored or logged" "found in state or stderr"
else
    pass "runtime: secrets not stored or logged"
fi
id=$("$JOB" history --state "$T/s1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
if "$JOB" show "$id" --state "$T/s1" --json | python3 -c '
import json,sys
d = json.load(sys.stdin)
steps = {s["path"]: s for s in d["steps"]}
assert d["run"]["status"] == "succeeded", d["run"]
assert len(steps["flaky"]["attempts"]) == 3
assert steps["s1"]["input"]["headers"]["Authorization"] == "Bearer [redacted]"
assert "tagged[2].upper" in steps and steps["boom"]["status"] == "failed"
assert any(l["msg"] == "doubling 21" for l in d["logs"])
' 2>"$T/show.err"; then
    pass "runtime: show lists steps, attempts, redacted inputs and logs"
else
    fail "runtime: show" "$(tail -3 "$T/show.err")"
fi

# bad payloads: exit 2, naming the field, nothing stored
for bad in '{"n": "x", "tags": []}' '{"tags": []}' 'not json' '{"n": 1, "tags": [1]}'; do
    echo "$bad" >"$T/bad.json"
    "$JOB" run --event "$T/bad.json" --state "$T/bad" >"$T/bad.out" 2>&1; rc=$?
    if [ $rc -eq 2 ] && [ ! -e "$T/bad" ] && grep -qE "field 'n'|field 'tags\[0\]'|missing field 'n'|not valid JSON" "$T/bad.out"; then
        pass "runtime: bad payload rejected: $bad"
    else
        fail "runtime: bad payload rejected: $bad" "rc=$rc $(head -2 "$T/bad.out")"
    fi
done

# kill -9 while /hold is in flight; resume finishes without re-sending committed steps
ctl_reset
ctl_routes '[{"method": "POST", "path": "/hold", "responses": [{"status": 200, "body": {}, "hold_ms": 3000}, {"status": 200, "body": {"held": true}}]}]'
"$JOB" run --event "$T/ev.json" --state "$T/s2" >"$T/run2.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ "$(ctl_count /hold)" -ge 1 ] && break; sleep 0.05; done
kill -9 $pid; wait $pid 2>/dev/null
"$JOB" resume --state "$T/s2" >"$T/resume.out" 2>"$T/resume.err"; rc=$?
if [ $rc -eq 0 ] && [ "$(ctl_count /s1)" == 1 ] && [ "$(ctl_count /flaky)" == 3 ] && [ "$(ctl_count /hold)" == 2 ] \
        && json_eval "$(cat "$T/resume.out")" 'j["y"] == 42' | grep -q True; then
    pass "runtime: kill -9 during a request, resume sends only the unfinished step"
else
    fail "runtime: kill -9 and resume" "rc=$rc s1=$(ctl_count /s1) flaky=$(ctl_count /flaky) hold=$(ctl_count /hold) $(tail -2 "$T/resume.err")"
fi
k=$(json_eval "$(ctl_log /hold)" 'len(set(r["headers"]["idempotency-key"] for r in j))')
[ "$k" == 1 ] && pass "runtime: the re-sent request carries the same Idempotency-Key" || fail "runtime: idempotency key stable" "$(ctl_log /hold | head -c 300)"

# kill -9 in the middle of a fanout: resume redoes only the unfinished items
ctl_reset
ctl_routes '[{"method": "POST", "path": "/tg", "responses": [{"status": 201, "body": {}}, {"status": 201, "body": {}}, {"status": 201, "body": {}, "hold_ms": 3000}]}]'
echo '{"n": 21, "tags": ["a", "bb", "ccc", "dd"]}' >"$T/ev4.json"
"$JOB" run --event "$T/ev4.json" --state "$T/s4" >"$T/run4.out" 2>&1 &
pid=$!
for _ in $(seq 1 200); do [ "$(ctl_count /tg)" -ge 4 ] && break; sleep 0.05; done
kill -9 $pid; wait $pid 2>/dev/null
ctl_routes '[{"method": "POST", "path": "/tg", "responses": [{"status": 201, "body": {}}]}]'
"$JOB" resume --state "$T/s4" >"$T/resume4.out" 2>"$T/resume4.err"; rc=$?
counts=$(python3 -c 'import json,sys,collections; print(sorted(collections.Counter(r["body"] for r in json.loads(sys.argv[1])).values()))' "$(ctl_log /tg)")
if [ $rc -eq 0 ] && [ "$counts" == "[1, 1, 2, 2]" ] && grep -q '"DD"' "$T/resume4.out"; then
    pass "runtime: kill -9 during a fanout, resume redoes only the unfinished items"
else
    fail "runtime: fanout kill -9 and resume" "rc=$rc counts=$counts $(tail -2 "$T/resume4.err")"
fi

# SIGTERM during a request: stop at the step boundary, exit 75, resume completes
ctl_reset
ctl_routes '[{"method": "POST", "path": "/hold", "responses": [{"status": 200, "body": {}, "hold_ms": 1000}, {"status": 200, "body": {"held": true}}]}]'
"$JOB" run --event "$T/ev.json" --state "$T/s3" >"$T/run3.out" 2>"$T/run3.err" &
pid=$!
for _ in $(seq 1 100); do [ "$(ctl_count /hold)" -ge 1 ] && break; sleep 0.05; done
kill -TERM $pid; wait $pid; rc=$?
st=$("$JOB" history --state "$T/s3" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["status"])')
"$JOB" resume --state "$T/s3" >"$T/resume3.out" 2>&1; rc2=$?
if [ $rc -eq 75 ] && [ "$st" == interrupted ] && [ $rc2 -eq 0 ] && [ "$(ctl_count /hold)" == 1 ]; then
    pass "runtime: SIGTERM stops at the step boundary (exit 75), resume completes"
else
    fail "runtime: SIGTERM" "rc=$rc status=$st resume=$rc2 hold=$(ctl_count /hold) $(tail -2 "$T/run3.err")"
fi

# the same job built by gcc with ASan/UBSan over the runtime's sources: no reports
# (apart from the deliberate null store in the crashing function step)
if gcc -std=gnu11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -D_GNU_SOURCE -Iruntime -Istdlib \
        -o "$T/handmade-san" tests/runtime/wf_handmade.c "$SAN_RTLIB" $RT_LIBS \
        2>"$T/san.build"; then
    ctl_reset
    ctl_routes '[{"method": "POST", "path": "/hold", "responses": [{"status": 200, "body": {"held": true}}]}]'
    export ASAN_OPTIONS=detect_leaks=1:allow_user_segv_handler=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0
    : >"$T/san.err"
    "$T/handmade-san" run --event "$T/ev.json" --state "$T/san" >/dev/null 2>>"$T/san.err"; rc=$?
    sid=$("$T/handmade-san" history --state "$T/san" --json 2>>"$T/san.err" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
    for cmd in "info" "info --json" "history --state $T/san" "show $sid --state $T/san" "show $sid --state $T/san --json" \
               "resume --state $T/san" "run --event /nonexistent" "bogus"; do
        # shellcheck disable=SC2086
        "$T/handmade-san" $cmd >/dev/null 2>>"$T/san.err"
    done
    if [ $rc -eq 0 ] && ! grep -v 'handmade.flow:14:.*store to null pointer' "$T/san.err" | grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'; then
        pass "runtime: job binary commands are ASan/UBSan-clean"
    else
        fail "runtime: job binary under sanitizers" "rc=$rc $(grep -m3 -E 'ERROR|runtime error' "$T/san.err")"
    fi
    unset ASAN_OPTIONS UBSAN_OPTIONS
else
    fail "runtime: sanitized job build" "$(head -3 "$T/san.build")"
fi

# info
if "$JOB" info --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["name"]=="handmade" and d["secrets"]==["tok"] and d["settings"][0]["default"]=="hi" and d["trigger"]["event"]=="go"'; then
    pass "runtime: info --json"
else
    fail "runtime: info --json" "$("$JOB" info --json 2>&1 | head -5)"
fi
exit 0
