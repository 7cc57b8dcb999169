#!/usr/bin/env bash
# tests/ops/run.sh — operating job binaries end to end: users and their
# settings/secrets, history, show, retry, version checks, durable waits
# across kill -9, --test-limits, Test Step, trigger enabled, prune and map
# growth. Real binaries built by flowc, against the test server.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/ops" || exit 1
T=$(scratch)
OUT=$T/all-output.txt      # every command's stdout and stderr, grepped for secrets at the end

build() {   # build NAME [SRC]: compiles SRC (default NAME.flow) to $T/NAME
    if "$FLOWC" build "${2:-$1.flow}" -o "$T/$1" 2>"$T/$1.build"; then return 0; fi
    fail "ops: build $1" "$(head -5 "$T/$1.build")"
    return 1
}
# q CMD...: runs a command, appending its output to $OUT; stdout on stdout.
q() { "$@" 2> >(tee -a "$OUT" >&2) | tee -a "$OUT"; return "${PIPESTATUS[0]}"; }
jq_() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

cat >"$T/routes.json" <<'JSON'
[
 {"method": "GET", "path": "/lookup/*", "responses": [{"status": 200, "body": {"$echo": true}}]},
 {"method": "POST", "path": "/audit", "responses": [{"status": 500, "body": {"error": "audit down"}}]},
 {"method": "POST", "path": "/push/eu", "responses": [{"status": 200, "body": {"ok": true}}]},
 {"method": "POST", "path": "/push/us", "responses": [{"status": 400, "body": {"error": "region us closed"}}]},
 {"method": "POST", "path": "/item", "responses": [{"status": 201, "body": {}}]},
 {"method": "POST", "path": "/after", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/before", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/later", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/welcome", "responses": [{"status": 200, "body": {}}]},
 {"method": "GET", "path": "/pages", "paginate": {"style": "cursor", "total": 100, "per_page": 10}}
]
JSON
start_server "$T/routes.json"
export FLOW_STATE_DIR=$T/state
unset FLOW_SECRET_API_KEY FLOW_SECRETS_KEY
A_SECRET=alice-secret-7f3a9c
B_SECRET=bob-secret-55e1d2
echo '{"region": "eu"}' >"$T/eu.json"
echo '{"region": "us", "limit": 5}' >"$T/us.json"
echo '{"id": "c1", "items": ["a", "b", "c"]}' >"$T/ev.json"

build sync || exit 0
J=$T/sync

# ---- users ------------------------------------------------------------------
echo '{"region": 5}' >"$T/bad_type.json"
echo '{"regoin": "eu"}' >"$T/bad_name.json"
echo '{"tag": "x"}' >"$T/no_region.json"
q "$J" users set carol --settings "$T/bad_type.json" >/dev/null 2>"$T/e1"; r1=$?
q "$J" users set carol --settings "$T/bad_name.json" >/dev/null 2>"$T/e3"; r3=$?
q "$J" users set carol --settings "$T/eu.json" --secret nope=1 >/dev/null 2>"$T/e4"; r4=$?
"$J" users show carol >/dev/null 2>&1; shown=$?
if [ $r1 -eq 2 ] && grep -q "setting 'region': expected string, got int 5" "$T/e1" \
   && [ $r3 -eq 2 ] && grep -q "unknown setting 'regoin'" "$T/e3" \
   && [ $r4 -eq 2 ] && grep -q "unknown secret 'nope'" "$T/e4" && [ $shown -ne 0 ]; then
    pass "ops: users set validates settings and secrets (exit 2, nothing stored)"
else
    fail "ops: users set validation" "rc=$r1/$r3/$r4 shown=$shown $(cat "$T/e1" "$T/e3" "$T/e4" | head -4)"
fi
# a user is connected before filling required settings (DESIGN: `trigger
# enabled` runs once they are filled); its runs are refused until then; the
# settings file may be a pipe (read once)
q "$J" users set carol --settings <(cat "$T/no_region.json") >/dev/null 2>"$T/e2"; r2=$?
q "$J" run --user carol --event "$T/ev.json" >/dev/null 2>"$T/e5"; r5=$?
q "$J" users set carol --settings <(cat "$T/eu.json") >/dev/null 2>"$T/e6"; r6=$?
if [ $r2 -eq 0 ] && grep -q "user carol cannot run yet: settings: 'region' is required" "$T/e2" \
   && [ $r5 -eq 2 ] && grep -q "'region' is required" "$T/e5" \
   && [ $r6 -eq 0 ] && ! grep -q "cannot run yet" "$T/e6" \
   && [ "$("$J" users show carol --json | jq_ 'j["settings"]')" == "{'tag': 'x', 'region': 'eu'}" ]; then
    pass "ops: users set stores a user whose required settings are still missing (warned, its runs refused until set); settings from a pipe"
else
    fail "ops: users set, required settings later" "rc=$r2/$r5/$r6 $(cat "$T/e2" "$T/e5" "$T/e6" | head -4)"
fi
q "$J" users remove carol >/dev/null 2>&1
echo -n "$B_SECRET" >"$T/bob.key"
q "$J" users set alice --settings "$T/eu.json" --secret "api_key=$A_SECRET" >/dev/null 2>&1; r1=$?
q "$J" users set bob --settings "$T/us.json" --secret "api_key=@$T/bob.key" >/dev/null 2>&1; r2=$?
list=$(q "$J" users list 2>&1)
show=$(q "$J" users show bob --json 2>&1)
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && echo "$list" | grep -q "alice .*api_key=<set>" \
   && [ "$(echo "$show" | jq_ 'j["settings"], j["secrets"]["api_key"], j["enabled"]')" == "{'region': 'us', 'limit': 5} <set> True" ]; then
    pass "ops: users set/list/show (secrets shown as <set>)"
else
    fail "ops: users set/list/show" "rc=$r1/$r2 list=$list show=$show"
fi
q "$J" users set erin --settings "$T/eu.json" >/dev/null 2>&1
q "$J" users disable erin >/dev/null 2>&1
q "$J" run --user erin --event "$T/ev.json" >/dev/null 2>"$T/e5"; r5=$?
q "$J" run --user nobody --event "$T/ev.json" >/dev/null 2>"$T/e6"; r6=$?
q "$J" users remove erin >/dev/null 2>&1
q "$J" users show erin >/dev/null 2>&1; r7=$?
if [ $r5 -eq 2 ] && grep -q "user 'erin' is disabled" "$T/e5" && [ $r6 -eq 2 ] && grep -q "unknown user 'nobody'" "$T/e6" \
   && [ $r7 -eq 2 ] && [ -z "$("$J" history --json | jq_ '[r for r in j if r.get("user") in ("erin", "nobody")] or ""')" ]; then
    pass "ops: disabled and unknown users are refused (exit 2, no run)"
else
    fail "ops: disabled/unknown users" "rc=$r5/$r6/$r7 $(cat "$T/e5" "$T/e6")"
fi

# ---- two users: one succeeds, one fails -----------------------------------------
out_a=$(q "$J" run --user alice --event "$T/ev.json" 2>"$T/run_a.err"); ra=$?
out_b=$(q "$J" run --user bob --event "$T/ev.json" 2>"$T/run_b.err"); rb=$?
lookup=$(ctl_log '/lookup/*')
if [ $ra -eq 0 ] && [ $rb -eq 1 ] && [ "$(echo "$out_a" | jq_ 'j["pushed"], j["items"], j["audit_ok"]')" == "200 3 False" ] \
   && [ "$(json_eval "$lookup" 'sorted((r["query"], r["headers"]["authorization"]) for r in j)')" == "[('region=eu', 'Bearer $A_SECRET'), ('region=us', 'Bearer $B_SECRET')]" ]; then
    pass "ops: run --user uses each user's stored settings and secrets"
else
    fail "ops: run --user" "ra=$ra rb=$rb out=$out_a lookup=$(echo "$lookup" | head -c 300)"
fi
hist=$(q "$J" history --json 2>&1)
fid=$(echo "$hist" | jq_ 'j[0]["id"]')
sid=$(echo "$hist" | jq_ 'j[1]["id"]')
if [ "$(echo "$hist" | jq_ '[(r["user"], r["status"], r.get("failed_step"), r["trigger"]["id"], r["duration_ms"] >= 0, "T" in r["started"]) for r in j]')" \
     == "[('bob', 'failed', 'push', 'c1', True, True), ('alice', 'succeeded', None, 'c1', True, True)]" ]; then
    pass "ops: history --json newest first with user, trigger, status, started, duration, failed step"
else
    fail "ops: history --json" "$hist"
fi
h_failed=$(q "$J" history --status failed --json | jq_ '[r["id"] for r in j]')
h_alice=$(q "$J" history --user alice --json | jq_ '[r["id"] for r in j]')
h_both=$(q "$J" history --user bob --status failed --json | jq_ '[r["id"] for r in j]')
h_lim=$(q "$J" history --limit 1 --json | jq_ '[r["id"] for r in j]')
h_since=$(q "$J" history --since 1h --json | jq_ 'len(j)')
h_future=$(q "$J" history --since 2099-01-01T00:00:00Z --json | jq_ 'len(j)')
h_text=$(q "$J" history 2>&1)
if [ "$h_failed" == "['$fid']" ] && [ "$h_alice" == "['$sid']" ] && [ "$h_both" == "['$fid']" ] && [ "$h_lim" == "['$fid']" ] \
   && [ "$h_since" == 2 ] && [ "$h_future" == 0 ] && echo "$h_text" | grep -q "^$fid  failed .* bob .* push: HTTP 400"; then
    pass "ops: history --status/--user/--since/--limit filters and the readable table"
else
    fail "ops: history filters" "failed=$h_failed alice=$h_alice both=$h_both lim=$h_lim since=$h_since future=$h_future text=$h_text"
fi
q "$J" history --since yesterdayish >/dev/null 2>&1; rs=$?
[ $rs -eq 2 ] && pass "ops: history --since with a bad time is a usage error" || fail "ops: history --since bad time" "rc=$rs"

# ---- show --------------------------------------------------------------------
if q "$J" show "$fid" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
run, steps = d["run"], {s["path"]: s for s in d["steps"]}
assert run["status"] == "failed" and run["failed_step"] == "push" and run["trigger"] == {"id": "c1", "items": ["a", "b", "c"]}, run
assert "HTTP 400" in run["error"] and "region us closed" in run["error"], run["error"]
p = steps["push"]
assert p["status"] == "failed" and len(p["attempts"]) == 1 and "HTTP 400" in p["attempts"][0]["error"], p
assert p["input"]["method"] == "POST" and p["input"]["url"].endswith("/push/us"), p["input"]
assert p["input"]["headers"]["X-Key"] == "[redacted]", p["input"]["headers"]
assert p["input"]["json"] == {"id": "c1", "tag": "new", "found": 200}, p["input"]
assert p["started"] and p["ended"] and "duration_ms" in p
l = steps["lookup"]
# the API echoed the request: the stored output has the token redacted
assert l["status"] == "succeeded" and l["output"]["body"]["headers"]["authorization"] == "Bearer [redacted]", l
assert l["input"]["headers"]["Authorization"] == "Bearer [redacted]" and "region=us" in l["input"]["url"], l["input"]
a = steps["audit"]
assert a["status"] == "failed" and a.get("continued") is True and "HTTP 500" in a["error"], a
assert "each" not in steps
' 2>"$T/show.err"; then
    pass "ops: show --json of a failed run: trigger, attempts with errors, requests as sent (redacted), outputs, continued failure"
else
    fail "ops: show failed run" "$(tail -3 "$T/show.err")"
fi
if q "$J" show "$sid" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
steps = {s["path"]: s for s in d["steps"]}
assert d["run"]["status"] == "succeeded" and d["run"]["output"]["items"] == 3
for i in range(3):
    s = steps["each[%d].item" % i]
    assert s["status"] == "succeeded" and s["output"]["status"] == 201 and s["input"]["json"]["region"] == "eu", s
# the workflow reads only len(each): the fanout record keeps the count, not the item returns
assert steps["each"]["count"] == 3 and "output" not in steps["each"], steps["each"]
assert any(l["msg"] == "pushed c1 to eu" for l in d["logs"])
' 2>"$T/show2.err"; then
    pass "ops: show --json of a succeeded run lists fanout items and logs"
else
    fail "ops: show succeeded run" "$(tail -3 "$T/show2.err")"
fi
txt=$(q "$J" show "$fid" 2>&1)
if echo "$txt" | grep -q "push .*failed .*1 attempt" && echo "$txt" | grep -q "request  POST .*/push/us" \
   && echo "$txt" | grep -q "X-Key: \[redacted\]" && echo "$txt" | grep -q "attempt 1: .*HTTP 400"; then
    pass "ops: show (readable) prints steps, attempts and requests"
else
    fail "ops: show readable" "$txt"
fi
q "$J" show 0000nosuchrun >/dev/null 2>&1; [ $? -eq 2 ] && pass "ops: show of an unknown run exits 2" || fail "ops: show unknown run" "rc=$?"
# an empty RUN_ID is a usage error, not a store error that advises a backup
for cmd in show retry; do
    q "$J" $cmd '' >/dev/null 2>"$T/empty.err"; re=$?
    if [ $re -eq 2 ] && grep -q "$cmd needs a RUN_ID" "$T/empty.err" && ! grep -qi 'backup\|MDB_' "$T/empty.err"; then
        pass "ops: $cmd '' is a usage error naming the missing RUN_ID"
    else
        fail "ops: $cmd ''" "rc=$re $(head -2 "$T/empty.err")"
    fi
done

# ---- retry -----------------------------------------------------------------------
q "$J" retry "$sid" >/dev/null 2>"$T/r0.err"; r0=$?
ctl_routes '[{"method": "POST", "path": "/push/us", "responses": [{"status": 200, "body": {"ok": true}}]}]'
ctl_reset
out=$(q "$J" retry "$fid" 2>"$T/retry.err"); rr=$?
paths=$(json_eval "$(ctl_log '/*')" 'sorted(r["path"] for r in j)')
att=$(json_eval "$(ctl_log /push/us)" 'j[0]["headers"].get("x-attempt")')
rec=$("$J" show "$fid" --json | jq_ 'j["run"]["status"], j["run"]["attempt"], [len(s["attempts"]) for s in j["steps"] if s["path"] == "push"]')
if [ $r0 -eq 2 ] && [ $rr -eq 0 ] && [ "$paths" == "['/after', '/item', '/item', '/item', '/push/us']" ] && [ "$att" == 2 ] \
   && [ "$rec" == "succeeded 2 [1]" ] && [ "$(echo "$out" | jq_ 'j["pushed"]')" == 200 ]; then
    pass "ops: retry re-sends only the failed step and later ones; run.attempt is 2; the failed record is discarded"
else
    fail "ops: retry" "r0=$r0 rr=$rr paths=$paths attempt=$att rec=$rec $(tail -3 "$T/retry.err")"
fi

# retry of a failed fanout: only the failed item is sent again
ctl_routes '[{"method": "POST", "path": "/item", "responses": [{"status": 201, "body": {}}, {"status": 400, "body": {"error": "bad item"}}, {"status": 201, "body": {}}], "repeat_last": true}]'
ctl_reset
q "$J" run --user alice --event "$T/ev.json" >/dev/null 2>&1; rf=$?
xid=$("$J" history --limit 1 --json | jq_ 'j[0]["id"]')
xfs=$("$J" history --limit 1 --json | jq_ 'j[0].get("failed_step")')
# items that succeeded before the failure are not sent again (one not yet started when another failed is)
done_items=$("$J" show "$xid" --json | jq_ 'len([s for s in j["steps"] if s["path"].startswith("each[") and s["status"] == "succeeded"])')
want=$(python3 -c "print(sorted(['/after'] + ['/item'] * (3 - $done_items)))")
ctl_routes '[{"method": "POST", "path": "/item", "responses": [{"status": 201, "body": {}}]}]'
ctl_reset
out=$(q "$J" retry "$xid" 2>"$T/retryf.err"); rr=$?
paths=$(json_eval "$(ctl_log '/*')" 'sorted(r["path"] for r in j)')
if [ $rf -eq 1 ] && [ "$xfs" == each ] && [ $rr -eq 0 ] && [ "$done_items" -ge 1 ] && [ "$paths" == "$want" ] \
   && [ "$(echo "$out" | jq_ 'j["items"]')" == 3 ]; then
    pass "ops: retry of a failed fanout re-sends only unfinished items and the steps after it"
else
    fail "ops: retry of a failed fanout" "rf=$rf fs=$xfs rr=$rr done=$done_items paths=$paths want=$want $(tail -3 "$T/retryf.err")"
fi

# retry --all --status failed --since: two failing runs of a closed region
ctl_routes '[{"method": "POST", "path": "/push/us", "responses": [{"status": 400, "body": {"error": "closed again"}}]}]'
q "$J" run --user bob --event "$T/ev.json" >/dev/null 2>&1
q "$J" run --user bob --event "$T/ev.json" >/dev/null 2>&1
ctl_routes '[{"method": "POST", "path": "/push/us", "responses": [{"status": 200, "body": {"ok": true}}]}]'
q "$J" retry --all --status failed --since 2099-01-01T00:00:00Z >/dev/null 2>&1
n_future=$("$J" history --status failed --json | jq_ 'len(j)')
q "$J" retry --all --status failed --since 1h >/dev/null 2>"$T/all.err"; ra=$?
n_after=$("$J" history --status failed --json | jq_ 'len(j)')
if [ "$n_future" == 2 ] && [ $ra -eq 0 ] && [ "$n_after" == 0 ] && grep -q "retried 2 runs: 2 succeeded" "$T/all.err"; then
    pass "ops: retry --all --status failed --since TIME"
else
    fail "ops: retry --all" "before=$n_future rc=$ra after=$n_after $(tail -2 "$T/all.err")"
fi

# ---- versions ------------------------------------------------------------------------
sed 's/^# tests\/ops: a per-user sync/# tests\/ops: version 2 of a per-user sync/' sync.flow >"$T/sync_v2.flow"
build sync_v2 "$T/sync_v2.flow"
ctl_routes '[{"method": "POST", "path": "/push/us", "responses": [{"status": 400, "body": {"error": "closed"}}]}]'
q "$J" run --user bob --event "$T/ev.json" >/dev/null 2>&1
vid=$("$J" history --status failed --json | jq_ 'j[0]["id"]')
v1=$("$J" info --json | jq_ 'j["version"]')
v2=$("$T/sync_v2" info --json | jq_ 'j["version"]')
q "$T/sync_v2" retry "$vid" >/dev/null 2>"$T/v.err"; rv=$?
"$J" info | grep -q "^version   $v1" && info_ok=1 || info_ok=0
# an unfinished run of v1 (killed) is listed, not resumed, by v2
ctl_routes '[{"method": "POST", "path": "/push/eu", "responses": [{"status": 200, "body": {"ok": true}, "hold_ms": 3000}]}]'
"$J" run --user alice --event "$T/ev.json" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ "$(ctl_count /push/eu)" -ge 1 ] && break; sleep 0.05; done
kill -9 $pid; wait $pid 2>/dev/null
q "$T/sync_v2" resume >/dev/null 2>"$T/v2resume.err"; rv2=$?
ctl_routes '[{"method": "POST", "path": "/push/eu", "responses": [{"status": 200, "body": {"ok": true}}]}]'
if [ "$v1" != "$v2" ] && [ $rv -eq 2 ] && grep -q "version $v1" "$T/v.err" && [ $info_ok == 1 ] \
   && [ $rv2 -eq 0 ] && grep -q "need.* the binary of version $v1" "$T/v2resume.err" \
   && [ "$("$J" history --limit 1 --json | jq_ 'j[0]["status"]')" == running ]; then
    pass "ops: a run of another version is refused by retry and listed by resume, naming the version"
