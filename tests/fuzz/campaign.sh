#!/usr/bin/env bash
# tests/fuzz/campaign.sh — runs the libFuzzer harnesses (built by
# `make fuzz-build` into build-fuzz/), one at a time with one job each.
#
#   campaign.sh SECONDS [HARNESS...]   fuzz each harness for SECONDS
#   campaign.sh --merge [HARNESS...]   minimise what campaigns found into
#                                      the committed seeds (tests/fuzz/corpus)
#
# HARNESS is fuzz_frontend or fuzz_validate (default: both). Seeds are the
# committed corpus tests/fuzz/corpus/NAME plus, for the front end, every
# .flow file of the repository; new inputs go to build-fuzz/corpus/NAME,
# findings to build-fuzz/crash-NAME-*, the log to build-fuzz/NAME.log. The
# last line per harness sums the run up (execs, coverage, duration).
# FUZZ_OUT=DIR puts the new inputs, findings and logs under DIR instead
# (tests/fuzz/run.sh does, to leave a campaign's alone); FUZZ_QUICK=1 seeds
# from the committed corpus alone (it covers the repository's files), so
# that a short run spends its time fuzzing rather than loading seeds.
# Exit status: 0 clean, 1 a harness found something.
set -u
cd "$(dirname "$0")/../.." || exit 2
FO=build-fuzz
OUT=${FUZZ_OUT:-$FO}
merge=0
if [ "${1:-}" = "--merge" ]; then merge=1; shift; secs=0; else secs=${1:-60}; shift || true; fi
targets=${*:-fuzz_frontend fuzz_validate}

# seed_dirs NAME: the read-only seed directories of a harness.
seed_dirs() {
    local name=${1#fuzz_}
    if [ "$name" = frontend ] && [ -z "${FUZZ_QUICK:-}" ]; then
        local d=$OUT/seeds/frontend
        rm -rf "$d" && mkdir -p "$d"
        local i=0
        for f in examples/*.flow stdlib/*.flow tests/*/*.flow tests/*/*/*.flow; do
            [ -f "$f" ] || continue
            [ "$(stat -c %s "$f")" -le 16384 ] || continue
            cp "$f" "$d/$i.flow"; i=$((i + 1))
        done
        echo "tests/fuzz/corpus/frontend $d"
    else
        echo "tests/fuzz/corpus/$name"
    fi
}

rc=0
for t in $targets; do
    name=${t#fuzz_}
    bin=$FO/fuzz_$name
    [ -x "$bin" ] || { echo "campaign: $bin is not built (make fuzz-build)" >&2; exit 2; }
    dict=tests/fuzz/$name.dict
    maxlen=16384; [ "$name" = validate ] && maxlen=8192
    mkdir -p "$OUT/corpus/$name" "tests/fuzz/corpus/$name"
    # shellcheck disable=SC2046
    if [ $merge = 1 ]; then
        # the greedy set cover of edges (not hit counts) keeps the committed
        # seeds to a few hundred files
        "$bin" -set_cover_merge=1 -use_counters=0 -max_len=$maxlen "tests/fuzz/corpus/$name" "$OUT/corpus/$name" \
            >"$OUT/fuzz_$name.merge.log" 2>&1
        echo "merged fuzz_$name: $(ls "tests/fuzz/corpus/$name" | wc -l) files in tests/fuzz/corpus/$name"
        continue
    fi
    start=$(date +%s)
    "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=3072 -max_len=$maxlen -print_final_stats=1 \
        -dict="$dict" -artifact_prefix="$OUT/crash-$name-" "$OUT/corpus/$name" $(seed_dirs "$t") \
        >"$OUT/fuzz_$name.log" 2>&1
    r=$?
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/fuzz_$name.log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$OUT/fuzz_$name.log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    if [ $r -eq 0 ]; then
        echo "fuzz_$name: clean: ${took}s, ${execs:-?} execs, cov ${cov:-?} edges, ft ${ft:-?}, corpus ${corp:-?}"
    else
        rc=1
        echo "fuzz_$name: FOUND something after ${took}s (exit $r): see $OUT/fuzz_$name.log"
        grep -E 'ERROR|SUMMARY|Test unit written|abort|runtime error|refuses|none printed' "$OUT/fuzz_$name.log" | head -8
    fi
done
exit $rc
