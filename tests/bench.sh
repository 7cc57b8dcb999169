#!/usr/bin/env bash
# tests/bench.sh — every benchmark in bench/ runs once at a tiny size
# (BENCH_SCALE=0.01), so that none can silently break: each must exit 0 and
# print figures. The figures themselves mean nothing at this size and are
# not looked at. Benchmarks that compare with peers (n8n, Node-RED) run
# only what is installed, as they do by hand.
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT" || exit 1
T=$(scratch)
make -s all bench-progs >/dev/null 2>"$T/make.err" || { fail "bench: build" "$(tail -3 "$T/make.err")"; exit 0; }
export BENCH_SCALE=0.01 BENCH_DIR=$T FLOWC=$ROOT/build/bin/flowc
for b in bench/*.sh bench/*.py; do
    case $b in bench/run.sh|bench/lib.sh|bench/benchlib.py|bench/gen_workflow.py) continue ;; esac
    name=$(basename "$b")
    case $b in
        *.py) timeout 600 python3 "$b" >"$T/$name.out" 2>&1 ;;
        *) timeout 600 bash "$b" >"$T/$name.out" 2>&1 ;;
    esac
    rc=$?
    if [ $rc -eq 0 ] && grep -q 'nothing to compare with' "$T/$name.out"; then
        # a clone without ../shared/peers beside it: there is no pipeline to run
        echo "SKIP: bench: $name: $(head -1 "$T/$name.out")"
    elif [ $rc -eq 0 ] && grep -qE '[0-9]' "$T/$name.out"; then
        pass "bench: $name runs at a tiny size and prints figures"
    else
        fail "bench: $name" "exit $rc: $(tail -3 "$T/$name.out" | tr '\n' ' ' | cut -c1-300)"
    fi
done