else
    fail "ops: version mismatch" "v1=$v1 v2=$v2 rv=$rv rv2=$rv2 $(cat "$T/v.err" "$T/v2resume.err" | head -3)"
fi
# deploying v2 beside v1's unfinished run: info says what is left for v1
o2=$("$T/sync_v2" info --json | jq_ 'j["unfinished"], j["unfinished_other_versions"]')
if [ "$o2" == "0 {'$v1': 1}" ] && "$T/sync_v2" info | grep -q "1 of version $v1"; then
    pass "ops: info of a new version counts the unfinished runs left for the old one"
else
    fail "ops: info counts other versions' runs" "$o2"
fi
q "$J" resume >/dev/null 2>&1; rres=$?
[ $rres -eq 0 ] && [ "$("$J" history --limit 1 --json | jq_ 'j[0]["status"]')" == succeeded ] \
    && pass "ops: the run's own binary resumes it" || fail "ops: own binary resumes" "rc=$rres"

# ---- durable waits: kill -9 during a wait, resume at the original time ---------------
if build waiter; then
    W=$T/waiter; WS=$T/wait.state
    echo '{"secs": 6}' >"$T/w.json"
    ctl_reset
    "$W" run --event "$T/w.json" --state "$WS" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do [ "$(ctl_count /before)" -ge 1 ] && break; sleep 0.05; done
    sleep 0.3
    st1=$("$W" history --state "$WS" --json | jq_ 'j[0]["status"]')
    kill -9 $pid; wait $pid 2>/dev/null
    wid=$("$W" history --state "$WS" --json | jq_ 'j[0]["id"]')
    wake=$("$W" show "$wid" --state "$WS" --json | jq_ '[s["wake_at"] for s in j["steps"] if s["path"].startswith("wait@")][0]')
    "$W" resume --no-wait --state "$WS" >/dev/null 2>"$T/wr1.err"; r1=$?
    st2=$("$W" history --state "$WS" --json | jq_ 'j[0]["status"]')
    n_later=$(ctl_count /later)
    # a plain resume finishes the run: it sleeps until the wait is due
    "$W" resume --state "$WS" >"$T/wr2.out" 2>"$T/wr2.err"; r2=$?
    t_later=$(json_eval "$(ctl_log /later)" 'j[0]["time_ms"] if j else 0')
    if [ "$st1" == waiting ] && [ $r1 -eq 0 ] && grep -q "is due at" "$T/wr1.err" && [ "$st2" == waiting ] && [ "$n_later" == 0 ] \
       && [ $r2 -eq 0 ] && [ "$(ctl_count /before)" == 1 ] && [ "$t_later" -ge "$wake" ] && [ "$t_later" -lt $((wake + 2000)) ] \
       && [ "$("$W" history --state "$WS" --json | jq_ 'j[0]["status"]')" == succeeded ]; then
        pass "ops: a run killed during a wait is waiting; resume --no-wait reports when it is due; resume sleeps until then and finishes it at the original time"
    else
        fail "ops: durable wait" "st1=$st1 r1=$r1 st2=$st2 later=$n_later r2=$r2 wake=$wake t_later=$t_later $(cat "$T/wr1.err" "$T/wr2.err" | tail -3)"
    fi
