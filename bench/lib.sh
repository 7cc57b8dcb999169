# bench/lib.sh — what the shell benchmarks share (sourced): the size scale,
# and the local API server and `serve` the serve benchmarks start.
# BENCH_SCALE (default 1) multiplies every size; `make test` runs each
# benchmark once at BENCH_SCALE=0.01 so that none can silently break.
BENCH_SCALE=${BENCH_SCALE:-1}
BENCH_BIN=${BENCH_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/bench}
# scaled N [LEAST]: N times the scale, rounded, never below LEAST (default 1).
scaled() {
    awk -v n="$1" -v s="$BENCH_SCALE" -v l="${2:-1}" 'BEGIN { v = int(n * s + 0.5); print (v < l ? l : v) }'
}

# api_start ROUTES: the project's C test server ($SERVER_BIN) on a free port
# of 127.0.0.1 with those routes; sets API_PID and exports API (its URL).
# Its output goes to $T/api.out.
api_start() {
    "$SERVER_BIN" --port 0 --routes "$1" --max-log 0 >"$T/api.out" 2>&1 &
    API_PID=$!
    for _ in $(seq 1 100); do grep -q '^PORT ' "$T/api.out" && break; sleep 0.05; done
    export API="http://127.0.0.1:$(sed -n 's/^PORT //p' "$T/api.out")"
}

# serve_start BIN STATE [options]: BIN serve on a free port with the token
# of $T/token; sets SV_PID and SV (its URL). Its log goes to $T/serve.log.
serve_start() {
    local bin=$1 state=$2; shift 2
    rm -f "$T/port"
    "$bin" serve --listen 127.0.0.1:0 --port-file "$T/port" --state "$state" --token-file "$T/token" "$@" 2>"$T/serve.log" &
    SV_PID=$!
    for _ in $(seq 1 200); do [ -s "$T/port" ] && break; sleep 0.05; done
    SV="http://127.0.0.1:$(cat "$T/port")"
}
