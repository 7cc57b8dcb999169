#!/usr/bin/env bash
# `JOB serve` end to end: real job binaries built by flowc serve HTTP on
# 127.0.0.1 against the test API server; kill -9 and SIGTERM under load.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/serve" || exit 1
T=$(scratch)
CLIENT="python3 $ROOT/tests/serve/client.py"
export TOKEN=serve-test-token
echo "$TOKEN" >"$T/token"
AUTH="Authorization: Bearer $TOKEN"

build() {   # build NAME: compiles NAME.flow to $T/NAME
    if "$FLOWC" build "$1.flow" -o "$T/$1" 2>"$T/$1.build"; then return 0; fi
    fail "build $1" "$(head -5 "$T/$1.build")"
    return 1
}

# serve_start BIN STATE LOG [options]: starts `BIN serve` on a free port;
# sets SV_PID and SV (the base URL).
serve_start() {
    local bin=$1 state=$2 log=$3; shift 3
    rm -f "$T/port"
    "$bin" serve --listen 127.0.0.1:0 --port-file "$T/port" --state "$state" --token-file "$T/token" "$@" 2>>"$log" &
    SV_PID=$!
    for _ in $(seq 1 200); do
        [ -s "$T/port" ] && break
        sleep 0.05
    done
    SV="http://127.0.0.1:$(cat "$T/port" 2>/dev/null)"
}
serve_stop() {  # SIGTERM and wait; the exit status
    kill -TERM "$SV_PID" 2>/dev/null
    wait "$SV_PID"
}
mkuser() {  # mkuser USER [curl args]: stores the user (PUT /api/users/USER); runs belong to users
    local u=$1; shift
    curl -s -o /dev/null -X PUT -H "$AUTH" "$@" --data '{}' "$SV/api/users/$u"
}
post() {    # post PATH BODY [curl args]: prints "BODY CODE". The run's user (X-Flow-User,
            # else "anon" for an event; the path's for /hooks/USER) is stored first.
    local path=$1 body=$2 u=anon a; shift 2
    local user=()
    for a in "$@"; do case $a in 'X-Flow-User: '*) u=${a#X-Flow-User: } ;; esac; done
    case $path in
        /events/*) mkuser "$u"; [[ " $* " == *"X-Flow-User: "* ]] || user=(-H "X-Flow-User: $u") ;;
        /hooks/*) mkuser "${path#/hooks/}" ;;
    esac
    curl -s -w ' %{http_code}' -X POST -H "$AUTH" -H 'Content-Type: application/json' "${user[@]}" "$@" --data-binary "$body" "$SV$path"
}
run_field() {   # run_field ID EXPR: a python expression over GET /runs/ID as j
    json_eval "$(curl -s -H "$AUTH" "$SV/runs/$1")" "$2"
}
wait_status() { # wait_status ID STATUS [tries]: polls until the run has STATUS
    for _ in $(seq 1 "${3:-100}"); do
        [ "$(run_field "$1" 'j.get("status")')" == "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
# count_syncs NAME CMD...: runs CMD while strace counts serve's disk syncs
# (calls, not time); prints the count, or "noattach" when strace could not
# attach. A slow moment can only add syncs (a group handed over before the
# run's end joins it), never remove one, so the pins below take the least of
# a few tries: a change that adds a sync to every run still fails them.
count_syncs() {
    local name=$1; shift
    strace -f -e trace=fsync,fdatasync,msync,sync_file_range -p "$SV_PID" -o "$T/$name.trace" 2>"$T/$name.err" &
    local st_pid=$!
    for _ in $(seq 1 100); do grep -q attached "$T/$name.err" && break; sleep 0.05; done
    "$@"
    kill -INT "$st_pid"; wait "$st_pid" 2>/dev/null
    if grep -q attached "$T/$name.err"; then grep -cE '(fsync|fdatasync|msync|sync_file_range)\(' "$T/$name.trace"
    else echo noattach; fi
}
metric() {  # metric NAME: its value from /metrics
    curl -s -H "$AUTH" "$SV/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
dup_keys() {    # dup_keys PATH-PREFIX: idempotency keys the API saw more than once
    curl -s "$API/_ctl/log?path=$1*" | python3 -c '
import json, sys, collections
c = collections.Counter(r["headers"].get("idempotency-key") for r in json.load(sys.stdin))
print(sum(1 for k, n in c.items() if n > 1), len(c))'
}

cat >"$T/routes.json" <<'JSON'
[
 {"method": "POST", "path": "/fetch/*", "responses": [{"status": 200, "body": {"ok": true}}]},
 {"method": "POST", "path": "/tag/*", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/echo", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/wa", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/wb", "responses": [{"status": 200, "body": {}}]}
]
JSON
start_server "$T/routes.json"

build lead || exit 0
build hook || exit 0
build waiter || exit 0
build slowfn || exit 0
build pair || exit 0
build hookfn || exit 0

# ---- the API token and the --listen address: the cases of auth.cases ----
# Without a token serve listens unauthenticated on loopback only (DESIGN's
# `serve --listen 127.0.0.1:8080` works as written); docs/serve.md.
auth_use() {    # auth_use WORKFLOW TAG [curl args]: drives a run through SV; "ok" or what went wrong
    local wf=$1 tag=$2; shift 2
    local out id st=
    curl -s -o /dev/null -X PUT "$@" --data '{}' "$SV/api/users/$tag"     # runs belong to users
    if [ "$wf" == hook ]; then
        out=$(curl -s -w ' %{http_code}' -X POST "$@" --data-binary '{"name": "Ada"}' "$SV/hooks/$tag")
        [ "${out##* }" == 200 ] && [ "$(json_eval "${out% *}" 'j["hello"]' 2>/dev/null)" == Ada ] && echo ok || echo "hook: $out"
        return
    fi
    out=$(curl -s -w ' %{http_code}' -X POST "$@" -H "X-Flow-User: $tag" --data-binary '{"id": "a", "score": 80}' "$SV/events/lead.created")
    id=$(json_eval "${out% *}" 'j["run_id"]' 2>/dev/null)
    [ "${out##* }" == 202 ] && [ -n "$id" ] || { echo "event: $out"; return; }
    for _ in $(seq 1 100); do
        st=$(json_eval "$(curl -s "$@" "$SV/runs/$id")" 'j.get("status")' 2>/dev/null)
        [ "$st" == succeeded ] && break
        sleep 0.1
    done
    out=$(curl -s -w ' %{http_code}' "$@" "$SV/runs?user=$tag")
    [ "$st" == succeeded ] && [ "${out##* }" == 200 ] && echo "$out" | grep -q "$id" && echo ok || echo "run $id: status=$st runs=$out"
}
auth_case() {   # auth_case WHERE LISTEN TOKEN WORKFLOW EXPECT
    local where=$1 listen=$2 tok=$3 wf=$4 expect=$5
    local name="$where: serve --listen $listen, token $tok, $wf: $expect"
    local d="$T/auth.${where##*:}" rc=0 pid why= warned
    mkdir -p "$d"
    local cmd=(env -u FLOW_API_TOKEN) args=(serve --listen "$listen" --port-file "$d/port" --state "$d/state")
    case $tok in
        env) cmd+=(FLOW_API_TOKEN="$TOKEN") ;;
        file) args+=(--token-file "$T/token") ;;
        no-auth) args+=(--no-auth) ;;
    esac
    if [ "$expect" == refuse ]; then
        timeout 10 "${cmd[@]}" "$T/$wf" "${args[@]}" 2>"$d/log" || rc=$?
        if [ $rc -eq 2 ] && grep -q 'serve needs an API token: --token-file FILE or FLOW_API_TOKEN' "$d/log" \
           && grep -q 'loopback' "$d/log" && [ ! -e "$d/state" ] && [ ! -e "$d/port" ]; then
            pass "$name (exit 2 before opening the state or binding)"
        else
            fail "$name" "rc=$rc state=$([ -e "$d/state" ] && echo created) $(head -3 "$d/log")"
        fi
        return
    fi
    if [ "${listen:0:1}" == '[' ] && ! grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null; then
        echo "SKIP: $name: no IPv6 loopback here"
        return
    fi
    "${cmd[@]}" "$T/$wf" "${args[@]}" 2>"$d/log" &
    pid=$!
    for _ in $(seq 1 200); do [ -s "$d/port" ] && break; sleep 0.05; done
    local SV="http://127.0.0.1:$(cat "$d/port" 2>/dev/null)"
    warned=$(grep -c 'warning: the API is unauthenticated: no token is configured.*reachable only from this machine.*--token-file FILE or set FLOW_API_TOKEN' "$d/log")
    if [ ! -s "$d/port" ]; then
        why="did not start"
    else
        case $expect in
            open)    [ "$warned" == 1 ] || why="warning lines: $warned"
                     r=$(auth_use "$wf" "auth${where##*:}"); [ "$r" == ok ] || why="$why without a token: $r" ;;
            quiet)   [ "$warned" == 0 ] || why="warning lines: $warned"
                     r=$(auth_use "$wf" "auth${where##*:}"); [ "$r" == ok ] || why="$why without a token: $r" ;;
            started) [ "$warned" == 1 ] || why="warning lines: $warned" ;;
            token)   [ "$warned" == 0 ] || why="warning lines: $warned"
                     local c1 c2 c3
                     c1=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '{"name": "x", "id": "x", "score": 1}' "$SV/events/lead.created")
                     c2=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '{"name": "x"}' "$SV/hooks/alice")
                     c3=$(curl -s -o /dev/null -w '%{http_code}' "$SV/runs")
                     [ "$c1$c2$c3" == 401401401 ] || why="$why without a token: events=$c1 hooks=$c2 runs=$c3"
                     r=$(auth_use "$wf" "auth${where##*:}" -H "$AUTH"); [ "$r" == ok ] || why="$why with the token: $r" ;;
            *)       why="unknown expectation '$expect'" ;;
        esac
    fi
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" || rc=$?
    [ $rc -eq 0 ] || why="$why SIGTERM: exit $rc"
    if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why $(tail -3 "$d/log")"; fi
}
n=0
while read -r listen tok wf expect _; do
    n=$((n + 1))
    case $listen in ''|'#'*) continue ;; esac
    auth_case "auth.cases:$n" "$listen" "$tok" "$wf" "$expect"
done <auth.cases
ctl_reset                               # the tests below count the API's requests from zero

# ---- the basics on one server -------------------------------------------
serve_start "$T/lead" "$T/basic.state" "$T/basic.log" --workers 2
out=$(post /events/lead.created '{"id": "a1", "score": 90}' -H 'X-Flow-User: alice')
id=$(json_eval "${out% *}" 'j["run_id"]' 2>/dev/null)
if [ "${out##* }" == 202 ] && wait_status "$id" succeeded && [ "$(run_field "$id" 'j["output"]["grade"], j["user"]')" == "('A', 'alice')" ] \
   && [ "$(ctl_count /fetch/alice)" == 1 ] && [ "$(ctl_count /tag/alice)" == 1 ]; then
    pass "event accepted (202 run id) and run to the end"
else
    fail "event accepted and run" "out=$out status=$(run_field "$id" 'j.get("status")') $(tail -3 "$T/basic.log")"
fi

a=$(post /events/lead.created '{"id": "k1", "score": 1}' -H 'X-Flow-User: idem' -H 'Idempotency-Key: order-1')
b=$(post /events/lead.created '{"id": "k1", "score": 1}' -H 'X-Flow-User: idem' -H 'Idempotency-Key: order-1')
c=$(post /events/lead.created '{"id": "k2", "score": 1}' -H 'X-Flow-User: idem' -H 'Idempotency-Key: order-2')
ida=$(json_eval "${a% *}" 'j["run_id"]' 2>/dev/null); idb=$(json_eval "${b% *}" 'j["run_id"]' 2>/dev/null)
idc=$(json_eval "${c% *}" 'j["run_id"]' 2>/dev/null)
wait_status "$ida" succeeded; wait_status "$idc" succeeded
if [ -n "$ida" ] && [ "$ida" == "$idb" ] && [ "$ida" != "$idc" ] && [ "$(ctl_count /fetch/idem)" == 2 ]; then
    pass "idempotent re-delivery: same key, same run id, no second run"
else
    fail "idempotent re-delivery" "a=$a b=$b c=$c fetches=$(ctl_count /fetch/idem)"
fi
# pruning a run forgets its key: the same key then makes a new run
"$T/lead" prune --older-than 0s --user idem --state "$T/basic.state" >"$T/prune.out" 2>&1
d=$(post /events/lead.created '{"id": "k1", "score": 1}' -H 'X-Flow-User: idem' -H 'Idempotency-Key: order-1')
idd=$(json_eval "${d% *}" 'j["run_id"]' 2>/dev/null)
wait_status "$idd" succeeded
if [ -n "$idd" ] && [ "$idd" != "$ida" ] && [ "$(ctl_count /fetch/idem)" == 3 ]; then
    pass "prune removes a run's Idempotency-Key with it"
else
    fail "prune forgets idempotency keys" "d=$d ida=$ida $(cat "$T/prune.out")"
fi

out=$(post /events/lead.created '{"id": "x", "score": ')
if [ "${out##* }" == 400 ] && echo "$out" | grep -q 'not valid JSON'; then
    pass "malformed JSON: 400 with the parser's message"
else
    fail "malformed JSON" "$out"
fi
out=$(post /events/lead.created '{"id": "x", "score": "high"}')
if [ "${out##* }" == 400 ] && echo "$out" | grep -q "field 'score' expected int"; then
    pass "mistyped payload: 400 naming the field"
else
    fail "mistyped payload" "$out"
fi
out=$(post /events/lead.created '{"score": 1}')
if [ "${out##* }" == 400 ] && echo "$out" | grep -q "'id'"; then
    pass "missing field: 400 naming the field"
else
    fail "missing field" "$out"
fi

c1=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer wrong' --data '{}' "$SV/events/lead.created")
c2=$(curl -s -o /dev/null -w '%{http_code}' "$SV/metrics")
c3=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN}x" "$SV/runs/$id")
c4=$(curl -s -o /dev/null -w '%{http_code}' "$SV/healthz")
if [ "$c1$c2$c3$c4" == 401401401200 ]; then
    pass "bad or missing token: 401 everywhere but /healthz"
else
    fail "bad token" "post=$c1 metrics=$c2 runs=$c3 healthz=$c4"
fi

head -c 1100000 /dev/zero | tr '\0' 'x' >"$T/big"
c1=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "$AUTH" --data-binary @"$T/big" "$SV/events/lead.created")
c2=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "$AUTH" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$SV/events/lead.created")
if [ "$c1$c2" == 413413 ]; then
    pass "oversized body: 413 (Content-Length and chunked)"
else
    fail "oversized body" "content-length=$c1 chunked=$c2"
fi

c1=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "$AUTH" --data '{}' "$SV/events/other.event")
c2=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "$AUTH" --data '{}' "$SV/hooks/alice")
c3=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$SV/runs/nope")
c4=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$SV/events/lead.created")
if [ "$c1$c2$c3$c4" == 404404404405 ]; then
    pass "unknown event, wrong trigger kind, unknown run: 404; GET on events: 405"
else
    fail "404s" "$c1 $c2 $c3 $c4"
fi

# group commit: concurrent accepts share transactions
$CLIENT post "$SV" /events/lead.created 200 --user bulk --threads 16 >"$T/bulk.ids" 2>"$T/bulk.err"
acc=$(metric flow_runs_accepted_total); txn=$(metric flow_accept_commits_total)
if [ -s "$T/bulk.ids" ] && [ "${acc:-0}" -ge 200 ] && [ "${txn:-999}" -lt "$acc" ]; then
    pass "group commit: $acc accepted runs in $txn transactions"
else
    fail "group commit" "accepted=$acc commits=$txn $(cat "$T/bulk.err")"
fi
st=$($CLIENT wait "$SV" "$T/bulk.ids" --timeout 60)
if [ "$st" == '{"succeeded": 200}' ]; then pass "200 concurrent events all succeed"; else fail "200 concurrent events" "$st"; fi

m=$(curl -s -H "$AUTH" "$SV/metrics")
if echo "$m" | grep -q '^flow_queue_depth ' && echo "$m" | grep -q '^flow_http_requests_in_flight ' \
   && echo "$m" | grep -q '^flow_step_duration_seconds_bucket{kind="request",le="+Inf"} [1-9]' \
   && echo "$m" | grep -q '^flow_runs{status="queued"} ' && echo "$m" | grep -q '^flow_runs_finished_total{status="succeeded"} [1-9]'; then
    pass "metrics: Prometheus text with runs, queue depth, in-flight requests, step histogram"
else
    fail "metrics" "$(echo "$m" | head -20)"
fi
rc=0; serve_stop || rc=$?
[ $rc -eq 0 ] && pass "SIGTERM on an idle server: exit 0" || fail "SIGTERM idle" "rc=$rc"

# ---- request trigger: the run's return value is the answer -------------
serve_start "$T/hook" "$T/hook.state" "$T/hook.log" --workers 2 --hook-timeout 1s
out=$(post /hooks/alice '{"name": "Ada"}')
if [ "${out##* }" == 200 ] && [ "$(json_eval "${out% *}" 'j["hello"], j["status"]')" == "('Ada', 200)" ]; then
    pass "request trigger: 200 with the run's return value"
else
    fail "request trigger 200" "$out $(tail -3 "$T/hook.log")"
fi
out=$(post /hooks/alice '{"name": "Bob", "fail": true}')
if [ "${out##* }" == 500 ] && echo "$out" | grep -q 'asked to fail for Bob' && echo "$out" | grep -q run_id; then
    pass "request trigger: a failed run answers 500 with its error"
else
    fail "request trigger 500" "$out"
fi
ctl_routes '{"method": "POST", "path": "/echo", "responses": [{"status": 200, "body": {}, "hold_ms": 2500}]}'
out=$(post /hooks/bob '{"name": "Slow"}' -H 'Idempotency-Key: slow-1')
sid=$(json_eval "${out% *}" 'j["run_id"]' 2>/dev/null)
if [ "${out##* }" == 202 ] && [ -n "$sid" ]; then
    pass "request trigger: 202 with the run id after --hook-timeout"
else
    fail "request trigger timeout" "$out"
fi
wait_status "$sid" succeeded 60
out=$(post /hooks/bob '{"name": "Slow"}' -H 'Idempotency-Key: slow-1')
if [ "${out##* }" == 200 ] && echo "$out" | grep -q '"Slow"' && [ "$(ctl_count /echo)" == 2 ]; then
    pass "request trigger: re-delivery after the run ended answers its output without a new run"
else
    fail "request trigger re-delivery" "$out echo=$(ctl_count /echo)"
fi
ctl_routes '{"method": "POST", "path": "/echo", "responses": [{"status": 200, "body": {}}]}'
# the disk syncs of one request-triggered run, counted by strace (calls,
# not time): its record (accepted in memory), claim, step record and end in
# one group: 1 (docs/serve.md; 2 when the accept had a transaction of its own)
if command -v strace >/dev/null; then
    mkuser fsync
    # (count_syncs runs in a subshell: what the command learns goes to files)
    sync_post() { curl -s -w ' %{http_code}' -X POST -H "$AUTH" -H 'Content-Type: application/json' --data '{"name": "Sync"}' "$SV/hooks/fsync" >"$T/sync.out"; }
    tries=
    for _ in 1 2 3; do
        nsync=$(count_syncs fsync sync_post); out=$(cat "$T/sync.out")
        tries+="$nsync(${out##* }) "
        [ "$nsync" == 1 ] && [ "${out##* }" == 200 ] && break
    done
    if [ "$nsync" == noattach ]; then
        fail "fsyncs of a request-triggered run" "strace could not attach: $(head -c 200 "$T/fsync.err")"
    elif [ "${out##* }" == 200 ] && [ "$nsync" == 1 ]; then
        pass "one request-triggered run (accept, claim, a request step, its answer) costs 1 fsync (tries: $tries)"
    else
        fail "fsyncs of a request-triggered run" "tries (fsyncs(code)): $tries; answer=$out: $(grep -E 'sync' "$T/fsync.trace" | head -5)"
    fi
else
    fail "fsyncs of a request-triggered run" "strace is not installed (scripts/install-deps.sh installs it)"
fi
serve_stop

# the same count pins down when a run's step records are durable: pair's two
# requests make 3 fsyncs alone: the accept's; first's record (with the
# claim) before second sends anything (the barrier); the end
if command -v strace >/dev/null; then
    ctl_routes '[{"method": "POST", "path": "/first/*", "responses": [{"status": 200, "body": {}}]},
                 {"method": "POST", "path": "/second/*", "responses": [{"status": 200, "body": {}}]}]'
    serve_start "$T/pair" "$T/fsync2.state" "$T/fsync2.log" --workers 2
    mkuser fsync
    pair_run() {
        out=$(curl -s -X POST -H "$AUTH" -H 'Content-Type: application/json' -H 'X-Flow-User: fsync' \
              --data "{\"id\": \"f$1\"}" "$SV/events/pair.go")
        echo "$out" >"$T/pair.out"
        wait_status "$(json_eval "$out" 'j["run_id"]' 2>/dev/null)" succeeded 100
    }
    tries=
    for i in 1 2 3; do
        nsync=$(count_syncs fsync2 pair_run "$i"); out=$(cat "$T/pair.out")
        fid=$(json_eval "$out" 'j["run_id"]' 2>/dev/null)
        tries+="$nsync "
        [ "$nsync" == 3 ] && break
    done
    if [ "$(run_field "$fid" 'j.get("status")')" == succeeded ] && [ "$nsync" == 3 ]; then
        pass "a run of two requests alone makes 3 fsyncs: its accept, the first's record before the second is sent, the end (tries: $tries)"
    else
        fail "fsyncs of a 2-request run" "run=$out tries=$tries (want 3): $(grep -E 'sync' "$T/fsync2.trace" | head -6)"
    fi
    serve_stop
fi

# pure steps after a request (function, fanout) hand the request's record
# to the committer, which holds it up to 1 ms (docs/runtime.md): a fast run
# ends with one commit that takes it along. Without the hold every run makes
# 2 fsyncs (the record while the function runs, the end); with it, fewer
# (a function slowed past 1 ms by a loaded machine still makes 2: not pinned)
if command -v strace >/dev/null; then
    ctl_routes '{"method": "POST", "path": "/items", "responses": [{"status": 200, "body": {}}]}'
    serve_start "$T/hookfn" "$T/hookfn.state" "$T/hookfn.log" --workers 2
    mkuser dave
    ten_runs() {
        : >"$T/codes.out"
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            curl -s -o "$T/hookfn.out" -w '%{http_code}' -X POST -H "$AUTH" -H 'Content-Type: application/json' \
                           --data '{"n": 4}' "$SV/hooks/dave" >>"$T/codes.out"
        done
    }
    tries=
    for _ in 1 2 3; do
        nsync=$(count_syncs fsync3 ten_runs); codes=$(cat "$T/codes.out")
        tries+="$nsync "
        [ "$nsync" != noattach ] && [ "$nsync" -ge 10 ] && [ "$nsync" -lt 20 ] && break
    done
    if [ "$codes" == "$(printf '200%.0s' $(seq 1 10))" ] && [ "$(json_eval "$(cat "$T/hookfn.out")" 'len(j["tagged"]), j["count"]')" == "(4, 200)" ] &&
       [ "$nsync" -ge 10 ] && [ "$nsync" -lt 20 ]; then
        pass "10 webhook runs of request, function, fanout make $nsync fsyncs (20 without the committer's hold; tries: $tries)"
    else
        fail "fsyncs of request, function, fanout" "codes=$codes tries=$tries (want 10 to 19) $(cat "$T/hookfn.out") $(tail -2 "$T/hookfn.log")"
    fi
    serve_stop
fi

# a webhook's run is queued in memory (docs/serve.md): a 202 after
# --hook-timeout promises the run, so it stores the record first, also of a
# run that has not started (one worker, busy with the first): a kill -9
# after the 202s loses neither
ctl_routes '{"method": "POST", "path": "/echo", "responses": [{"status": 200, "body": {}, "hold_ms": 3000}]}'
serve_start "$T/hook" "$T/promise.state" "$T/promise.log" --workers 1 --hook-timeout 1s
post /hooks/carol '{"name": "P1"}' >/dev/null &
p1_pid=$!
sleep 0.3
p2=$(post /hooks/carol '{"name": "P2"}')
wait "$p1_pid"
kill -9 "$SV_PID"; wait "$SV_PID" 2>/dev/null
ctl_routes '{"method": "POST", "path": "/echo", "responses": [{"status": 200, "body": {}}]}'
serve_start "$T/hook" "$T/promise.state" "$T/promise.log" --workers 1
id2=$(json_eval "${p2% *}" 'j["run_id"]' 2>/dev/null)
if [ "${p2##* }" == 202 ] && [ -n "$id2" ] && wait_status "$id2" succeeded 100 &&
   [ "$(run_field "$id2" 'j["output"]["hello"]')" == P2 ]; then
    pass "a webhook answered 202 before its run started (queued in memory) survives a kill -9: the 202 stored it"
else
    fail "202 of a run queued in memory" "p2=$p2 status=$(run_field "$id2" 'j.get("status")') $(tail -3 "$T/promise.log")"
fi
serve_stop

# a function step starts while the record of the request before it is being
# synced (docs/runtime.md): a kill -9 while the function runs must still find
# that record, so the request is not sent again on restart
ctl_routes '{"method": "POST", "path": "/send/*", "responses": [{"status": 200, "body": {}}]}'
serve_start "$T/slowfn" "$T/slowfn.state" "$T/slowfn.log" --workers 2
out=$(post /events/slow.go '{"id": "k9"}' -H 'X-Flow-User: slow')
sid=$(json_eval "${out% *}" 'j["run_id"]' 2>/dev/null)
for _ in $(seq 1 100); do [ "$(ctl_count /send/k9)" -ge 1 ] && break; sleep 0.05; done
sleep 0.5                                   # inside think (3 s)
kill -9 "$SV_PID"; wait "$SV_PID" 2>/dev/null
mid=$(ctl_count /send/k9)
serve_start "$T/slowfn" "$T/slowfn.state" "$T/slowfn.log" --workers 2
if wait_status "$sid" succeeded 100 && [ "$mid" == 1 ] && [ "$(ctl_count /send/k9)" == 1 ] &&
   [ "$(run_field "$sid" 'j["output"]["id"]')" == k9 ]; then
    pass "kill -9 while a function step runs: restart runs the function again, the request before it is not re-sent"
else
    fail "kill -9 during a function step" "run=$out status=$(run_field "$sid" 'j.get("status")') sends=$mid then $(ctl_count /send/k9)"
fi
serve_stop

# webhooks signed with the user's secret instead of the bearer token
"$T/hook" users set signer --secret hook_key=whsec-signer-0123 --state "$T/hook.state" 2>>"$T/hook.log"
"$T/hook" users set off --disabled --secret hook_key=whsec-off-0123 --state "$T/hook.state" 2>>"$T/hook.log"
serve_start "$T/hook" "$T/hook.state" "$T/hook.log" --hook-secret hook_key
sign() { python3 -c 'import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())' "$1" "$2"; }
body='{"name": "Signed"}'
c1=$(curl -s -w ' %{http_code}' -X POST -H "X-Flow-Signature: sha256=$(sign whsec-signer-0123 "$body")" --data-binary "$body" "$SV/hooks/signer")
c2=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Flow-Signature: sha256=$(sign whsec-signer-0123 "$body")" --data-binary '{"name": "Forged"}' "$SV/hooks/signer")
c3=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Flow-Signature: sha256=$(sign wrong-key "$body")" --data-binary "$body" "$SV/hooks/signer")
c4=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Flow-Signature: sha256=$(sign whsec-off-0123 "$body")" --data-binary "$body" "$SV/hooks/off")
c5=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "$body" "$SV/hooks/signer")
serve_stop
if [ "${c1##* }" == 200 ] && echo "$c1" | grep -q '"Signed"' && [ "$c2$c3$c4$c5" == 401401401401 ] \
   && ! grep -rq 'whsec-signer-0123' "$T/hook.log" "$T/hook.state/data.mdb"; then
    pass "webhook signed with HMAC-SHA256 of the user's secret: accepted; forged body, wrong key, disabled user, unsigned: 401"
else
    fail "signed webhooks" "signed=$c1 forged=$c2 wrong key=$c3 disabled=$c4 unsigned=$c5 $(tail -3 "$T/hook.log")"
fi

# ---- one serve per state; versions side by side --------------------------
serve_start "$T/lead" "$T/ver.state" "$T/ver.log" --paused
"$T/lead" serve --listen 127.0.0.1:0 --state "$T/ver.state" --token-file "$T/token" 2>"$T/second.err"; rc=$?
if [ $rc -eq 2 ] && grep -q 'another serve (pid [0-9]*) is using the state' "$T/second.err"; then
    pass "a second serve on the same state directory exits 2 naming the first one's pid"
else
    fail "one serve per state" "rc=$rc $(cat "$T/second.err")"
fi
for i in 1 2 3; do post /events/lead.created "{\"id\": \"v$i\", \"score\": 1}" -H 'X-Flow-User: ver' >/dev/null; done
paused=$(metric flow_queue_depth)
serve_stop
sed 's/score >= 70 ? "A" : "B"/score >= 71 ? "A" : "B"/' lead.flow >"$T/lead2.flow"
if "$FLOWC" build "$T/lead2.flow" -o "$T/lead2" 2>"$T/lead2.build"; then
    serve_start "$T/lead2" "$T/ver.state" "$T/ver.log"
    h=$(curl -s "$SV/healthz")
    out=$(post /events/lead.created '{"id": "new", "score": 1}' -H 'X-Flow-User: ver2'); nid=$(json_eval "${out% *}" 'j["run_id"]' 2>/dev/null)
    wait_status "$nid" succeeded
    serve_stop
    before=$(ctl_count /fetch/ver)
    "$T/lead" resume --state "$T/ver.state" >/dev/null 2>"$T/ver.resume"; rc=$?
    if [ "$paused" == 3 ] && [ "$(json_eval "$h" 'j["other_version_runs"]')" == 3 ] && [ "$before" == 0 ] \
       && [ "$(ctl_count /fetch/ver2)" == 1 ] && [ $rc -eq 0 ] && [ "$(ctl_count /fetch/ver)" == 3 ] \
       && grep -qE "3 unfinished runs need the binary of version [0-9a-f]+ \(this one is [0-9a-f]+\): [0-9a-f]{20} " "$T/ver.log"; then
        pass "--paused queues without running; a new version serves new runs, names the old version's 3 in its log and leaves them to their own resume"
    else
        fail "versions side by side" "paused=$paused healthz=$h before=$before new=$(ctl_count /fetch/ver2) resume rc=$rc old=$(ctl_count /fetch/ver) $(tail -2 "$T/ver.resume")"
    fi
else
    fail "build lead2" "$(head -3 "$T/lead2.build")"
fi

# ---- durable waits suspend the run --------------------------------------
serve_start "$T/waiter" "$T/wait.state" "$T/wait.log" --workers 1
out=$(post /events/tick '{"id": "w1", "score": 1}'); wid=$(json_eval "${out% *}" 'j["run_id"]' 2>/dev/null)
wait_status "$wid" waiting 30
out2=$(post /events/tick '{"id": "w2", "score": 2}'); wid2=$(json_eval "${out2% *}" 'j["run_id"]' 2>/dev/null)
# one worker: w2 can only run while w1 is suspended
if wait_status "$wid2" waiting 30 && wait_status "$wid" succeeded 50 && wait_status "$wid2" succeeded 50 \
   && [ "$(ctl_count /wb)" == 2 ]; then
    pass "wait suspends the run: one worker serves a second run meanwhile; both resume"
else
    fail "durable wait" "w1=$(run_field "$wid" 'j.get("status")') w2=$(run_field "$wid2" 'j.get("status")') $(tail -3 "$T/wait.log")"
fi
serve_stop

# ---- kill -9 with 200 accepted but unfinished runs -----------------------
ctl_reset
ctl_routes '[{"method": "POST", "path": "/fetch/*", "responses": [{"status": 200, "body": {"ok": true}, "hold_ms": 150}]}]'
serve_start "$T/lead" "$T/kill.state" "$T/kill.log" --workers 8
$CLIENT post "$SV" /events/lead.created 200 --user k9 --threads 8 --key-prefix k9- >"$T/kill.ids" 2>"$T/kill.err"
sleep 0.5
kill -9 "$SV_PID"; wait "$SV_PID" 2>/dev/null
before=$(ctl_count '/tag/k9')
ctl_routes '[{"method": "POST", "path": "/fetch/*", "responses": [{"status": 200, "body": {"ok": true}, "hold_ms": 10}]}]'
serve_start "$T/lead" "$T/kill.state" "$T/kill.log" --workers 8
st=$($CLIENT wait "$SV" "$T/kill.ids" --timeout 90)
read -r fdup fkeys <<<"$(dup_keys /fetch/k9)"
read -r tdup tkeys <<<"$(dup_keys /tag/k9)"
if [ "$(json_eval "$(cat "$T/kill.ids")" 'len(set(j))')" == 200 ] && [ "$before" -lt 200 ] && [ "$st" == '{"succeeded": 200}' ] \
   && [ "$fkeys" == 200 ] && [ "$tkeys" == 200 ] && [ "$fdup" -le 8 ] && [ "$tdup" -le 8 ]; then
    pass "kill -9 with $((200 - before)) runs unfinished: restart finishes all 200; re-sent only the $fdup+$tdup requests in flight"
else
    fail "kill -9 under load" "finished before kill=$before after=$st fetch keys=$fkeys dups=$fdup tag keys=$tkeys dups=$tdup $(cat "$T/kill.err")"
fi
# re-delivering the same events after the restart creates no new runs
$CLIENT post "$SV" /events/lead.created 200 --user k9 --threads 8 --key-prefix k9- >"$T/kill2.ids" 2>/dev/null
if cmp -s "$T/kill.ids" "$T/kill2.ids"; then
    pass "idempotency keys survive kill -9: re-delivery of 200 events gives the same run ids"
else
    fail "idempotency after kill -9" "$(head -c 200 "$T/kill2.ids")"
fi
serve_stop

# ---- kill -9 of a loaded serve whose runs share their step commits -------
# 64 runs in flight on coroutines: their step records are committed in
# groups, each left to the next group and waited for before the run's next
# step starts. Killed twice under load: whatever a kill cuts, no run sends
# `fetch` again once its `tag` was sent (tag starting means fetch's record
# was durable), and no run sends anything after its end was committed.
ctl_reset
grp_routes() {      # grp_routes FETCH_HOLD_MS TAG_HOLD_MS
    ctl_routes "[{\"method\": \"POST\", \"path\": \"/fetch/*\", \"responses\": [{\"status\": 200, \"body\": {\"ok\": true}, \"hold_ms\": $1}]},
                 {\"method\": \"POST\", \"path\": \"/tag/*\", \"responses\": [{\"status\": 200, \"body\": {}, \"hold_ms\": $2}]}]"
}
grp_routes 200 20
serve_start "$T/lead" "$T/grp.state" "$T/grp.log" --workers 64
$CLIENT post "$SV" /events/lead.created 600 --user grp --threads 8 --key-prefix grp- >"$T/grp.ids" 2>"$T/grp.err"
kills=
for at in 150 350; do
    for _ in $(seq 1 500); do [ "$(ctl_count '/tag/grp')" -ge "$at" ] && break; sleep 0.02; done
    kill -9 "$SV_PID"; wait "$SV_PID" 2>/dev/null
    kills+="$(date +%s%3N) "
    serve_start "$T/lead" "$T/grp.state" "$T/grp.log" --workers 64
done
grp_routes 0 0
st=$($CLIENT wait "$SV" "$T/grp.ids" --timeout 90)
ctl_log '/fetch/grp' >"$T/grp.fetch"; ctl_log '/tag/grp' >"$T/grp.tag"
audit=$(python3 - "$SV" "$T/grp.ids" "$T/grp.fetch" "$T/grp.tag" $kills <<'PY'
import collections, json, os, sys, urllib.request
sv, ids, fetch, tag = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
first_kill = int(sys.argv[5])
def sends(log):     # run id -> [time_ms of each send]
    d = collections.defaultdict(list)
    for r in log:
        d[r["headers"]["idempotency-key"].split(":")[0]].append(r["time_ms"])
    return d
f, t = sends(fetch), sends(tag)
bad, ended_before, resent = [], 0, 0
for i in ids:
    rec = json.load(urllib.request.urlopen(urllib.request.Request(sv + "/runs/" + i,
                    headers={"Authorization": "Bearer " + os.environ["TOKEN"]})))
    if rec.get("status") != "succeeded": bad.append(i + " " + str(rec.get("status")))
    if not f[i] or not t[i] or len(f[i]) > 3 or len(t[i]) > 3:
        bad.append(i + " sent fetch %d tag %d times" % (len(f[i]), len(t[i])))
        continue
    resent += len(f[i]) + len(t[i]) - 2
    if max(f[i]) > min(t[i]): bad.append(i + " fetch sent again after its tag")
    end = rec.get("updated", 0)      # a succeeded run's last update is its end
    if max(f[i] + t[i]) > end: bad.append(i + " sent something after its end was committed")
    if end < first_kill: ended_before += 1
print("ok" if not bad else "bad", ended_before, resent, "; ".join(bad[:5]))
PY
)
read -r verdict ended resent rest <<<"$audit"
if [ "$st" == '{"succeeded": 600}' ] && [ "$verdict" == ok ] && [ "$ended" -ge 1 ] && [ "$ended" -lt 600 ]; then
    pass "kill -9 twice with grouped step commits: no step sent again once its successor started, nothing after a committed end ($ended runs had ended before the first kill; $resent in-flight re-sends)"
else
    fail "kill -9 with grouped step commits" "after=$st audit=$audit $(head -c 300 "$T/grp.err")"
fi
serve_stop

# ---- SIGTERM drains -----------------------------------------------------
ctl_reset
ctl_routes '[{"method": "POST", "path": "/fetch/*", "responses": [{"status": 200, "body": {"ok": true}, "hold_ms": 1000}]}]'
serve_start "$T/lead" "$T/term.state" "$T/term.log" --workers 4 --drain-timeout 10s
$CLIENT post "$SV" /events/lead.created 20 --user term --threads 4 >"$T/term.ids"
sleep 0.4
t0=$(date +%s%N)
kill -TERM "$SV_PID"; wait "$SV_PID"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
sent=$(ctl_count '/fetch/term')
late=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "$AUTH" --data '{}' "$SV/events/lead.created")
ctl_routes '[{"method": "POST", "path": "/fetch/*", "responses": [{"status": 200, "body": {"ok": true}}]}]'
serve_start "$T/lead" "$T/term.state" "$T/term.log" --workers 4
st=$($CLIENT wait "$SV" "$T/term.ids" --timeout 60)
read -r fdup fkeys <<<"$(dup_keys /fetch/term)"
if [ $rc -eq 0 ] && [ "$ms" -lt 5000 ] && [ "$sent" -ge 1 ] && [ "$late" == 000 ] && [ "$st" == '{"succeeded": 20}' ] \
   && [ "$fdup" == 0 ] && [ "$fkeys" == 20 ] && grep -q 'interrupted' "$T/term.log"; then
    pass "SIGTERM drains: $sent in-flight steps finished and committed, exit 0 in $ms ms; restart re-sends nothing"
else
    fail "SIGTERM drains" "rc=$rc ms=$ms sent=$sent late=$late after=$st dups=$fdup keys=$fkeys"
fi
serve_stop

# ---- fair queueing ------------------------------------------------------
ctl_reset
ctl_routes '[{"method": "POST", "path": "/fetch/*", "responses": [{"status": 200, "body": {"ok": true}, "hold_ms": 200}]}]'
serve_start "$T/lead" "$T/fair.state" "$T/fair.log" --workers 2
$CLIENT post "$SV" /events/lead.created 1000 --user noisy --threads 8 >"$T/noisy.ids" 2>"$T/noisy.err"
t0=$(date +%s%N)
out=$(post /events/lead.created '{"id": "q1", "score": 1}' -H 'X-Flow-User: quiet'); qid=$(json_eval "${out% *}" 'j["run_id"]' 2>/dev/null)
wait_status "$qid" succeeded 100
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
noisy_done=$(ctl_count /tag/noisy)
depth=$(metric flow_queue_depth)
if [ "$(run_field "$qid" 'j.get("status")')" == succeeded ] && [ "$ms" -lt 3000 ] && [ "${depth:-0}" -gt 800 ]; then
    pass "fair queueing: the quiet user's run finished in $ms ms behind $depth queued runs of a noisy user ($noisy_done done)"
else
    fail "fair queueing" "quiet=$(run_field "$qid" 'j.get("status")') in $ms ms, noisy done=$noisy_done depth=$depth $(cat "$T/noisy.err")"
fi
kill -9 "$SV_PID"; wait "$SV_PID" 2>/dev/null

# ---- per-user limit ------------------------------------------------------
ctl_reset
ctl_routes '[{"method": "POST", "path": "/fetch/*", "responses": [{"status": 200, "body": {"ok": true}, "hold_ms": 300}]}]'
serve_start "$T/lead" "$T/limit.state" "$T/limit.log" --workers 4 --max-user-runs 1
$CLIENT post "$SV" /events/lead.created 4 --user capped --threads 4 >"$T/capped.ids"
$CLIENT post "$SV" /events/lead.created 2 --user other --threads 2 >"$T/other.ids"
a=$($CLIENT wait "$SV" "$T/capped.ids" --timeout 30); b=$($CLIENT wait "$SV" "$T/other.ids" --timeout 30)
stats=$(curl -s "$API/_ctl/stats")
serve_stop
if [ "$a$b" == '{"succeeded": 4}{"succeeded": 2}' ] && [ "$(json_eval "$stats" 'j["paths"]["/fetch/capped"]["max_in_flight"]')" == 1 ]; then
    pass "--max-user-runs 1: one user's runs execute one at a time, another user's alongside"
else
    fail "--max-user-runs" "capped=$a other=$b $(json_eval "$stats" 'j["paths"]')"
fi
ctl_routes '[{"method": "POST", "path": "/fetch/*", "responses": [{"status": 200, "body": {"ok": true}}]}]'

# ---- --max-queued: 429 with Retry-After beyond the bound -----------------
# One worker, held 6 s by its first run (room for a loaded machine to make
# the calls below while it is held): the next three wait in the queue
# (the bound), a fourth is refused and nothing of it is stored; /metrics
# says the depth and the oldest's age as GET /runs says the state; once the
# queue drains, accepts come back.
ctl_reset
ctl_routes '[{"method": "POST", "path": "/fetch/mq", "responses": [{"status": 200, "body": {"ok": true}, "hold_ms": 6000},
                                                                 {"status": 200, "body": {"ok": true}}]}]'
serve_start "$T/lead" "$T/mq.state" "$T/mq.log" --workers 1 --max-queued 3
mq_post() { post /events/lead.created "{\"id\": \"$1\", \"score\": 1}" -H 'X-Flow-User: mq' "${@:2}"; }
out=$(mq_post m0); mq_ids=("$(json_eval "${out% *}" 'j["run_id"]' 2>/dev/null)")
wait_status "${mq_ids[0]}" running 50
codes=
for i in 1 2 3; do
    out=$(mq_post "m$i"); codes+="${out##* } "; mq_ids+=("$(json_eval "${out% *}" 'j["run_id"]' 2>/dev/null)")
done
mkuser mq
code429=$(curl -s -D "$T/mq.head" -o "$T/mq.body" -w '%{http_code}' -X POST -H "$AUTH" -H 'Content-Type: application/json' \
          -H 'X-Flow-User: mq' --data '{"id": "m4", "score": 1}' "$SV/events/lead.created")
retry=$(awk 'tolower($1) == "retry-after:" { print $2 }' "$T/mq.head" | tr -d '\r')
depth=$(metric flow_queue_depth); age=$(metric flow_queue_oldest_age_seconds); bound=$(metric flow_queue_max)
throttled=$(metric flow_accepts_throttled_total)
state=$(curl -s -H "$AUTH" "$SV/runs?user=mq")
nqueued=$(json_eval "$state" 'sum(1 for r in j["runs"] if r.get("status") == "queued")'); nruns=$(json_eval "$state" 'len(j["runs"])')
wait_status "${mq_ids[3]}" succeeded 200
depth2=$(metric flow_queue_depth); age2=$(metric flow_queue_oldest_age_seconds)
out=$(mq_post m5); again=${out##* }
serve_stop
if [ "$codes" == "202 202 202 " ] && [ "$code429" == 429 ] && [[ "$retry" =~ ^[0-9]+$ ]] && [ "$retry" -ge 1 ] \
   && grep -q 'max-queued' "$T/mq.body" && [ "$depth" == 3 ] && [ "$nqueued" == 3 ] && [ "$nruns" == 4 ] \
   && [ "$bound" == 3 ] && [ "$throttled" == 1 ] && python3 -c "import sys; sys.exit(not float('$age') > 0)" \
   && [ "$depth2" == 0 ] && [ "$age2" == 0.000 ] && [ "$again" == 202 ]; then
    pass "--max-queued 3: the 4th queued run gets 429 (Retry-After: $retry), nothing stored; /metrics depth 3 (age ${age}s) as the state says; 202 again once drained"
else
    fail "--max-queued" "codes=$codes 429=$code429 retry=$retry depth=$depth queued=$nqueued runs=$nruns bound=$bound throttled=$throttled age=$age after: depth=$depth2 age=$age2 again=$again $(cat "$T/mq.body")"
fi

# ---- trigger schedule: the cron unit tests, then a seconds schedule ---------
if cc -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -D_GNU_SOURCE -g \
      -fsanitize=address,undefined -fno-sanitize-recover=undefined -I"$ROOT/runtime" \
      cron_test.c "$SAN_RTLIB" $RT_LIBS -o "$T/cron_test" 2>"$T/cron_test.build"; then
    "$T/cron_test" "$ROOT/tests/check/cron_forms.txt" >"$T/cron_test.out" 2>&1
    grep -E '^(PASS|FAIL): ' "$T/cron_test.out"
    sanitizer_report "$T/cron_test.out" && fail "cron unit tests under ASan/UBSan" "$(grep -m3 -E 'ERROR|runtime error' "$T/cron_test.out")"
else
    fail "cron unit tests build" "$(head -5 "$T/cron_test.build")"
fi
if cc -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -D_GNU_SOURCE -g \
      -fsanitize=address,undefined -fno-sanitize-recover=undefined -I"$ROOT/runtime" \
      hmac_test.c "$SAN_RTLIB" $RT_LIBS -o "$T/hmac_test" 2>"$T/hmac_test.build"; then
    "$T/hmac_test" >"$T/hmac_test.out" 2>&1
    grep -E '^(PASS|FAIL): ' "$T/hmac_test.out"
    sanitizer_report "$T/hmac_test.out" && fail "hmac unit tests under ASan/UBSan" "$(grep -m3 -E 'ERROR|runtime error' "$T/hmac_test.out")"
else
    fail "hmac unit tests build" "$(head -5 "$T/hmac_test.build")"
fi
if build tick; then
    ctl_reset
    ctl_routes '{"method": "POST", "path": "/tick/*", "body": {}}'
    for u in ann bob; do "$T/tick" users set $u --state "$T/tick.state" 2>>"$T/tick.log"; done
    "$T/tick" users set cid --disabled --state "$T/tick.state" 2>>"$T/tick.log"
    serve_start "$T/tick" "$T/tick.state" "$T/tick.log"
    sleep 4
    # stop half-way between two fires (they fall on even seconds), so that
    # no user's run is cut by the stop while another's has finished
    sleep "$(python3 -c 'import time; t = time.time(); print(f"{(1.5 - t % 2) % 2:.3f}")')"
    serve_stop; rc=$?
    ann=$(ctl_count /tick/ann); bob=$(ctl_count /tick/bob); cid=$(ctl_count /tick/cid)
    if [ $rc -eq 0 ] && [ "$ann" -ge 2 ] && [ "$ann" == "$bob" ] && [ "$cid" == 0 ]; then
        pass "schedule '*/2 * * * * *' in Europe/Paris: $ann fires in 4.5 s, one run per enabled user, none for a disabled one"
    else
        fail "schedule fires" "rc=$rc ann=$ann bob=$bob cid=$cid $(grep -m3 -E 'error|warning' "$T/tick.log")"
    fi
    # trigger.time: the scheduled time (RFC 3339, UTC), an even second here
    times=$(json_eval "$(ctl_log /tick/ann)" '" ".join(json.loads(r["body"])["time"] for r in j)')
    if [ -n "$times" ] && echo "$times" | tr ' ' '\n' | grep -vqE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9][02468]\.000Z$'; then
        fail "schedule trigger.time" "times: $times"
    elif [ -n "$times" ]; then
        pass "a schedule run's trigger.time is its scheduled time ($times)"
    else
        fail "schedule trigger.time" "no recorded tick: $(ctl_log /tick/ann | head -c 300)"
    fi
    sleep 4.5                           # two fires missed while down
    serve_start "$T/tick" "$T/tick.state" "$T/tick.log"
    sleep 0.5
    r=$(curl -s -H "$AUTH" "$SV/runs?limit=100")
    # a bad query is refused, naming what is wrong, as history's flags are
    two=$(curl -s -H "$AUTH" "$SV/runs?limit=2")
    bad=""
    for q in limit=abc limit=0 limit=2x status=bogus; do
        bad+="$(curl -s -o "$T/q.body" -w '%{http_code}' -H "$AUTH" "$SV/runs?$q"):$(json_eval "$(cat "$T/q.body")" 'j["error"].split()[0]') "
    done
    serve_stop
    if [ "$(json_eval "$two" 'len(j["runs"])')" == 2 ] && [ "$bad" == "400:limit 400:limit 400:limit 400:status " ]; then
        pass "GET /runs: limit=2 lists 2; a limit or status that is not one is 400 naming it"
    else
        fail "GET /runs query" "two=$(json_eval "$two" 'len(j["runs"])') bad=$bad"
    fi
    if [ "$(json_eval "$r" 'sorted((x["user"], x["scheduled_at"]) for x in j["runs"] if x.get("catch_up")) and len(set(x["scheduled_at"] for x in j["runs"] if x.get("catch_up")))')" == 1 ] \
       && [ "$(json_eval "$r" 'sorted(x["user"] for x in j["runs"] if x.get("catch_up"))')" == "['ann', 'bob']" ]; then
        pass "schedule catch-up: the fires missed while down run once on restart (one run per user)"
    else
        fail "schedule catch-up" "$(json_eval "$r" '[(x["user"], x.get("scheduled_at"), x.get("catch_up")) for x in j["runs"]][:8]')"
    fi
