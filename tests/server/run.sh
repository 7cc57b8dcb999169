#!/usr/bin/env bash
# tests/server/run.sh — checks the test API server itself with curl:
# response sequences, the log, in-flight counts, pagination, large and cut
# bodies, the control API and shutdown. Prints PASS/FAIL lines and
# "N passed, N failed". SERVER_BIN overrides build/tests/flowtest-server.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SERVER_BIN=${SERVER_BIN:-$ROOT/build/tests/flowtest-server}
T=$(mktemp -d "${TMPDIR:-/tmp}/flowtest-selftest.XXXXXX")
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"' EXIT
passed=0 failed=0
ok()  { echo "PASS: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1" "${3:-}"; fi; }
py() { python3 -c "import json,sys; j=json.loads(sys.stdin.read()); $1"; }

if [ ! -x "$SERVER_BIN" ]; then
    "$ROOT/tests/server/build.sh" || { echo "0 passed, 1 failed"; exit 1; }
fi

cat >"$T/routes.json" <<'JSON'
[
 {"method": "GET", "path": "/flaky", "responses": [
    {"status": 503, "headers": {"Retry-After": 1}}, {"status": 503}, {"status": 200, "body": {"v": 1}}]},
 {"method": "POST", "path": "/echo*", "responses": [{"status": 201, "body": {"$echo": true}}]},
 {"method": "GET", "path": "/slow", "hold_ms": 1000, "responses": [{"status": 200, "body": {}}]},
 {"method": "GET", "path": "/cursor", "paginate": {"style": "cursor", "total": 25, "per_page": 10}},
 {"method": "GET", "path": "/pages", "paginate": {"style": "page", "total": 20, "per_page": 10, "items_field": "data"}},
 {"method": "GET", "path": "/linked", "paginate": {"style": "link", "total": 7, "per_page": 3}},
 {"method": "GET", "path": "/big", "responses": [{"body_bytes": 1048576}]},
 {"method": "GET", "path": "/cut", "responses": [{"body_bytes": 100000, "close_mid_response": true}]},
 {"method": "GET", "path": "/text", "responses": [{"body": "this is not json"}]}
]
JSON

"$SERVER_BIN" --port 0 --routes "$T/routes.json" --port-file "$T/port" --log "$T/requests.jsonl" >"$T/out" 2>"$T/err" &
PID=$!
for _ in $(seq 1 100); do grep -q '^PORT ' "$T/out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n '1s/^PORT //p' "$T/out")
A="http://127.0.0.1:$port"
check "prints PORT first and writes --port-file" '[ -n "$port" ] && [ "$(cat "$T/port" 2>/dev/null)" == "$port" ]' "out=$(cat "$T/out") err=$(cat "$T/err")"

