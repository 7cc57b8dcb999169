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
python3 - "http://127.0.0.1:$(cat "$WORK/hook.port")/hooks/bench" "$WARM_N" "$spid" <<'PY'
import json, os, statistics, sys, time, urllib.request
url, n, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def rss_mb(p):
    for line in open(f"/proc/{p}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
def call():
    rq = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
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
print(f"flowc serve (warm, {n} sequential POST /hooks): latency median {statistics.median(lat)*1e3:.1f} ms, "
      f"p95 {p95*1e3:.1f} ms; server RSS peak {peak:.1f} MB (each run durable in LMDB)")
PY
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null

# ---- the peers, when installed ---------------------------------------------------
case ${PEERS:-} in
    install) [ -x "$W/nodered/node_modules/.bin/node-red" ] || (cd "$W" && ./peer-nodered.sh install) ;;
    all) [ -x "$W/nodered/node_modules/.bin/node-red" ] || (cd "$W" && ./peer-nodered.sh install)
         [ -x "$W/n8n/node_modules/.bin/n8n" ] || (cd "$W" && ./peer-n8n.sh install) ;;
esac
stop_data_server     # the peer scripts start their own
if [ -x "$W/nodered/node_modules/.bin/node-red" ]; then
    (cd "$W" && ./peer-nodered.sh bench 2>/dev/null | tail -4 && ./peer-warm.sh nodered 2>/dev/null | tail -2)
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
