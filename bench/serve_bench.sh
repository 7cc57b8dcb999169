#!/usr/bin/env bash
# bench/serve_bench.sh — `JOB serve` throughput, printed (figures, not tests):
#   1. events accepted per second, each committed to LMDB (fsync) before its
#      202 answer: wrk with a Lua script POSTing events (group commit shares
#      one transaction among the accepts that arrive together);
#   2. end-to-end runs per second of a 3-step workflow (2 requests to a local
#      API + a function step): finished while wrk posts events (beside the
#      accept rate), from the first POST of RUNS events to the last run's end,
#      and drained from the queue (RUNS accepted --paused, then executed by a
#      fresh serve: the runs alone, without the accepts' CPU);
#   3. latency of the request trigger (POST /hooks/USER answered with the
#      run's return value): wrk's p50/p99.
# Environment: DURATION (wrk seconds, 10), CONNS (wrk connection counts, "64 256"),
# WORKERS (serve --workers: runs executing at once, coroutines; 64), RUNS
# (end-to-end runs, 2000).
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
source bench/lib.sh
FLOWC=${FLOWC:-$ROOT/build/bin/flowc}
SERVER_BIN=${SERVER_BIN:-$ROOT/build/tests/flowtest-server}
DURATION=${DURATION:-$(scaled 10)}
CONNS=${CONNS:-64 256}
WORKERS=${WORKERS:-64}
RUNS=${RUNS:-$(scaled 2000 20)}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 0; }
T=$(mktemp -d "${TMPDIR:-/tmp}/serve-bench.XXXXXX")
cleanup() { [ -n "$SV_PID" ] && kill -9 "$SV_PID" 2>/dev/null; [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export TOKEN=bench-token
echo "$TOKEN" >"$T/token"

"$FLOWC" build tests/serve/lead.flow -o "$T/lead" || exit 1
"$FLOWC" build tests/serve/hook.flow -o "$T/hook" || exit 1
cat >"$T/routes.json" <<'JSON'
[{"method": "POST", "path": "/fetch/*", "body": {"ok": true}},
 {"method": "POST", "path": "/tag/*", "body": {}},
 {"method": "POST", "path": "/echo", "body": {}}]
JSON
api_start "$T/routes.json"

metric() { curl -s -H "Authorization: Bearer $TOKEN" "$SV/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
succeeded() { local v; v=$(metric 'flow_runs_finished_total{status="succeeded"}'); echo "${v:-0}"; }
mkusers() {     # mkusers U...: runs belong to stored users (PUT /api/users/U)
    for u in "$@"; do curl -s -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" --data '{}' "$SV/api/users/$u"; done
}

cat >"$T/event.lua" <<'LUA'
-- POST one event per request, spread over 50 users
local n = 0
wrk.method = "POST"
wrk.body = '{"id": "b1", "score": 80}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
request = function()
  n = n + 1
  wrk.headers["X-Flow-User"] = "u" .. (n % 50)
  return wrk.format()
end
LUA
cat >"$T/hook.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name": "bench"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
LUA

# 1. accepts with durable commit: alone (--paused: runs stay queued), then
#    with the workers executing the accepted runs (their step commits share
#    the one LMDB writer)
accept_bench() {    # accept_bench CONNS LABEL [serve options]
    local conns=$1 label=$2; shift 2
    rm -rf "$T/accept.state"
    serve_start "$T/lead" "$T/accept.state" "$@"
    mkusers $(seq -f 'u%g' 0 49)
    local acc txn rps non2xx p50 p99 f0 f1 t0 t1 ran=
    f0=$(succeeded); t0=$(date +%s%N)
    wrk -t2 -c"$conns" -d"${DURATION}s" --latency -s "$T/event.lua" "$SV/events/lead.created" >"$T/wrk1.out" 2>&1
    f1=$(succeeded); t1=$(date +%s%N)
    acc=$(metric flow_runs_accepted_total); txn=$(metric flow_accept_commits_total)
    [ "$label" = "${label%paused*}" ] &&
        ran=$(printf '; runs finished meanwhile: %.0f/s' "$(echo "($f1 - $f0) / (($t1 - $t0) / 1000000000)" | bc -l)")
    rps=$(awk '/Requests\/sec/ { print $2 }' "$T/wrk1.out")
    non2xx=$(awk '/Non-2xx/ { print $5 }' "$T/wrk1.out")
    p50=$(awk '$1 == "50%" { print $2 }' "$T/wrk1.out"); p99=$(awk '$1 == "99%" { print $2 }' "$T/wrk1.out")
    printf '%-58s %10s/s  (p50 %s, p99 %s; %s runs in %s LMDB transactions, %s per commit; non-2xx: %s%s)\n' \
        "$label" "$rps" "$p50" "$p99" "$acc" "$txn" \
        "$(awk -v a="$acc" -v t="$txn" 'BEGIN { printf "%.1f", t ? a / t : 0 }')" "${non2xx:-0}" "$ran"
    kill -9 "$SV_PID"; wait "$SV_PID" 2>/dev/null; SV_PID=
}
for c in $CONNS; do
    accept_bench "$c" "events accepted, fsync'd before 202 (--paused, $c conns)" --paused
    accept_bench "$c" "events accepted while $WORKERS workers run them ($c conns)" --workers "$WORKERS"
done

# 2. end-to-end runs of the 3-step workflow: RUNS events POSTed by wrk (each
#    thread stops sending after its share; wrk is stopped once RUNS are
#    accepted), from the first POST to the last run's end, counted from
#    /metrics (the requests in flight at the stop count too)
cat >"$T/limit.lua" <<'LUA'
local n, limit = 0, tonumber(os.getenv("PER_THREAD"))
wrk.method = "POST"
wrk.body = '{"id": "e1", "score": 80}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["X-Flow-User"] = "e2e"
response = function(status, headers, body)
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
LUA
serve_start "$T/lead" "$T/e2e.state" --workers "$WORKERS"
mkusers e2e
t0=$(date +%s%N)
PER_THREAD=$((RUNS / 2)) wrk -t2 -c64 -d120s -s "$T/limit.lua" "$SV/events/lead.created" >"$T/wrk2.out" 2>&1 &
wrk_pid=$!
while acc=$(metric flow_runs_accepted_total); [ "${acc:-0}" -lt "$RUNS" ] && kill -0 "$wrk_pid" 2>/dev/null; do sleep 0.02; done
t1=$(date +%s%N)
kill -INT "$wrk_pid"; wait "$wrk_pid" 2>/dev/null      # its threads stopped sending; it waits out -d
acc=$(metric flow_runs_accepted_total)
while [ "$(succeeded)" -lt "${acc:-0}" ]; do sleep 0.02; done
t2=$(date +%s%N)
printf '%-58s %10.0f/s  (%d runs in %.2f s; accepting them took %.2f s)\n' \
    "end-to-end runs, 3 steps against a local API ($WORKERS workers)" \
    "$(echo "$acc / (($t2 - $t0) / 1000000000)" | bc -l)" "$acc" "$(echo "($t2 - $t0) / 1000000000" | bc -l)" \
    "$(echo "($t1 - $t0) / 1000000000" | bc -l)"
kill -TERM "$SV_PID"; wait "$SV_PID" 2>/dev/null; SV_PID=

#    the same runs drained from the queue: accepted while paused, then
#    executed by a serve started afresh (its startup sweep queues them)
serve_start "$T/lead" "$T/drain.state" --paused
python3 tests/serve/client.py post "$SV" /events/lead.created "$RUNS" --user e2e --threads 16 >/dev/null || exit 1
kill -TERM "$SV_PID"; wait "$SV_PID" 2>/dev/null; SV_PID=
t0=$(date +%s%N)
serve_start "$T/lead" "$T/drain.state" --workers "$WORKERS"
while [ "$(succeeded)" -lt "$RUNS" ]; do sleep 0.02; done
t2=$(date +%s%N)
printf '%-58s %10.0f/s  (%d runs in %.2f s, from the start of serve)\n' \
    "runs drained from the queue, 3 steps ($WORKERS workers)" \
    "$(echo "$RUNS / (($t2 - $t0) / 1000000000)" | bc -l)" "$RUNS" "$(echo "($t2 - $t0) / 1000000000" | bc -l)"
kill -TERM "$SV_PID"; wait "$SV_PID" 2>/dev/null; SV_PID=

# 3. request trigger latency
serve_start "$T/hook" "$T/hook.state" --workers "$WORKERS"
mkusers u1
wrk -t2 -c8 -d"${DURATION}s" --latency -s "$T/hook.lua" "$SV/hooks/u1" >"$T/wrk3.out" 2>&1
rps=$(awk '/Requests\/sec/ { print $2 }' "$T/wrk3.out")
p50=$(awk '$1 == "50%" { print $2 }' "$T/wrk3.out"); p99=$(awk '$1 == "99%" { print $2 }' "$T/wrk3.out")
non2xx=$(awk '/Non-2xx/ { print $5 }' "$T/wrk3.out")
printf '%-58s %10s/s  (p50 %s, p99 %s; non-2xx: %s)\n' "request trigger answered with the run's output (8 conns)" \
    "$rps" "$p50" "$p99" "${non2xx:-0}"
kill -TERM "$SV_PID"; wait "$SV_PID" 2>/dev/null; SV_PID=
if command -v n8n >/dev/null; then
    echo "n8n is installed, but no side-by-side n8n webhook run is scripted yet"
else
    echo "n8n: not installed on this machine (npm package n8n): no side-by-side figure"
fi
