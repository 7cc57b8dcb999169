#!/usr/bin/env bash
# Golden tests of `flowc check`: tests/check/ok/*.flow must check clean;
# tests/check/err/NAME.flow must print exactly NAME.err on stderr and exit 1.
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

for f in tests/check/ok/*.flow tests/parse/*.flow; do
    [ -e "$f" ] || continue
    out=$("$FLOWC" check "$f" 2>&1); rc=$?
    if [ $rc -eq 0 ] && [ -z "$out" ]; then
        pass "check ok $f"
    else
        fail "check ok $f" "exit $rc: $(echo "$out" | head -5)"
    fi
done

for f in tests/check/err/*.flow; do
    [ -e "$f" ] || continue
    want="${f%.flow}.err"
    if [ ! -f "$want" ]; then fail "check err $f" "missing $want"; continue; fi
    got=$("$FLOWC" check "$f" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 1 ]; then
        fail "check err $f" "exit $rc, want 1"
    elif [ "$got" != "$(cat "$want")" ]; then
        fail "check err $f" "diagnostics differ:
$(diff <(echo "$got") "$want" | head -20)"
    else
        pass "check err $f"
    fi
done

# --dump-ast goldens: tests/parse/NAME.flow with NAME.ast
for f in tests/parse/*.flow; do
    [ -e "$f" ] || continue
    want="${f%.flow}.ast"
    [ -f "$want" ] || continue
    got=$("$FLOWC" check --dump-ast "$f" 2>/dev/null)
    if [ "$got" == "$(cat "$want")" ]; then
        pass "dump-ast $f"
    else
        fail "dump-ast $f" "$(diff <(echo "$got") "$want" | head -20)"
    fi
done

# Every cron form the docs promise checks clean (tests/serve/cron_test.c
# fires the same list through the runtime's parser).
T=$(mktemp -d)
while IFS='|' read -r expr zone _; do
    expr=$(echo "$expr" | sed 's/^ *//; s/ *$//'); zone=$(echo "$zone" | sed 's/^ *//; s/ *$//')
    case $expr in ''|'#'*) continue ;; esac
    printf 'workflow cron_form\ntrigger schedule "%s" "%s"\nlog trigger.time\n' "$expr" "$zone" >"$T/c.flow"
    out=$("$FLOWC" check "$T/c.flow" 2>&1); rc=$?
    if [ $rc -eq 0 ] && [ -z "$out" ]; then pass "check cron form '$expr' ($zone)"
    else fail "check cron form '$expr' ($zone)" "exit $rc: $(echo "$out" | head -3)"; fi
done <tests/check/cron_forms.txt
rm -rf "$T"

# Every example checks clean.
for f in examples/*.flow; do
    [ -e "$f" ] || continue
    out=$("$FLOWC" check "$f" 2>&1); rc=$?
    if [ $rc -eq 0 ]; then pass "check example $f"; else fail "check example $f" "$(echo "$out" | head -5)"; fi
done

# A library file checks clean (above), but is not a workflow to build.
T=$(mktemp -d)
out=$("$FLOWC" build tests/check/ok/library_only.flow -o "$T/lib" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "missing \`workflow NAME\` declaration" && [ ! -e "$T/lib" ]; then
    pass "build of a library file is refused"
else
    fail "build of a library file is refused" "exit $rc: $(echo "$out" | head -3)"
fi
rm -rf "$T"

# The checker tells the emitter which request steps' output headers no
# expression reads (rt_step_desc.headers_unread: kept as text, no object).
T=$(mktemp -d)
"$FLOWC" build tests/e2e/cases/headers/flow.flow --emit-c "$T/headers.c" -o /dev/null 2>/dev/null
unread=$(python3 -c 'import re,sys; t=open(sys.argv[1]).read(); print([m.group(1) for m in re.finditer(r"D_(\w+) = \{[^}]*?\.headers_unread = true", t, re.S)])' "$T/headers.c" 2>&1)
[ "$unread" == "['plain']" ] && pass "emitted C: only the steps whose headers nobody reads are headers_unread" ||
    fail "emitted C: headers_unread" "$unread"
rm -rf "$T"

# An option that takes a value, given last without one, is named as such
# (exit 2), not reported as an unknown option.
for args in "build examples/demo.flow -o|-o needs a value" "build examples/demo.flow --emit-c|--emit-c needs a value" \
            "graph examples/demo.flow --svg|--svg needs a value" "test examples/demo.flow --filter|--filter needs a value" \
            "test examples/demo.flow --junit|--junit needs a value"; do
    cmd=${args%%|*}; want=${args#*|}
    out=$("$FLOWC" $cmd 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 2 ] && echo "$out" | head -1 | grep -qF -- "$want"; then pass "flowc $cmd: '$want'"
    else fail "flowc $cmd: '$want'" "exit $rc: $(echo "$out" | head -2)"; fi
done