# ---- a 503, 503, 200 sequence, then the last repeats ----------------------
codes=$(for _ in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' "$A/flaky?x=a%20b"; done)
check "503, 503, 200 then the last repeats" '[ "$codes" == "503 503 200 200 " ]' "$codes"
ra=$( (curl -s -X POST "$A/_ctl/reset" >/dev/null; curl -si "$A/flaky") | tr -d '\r' | sed -n 's/^Retry-After: //Ip')
check "reset restarts sequences; headers are sent" '[ "$ra" == "1" ]' "Retry-After='$ra'"
curl -s -o /dev/null "$A/flaky"; curl -s -o /dev/null "$A/flaky?x=a%20b"

# ---- the log -------------------------------------------------------------
log=$(curl -s "$A/_ctl/log?path=/flaky")
r=$(echo "$log" | py 'print([e["status"] for e in j], j[2]["query"], j[0]["headers"]["user-agent"][:4], all(isinstance(e["time_ms"], int) for e in j))')
check "log: statuses in order, raw query, lower-case headers, times" '[ "$r" == "[503, 503, 200] x=a%20b curl True" ]' "$r"
curl -s -o /dev/null -X POST -H 'X-Trace: t1' -H 'Content-Type: application/json' --data-binary '{"a": 1}' "$A/echo/one?k=v"
r=$(curl -s "$A/_ctl/log?path=/echo*" | py 'e=j[0]; print(len(j), e["method"], e["path"], e["query"], e["headers"]["x-trace"], e["body"])')
check "log: method, path, query, headers and body of a POST" '[ "$r" == "1 POST /echo/one k=v t1 {\"a\": 1}" ]' "$r"
check "--log FILE gets one JSON line per request" '[ "$(wc -l <"$T/requests.jsonl")" -ge 8 ] && tail -1 "$T/requests.jsonl" | py "print(j[\"path\"])" | grep -q /echo/one'

# ---- echo, text bodies, unscripted paths ---------------------------------
r=$(curl -s -w ' %{http_code}' -X POST -H 'X-Trace: t2' --data-binary 'hi' "$A/echo/two?q=1" | sed 's/ \([0-9]*\)$/\n\1/' | { read -r body; read -r code; echo "$body" | py "print(j['method'], j['path'], j['query'], j['headers']['x-trace'], j['body'], $code)"; })
check "\$echo describes the request" '[ "$r" == "POST /echo/two q=1 t2 hi 201" ]' "$r"
check "a string body is sent as text" '[ "$(curl -s "$A/text")" == "this is not json" ]'
r=$(curl -s -w ' %{http_code}' "$A/nowhere")
check "unscripted paths answer 404 with a JSON error" 'echo "$r" | grep -q "\"error\".* 404$"' "$r"

# ---- in-flight counts with hold_ms ---------------------------------------
start=$(date +%s%N)
pids=()
for _ in $(seq 1 8); do curl -s -o /dev/null "$A/slow" & pids+=($!); done
sleep 0.5
mid=$(curl -s "$A/_ctl/stats" | py 'print(j["paths"]["/slow"]["in_flight"])')
wait "${pids[@]}"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
r=$(curl -s "$A/_ctl/stats" | py 'p=j["paths"]["/slow"]; print(p["count"], p["max_in_flight"], p["in_flight"], j["routes"]["GET /slow"]["max_in_flight"], j["overall"]["max_in_flight"] >= 8)')
check "8 parallel held requests are all in flight at once" '[ "$mid" == 8 ] && [ "$r" == "8 8 0 8 True" ]' "mid=$mid stats=$r"
# one by one would take 8 s; the bound leaves room for a loaded machine (curl
# processes start slowly there), max_in_flight above shows the concurrency
check "held requests are held concurrently, not one by one" '[ $ms -ge 1000 ] && [ $ms -lt 6000 ]' "took ${ms}ms"
check "a held request is logged before it is answered" '[ "$(curl -s "$A/_ctl/log?path=/slow" | py "print(len(j))")" == 8 ]'

# ---- pagination ----------------------------------------------------------
ids=() cur=
for _ in $(seq 1 10); do
    page=$(curl -s "$A/cursor${cur:+?cursor=$cur}")
    ids+=($(echo "$page" | py 'print(" ".join(str(i["id"]) for i in j["items"]))'))
    cur=$(echo "$page" | py 'print(j["next"] or "")')
    [ -z "$cur" ] && break
done
check "cursor pagination: next until null yields ids 1..25" '[ "${ids[*]}" == "$(seq -s " " 1 25)" ]' "${ids[*]}"
ids=() n=0
for p in $(seq 1 10); do
    got=$(curl -s "$A/pages?page=$p" | py 'print(" ".join(str(i["id"]) for i in j["data"]))')
    n=$p
    [ -z "$got" ] && break
    ids+=($got)
done
check "page pagination: ?page=1.. until an empty page" '[ "${ids[*]}" == "$(seq -s " " 1 20)" ] && [ $n == 3 ]' "pages=$n ${ids[*]}"
ids=() url="$A/linked"
for _ in $(seq 1 10); do
    resp=$(curl -si "$url" | tr -d '\r')
    ids+=($(echo "$resp" | sed -n '/^{/p' | py 'print(" ".join(str(i["id"]) for i in j["items"]))'))
    url=$(echo "$resp" | sed -n 's/^Link: <\(.*\)>; rel="next"$/\1/Ip')
    [ -z "$url" ] && break
done
check "link pagination: Link rel=next until none" '[ "${ids[*]}" == "$(seq -s " " 1 7)" ]' "${ids[*]}"

# ---- large and cut bodies ------------------------------------------------
r=$(curl -s "$A/big" | python3 -c 'import json,sys; d=sys.stdin.buffer.read(); print(len(d), len(json.loads(d)))')
check "body_bytes gives an N-byte JSON string" '[ "$r" == "1048576 1048574" ]' "$r"
curl -s -o "$T/cut" "$A/cut"; rc=$?
check "close_mid_response drops the connection after half the body" '[ $rc -ne 0 ] && [ "$(wc -c <"$T/cut")" == 50000 ]' "curl rc=$rc bytes=$(wc -c <"$T/cut")"

# ---- the control API -----------------------------------------------------
r=$(curl -s -X POST --data-binary '{"method": "GET", "path": "/text", "responses": [{"status": 202, "body": [1]}]}' "$A/_ctl/routes")
check "POST /_ctl/routes replaces a route" '[ "$(curl -s -w " %{http_code}" "$A/text")" == "[1] 202" ]' "$r"
curl -s -o /dev/null -X POST --data-binary '[{"path": "/new/*", "responses": [{"status": 204}]}]' "$A/_ctl/routes"
check "POST /_ctl/routes adds a prefix route for any method" '[ "$(curl -s -o /dev/null -w "%{http_code}" -X PUT "$A/new/x/y")" == 204 ]'
curl -s -o /dev/null -X POST --data-binary '{"path": "/raw", "headers": {"X-Bad": {"hex": "41fffe"}}, "body": {}}' "$A/_ctl/routes"
r=$(curl -s -D - -o /dev/null "$A/raw" | grep -ai '^x-bad:' | od -An -tx1 | tr -d ' \n')
check "a header {\"hex\": ...} is sent as those bytes (not UTF-8)" '[ "$r" == "582d4261643a2041fffe0d0a" ]' "$r"
r=$(curl -s -w ' %{http_code}' -X POST --data-binary '{"path": "/raw", "headers": {"X-Bad": {"hex": "0d0a"}}}' "$A/_ctl/routes")
check "a header {\"hex\": ...} holding CR or LF is refused" 'echo "$r" | grep -q "CR or LF.* 400$"' "$r"
r=$(curl -s -w ' %{http_code}' -X POST --data-binary '{"path": "nope"}' "$A/_ctl/routes")
check "a bad route is refused with 400 and a reason" 'echo "$r" | grep -q "path.* 400$"' "$r"
curl -s -o /dev/null -X POST "$A/_ctl/reset"
r=$(curl -s "$A/_ctl/log"; curl -s "$A/_ctl/stats" | py 'print(j["overall"]["count"])')
check "POST /_ctl/reset clears the log and counters" '[ "$r" == "$(printf "[]\n0")" ]' "$r"

# ---- shutdown ------------------------------------------------------------
curl -s -o /dev/null -X POST --data-binary '{"method": "GET", "path": "/hang", "hold_ms": 60000}' "$A/_ctl/routes"
curl -s -o /dev/null "$A/hang" & hang=$!
sleep 0.3
start=$(date +%s%N)
kill -TERM $PID; wait $PID; rc=$?; PID=
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait $hang
check "SIGTERM with a held request exits 0 promptly" '[ $rc -eq 0 ] && [ $ms -lt 3000 ]' "rc=$rc ${ms}ms"
check "no sanitizer report" '! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T/err"' "$(head -5 "$T/err")"

echo '[{"path": "/x", "responses": {}}]' >"$T/bad.json"
"$SERVER_BIN" --routes "$T/bad.json" >/dev/null 2>"$T/bad.err"; rc=$?
check "a bad routes file exits 2 naming the problem" '[ $rc -eq 2 ] && grep -q "responses" "$T/bad.err"' "rc=$rc $(cat "$T/bad.err")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