fi

# ---- --test-limits and Test Step (flowc run --step NAME --input FILE) ----------------------------
# tests/ops/cases, run by the end-to-end driver (docs/testing.md); here, Test
# Step with a user's stored settings and secrets, which the users above set.
bash "$ROOT/tests/e2e/run.sh" "$ROOT/tests/ops/cases"
cat >"$T/in.json" <<'JSON'
{"lookup": {"status": 200, "headers": {}, "body": {"found": true}}, "audit": {"status": 200, "headers": {}, "body": null}}
JSON
ctl_reset
nruns=$("$J" history --limit 0 --json | jq_ 'len(j)')
out=$(q "$J" run --user alice --event "$T/ev.json" --step push --input "$T/in.json" 2>"$T/step5.err"); ru=$?
key=$(json_eval "$(ctl_log /push/eu)" 'j[0]["headers"]["x-key"] if j else None')
if [ $ru -eq 0 ] && [ "$key" == "$A_SECRET" ] && [ "$(ctl_count /lookup/c1)" == 0 ] \
   && [ "$("$J" history --limit 0 --json | jq_ 'len(j)')" == "$nruns" ]; then
    pass "ops: JOB run --user U --step uses U's stored settings and secrets, in a scratch state"
else
    fail "ops: Test Step with --user" "ru=$ru key=$key $(tail -2 "$T/step5.err")"
