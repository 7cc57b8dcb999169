#!/usr/bin/env bash
# bench/project_bench.sh — one event fanned out to the workflows of a
# project (docs/project.md), printed beside a project of one workflow
# measured in the same run (figures, not tests):
#   1. accepts per second of `POST /events/bench.event`, each answered only
#      once its runs are stored (fsync): an accept that starts 10 runs (10
#      subscribed workflows, every user enabled all 10) against one that
#      starts 1; the ratio of their costs (target: at most 2x);
#   2. end-to-end runs per second (one request step each, against a local
#      API), from the first POST to the last run's end.
# USERS users (10,000), each with an activation of every workflow, are
# stored through the /api before the clock starts.
# Environment: USERS, DURATION (wrk seconds, 10), CONNS (wrk connections,
# 64), EVENTS (end-to-end events, 1000), WORKERS (serve --workers, 4).
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
source bench/lib.sh
FLOWC=${FLOWC:-$ROOT/build/bin/flowc}
SERVER_BIN=${SERVER_BIN:-$ROOT/build/tests/flowtest-server}
USERS=${USERS:-$(scaled 10000 20)}
DURATION=${DURATION:-$(scaled 10 1)}
CONNS=${CONNS:-64}
EVENTS=${EVENTS:-$(scaled 1000 10)}
WORKERS=${WORKERS:-4}
NWF=10
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 0; }
T=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/project-bench.XXXXXX")
cleanup() { [ -n "$SV_PID" ] && kill -9 "$SV_PID" 2>/dev/null; [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export TOKEN=bench-token
echo "$TOKEN" >"$T/token"

# ten workflows listening to one event; the project of one is the first alone
mkdir -p "$T/ten" "$T/one"
for i in $(seq 0 $((NWF - 1))); do
    cat >"$T/ten/w$i.flow" <<EOF
workflow w$i
settings { label: string = "w$i" }
trigger event "bench.event" { id: string, n: int }
step call = request POST "{{env.API}}/w/$i" json { id: trigger.id, label: settings.label }
return { id: trigger.id }
EOF
done
cp "$T/ten/w0.flow" "$T/one/"
"$FLOWC" build "$T/ten" -o "$T/ten.app" || exit 1
"$FLOWC" build "$T/one/w0.flow" -o "$T/one.app" || exit 1

echo '[{"method": "POST", "path": "/w/*", "body": {"ok": true}}]' >"$T/routes.json"
api_start "$T/routes.json"

serve_kill() { kill -9 "$SV_PID" 2>/dev/null; wait "$SV_PID" 2>/dev/null; SV_PID=; }
metric() { curl -s -H "Authorization: Bearer $TOKEN" "$SV/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# the users, each enabling every workflow: stored once, copied for each measurement
serve_start "$T/ten.app" "$T/base.state"
t0=$(date +%s%N)
python3 - "$SV" "$USERS" "$NWF" <<'PY' || exit 1
import http.client, json, os, sys, threading, urllib.parse
base, users, nwf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = urllib.parse.urlparse(base)
h = {"Authorization": "Bearer " + os.environ["TOKEN"]}
errors = []
def work(k, threads):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    for i in range(k, users, threads):
        reqs = [("/api/users/u%d" % i, "{}")] + [("/api/users/u%d/workflows/w%d" % (i, w), '{"settings": {}}') for w in range(nwf)]
        for path, body in reqs:
            c.request("PUT", path, body, h)
            r = c.getresponse(); r.read()
            if r.status not in (200, 201):
                errors.append("%s: %d" % (path, r.status)); return
ts = [threading.Thread(target=work, args=(k, 8)) for k in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
if errors: sys.exit("storing users: " + "; ".join(errors[:3]))
PY
t1=$(date +%s%N)
serve_kill
printf '%-62s %10d users  (%d activations each, through /api, in %.1f s)\n' "users stored" "$USERS" "$NWF" \
    "$(echo "($t1 - $t0) / 1000000000" | bc -l)"

cat >"$T/event.lua" <<LUA
-- one event per request, each for the next user
local n = 0
wrk.method = "POST"
wrk.body = '{"id": "b1", "n": 1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
request = function()
  n = n + 1
  wrk.headers["X-Flow-User"] = "u" .. (n % $USERS)
  return wrk.format()
end
LUA

# 1. accepts, each durable before its answer (--paused: the runs stay queued)
accept_bench() {    # accept_bench BIN RUNS-PER-ACCEPT LABEL: sets RPS
    local bin=$1 per=$2 label=$3
    rm -rf "$T/acc.state"; cp -a "$T/base.state" "$T/acc.state"
    serve_start "$bin" "$T/acc.state" --paused
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$T/event.lua" "$SV/events/bench.event" >"$T/wrk.out" 2>&1
    local acc txn non2xx p50 p99
    acc=$(metric flow_runs_accepted_total); txn=$(metric flow_accept_commits_total)
    RPS=$(awk '/Requests\/sec/ { print $2 }' "$T/wrk.out")
    non2xx=$(awk '/Non-2xx/ { print $5 }' "$T/wrk.out")
    p50=$(awk '$1 == "50%" { print $2 }' "$T/wrk.out"); p99=$(awk '$1 == "99%" { print $2 }' "$T/wrk.out")
    printf '%-62s %10s/s  (= %.0f runs/s; p50 %s, p99 %s; %s runs in %s transactions; non-2xx: %s)\n' \
        "$label" "$RPS" "$(echo "${RPS:-0} * $per" | bc -l)" "$p50" "$p99" "$acc" "$txn" "${non2xx:-0}"
    serve_kill
}
accept_bench "$T/one.app" 1 "accepts: one event -> 1 workflow (a project of one)"
one=$RPS
accept_bench "$T/ten.app" "$NWF" "accepts: one event -> $NWF workflows ($NWF runs per accept)"
ten=$RPS
printf '%-62s %10.2fx  (target: at most 2x)\n' "cost of an accept starting $NWF runs / one starting 1" \
    "$(echo "${one:-0} / (${ten:-1} + 0.000001)" | bc -l)"

# 2. end-to-end: EVENTS events, every run to its end
e2e_bench() {       # e2e_bench BIN RUNS-PER-EVENT LABEL
    local bin=$1 per=$2 label=$3
    rm -rf "$T/e2e.state"; cp -a "$T/base.state" "$T/e2e.state"
    serve_start "$bin" "$T/e2e.state" --workers "$WORKERS"
    local want=$((EVENTS * per)) t0 t1 t2
    t0=$(date +%s%N)
    python3 - "$SV" "$EVENTS" "$USERS" <<'PY' || return 1
import http.client, json, os, sys, threading, urllib.parse
base, n, users = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = urllib.parse.urlparse(base)
def work(k, threads):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    for i in range(k, n, threads):
        c.request("POST", "/events/bench.event", json.dumps({"id": "e%d" % i, "n": i}),
                  {"Authorization": "Bearer " + os.environ["TOKEN"], "X-Flow-User": "u%d" % (i % users)})
        r = c.getresponse(); r.read()
        if r.status != 202: sys.exit("event %d: %d" % (i, r.status))
ts = [threading.Thread(target=work, args=(k, 16)) for k in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
    t1=$(date +%s%N)
    while [ "$(metric 'flow_runs_finished_total{status="succeeded"}')" -lt "$want" ]; do sleep 0.05; done
    t2=$(date +%s%N)
    printf '%-62s %10.0f/s  (%d runs in %.2f s; accepting them took %.2f s)\n' "$label" \
        "$(echo "$want / (($t2 - $t0) / 1000000000)" | bc -l)" "$want" "$(echo "($t2 - $t0) / 1000000000" | bc -l)" \
        "$(echo "($t1 - $t0) / 1000000000" | bc -l)"
    serve_kill
}
e2e_bench "$T/one.app" 1 "end-to-end runs: 1 workflow per event ($WORKERS workers)"
e2e_bench "$T/ten.app" "$NWF" "end-to-end runs: $NWF workflows per event ($WORKERS workers)"
