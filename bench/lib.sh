# bench/lib.sh — what the shell benchmarks share (sourced): the size scale.
# BENCH_SCALE (default 1) multiplies every size; `make test` runs each
# benchmark once at BENCH_SCALE=0.01 so that none can silently break.
BENCH_SCALE=${BENCH_SCALE:-1}
BENCH_BIN=${BENCH_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/bench}
# scaled N [LEAST]: N times the scale, rounded, never below LEAST (default 1).
scaled() {
    awk -v n="$1" -v s="$BENCH_SCALE" -v l="${2:-1}" 'BEGIN { v = int(n * s + 0.5); print (v < l ? l : v) }'
}
