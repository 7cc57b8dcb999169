#!/usr/bin/env bash
# bench/peer_bench.sh — flowc beside n8n and Node-RED on the peers' pipeline
# (../shared/peers: fetch 20 items over HTTP, map them in code, route each by
# price, tag it), measured in one script with the peers' own tools.
#
#   cold: one fresh process per execution (wall time, peak RSS of the tree)
#   warm: the engine started once, then N sequential HTTP-triggered runs
#
# The peers run when they are installed in build/peers (PEERS=install installs
# Node-RED, ~10 s; PEERS=all installs n8n too, ~3 min and 2.3 GB).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/../shared/peers
# a git worktree (../wt/NAME) finds it beside the main checkout
if [ ! -d "$SRC" ] && common=$(git -C "$ROOT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null); then
    SRC=$(dirname "$(dirname "$common")")/shared/peers
fi
W=$ROOT/build/peers
[ -d "$SRC" ] || { echo "peer_bench: $SRC not found: nothing to compare with"; exit 0; }
mkdir -p "$W"
cp -r "$SRC"/. "$W"/ 2>/dev/null || true
chmod -R u+w "$W"
# every side's data server is the project's C test server (flowtest-server),
# not python's http.server: the copy's start_data_server is replaced, so the
# peers' own scripts use it too
SERVER_BIN=${SERVER_BIN:-$ROOT/build/tests/flowtest-server}
if [ -x "$SERVER_BIN" ]; then
    cat >>"$W/peer-common.sh" <<EOF

# appended by bench/peer_bench.sh: the data server is flowtest-server
start_data_server() {
  make_data
  python3 -c 'import json, sys; print(json.dumps([{"method": "GET", "path": "/items.json", "body": json.load(open(sys.argv[1]))}]))' \\
      "\$DATA_DIR/items.json" >"\$WORK/data-routes.json"
  "$SERVER_BIN" --port "\$DATA_PORT" --routes "\$WORK/data-routes.json" --max-log 0 >"\$WORK/data-server.log" 2>&1 &
  DATA_SERVER_PID=\$!
  for _ in \$(seq 50); do
    curl -sf "http://127.0.0.1:\$DATA_PORT/items.json" >/dev/null 2>&1 && { log "data server (flowtest-server) pid=\$DATA_SERVER_PID on :\$DATA_PORT"; return 0; }
    sleep 0.1
  done
  log "data server did not come up"; return 1
}
EOF
fi
source "$ROOT/bench/lib.sh"
export PEERS_DIR=$W RUNS=${RUNS:-$(scaled 5)} WARM_N=${WARM_N:-$(scaled 50 2)}
# shellcheck source=/dev/null
source "$W/peer-common.sh"
set +e
trap stop_data_server EXIT
start_data_server
export DATA_URL=http://127.0.0.1:$DATA_PORT

FLOWC=$ROOT/build/bin/flowc
JOB=$WORK/peer_bench
t0=$(date +%s%N)
"$FLOWC" build "$W/peer_bench.flow" -o "$JOB"
echo "flowc build peer_bench.flow: $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# ---- cold -----------------------------------------------------------------------
: >"$WORK/flowc-cold.txt"
for i in $(seq 1 "$RUNS"); do
    rm -rf "$WORK/flowc-state-$i"
    measure flowc-cold -- "$JOB" run --state "$WORK/flowc-state-$i" >>"$WORK/flowc-cold.txt" 2>/dev/null
done
n=$("$JOB" run --state "$WORK/flowc-check" 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "flowc cold run (one process per execution, $n items out):"
summarize "$WORK/flowc-cold.txt"

# ---- warm: serve, request trigger ---------------------------------------------
sed 's/^trigger event "go" { }/trigger request/' "$W/peer_bench.flow" >"$WORK/peer_hook.flow"
"$FLOWC" build "$WORK/peer_hook.flow" -o "$WORK/peer_hook"
rm -rf "$WORK/hook-state" "$WORK/hook.port"
"$WORK/peer_hook" users set bench --state "$WORK/hook-state" 2>/dev/null     # runs belong to users
"$WORK/peer_hook" serve --listen 127.0.0.1:0 --port-file "$WORK/hook.port" --no-auth --workers 2 \
    --state "$WORK/hook-state" 2>"$WORK/hook.log" &
spid=$!
for _ in $(seq 1 100); do [ -s "$WORK/hook.port" ] && break; sleep 0.05; done
# the client's own share: the same client against flowtest-server answering
# the 20 items at once (a floor under every engine's figure), so that the
# server-side latency (median minus floor) can be compared, as issue 14 asks
cat >"$WORK/warm_client.py" <<'PY'
import json, os, statistics, sys, time, urllib.request
url, n, pid, method = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def rss_mb(p):
    for line in open(f"/proc/{p}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
def call():
    data = b"{}" if method == "POST" else None
    rq = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(rq, timeout=30) as r:
        return len(json.loads(r.read()))
for _ in range(3): call()
lat, peak = [], 0.0
for _ in range(n):
    t = time.perf_counter(); k = call(); lat.append(time.perf_counter() - t)
    if k != 20: sys.exit(f"unexpected item count {k}")
    peak = max(peak, rss_mb(pid))
lat.sort()
p95 = lat[max(0, int(round(0.95 * len(lat))) - 1)]
print(f"{statistics.median(lat)*1e3:.2f} {p95*1e3:.2f} {peak:.1f}")
PY
read -r floor _ _ < <(python3 "$WORK/warm_client.py" "$DATA_URL/items.json" "$WARM_N" "$DATA_SERVER_PID" GET)
echo "client floor (the same client, GET of the 20 items from flowtest-server): median $floor ms"
read -r fmed fp95 fpeak < <(python3 "$WORK/warm_client.py" "http://127.0.0.1:$(cat "$WORK/hook.port")/hooks/bench" \
                                    "$WARM_N" "$spid" POST)
fserver=$(python3 -c "print(f'{max(0.0, $fmed - $floor):.2f}')")
echo "flowc serve (warm, $WARM_N sequential POST /hooks): latency median $fmed ms, p95 $fp95 ms; server-side" \
     "(median - floor) $fserver ms; server RSS peak $fpeak MB (each run durable in LMDB)"
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null

# the stack's own floor: bench/latency_floor.c does the pipeline inline on
# libmicrohttpd's thread with libcurl, jansson and ONE durable LMDB commit,
# and nothing of flowc (no step records, no worker): no engine on this stack
# answers a durable request trigger faster than this
LFLOOR=$ROOT/build/bench/latency_floor
for mode in durable nosync; do
    [ -x "$LFLOOR" ] || break
    rm -rf "$WORK/floor-state" "$WORK/floor.port"
    "$LFLOOR" --data "$DATA_URL" --state "$WORK/floor-state" --port-file "$WORK/floor.port" \
        $([ $mode = nosync ] && echo --nosync) &
    lpid=$!
    for _ in $(seq 1 100); do [ -s "$WORK/floor.port" ] && break; sleep 0.05; done
    read -r lmed _ _ < <(python3 "$WORK/warm_client.py" "http://127.0.0.1:$(cat "$WORK/floor.port")/hooks/floor" \
                                "$WARM_N" "$lpid" POST)
    kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
    lserver=$(python3 -c "print(f'{max(0.0, $lmed - $floor):.2f}')")
    if [ $mode = durable ]; then fl_durable=$lserver; else fl_nosync=$lserver; fi
    echo "the stack's floor ($mode: libmicrohttpd + libcurl + jansson$([ $mode = durable ] && echo ' + one fsync'"'"'d LMDB commit')," \
         "inline, no engine): latency median $lmed ms; server-side $lserver ms"
done

# ---- the peers, when installed ---------------------------------------------------
case ${PEERS:-} in
    install) [ -x "$W/nodered/node_modules/.bin/node-red" ] || (cd "$W" && ./peer-nodered.sh install) ;;
    all) [ -x "$W/nodered/node_modules/.bin/node-red" ] || (cd "$W" && ./peer-nodered.sh install)
         [ -x "$W/n8n/node_modules/.bin/n8n" ] || (cd "$W" && ./peer-n8n.sh install) ;;
esac
stop_data_server     # the peer scripts start their own
if [ -x "$W/nodered/node_modules/.bin/node-red" ]; then
    (cd "$W" && ./peer-nodered.sh bench 2>/dev/null | tail -4)
    nr=$(cd "$W" && ./peer-warm.sh nodered 2>/dev/null | tail -2)
    echo "$nr"
    nrmed=$(sed -n 's/.*node-red warm: .*latency_ms median=\([0-9.]*\).*/\1/p' <<<"$nr")
    if [ -n "$nrmed" ] && [ -n "${fserver:-}" ]; then
        python3 -c "
nr, fl, fs = $nrmed, $floor, $fserver
ns = max(nr - fl, 1e-9)
print(f'server-side p50: flowc {fs:.2f} ms (durable), Node-RED {ns:.2f} ms (stores nothing): flowc/Node-RED = {fs / ns:.2f}')
fd, fn = '${fl_durable:-}', '${fl_nosync:-}'
if fd and fn:
    print(f'  the stack floor/Node-RED: {float(fd) / ns:.2f} with one durable commit, {float(fn) / ns:.2f} without (issue 14 asks flowc <= 0.33)')"
    fi
else
    echo "Node-RED not installed (PEERS=install bench/peer_bench.sh): its figures from ../shared/peers/README-peers.md:"
    echo "  cold 0.59-0.64 s, ~106 MB; warm latency 3.5 ms median / 8 ms p95, server 124-126 MB"
fi
if [ -x "$W/n8n/node_modules/.bin/n8n" ]; then
    (cd "$W" && ./peer-n8n.sh bench 2>/dev/null | tail -4 && ./peer-warm.sh n8n 2>/dev/null | tail -2)
else
    echo "n8n not installed (PEERS=all bench/peer_bench.sh): its figures from ../shared/peers/README-peers.md:"
    echo "  cold 3.0-3.2 s, ~470 MB; warm latency 29-30 ms median / 49-52 ms p95, server 626-634 MB"
fi
