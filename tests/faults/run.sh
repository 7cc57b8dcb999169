#!/usr/bin/env bash
# State under faults, and processes sharing one state (docs/runtime.md,
# "Who executes a run"): a full disk under a loaded `serve` (accepts are
# refused with 503 + Retry-After, stopped runs go on once space is back,
# without a restart, and /metrics agrees with the state); `resume`, `retry`
# and `run` beside `serve` never execute a run twice; the runs of a process
# killed with -9 are taken over. Real job binaries, the real test API server,
# a real tmpfs (mount needs root, as CI runs), real kill -9.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/faults" || exit 1
T=$(scratch)
export TOKEN=faults-test-token
echo "$TOKEN" >"$T/token"
AUTH="Authorization: Bearer $TOKEN"
CLIENT="python3 $ROOT/tests/serve/client.py"
MNT=
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
    stop_server
    rm -rf "$SCRATCH_ROOT"
}
trap cleanup EXIT

build() {   # build FILE NAME: compiles FILE.flow to $T/NAME
    if "$FLOWC" build "$1" -o "$T/$2" 2>"$T/$2.build"; then return 0; fi
    fail "build $2" "$(head -5 "$T/$2.build")"
    return 1
}
# serve_start BIN STATE LOG [options]: `BIN serve` on a free port; sets SV_PID and SV.
serve_start() {
    local bin=$1 state=$2 log=$3; shift 3
    rm -f "$T/port"
    "$bin" serve --listen 127.0.0.1:0 --port-file "$T/port" --state "$state" --token-file "$T/token" "$@" 2>>"$log" &
    SV_PID=$!
    PIDS+=("$SV_PID")
    for _ in $(seq 1 200); do
        [ -s "$T/port" ] && break
        sleep 0.05
    done
    SV="http://127.0.0.1:$(cat "$T/port" 2>/dev/null)"
}
serve_stop() { kill -TERM "$SV_PID" 2>/dev/null; wait "$SV_PID"; }
metric() {  # metric NAME: its value from /metrics (NAME with labels as printed)
    curl -s -H "$AUTH" "$SV/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
dups() {    # dups PATH-PREFIX: "D K": idempotency keys the API saw more than once, and keys seen
    curl -s "$API/_ctl/log?path=$1*" | python3 -c '
import json, sys, collections
c = collections.Counter(r["headers"].get("idempotency-key") for r in json.load(sys.stdin))
print(sum(1 for k, n in c.items() if n > 1), len(c))'
}
statuses() {    # statuses BIN STATE: "status=count ..." of every run in the state (sorted)
    "$1" history --state "$2" --json --limit 0 2>/dev/null | awk -F'"' '$2 == "status" { print $4 }' | sort | uniq -c \
        | awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $2, $1 }'
}
wait_all() {    # wait_all BIN STATE N [seconds]: until the state holds N succeeded runs
    local end=$((SECONDS + ${4:-60}))
    while [ $SECONDS -lt $end ]; do
        [ "$(statuses "$1" "$2")" == "succeeded=$3" ] && return 0
        sleep 0.2
    done
    return 1
}

