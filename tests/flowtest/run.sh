#!/usr/bin/env bash
# tests/flowtest/run.sh — `flowc test`: every examples/*.flow test block
# passes; tests/flowtest/*.flow files pass, or, where NAME.out exists, fail
# with exactly that output (stdout and stderr; exit 1); --json, --junit,
# --filter, several files, a `tests for` file, and usage errors.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT" || exit 2
tmp=$(scratch)
# Tests must not see the process environment: a leaked value would change
# settings_env.flow's outcome.
export API=http://leaked.invalid MAIL=http://leaked.invalid FLOW_SECRET_API_KEY=leaked

# run_flowtest NAME FILE...: runs flowc test, leaves $tmp/out, $tmp/err, $rc
run_flowtest() {
    "$FLOWC" test "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if sanitizer_report "$tmp/err"; then
        echo "sanitizer: $(grep -m1 -E 'ERROR|runtime error' "$tmp/err")" >>"$tmp/out"
        rc=99
    fi
}

# Every example's tests pass; one PASS line per test block.
for f in examples/*.flow; do
    ex=$(basename "$f" .flow)
    run_flowtest "$f"
    if [ $rc -ne 0 ] || ! tail -1 "$tmp/out" | grep -qE '^[1-9][0-9]* passed, 0 failed$'; then
        fail "flowtest/examples/$ex" "exit $rc: $(grep -v '^PASS' "$tmp/out" "$tmp/err" | head -8 | tr '\n' '|')"
        continue
    fi
    while IFS= read -r line; do
        pass "flowtest/examples/$ex: ${line#PASS }"
    done < <(grep '^PASS ' "$tmp/out")
done

# tests/flowtest/*.flow: passing files, and failing ones against goldens
for f in tests/flowtest/*.flow; do
    name=flowtest/$(basename "$f" .flow)
    grep -qE '^test "' "$f" || continue          # a workflow whose tests live apart
    want=${f%.flow}.out
    "$FLOWC" test "$f" >"$tmp/all" 2>&1
    rc=$?
    if sanitizer_report "$tmp/all"; then
        fail "$name" "sanitizer report: $(grep -m1 -E 'ERROR|runtime error' "$tmp/all")"
    elif [ -f "$want" ]; then
        if [ $rc -ne 1 ]; then
            fail "$name" "expected exit 1, got $rc"
        elif ! diff -u "$want" "$tmp/all" >"$tmp/diff"; then
            fail "$name" "output differs from $want: $(sed -n 3,14p "$tmp/diff" | tr '\n' '|')"
        else
            pass "$name (fails as expected)"
        fi
    elif [ $rc -ne 0 ] || grep -q '^FAIL ' "$tmp/all" || ! tail -1 "$tmp/all" | grep -qE '^[1-9][0-9]* passed, 0 failed$'; then
        fail "$name" "exit $rc: $(grep -v '^PASS' "$tmp/all" | head -8 | tr '\n' '|')"
    else
        pass "$name ($(tail -1 "$tmp/all"))"
    fi
done

# A secret in an unmocked URL is redacted in -v's log and in --json too
# (the golden above covers the plain result)
"$FLOWC" test tests/flowtest/fail_unmocked_secret.flow -v >"$tmp/sv" 2>&1
"$FLOWC" test tests/flowtest/fail_unmocked_secret.flow --json >>"$tmp/sv" 2>&1
if grep -q 'k3y-never-shown' "$tmp/sv"; then
    fail "flowtest/unmocked-secret-redacted" "$(grep -m1 'k3y-never-shown' "$tmp/sv")"
elif ! grep -q 'unmocked.*keys/\[redacted\]/a1' "$tmp/sv"; then
    fail "flowtest/unmocked-secret-redacted" "no redacted unmocked request in: $(head -c 300 "$tmp/sv")"
else
    pass "flowtest/unmocked-secret-redacted: -v and --json name the URL with the secret redacted"
fi

# --json: one object per test, the summary on stderr
run_flowtest tests/flowtest/fail_expects.flow --json
if [ $rc -eq 1 ] && python3 - "$tmp/out" <<'PY' && grep -q '^1 passed, 3 failed$' "$tmp/err"; then
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(objs) == 4, len(objs)
assert [o["result"] for o in objs] == ["fail", "fail", "fail", "pass"], objs
f = objs[0]["failures"][0]
assert f["expect"] == 'output.grade == "A"' and f["left"] == "B" and f["right"] == "A" and f["line"] == 30, f
assert objs[1]["unmocked"] == ["POST http://api.test/notify"], objs[1]
assert objs[2]["run_status"] == "failed" and "404" in objs[2]["run_error"], objs[2]
PY
    pass "flowtest/json"
else
    fail "flowtest/json" "exit $rc: $(head -3 "$tmp/out" "$tmp/err" | tr '\n' '|')"
fi

# --junit: a well-formed report with a testsuite per file
run_flowtest tests/flowtest/fail_expects.flow tests/flowtest/greeter_tests.flow --junit "$tmp/junit.xml"
if [ $rc -eq 1 ] && python3 - "$tmp/junit.xml" <<'PY'; then
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites"
suites = root.findall("testsuite")
assert [s.get("tests") for s in suites] == ["4", "2"], [s.attrib for s in suites]
assert [s.get("failures") for s in suites] == ["3", "0"]
cases = root.findall(".//testcase")
assert len(cases) == 6 and len(root.findall(".//failure")) == 3
assert "expect failed: output.grade == \"A\"" in cases[0].find("failure").text
PY
    pass "flowtest/junit"
else
    fail "flowtest/junit" "exit $rc: $(head -c 300 "$tmp/junit.xml" 2>/dev/null | tr '\n' '|')"
fi

# --filter: only the tests whose name contains the text
run_flowtest examples/slack_new_lead.flow --filter "cold lead"
if [ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "PASS a cold lead is not announced
1 passed, 0 failed" ]; then
    pass "flowtest/filter"
else
    fail "flowtest/filter" "exit $rc: $(head -3 "$tmp/out" | tr '\n' '|')"
fi

# --verbose: the run's log lines under each result
run_flowtest tests/flowtest/fail_unmocked.flow --verbose --filter nobody
if [ $rc -eq 1 ] && grep -qx '    log:' "$tmp/out" && grep -q "step 'ping' succeeded" "$tmp/out" &&
    grep -q "warning: step 'audit' failed" "$tmp/out"; then
    pass "flowtest/verbose"
else
    fail "flowtest/verbose" "exit $rc: $(head -6 "$tmp/out" | tr '\n' '|')"
fi

# several files: a header per file, one summary
run_flowtest examples/demo.flow tests/flowtest/greeter_tests.flow
if [ $rc -eq 0 ] && grep -qx '# examples/demo.flow' "$tmp/out" && grep -qx '# tests/flowtest/greeter_tests.flow' "$tmp/out" &&
    [ "$(tail -1 "$tmp/out")" = "5 passed, 0 failed" ]; then
    pass "flowtest/several-files"
else
    fail "flowtest/several-files" "exit $rc: $(tail -3 "$tmp/out" | tr '\n' '|')"
fi

# a failing file among passing ones: exit 1, the others still run
run_flowtest tests/flowtest/compile_error.flow examples/demo.flow
if [ $rc -eq 1 ] && [ "$(tail -1 "$tmp/out")" = "3 passed, 0 failed" ] && grep -q "has no field 'm'" "$tmp/err"; then
    pass "flowtest/errors-then-more-files"
else
    fail "flowtest/errors-then-more-files" "exit $rc: $(tail -2 "$tmp/out" "$tmp/err" | tr '\n' '|')"
fi

# usage errors exit 2
for args in "" "--bogus examples/demo.flow" "--filter"; do
    # shellcheck disable=SC2086
    "$FLOWC" test $args >/dev/null 2>&1
    rc=$?
    [ $rc -eq 2 ] && pass "flowtest/usage '$args'" || fail "flowtest/usage '$args'" "exit $rc, want 2"
done
