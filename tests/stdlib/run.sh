#!/usr/bin/env bash
# tests/stdlib/run.sh — every stdlib action through `flowc test` with mocks
# shaped like the public API's documented responses (tests/stdlib/*_test.flow).
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
echo '[{"path": "/echo/*", "responses": [{"status": 200, "body": {"$echo": true}}]}]' >"$tmp/routes.json"
start_server "$tmp/routes.json"
echo "{\"base\": \"$API\"}" >"$tmp/ev.json"
out=$(FLOW_SECRET_API_TOKEN=tok-Secret-123 FLOW_SECRET_API_PASSWORD='pa:ss word' \
      "$FLOWC" run tests/stdlib/http_auth.flow --event "$tmp/ev.json" --state "$tmp/auth.state" 2>"$tmp/auth.err"); rc=$?
# base64("svc:pa:ss word") = c3ZjOnBhOnNzIHdvcmQ=
seen=$(curl -s "$API/_ctl/log")
if [ $rc -eq 0 ] && json_eval "$seen" '[(r["method"], r["path"], r["headers"]["authorization"], r["headers"].get("accept"), r["body"]) for r in j]' \
    | grep -qF "[('GET', '/echo/bearer', 'Bearer tok-Secret-123', 'application/json', ''), ('POST', '/echo/bearer', 'Bearer tok-Secret-123', '*/*', '{\"n\":1}'), ('GET', '/echo/basic', 'Basic c3ZjOnBhOnNzIHdvcmQ=', 'application/json', ''), ('POST', '/echo/basic', 'Basic c3ZjOnBhOnNzIHdvcmQ=', '*/*', '{\"n\":2}')]"; then
    pass "stdlib/http bearer and basic helpers send RFC 6750 / RFC 7617 headers"
else
    fail "stdlib/http auth helpers" "rc=$rc seen=$(echo "$seen" | head -c 800) err=$(tail -3 "$tmp/auth.err")"
fi
# the echoed headers come back in the output: the credentials there are redacted
if echo "$out" | grep -q 'Bearer \[redacted\]' && echo "$out" | grep -q 'Basic \[redacted\]'; then
    pass "stdlib/http auth helpers: credentials echoed back are redacted in the output"
else
    fail "stdlib/http auth helpers: echoed credentials redacted" "$(echo "$out" | grep -i authorization)"
fi
if grep -qa -e tok-Secret-123 -e c3ZjOnBhOnNzIHdvcmQ= "$tmp/auth.err" || grep -rqa -e tok-Secret-123 -e c3ZjOnBhOnNzIHdvcmQ= "$tmp/auth.state"; then
    fail "stdlib/http auth helpers keep credentials out of logs and state" "found"
else
    pass "stdlib/http auth helpers keep credentials out of logs and state"
fi
stop_server
