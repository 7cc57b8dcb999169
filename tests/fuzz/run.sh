#!/usr/bin/env bash
# Fuzz findings as golden inputs, and the libFuzzer harnesses run briefly.
#
# 1. tests/fuzz/regress/*.flow and a few generated ones: `flowc check`
#    either accepts and then `flowc build` succeeds, or refuses with a
#    diagnostic; never a crash, a sanitizer report or a hang.
# 2. The large programs the checker accepts (long chains, wide literals,
#    deep nesting, control characters in keys, a 50,000-branch else-if on
#    one line) build AND run right against the test server.
# 3. Imports of what is not a regular file (/dev/zero, a FIFO, a
#    directory) are refused, quickly, saying why.
# 4. Each libFuzzer harness (tests/fuzz/*.c) runs for 10 seconds over its
#    committed seeds; any finding fails. Skipped with a FAIL when clang's
#    libFuzzer is missing (scripts/install-deps.sh installs it).
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT" || exit 1
T=$(scratch)
R=tests/fuzz/regress

# ---- 1. check, then build ----------------------------------------------
python3 - "$T" <<'PY'
import sys
d = sys.argv[1]
def w(name, text): open(f"{d}/{name}", "w").write(text)
head = 'workflow gen "generated"\ntrigger event "contact" { id: string, n: int }\n'
# one line, 50,000 branches: each emitted condition counted its column from
# the line's start, which made the build quadratic (over 120 s)
w("elif_50000.flow", head + "if trigger.n == 0 { return 0 }" +
  "".join(f" else if trigger.n == {i} {{ return {i * 2} }}" for i in range(1, 50000)) + "\nreturn -1\n")