fi

# ---- trigger enabled: one run when a user becomes enabled ---------------------------------
if build onboard; then
    ctl_reset
    O=$T/onboard; OS=$T/onboard.state
    echo '{"team": "red"}' >"$T/team.json"
    q "$O" users set dave --settings "$T/team.json" --secret token=dave-token-0042 --disabled --state "$OS" >/dev/null 2>&1
    n0=$(ctl_count /welcome)
    q "$O" users enable dave --state "$OS" >"$T/en.out" 2>&1; re=$?
    q "$O" users enable dave --state "$OS" >/dev/null 2>&1
    q "$O" users set frank --settings "$T/team.json" --secret token=frank-token-0042 --state "$OS" >/dev/null 2>"$T/frank.err"
    w=$(ctl_log /welcome)
    # the new user's settings and secret come in the same command: no line
    # says the enabling waits for them
    if grep -q 'no enabled run yet' "$T/frank.err"; then
        fail "ops: users set of a new user with its settings" "$(grep 'no enabled run yet' "$T/frank.err")"
    else
        pass "ops: users set of a new user with its settings and secrets says nothing about waiting for them"
    fi
    if [ "$n0" == 0 ] && [ $re -eq 0 ] && [ "$(json_eval "$w" '[(r["headers"]["authorization"], json.loads(r["body"])) for r in j]')" \
         == "[('Bearer dave-token-0042', {'user': 'dave', 'team': 'red'}), ('Bearer frank-token-0042', {'user': 'frank', 'team': 'red'})]" ] \
       && [ "$("$O" history --state "$OS" --json | jq_ 'sorted((r["user"], r["source"], r["status"]) for r in j)')" \
         == "[('dave', 'enabled', 'succeeded'), ('frank', 'enabled', 'succeeded')]" ] \
       && ! grep -rqa -e dave-token-0042 -e frank-token-0042 "$OS" "$T/en.out"; then
        pass "ops: trigger enabled runs once when a user becomes enabled (users enable, users set)"
    else
        fail "ops: trigger enabled" "n0=$n0 re=$re welcome=$(echo "$w" | head -c 300)"
    fi
    q "$O" users set dave --settings "$T/team.json" --state "$OS" >/dev/null 2>&1
    n1=$(ctl_count /welcome)
    q "$O" users disable dave --state "$OS" >/dev/null 2>&1
    q "$O" users enable dave --state "$OS" >/dev/null 2>&1
    n2=$(ctl_count /welcome)
    [ "$n1" == 2 ] && [ "$n2" == 3 ] && pass "ops: trigger enabled: an update does not run again; enabling again does" \
        || fail "ops: trigger enabled again" "after set=$n1 after disable/enable=$n2" 