fi

# ---- serve under ASan/UBSan ----------------------------------------------
# tests/runtime's hand-written workflow (an action, retries of a flaky API
# that suspend the run, a fanout, a crashing function step that is caught)
# linked by gcc with the runtime's sources sanitized, served under load.
if gcc -std=gnu11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -D_GNU_SOURCE \
        -I"$ROOT/runtime" -I"$ROOT/stdlib" -o "$T/handmade-san" "$ROOT/tests/runtime/wf_handmade.c" "$SAN_RTLIB" $RT_LIBS 2>"$T/hm.build"; then
    awk '/^cat >"\$T\/routes.json" <<.JSON.$/{f=1;next} /^JSON$/{f=0} f' "$ROOT/tests/runtime/run.sh" >"$T/hm-routes.json"
    ctl_routes "$(cat "$T/hm-routes.json")"
    cat >"$T/go.lua" <<'LUA'
local n = 0
wrk.method = "POST"
wrk.body = '{"n": 3, "tags": ["x", "y"]}'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
request = function()
  n = n + 1
  wrk.headers["X-Flow-User"] = "u" .. (n % 7)
  wrk.headers["Idempotency-Key"] = "k" .. (n % 300)
  return wrk.format()
end
LUA
    (
        export FLOW_API_BASE_URL=$API FLOW_SECRET_TOK=tok-secret-4711
        export ASAN_OPTIONS=detect_leaks=1:allow_user_segv_handler=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0
        serve_start "$T/handmade-san" "$T/hm.state" "$T/hm.log" --workers 4 --max-user-runs 1 --hook-timeout 1s
        post /events/go '{"n": "x"}' >/dev/null; post /events/go '{"n": ' >/dev/null; post /hooks/u1 '{}' >/dev/null
        curl -s -o /dev/null -X POST -H "$AUTH" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$SV/events/go"
        wrk -t2 -c16 -d2s -s "$T/go.lua" "$SV/events/go" >"$T/hm.wrk" 2>&1
        curl -s -o /dev/null -H "$AUTH" "$SV/metrics"; curl -s -o /dev/null -H "$AUTH" "$SV/runs?limit=5"
        sleep 1
        serve_stop
    ); rc=$?
    n=$(awk '/requests in/ { print $1 }' "$T/hm.wrk")
    if [ $rc -eq 0 ] && [ "${n:-0}" -gt 100 ] && ! grep -v 'handmade.flow:14:.*store to null pointer' "$T/hm.log" | grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'; then
        pass "serve under ASan/UBSan: $n requests, bad inputs, drain: no reports"
    else
        fail "serve under ASan/UBSan" "rc=$rc requests=$n $(grep -m3 -E 'ERROR|runtime error|SUMMARY' "$T/hm.log")"
    fi
