# tests/lib/common.sh — helpers shared by the test scripts (sourced).
# Each test prints one line "PASS: name" or "FAIL: name: why"; tests/run.sh
# counts them.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FLOWC=${FLOWC:-$ROOT/build-san/bin/flowc}
# The runtime under ASan/UBSan (make SAN=1 O=build-san), for tests that link
# it with gcc, and what a program linking the runtime needs besides it.
SAN_RTLIB=$ROOT/build-san/lib/libflowrt-san.a
RT_LIBS="-lcurl -lcrypto -ljansson -llmdb -lmicrohttpd -lpthread -lm -ldl"
SANFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }

# Scratch directories live under one root per test script, removed when the
# script exits.  scratch() runs in $(...) subshells, so it only creates.
SCRATCH_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/flowc-test.XXXXXX")
trap 'stop_server; rm -rf "$SCRATCH_ROOT"' EXIT
scratch() { mktemp -d "$SCRATCH_ROOT/s.XXXXXX"; }

# Debian's python3 (installed by scripts/install-deps.sh) first on PATH: a
# version manager's shim in front of it costs seconds per call on a loaded
# machine, which turned polling loops into timing failures.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
    _pybin=$SCRATCH_ROOT/bin; mkdir -p "$_pybin"
    ln -s /usr/bin/python3 "$_pybin/python3"
    export PATH="$_pybin:$PATH"
fi


# True when output shows a sanitizer report.
sanitizer_report() {
    grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1"
}

# ---- the test API server (tests/server) --------------------------------
SERVER_BIN=${SERVER_BIN:-$ROOT/build/tests/flowtest-server}

# start_server ROUTES_JSON_FILE [extra args]: sets API and SERVER_PID.
start_server() {
    local routes=$1; shift
    local out
    out=$(mktemp)
    "$SERVER_BIN" --port 0 --routes "$routes" "$@" >"$out" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        grep -q '^PORT ' "$out" && break
        sleep 0.05
    done
    API="http://127.0.0.1:$(sed -n 's/^PORT //p' "$out" | head -1)"
    export API
    rm -f "$out"
}

stop_server() {
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}

# ctl_routes JSON: add or replace routes at run time.
ctl_routes() { curl -s -o /dev/null -X POST --data-binary "$1" "$API/_ctl/routes"; }
ctl_reset() { curl -s -o /dev/null -X POST "$API/_ctl/reset"; }
# ctl_count PATH: how many requests the server saw for PATH.
ctl_count() {
    curl -s "$API/_ctl/log?path=$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
# ctl_log PATH: the recorded requests for PATH as JSON.
ctl_log() { curl -s "$API/_ctl/log?path=$1"; }

# json_get FILE-OR-TEXT EXPR: evaluate a python expression over parsed JSON `j`.
json_eval() { python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(($2))" "$1"; }