fi

# ---- prune ------------------------------------------------------------------------------------
PS=$T/prune.state
ctl_routes '[{"method": "POST", "path": "/push/us", "responses": [{"status": 400, "body": {"error": "closed"}}]}]'
"$J" users set alice --settings "$T/eu.json" --secret "api_key=$A_SECRET" --state "$PS" >/dev/null 2>&1
"$J" users set bob --settings "$T/us.json" --secret "api_key=$B_SECRET" --state "$PS" >/dev/null 2>&1
"$J" run --user alice --event "$T/ev.json" --state "$PS" >/dev/null 2>&1
"$J" run --user bob --event "$T/ev.json" --state "$PS" >/dev/null 2>&1
old_ids=$("$J" history --state "$PS" --json | jq_ '" ".join(r["id"] for r in j)')
sleep 2.2
"$J" run --user alice --event "$T/ev.json" --state "$PS" >/dev/null 2>&1
p1=$(q "$J" prune --older-than 2s --status succeeded --state "$PS" 2>&1)
n1=$("$J" history --state "$PS" --json | jq_ 'len(j)')
p2=$(q "$J" prune --older-than 2s --state "$PS" --json 2>&1)
left=$("$J" history --state "$PS" --json | jq_ '[r["status"] for r in j]')
gone=0
for id in $old_ids; do "$J" show "$id" --state "$PS" >/dev/null 2>&1 || gone=$((gone + 1)); done
if echo "$p1" | grep -q "removed 1 run" && [ "$n1" == 2 ] && [ "$(echo "$p2" | jq_ 'j["removed"]')" == 1 ] \
   && [ "$left" == "['succeeded']" ] && [ $gone == 2 ]; then
    pass "ops: prune --older-than [--status] removes old runs with their steps and logs"
