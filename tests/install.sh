#!/usr/bin/env bash
# tests/install.sh — `make install DESTDIR=... PREFIX=...` stages a working
# flowc: only the public headers (and the operator and built-in tables
# flowrt.h includes), and the staged flowc builds and runs a job
# with its own runtime and stdlib (found relative to its executable).
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT" || exit 1
T=$(scratch)
if make -s install DESTDIR="$T/stage" PREFIX=/opt/flowc >"$T/make.out" 2>&1; then
    hdrs=$(cd "$T/stage/opt/flowc/include/flowc" && ls | LC_ALL=C sort | tr '\n' ' ')
    if [ "$hdrs" == "flow.h flow_builtins.def flow_ops.def flowrt.h rt_test.h " ]; then
        pass "install: DESTDIR stages only the headers generated code includes"
    else
        fail "install: public headers" "installed: $hdrs"
    fi
    cat >"$T/hello.flow" <<'FLOW'
workflow hello
import "slack"
trigger event "go" { name: string }
step greet = function (n: trigger.name) -> { text: string } {%
    return json_pack("{s:s+}", "text", "hello ", n);
%}
return greet.text
FLOW
    echo '{"name": "Ada"}' >"$T/ev.json"
    if "$T/stage/opt/flowc/bin/flowc" build "$T/hello.flow" -o "$T/hello" 2>"$T/build.err" \
       && [ "$("$T/hello" run --event "$T/ev.json" --state "$T/st" 2>/dev/null)" == '"hello Ada"' ]; then
        pass "install: the staged flowc builds a job (stdlib import, runtime archive) that runs"
    else
        fail "install: staged flowc" "$(head -3 "$T/build.err")"
    fi
else
    fail "install: make install DESTDIR" "$(tail -3 "$T/make.out")"
fi
