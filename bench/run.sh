#!/usr/bin/env bash
# bench/run.sh — every benchmark, printed side by side. Figures, not tests.
cd "$(dirname "$0")/.." || exit 2
for b in bench/check_bench.sh bench/lsp_bench.py bench/test_bench.sh bench/runtime_bench.py bench/fanout_bench.py bench/contact_sync_bench.py bench/history_bench.sh bench/serve_bench.sh bench/peer_bench.sh; do
    [ -e "$b" ] || continue
    echo "== $b"
    case $b in
        *.py) python3 "$b" ;;
        *) bash "$b" ;;
    esac
done