else
    fail "ops: prune" "p1=$p1 n1=$n1 p2=$p2 left=$left gone=$gone"
fi
"$J" prune --state "$PS" >/dev/null 2>&1; [ $? -eq 2 ] && pass "ops: prune without --older-than is a usage error" || fail "ops: prune usage" "rc=$?"

# ---- map growth -----------------------------------------------------------------------------------
ctl_reset
python3 -c 'import json; print(json.dumps({"id": "big", "items": ["x" * 300 + str(i) for i in range(400)]}))' >"$T/big.json"
MS=$T/map.state
FLOW_MAP_SIZE=65536 "$J" users set alice --settings "$T/eu.json" --secret "api_key=$A_SECRET" --state "$MS" >/dev/null 2>&1
out=$(FLOW_MAP_SIZE=65536 "$J" run --user alice --event "$T/big.json" --state "$MS" 2>"$T/map.err"); rm_=$?
size=$(stat -c %s "$MS/data.mdb")
h=$(FLOW_MAP_SIZE=65536 "$J" history --state "$MS" --json | jq_ 'j[0]["status"]')
FLOW_MAP_SIZE=65536 "$J" prune --older-than 0s --state "$MS" >/dev/null 2>&1; rp=$?
if [ $rm_ -eq 0 ] && [ "$(echo "$out" | jq_ 'j["items"]')" == 400 ] && [ "$size" -gt 65536 ] && [ "$h" == succeeded ] && [ $rp -eq 0 ]; then
    pass "ops: a 64 KiB map (FLOW_MAP_SIZE) grows on demand: a 400-item run, history and prune succeed"