else
    fail "serve under ASan/UBSan: build" "$(head -5 "$T/hm.build")"
fi

# ---- supervisor life: sd_notify, SIGHUP ---------------------------------
python3 - "$T/notify.sock" >"$T/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
try:
    while True:
        m = s.recv(4096).decode()
        print(m.replace("\n", " "), flush=True)
        if "STOPPING=1" in m:
            break
except socket.timeout:
    pass
PY
NPID=$!
for _ in $(seq 1 50); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET="$T/notify.sock" serve_start "$T/lead" "$T/sd.state" "$T/sd.stderr" --log-file "$T/sd.log"
sleep 0.3
mv "$T/sd.log" "$T/sd.log.1"
kill -HUP "$SV_PID"
sleep 0.3
serve_stop; rc=$?
wait "$NPID" 2>/dev/null
if grep -q 'READY=1' "$T/notify.out" && grep -q 'STOPPING=1' "$T/notify.out" && [ $rc -eq 0 ]; then
    pass "sd_notify: READY=1 once listening, STOPPING=1 on SIGTERM (NOTIFY_SOCKET datagram)"
else
    fail "sd_notify" "rc=$rc $(cat "$T/notify.out")"
fi
if grep -q 'serving lead' "$T/sd.log.1" && grep -q 'log file reopened' "$T/sd.log" && grep -q 'stopped' "$T/sd.log"; then
    pass "SIGHUP reopens --log-file (logrotate's move-and-signal)"
else
    fail "SIGHUP reopens the log" "old=$(tail -2 "$T/sd.log.1" 2>&1) new=$(tail -2 "$T/sd.log" 2>&1)"
fi
