# tests/lib/common.sh — helpers shared by the test scripts (sourced).
# Each test prints one line "PASS: name" or "FAIL: name: why"; tests/run.sh
# counts them.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FLOWC=${FLOWC:-$ROOT/build-san/bin/flowc}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }

# A fresh scratch directory, removed at exit.
scratch() {
    local d
    d=$(mktemp -d "${TMPDIR:-/tmp}/flowc-test.XXXXXX")
    SCRATCH_DIRS="${SCRATCH_DIRS:-} $d"
    trap 'rm -rf $SCRATCH_DIRS' EXIT
    echo "$d"
}

# True when output shows a sanitizer report.
sanitizer_report() {
    grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1"
}