else
    fail "ops: map growth" "rc=$rm_ size=$size h=$h rp=$rp $(tail -3 "$T/map.err")"
fi

# ---- the same commands under ASan/UBSan: the generated C and the runtime built by gcc ----
if "$FLOWC" build sync.flow --emit-c "$T/sync_san.c" -o "$T/sync_tcc" >/dev/null 2>&1 \
   && gcc -std=gnu11 $SANFLAGS -D_GNU_SOURCE -w -I"$ROOT/runtime" -I"$ROOT/stdlib" -o "$T/sync_san" "$T/sync_san.c" \
          "$SAN_RTLIB" $RT_LIBS \
          2>"$T/san.build"; then
    S=$T/sync_san; SS=$T/san.state; SL=$T/san.log
    export ASAN_OPTIONS=detect_leaks=1:allow_user_segv_handler=1:use_sigaltstack=0
    ctl_routes '[{"method": "POST", "path": "/push/us", "responses": [{"status": 400, "body": {"error": "closed"}}]}]'
    codes=""
    run_san() { "$S" "$@" --state "$SS" >>"$SL" 2>&1; codes="$codes $?"; }
    run_san users set alice --settings "$T/eu.json" --secret "api_key=$A_SECRET"
    run_san users set bob --settings "$T/us.json" --secret "api_key=@$T/bob.key"
    run_san users set carol --settings "$T/bad_type.json"
    run_san users list --json
    run_san users show bob
    run_san run --user alice --event "$T/ev.json"
    run_san run --user bob --event "$T/ev.json"
    sid=$("$S" history --state "$SS" --status failed --json 2>/dev/null | jq_ 'j[0]["id"]')
    run_san history
    run_san history --user bob --status failed --since 1h --limit 5 --json
    run_san show "$sid"
    run_san show "$sid" --json
    ctl_routes '[{"method": "POST", "path": "/push/us", "responses": [{"status": 200, "body": {"ok": true}}]}]'
    run_san retry "$sid"
    run_san retry --all --since 1h
    run_san users disable bob
    run_san run --user bob --event "$T/ev.json"
    run_san users remove bob
    run_san prune --older-than 0s
    run_san resume
    if [ "$codes" == " 0 0 2 0 0 0 1 0 0 0 0 0 0 0 2 0 0 0" ] && ! sanitizer_report "$SL"; then
        pass "ops: users, run, history, show, retry, prune and resume are ASan/UBSan clean"
    else
        fail "ops: sanitized commands" "codes=$codes $(grep -m3 -E 'ERROR|runtime error' "$SL")"
    fi
else
    fail "ops: sanitized job binary builds" "$(head -3 "$T/san.build")"
fi

# ---- secrets never in any state directory or output --------------------------------------
# (everything under $T: every state dir, every command's output and log; bob.key is the input file)
if grep -rlaF -e "$A_SECRET" -e "$B_SECRET" -e dave-token-0042 -e frank-token-0042 "$T" | grep -v '/bob\.key$' | grep -q .; then
    fail "ops: no secret value in any state dir or output" "$(grep -rlaF -e "$A_SECRET" -e "$B_SECRET" "$T" | grep -v '/bob\.key$' | head -3)"
else
    pass "ops: no secret value in any state dir or output"
fi
