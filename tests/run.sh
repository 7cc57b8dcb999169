#!/usr/bin/env bash
# tests/run.sh — runs every test group and ends with "N passed, N failed".
# Groups are the tests/*.sh scripts (and tests/*/run.sh); each prints one
# line per test: "PASS: name" or "FAIL: name: why".
cd "$(dirname "$0")/.." || exit 2
log=$(mktemp)
groups=$(ls tests/*.sh tests/*/run.sh 2>/dev/null | grep -v '^tests/run.sh$' | sort)
for g in $groups; do
    echo "== $g"
    bash "$g" 2>&1 | tee -a "$log"
done
passed=$(grep -c '^PASS: ' "$log")
failed=$(grep -c '^FAIL: ' "$log")
if [ "$failed" -gt 0 ]; then
    echo
    echo "Failures:"
    grep '^FAIL: ' "$log" | cut -c1-300
fi
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