# limits the checker states clearly (and the parser must not overflow the C stack)
w("parens_10000.flow", head + "return " + "(" * 10000 + "1" + ")" * 10000 + "\n")
w("chain_20000.flow", head + "return " + " + ".join(["trigger.n"] * 20000) + "\n")
w("wide_100000.flow", head + "return [" + ", ".join(["trigger.n"] * 100000) + "]\n")
PY
for f in "$R"/*.flow "$T"/*.flow; do
    name=$(basename "$f" .flow)
    timeout 300 "$FLOWC" check "$f" >"$T/$name.check" 2>&1; rc=$?
    if [ $rc -eq 0 ]; then
        timeout 300 "$FLOWC" build "$f" -o "$T/$name" >"$T/$name.build" 2>&1; brc=$?
        if [ $brc -eq 0 ] && ! sanitizer_report "$T/$name.build"; then
            pass "fuzz regress $name: checks and builds"
        else
            fail "fuzz regress $name" "checks clean but build exit $brc: $(head -3 "$T/$name.build")"
        fi
    elif [ $rc -eq 1 ] && grep -q "error:" "$T/$name.check" && ! sanitizer_report "$T/$name.check"; then
        pass "fuzz regress $name: refused with a diagnostic"
    else
        fail "fuzz regress $name" "check exit $rc: $(head -3 "$T/$name.check")"
    fi
done
for x in "parens_10000:nesting too deep (limit" "chain_20000:expression nested too deeply (limit"; do
    if grep -qF -- "${x#*:}" "$T/${x%%:*}.check"; then pass "fuzz regress ${x%%:*}: limit named"
    else fail "fuzz regress ${x%%:*}" "no '${x#*:}' in: $(head -2 "$T/${x%%:*}.check")"; fi
done

# ---- 2. the large programs run right -------------------------------------
cat >"$T/routes.json" <<'JSON'
[
 {"method": "POST", "path": "/sum", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/text", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/crm", "responses": [{"status": 201, "body": {"id": 42}}]},
 {"method": "POST", "path": "/one", "responses": [{"status": 200, "body": {"from": "one"}}]},
 {"method": "POST", "path": "/two", "responses": [{"status": 200, "body": {"from": "two"}}]}
]
JSON
start_server "$T/routes.json"
echo '{"id": "c-7", "n": 3}' >"$T/ev.json"

run_job() {   # run_job NAME: runs the built NAME on ev.json; output in $T/NAME.out
    [ -x "$T/$1" ] || { fail "fuzz run $1" "not built"; return 1; }
    "$T/$1" run --event "$T/ev.json" --state "$T/$1.state" >"$T/$1.out" 2>"$T/$1.err" && return 0
    fail "fuzz run $1" "exit $?: $(tail -2 "$T/$1.err")"
    return 1
}
expect_out() {   # expect_out NAME PYTHON-EXPR-OVER-j
    run_job "$1" || return
    if [ "$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(bool($2))" "$T/$1.out" 2>&1)" = True ]; then
        pass "fuzz run $1: output right"
    else
        fail "fuzz run $1" "output: $(head -c 300 "$T/$1.out")"
    fi
}
expect_out plus_84 'j == {"total": 252, "status": 200}'
expect_out interp_124 'j == "3." * 124'
expect_out object_125 'j == {f"k{i}": 3 + i for i in range(125)}'
expect_out list_250 'j == [3 * i for i in range(250)]'
expect_out not_160 'j == {"even": True, "odd": False}'
expect_out control_key 'j == {"tab\there": 3, "bell\x07": "c-7", "nl\nx": [3], "esc\x1b[0m": {"\x01": True}}'
expect_out json_body_120 'j == 42'
FLOW_SECRET_T=tok FLOW_A_B_BASE_URL=$API FLOW_A_BASE_URL=$API expect_out action_names 'j == [{"from": "one"}, {"from": "two"}]'
expect_out elif_50000 'j == 6'
# a float result past the double range fails the run at its line
if [ -x "$T/float_overflow" ]; then
    "$T/float_overflow" run --event "$T/ev.json" --state "$T/fo.state" >"$T/fo.out" 2>"$T/fo.err"; rc=$?
    if [ $rc -eq 1 ] && grep -q "line 6: float overflow in 1e+308 \* 3" "$T/fo.err"; then pass "fuzz run float_overflow: named"
    else fail "fuzz run float_overflow" "exit $rc: $(tail -1 "$T/fo.err")"; fi
else
    fail "fuzz run float_overflow" "not built"
fi
echo '{"id": "c-7", "n": 49999}' >"$T/ev.json"
expect_out elif_50000 'j == 99998'

# `flowc test` compiles the expectations too
if "$FLOWC" test "$R/test_block_big.flow" >"$T/tbig.out" 2>&1 && grep -q "^1 passed, 0 failed" "$T/tbig.out"; then
    pass "fuzz test_block_big: large expectations compile and pass"
else
    fail "fuzz test_block_big" "$(tail -3 "$T/tbig.out")"
fi

# what the server received, field by field
got=$(ctl_log /crm)
if python3 - "$got" <<'PY'
import json, sys
body = json.loads(json.loads(sys.argv[1])[0]["body"])
kinds = [lambda i: "c-7", lambda i: 3, lambda i: f"v{i}", lambda i: 3 * i, lambda i: f"c-7-{i}", lambda i: 3 > i]
want = {f"field_{i}": kinds[i % 6](i) for i in range(120)}
sys.exit(0 if body == want and list(body) == list(want) else 1)
PY
then pass "fuzz run json_body_120: the 120-field body arrives intact"
else fail "fuzz run json_body_120" "server got: $(echo "$got" | head -c 300)"; fi
got=$(ctl_log /sum)
if [ "$(json_eval "$got" 'json.loads(j[0]["body"])')" = "{'total': 252}" ]; then pass "fuzz run plus_84: body sum"
else fail "fuzz run plus_84 body" "$got"; fi
got=$(ctl_log /text)
if [ "$(json_eval "$got" 'json.loads(j[0]["body"])["s"] == "".join("c-7%d," % i for i in range(124))')" = True ]; then
    pass "fuzz run interp_124: body string"
else fail "fuzz run interp_124 body" "$(echo "$got" | head -c 300)"; fi
stop_server

# ---- 3. imports of what is not a regular file -----------------------------
mkdir -p "$T/imp/dir"
mkfifo "$T/imp/fifo"
for x in "/dev/zero:a character device" "./fifo:a FIFO" "./dir:a directory"; do
    printf 'workflow imp "x"\nimport "%s"\ntrigger event "e" { n: int }\nreturn 1\n' "${x%%:*}" >"$T/imp/main.flow"
    timeout 20 "$FLOWC" check "$T/imp/main.flow" >"$T/imp/out" 2>&1; rc=$?
    if [ $rc -eq 1 ] && grep -qF "not a regular file (${x#*:})" "$T/imp/out"; then
        pass "fuzz import ${x%%:*} refused"
    else
        fail "fuzz import ${x%%:*}" "exit $rc (124 = hung): $(head -2 "$T/imp/out")"
    fi
done
# the same as the main file
timeout 20 "$FLOWC" check "$T/imp/fifo" >"$T/imp/out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -qF "not a regular file (a FIFO)" "$T/imp/out"; then pass "fuzz main file FIFO refused"
else fail "fuzz main file FIFO" "exit $rc: $(head -2 "$T/imp/out")"; fi
# a file over the size limit (sparse: no disk used)
truncate -s 17M "$T/imp/huge.flow"
timeout 20 "$FLOWC" check "$T/imp/huge.flow" >"$T/imp/out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -qF "file too large" "$T/imp/out"; then pass "fuzz huge file refused"
else fail "fuzz huge file" "exit $rc: $(head -2 "$T/imp/out")"; fi

# ---- 4. the libFuzzer harnesses, briefly --------------------------------
if ! make -s --no-print-directory fuzz-build >"$T/fuzz-build.log" 2>&1; then
    fail "fuzz harnesses build" "$(grep -m3 -E 'error|cannot' "$T/fuzz-build.log")"
else
    for h in fuzz_frontend fuzz_validate; do
        if FUZZ_OUT="$T/corpus" FUZZ_QUICK=1 tests/fuzz/campaign.sh 10 "$h" >"$T/$h.sum" 2>&1; then
            pass "$h 10s clean ($(sed -n 's/.*clean: //p' "$T/$h.sum"))"
        else
            fail "$h" "$(head -5 "$T/$h.sum")"
        fi
    done
fi
