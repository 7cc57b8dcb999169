#!/usr/bin/env bash
# bench/history_bench.sh — operating a big state: fills a state directory
# with N runs (default 1,000,000) through the store API (history_fill.c,
# 2,000 runs per transaction), then times `history --limit 100` (plain,
# --status failed, --user, --since) and `show` of a run with a real job
# binary, and prints the state's size on disk per run. Prints figures; no
# assertions.
#
#   bench/history_bench.sh [N]
set -e
cd "$(dirname "$0")/.."
source bench/lib.sh
N=${1:-$(scaled 1000000 100)}
make -s all bench-progs >/dev/null
B=$(mktemp -d "${TMPDIR:-/tmp}/flowc-histbench.XXXXXX")
trap 'rm -rf "$B"' EXIT

cat >"$B/bench_ops.flow" <<'FLOW'
workflow bench_ops
settings { region: string = "eu" }
trigger event "go" { id: string, n: int }
step lookup = request GET "https://api.example.com/lookup/{{trigger.id}}"
step grade = function (n: trigger.n) -> { grade: string } {% return json_pack("{s:s}", "grade", "A"); %}
step push = request POST "https://api.example.com/push" json { id: trigger.id }
log "pushed {{trigger.id}}"
return { id: trigger.id, pushed: push.status }
FLOW
build/bin/flowc build "$B/bench_ops.flow" -o "$B/job"
VERSION=$("$B/job" info --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')

t0=$(date +%s%N)
"$BENCH_BIN/history_fill" "$B/state" "$N" "$VERSION"
t1=$(date +%s%N)
printf 'filled %d runs (4 records + 1 log line each) in %.1f s\n' "$N" "$(echo "($t1 - $t0) / 1000000000" | bc -l)"

# best of 5 wall times, in ms
timeit() {
    local best=999999 t s e
    for _ in 1 2 3 4 5; do
        s=$(date +%s%N)
        "$@" >/dev/null 2>&1
        e=$(date +%s%N)
        t=$(( (e - s) / 1000 ))
        [ $t -lt $best ] && best=$t
    done
    printf '%8.2f ms  %s\n' "$(echo "$best / 1000" | bc -l)" "${*#$B/}"
}
export FLOW_STATE_DIR=$B/state
ID=$("$B/job" history --limit 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
MID=$("$B/job" history --user u42 --since 2000-01-01 --limit 1000 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
timeit "$B/job" info
timeit "$B/job" history --limit 100
timeit "$B/job" history --limit 100 --json
timeit "$B/job" history --status failed --limit 100
timeit "$B/job" history --user u42 --limit 100
timeit "$B/job" history --user u42 --status failed --limit 100
timeit "$B/job" history --since 2h --limit 100
timeit "$B/job" show "$ID"
timeit "$B/job" show "$MID" --json
size=$(stat -c %s "$B/state/data.mdb")
used=$(du -k "$B/state/data.mdb" | cut -f1)
printf 'state: data.mdb %.1f MiB (%.1f MiB on disk): %.0f bytes per run\n' "$(echo "$size / 1048576" | bc -l)" \
    "$(echo "$used / 1024" | bc -l)" "$(echo "$used * 1024 / $N" | bc -l)"
