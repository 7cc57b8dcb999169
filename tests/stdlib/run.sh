#!/usr/bin/env bash
# tests/stdlib/run.sh — every stdlib action through `flowc test` with mocks
# shaped like the public API's documented responses (tests/stdlib/*_test.flow),
# and the end-to-end cases of tests/stdlib/cases against the test server.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT" || exit 2
tmp=$(scratch)
for f in tests/stdlib/*_test.flow; do
    name=stdlib/$(basename "$f" .flow)
    "$FLOWC" test "$f" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if sanitizer_report "$tmp/err"; then
        fail "$name" "sanitizer: $(grep -m1 -E 'ERROR|runtime error' "$tmp/err")"
    elif [ $rc -ne 0 ] || ! tail -1 "$tmp/out" | grep -qE '^[1-9][0-9]* passed, 0 failed$'; then
        fail "$name" "exit $rc: $(grep -v '^PASS' "$tmp/out" "$tmp/err" | head -8 | tr '\n' '|')"
    else
        pass "$name"
    fi
done

# ---- the http auth helpers: the headers and bodies as the server saw them
# (tests/stdlib/cases, run by the end-to-end driver: docs/testing.md)
bash "$ROOT/tests/e2e/run.sh" "$ROOT/tests/stdlib/cases"