cat >"$T/routes.json" <<'JSON'
[
 {"method": "POST", "path": "/big/*", "responses": [{"status": 200, "body_bytes": 6000, "hold_ms": 150}]},
 {"method": "POST", "path": "/big2/*", "responses": [{"status": 200, "body_bytes": 6000}]},
 {"method": "POST", "path": "/fetch/*", "responses": [{"status": 200, "body": {"ok": true}, "hold_ms": 150}]},
 {"method": "POST", "path": "/tag/*", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/sa/*", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/sb/*", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/sc/*", "responses": [{"status": 200, "body": {}}]}
]
JSON
start_server "$T/routes.json"
build bulky.flow bulky || exit 0
build "$ROOT/tests/serve/lead.flow" lead || exit 0
build sleeper.flow sleeper || exit 0

# ---- a full disk under a loaded serve ------------------------------------
# The state directory is a 2 MB tmpfs. 30 runs are accepted, then a file
# takes every free byte: commits that need new pages in data.mdb fail (LMDB
# writes with pwrite: ENOSPC, or EIO for a short write; no SIGBUS, the map
# is not written through). Events sent meanwhile are accepted or refused
# with 503 + Retry-After, never half stored. Space given back, every
# accepted run finishes without a restart.
MNT="$T/full"
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=2m tmpfs "$MNT" 2>"$T/mount.err"; then
    fail "disk full: mount a 2 MB tmpfs (the test needs root)" "$(cat "$T/mount.err")"
else
    serve_start "$T/bulky" "$MNT/state" "$T/full.log" --workers 1
    curl -s -o /dev/null -X PUT -H "$AUTH" --data '{}' "$SV/api/users/fu"     # runs belong to users
    for i in $(seq 1 30); do
        curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "$AUTH" -H 'X-Flow-User: fu' --data "{\"id\": \"a$i\"}" "$SV/events/item"
    done >"$T/full.codes1"
    dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null
    for i in $(seq 1 20); do
        curl -s -D "$T/full.h$i" -o "$T/full.b$i" -w "b$i %{http_code}\n" -X POST -H "$AUTH" -H 'X-Flow-User: fu' --data "{\"id\": \"b$i\"}" "$SV/events/item"
        sleep 0.05
    done >"$T/full.codes2"
    # the same Idempotency-Key 8 times at once: never a 202 naming a run that was not stored
    kpids=()
    for i in $(seq 1 8); do
        curl -s -o "$T/full.k$i" -w '%{http_code}\n' -X POST -H "$AUTH" -H 'Idempotency-Key: full-1' \
             -H 'X-Flow-User: fu' --data '{"id": "k1"}' "$SV/events/item" >"$T/full.kc$i" &
        kpids+=($!)
    done
    wait "${kpids[@]}"
    sleep 2                             # runs meet the full disk meanwhile
    stops=$(metric flow_store_stops_total)
    rm -f "$MNT/fill"
    kids=$(for i in $(seq 1 8); do [ "$(cat "$T/full.kc$i")" == 202 ] && json_eval "$(cat "$T/full.k$i")" 'j["run_id"]'; done | sort -u)
    accepted=$(( $(grep -c '^202$' "$T/full.codes1") + $(grep -c ' 202$' "$T/full.codes2") + $(echo "$kids" | grep -c .) ))
    refused=$(( $(grep -c ' 503$' "$T/full.codes2") + $(cat "$T/full.kc"* | grep -c '^503$') ))
    bad=$(grep -vcE ' (202|503)$' "$T/full.codes2")
    norefusal=0
    for f in $(awk '$2 == 503 { print $1 }' "$T/full.codes2"); do
        grep -qi '^Retry-After: [0-9]' "$T/full.h${f#b}" && grep -q '"not accepted: the state store cannot be written for now' "$T/full.b${f#b}" \
            || norefusal=$((norefusal + 1))
    done
    if wait_all "$T/bulky" "$MNT/state" "$accepted" 60; then
        stored=$("$T/bulky" history --state "$MNT/state" --json --limit 0 | python3 -c '
import json, sys; print(" ".join(sorted(r["trigger"]["id"] for r in json.load(sys.stdin))))')
        want=$( (seq 1 30 | sed 's/^/a/'; awk '$2 == 202 { print $1 }' "$T/full.codes2"; [ -n "$kids" ] && echo k1) | sort | tr '\n' ' ')
        kstored=0
        for k in $kids; do "$T/bulky" show "$k" --state "$MNT/state" >/dev/null 2>&1 && kstored=$((kstored + 1)); done
        m=$(curl -s -H "$AUTH" "$SV/metrics")
        mv() { echo "$m" | awk -v k="$1" '$1 == k { print $2 }'; }
        if [ "$bad" == 0 ] && [ "$norefusal" == 0 ] && [ "${stops:-0}" -ge 1 ] && [ "$stored " == "$want" ] \
           && [ "$(echo "$kids" | grep -c .)" -le 1 ] && [ "$kstored" == "$(echo "$kids" | grep -c .)" ] \
           && [ "$(mv flow_runs_accepted_total)" == "$accepted" ] && [ "$(mv flow_accepts_refused_total)" == "$refused" ] \
           && [ "$(mv 'flow_runs_finished_total{status="succeeded"}')" == "$accepted" ] \
           && [ "$(mv 'flow_runs_finished_total{status="failed"}')" == 0 ] \
           && [ "$(mv 'flow_runs{status="queued"}')$(mv 'flow_runs{status="running"}')$(mv 'flow_runs{status="store_retry"}')" == 000 ]; then
            pass "disk full under serve: $stops executions stopped, $refused events refused (503, Retry-After, nothing stored); space given back, all $accepted accepted runs succeed without a restart and /metrics agrees with history"
        else
            fail "disk full: refusals and metrics" "one key: run ids answered [$kids], stored $kstored; bad codes=$bad refusals without Retry-After/message=$norefusal stops=$stops stored=[$stored] want=[$want] $(echo "$m" | grep -E '^flow_(runs|accept|store)' | tr '\n' ' ')"
        fi
    else
        fail "disk full under serve: accepted runs finish once space is back, without a restart" \
             "accepted=$accepted, state: $(statuses "$T/bulky" "$MNT/state"); metrics: $(curl -s -H "$AUTH" "$SV/metrics" | grep -E '^flow_runs' | tr '\n' ' ') $(grep -m2 -E 'error' "$T/full.log")"
    fi
    serve_stop
    umount "$MNT" && MNT=
fi

# ---- resume beside a running serve --------------------------------------
# Two `resume`s started while serve works through 40 runs: every run is
# serve's (it owns what it accepted), so each resume leaves them alone and
# says whose they are; no step is sent twice.
ctl_reset
serve_start "$T/lead" "$T/side.state" "$T/side.log" --workers 2
$CLIENT post "$SV" /events/lead.created 40 --user side --threads 4 >"$T/side.ids" 2>"$T/side.err"
sleep 0.3
"$T/lead" resume --state "$T/side.state" >"$T/resume1.out" 2>"$T/resume1.err" &
r1=$!
"$T/lead" resume --state "$T/side.state" >"$T/resume2.out" 2>"$T/resume2.err"; rc2=$?
wait "$r1"; rc1=$?
st=$($CLIENT wait "$SV" "$T/side.ids" --timeout 60)
read -r fdup fkeys <<<"$(dups /fetch/side)"
read -r tdup tkeys <<<"$(dups /tag/side)"
if [ "$st" == '{"succeeded": 40}' ] && [ "$fdup$tdup" == 00 ] && [ "$fkeys$tkeys" == 4040 ] && [ "$rc1$rc2" == 00 ] \
   && grep -q "owned by another live process: serve (pid $SV_PID)" "$T/resume1.err" \
   && grep -q "owned by another live process: serve (pid $SV_PID)" "$T/resume2.err"; then
    pass "two resumes beside a running serve: no step sent twice (40+40 keys once each); each names serve's pid and leaves its runs"
else
    fail "resume beside serve" "runs=$st fetch dups=$fdup/$fkeys tag dups=$tdup/$tkeys rc=$rc1,$rc2 $(tail -2 "$T/resume1.err") | $(tail -2 "$T/resume2.err")"
fi
serve_stop

# ---- run and retry sleeping in a wait while serve starts -----------------
# `run` and `retry` sleep through a 2 s wait in their own process (status
# waiting): the run is theirs; a serve started meanwhile leaves it.
ctl_reset
ctl_routes '{"method": "POST", "path": "/sb/r2", "responses": [{"status": 400, "body": {"error": "not yet"}}, {"status": 200, "body": {}}]}'
echo '{"id": "r2"}' >"$T/r2.json"
echo '{"id": "r1"}' >"$T/r1.json"
"$T/sleeper" run --event "$T/r2.json" --state "$T/sleep.state" >/dev/null 2>"$T/r2.err"; rc0=$?
rid=$("$T/sleeper" history --state "$T/sleep.state" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
"$T/sleeper" retry "$rid" --state "$T/sleep.state" >/dev/null 2>"$T/retry.err" &
rpid=$!
PIDS+=("$rpid")
"$T/sleeper" run --event "$T/r1.json" --state "$T/sleep.state" >/dev/null 2>"$T/r1.err" &
upid=$!
PIDS+=("$upid")
sleep 0.7                               # both are in their wait now
serve_start "$T/sleeper" "$T/sleep.state" "$T/sleep.log" --workers 2
wait "$rpid"; rc1=$?
wait "$upid"; rc2=$?
sleep 0.5                               # serve would wake the runs now
serve_stop
c1=$(ctl_count /sc/r1); c2=$(ctl_count /sc/r2)
if [ "$rc0" == 1 ] && [ "$rc1$rc2" == 00 ] && [ "$c1$c2" == 11 ] && [ "$(statuses "$T/sleeper" "$T/sleep.state")" == succeeded=2 ] \
   && grep -q "owned by another live process (.*retry (pid $rpid)" "$T/sleep.log" && grep -q "run (pid $upid)" "$T/sleep.log"; then
    pass "a serve started while \`run\` and \`retry\` sleep in a wait leaves their runs to them (named with their pids): the step after the wait is sent once"
else
    fail "run/retry sleeping beside serve" "rc=$rc0,$rc1,$rc2 /sc/r1=$c1 /sc/r2=$c2 $(statuses "$T/sleeper" "$T/sleep.state") $(grep -m3 -E 'owned|error' "$T/sleep.log")"
fi

# ---- kill -9 of serve, then resume -----------------------------------------
ctl_reset
serve_start "$T/lead" "$T/k1.state" "$T/k1.log" --workers 2
$CLIENT post "$SV" /events/lead.created 20 --user kone --threads 4 >"$T/k1.ids" 2>/dev/null
sleep 0.5
kill -9 "$SV_PID"; wait "$SV_PID" 2>/dev/null
before=$(statuses "$T/lead" "$T/k1.state")
"$T/lead" resume --state "$T/k1.state" >/dev/null 2>"$T/k1.resume"; rc=$?
read -r fdup fkeys <<<"$(dups /fetch/kone)"
if [ $rc -eq 0 ] && [ "$(statuses "$T/lead" "$T/k1.state")" == succeeded=20 ] && [ "$fkeys" == 20 ] && [ "$fdup" -le 2 ] \
   && ! grep -q 'owned by another' "$T/k1.resume"; then
    pass "kill -9 of serve, then resume: the runs the dead serve owned ($before) all finish"
else
    fail "kill -9 serve then resume" "rc=$rc before=$before after=$(statuses "$T/lead" "$T/k1.state") dups=$fdup/$fkeys $(tail -3 "$T/k1.resume")"
fi

# ---- kill -9 of a resume while serve runs: serve takes its run over ---------
# 20 runs accepted by a serve that is then killed (--paused: none started).
# A resume starts with the oldest, slow one; a new serve starts meanwhile
# and takes the 19 others (the slow one is the live resume's); the resume
# is killed with -9 in the middle of it: the live serve's sweep takes that
# run over, without a restart.
ctl_reset
ctl_routes '{"method": "POST", "path": "/fetch/kslow", "responses": [{"status": 200, "body": {"ok": true}, "hold_ms": 2500}]}'
serve_start "$T/lead" "$T/k2.state" "$T/k2.log" --paused
$CLIENT post "$SV" /events/lead.created 1 --user kslow >"$T/k2.slow" 2>/dev/null
$CLIENT post "$SV" /events/lead.created 19 --user ktwo --threads 4 >"$T/k2.ids" 2>/dev/null
kill -9 "$SV_PID"; wait "$SV_PID" 2>/dev/null
"$T/lead" resume --state "$T/k2.state" >/dev/null 2>"$T/k2.resume" &
rpid=$!
PIDS+=("$rpid")
sleep 0.3
serve_start "$T/lead" "$T/k2.state" "$T/k2.log" --workers 2
sleep 0.3
kill -9 "$rpid"; wait "$rpid" 2>/dev/null
slow=$(json_eval "$(cat "$T/k2.slow")" 'j[0]')
owner=$("$T/lead" history --state "$T/k2.state" --json --limit 0 | python3 -c '
import json, sys; print([(r["status"], r.get("owner")) for r in json.load(sys.stdin) if r["id"] == sys.argv[1]])' "$slow")
st=$($CLIENT wait "$SV" "$T/k2.ids" --timeout 60)
st1=$($CLIENT wait "$SV" "$T/k2.slow" --timeout 60)
read -r fdup fkeys <<<"$(dups /fetch/k)"
read -r tdup tkeys <<<"$(dups /tag/k)"
if [ "$owner" == "[('running', 'resume (pid $rpid)')]" ] && [ "$st$st1" == '{"succeeded": 19}{"succeeded": 1}' ] \
   && [ "$fkeys$tkeys" == 2020 ] && [ "$fdup$tdup" == 10 ] && grep -q 'sweep: 1 unfinished run' "$T/k2.log"; then
    pass "kill -9 of a resume beside a live serve: serve's sweep takes over the run the dead resume owned, without a restart (only its in-flight step is sent again)"
else
    fail "serve takes over a killed resume's run" "the slow run at the kill: $owner; runs=$st $st1 fetch dups=$fdup/$fkeys tag dups=$tdup/$tkeys resume: $(tail -2 "$T/k2.resume" | tr '\n' ' ') $(grep -m3 -E 'sweep|error' "$T/k2.log")"
fi
serve_stop

# ---- a write of the store's meta page fails: serve exits 75, a restart resumes ----
# LMDB marks its environment unusable after a failed meta-page write
# (MDB_PANIC for every later transaction); serve must not live on refusing
# everything: it says why and exits 75 (docs/runtime.md), and a restart
# finishes every run it had accepted. The failure is real EIO from
# pwrite, injected by tests/faults/eio_shim.c.
ctl_reset
if gcc -shared -fPIC -O1 -o "$T/eio_shim.so" eio_shim.c -ldl 2>"$T/shim.err"; then
    export FLOW_TEST_EIO_FILE=$T/eio.now
    LD_PRELOAD=$T/eio_shim.so ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
        serve_start "$T/lead" "$T/panic.state" "$T/panic.log" --workers 8
    $CLIENT post "$SV" /events/lead.created 30 --user pan --threads 4 >"$T/panic.ids" 2>"$T/panic.err"
    for _ in $(seq 1 100); do [ "$(ctl_count /fetch/pan)" -ge 8 ] && break; sleep 0.05; done
    touch "$FLOW_TEST_EIO_FILE"
    for _ in $(seq 1 200); do kill -0 "$SV_PID" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$SV_PID" 2>/dev/null; then      # still serving after 10 s: not what it should do
        kill -9 "$SV_PID"; wait "$SV_PID" 2>/dev/null; prc="still running"
    else
        wait "$SV_PID"; prc=$?
    fi
    rm -f "$FLOW_TEST_EIO_FILE"
    unset FLOW_TEST_EIO_FILE
    accepted=$(json_eval "$(cat "$T/panic.ids")" 'len(j)' 2>/dev/null)
    serve_start "$T/lead" "$T/panic.state" "$T/panic.log" --workers 8
    st=$($CLIENT wait "$SV" "$T/panic.ids" --timeout 60)
    if [ "$prc" == 75 ] && grep -q 'cannot be used any more by this process (MDB_PANIC' "$T/panic.log" \
       && [ "$st" == "{\"succeeded\": $accepted}" ] && [ "$accepted" == 30 ]; then
        pass "a failed meta-page write (EIO) under serve: it says the store is unusable and exits 75; a restart finishes all $accepted accepted runs"
    else
        fail "store panic under serve" "exit=$prc accepted=$accepted after restart=$st $(grep -m2 -iE 'panic|unusable|error' "$T/panic.log")"
    fi
    serve_stop
else
    fail "store panic: build the EIO shim" "$(head -3 "$T/shim.err")"
fi
