#!/usr/bin/env bash
# bench/run.sh — every benchmark, printed side by side. Figures, not tests.
# Every bench/*.sh and bench/*.py but the shared helpers; BENCH_SCALE
# scales their sizes (bench/lib.sh).
cd "$(dirname "$0")/.." || exit 2
for b in bench/*.sh bench/*.py; do
    case $b in bench/run.sh|bench/lib.sh|bench/benchlib.py|bench/gen_workflow.py) continue ;; esac
    echo "== $b"
    case $b in
        *.py) python3 "$b" ;;
        *) bash "$b" ;;
    esac
done
