#!/usr/bin/env bash
# tests/graph/run.sh — `flowc graph`: goldens (each *.flow against its
# *.dot, compared exactly), Graphviz accepts every output (goldens and the
# examples), --svg writes an SVG, and a file with errors exits 1.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT" || exit 2
tmp=$(scratch)

for f in tests/graph/*.flow; do
    name=graph/$(basename "$f" .flow)
    want=${f%.flow}.dot
    if ! "$FLOWC" graph "$f" >"$tmp/out.dot" 2>"$tmp/err"; then
        fail "$name" "flowc graph exited $?: $(head -3 "$tmp/err")"
        continue
    fi
    if sanitizer_report "$tmp/err"; then
        fail "$name" "sanitizer report: $(grep -m1 -E 'ERROR|runtime error' "$tmp/err")"
    elif [ ! -f "$want" ]; then
        fail "$name" "no golden $want (flowc graph $f > $want)"
    elif ! diff -u "$want" "$tmp/out.dot" >"$tmp/diff"; then
        fail "$name" "differs from $want: $(sed -n 3,12p "$tmp/diff" | tr '\n' '|')"
    else
        pass "$name"
    fi
done

if ! command -v dot >/dev/null; then
    fail "graph/dot-accepts" "graphviz's dot is not installed (scripts/install-deps.sh)"
else
    for f in tests/graph/*.flow examples/*.flow; do
        name=graph/dot-accepts/$(basename "$f" .flow)
        if "$FLOWC" graph "$f" >"$tmp/g.dot" 2>"$tmp/err" && dot -Tsvg "$tmp/g.dot" >"$tmp/g.svg" 2>"$tmp/dot.err" &&
            grep -q '<svg' "$tmp/g.svg"; then
            pass "$name"
        else
            fail "$name" "$(cat "$tmp/err" "$tmp/dot.err" | head -3 | tr '\n' '|')"
        fi
    done
    rm -f "$tmp/x.svg"
    if "$FLOWC" graph examples/demo.flow --svg "$tmp/x.svg" >"$tmp/out" 2>&1 && grep -q '<svg' "$tmp/x.svg" &&
        [ ! -s "$tmp/out" ]; then
        pass "graph/svg-option"
    else
        fail "graph/svg-option" "$(head -3 "$tmp/out" | tr '\n' '|')"
    fi
fi

# errors in the file: diagnostics, exit 1, nothing on stdout
printf 'workflow bad\ntrigger event "x" { id: string }\nlog trigger.idd\n' >"$tmp/bad.flow"
"$FLOWC" graph "$tmp/bad.flow" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && grep -q "error:" "$tmp/err"; then
    pass "graph/errors-exit-1"
else
    fail "graph/errors-exit-1" "exit $rc, stderr: $(head -2 "$tmp/err" | tr '\n' '|')"
fi
"$FLOWC" graph >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && pass "graph/usage-exit-2" || fail "graph/usage-exit-2" "exit $rc"
