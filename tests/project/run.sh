#!/usr/bin/env bash
# One integration project (docs/project.md): several workflows built into
# one binary and one state; users, their connections (shared by every
# workflow) and activations; eligibility at accept and at claim; one event
# to every subscribed workflow; undeploy live; the /api; kill -9 during a
# multi-workflow accept. Real binaries, real LMDB, the test API server
# recording which credential and base URL each request used.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/project" || exit 1
T=$(scratch)
export TOKEN=project-test-token
echo "$TOKEN" >"$T/token"
AUTH="Authorization: Bearer $TOKEN"
export FLOW_SECRETS_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff

# ---- the compiler: one project, file sets, directories -------------------------
if "$FLOWC" build app -o "$T/app" 2>"$T/build.err"; then
    pass "project: flowc build DIR -o APP builds every workflow of the directory into one binary"
else
    fail "project: build DIR" "$(head -5 "$T/build.err")"
    exit 0
fi
info=$("$T/app" info --json --state "$T/none.state")
if [ "$(json_eval "$info" 'j["project"], sorted(w["name"] for w in j["workflows"])')" == \
     "('app', ['hub_import', 'sf_inbound', 'sf_lookup', 'sf_sync', 'slack_notify', 'welcome'])" ] \
   && json_eval "$info" 'all(w["version"] and w["trigger"]["kind"] and "settings" in w for w in j["workflows"])' | grep -q True \
   && json_eval "$info" '[i["connection_fields"][0]["name"] for w in j["workflows"] if w["name"] == "sf_sync" for i in w["integrations"]] == ["instance_url"]' | grep -q True \
   && json_eval "$info" '[s for w in j["workflows"] if w["name"] == "sf_sync" for s in w["settings"]][0]["required"] == False' | grep -q True \
   && [ ! -e "$T/none.state" ]; then
    pass "project: info --json lists every workflow with its trigger, version, settings and integrations (owner: string? is not required)"
else
    fail "project: info" "$(echo "$info" | head -c 400)"
fi
"$T/app" info >"$T/info.txt" 2>&1
grep -q '^project   app (6 workflows)' "$T/info.txt" && grep -q 'salesforce .*fields instance_url: string? base_url from_token' "$T/info.txt" \
    && pass "project: info names the project and each integration's connection fields" || fail "project: info text" "$(head -5 "$T/info.txt")"
if "$FLOWC" build app/sf_sync.flow app/slack_notify.flow -o "$T/two" 2>"$T/two.err" \
   && [ "$(json_eval "$("$T/two" info --json)" 'len(j["workflows"])')" == 2 ]; then
    pass "project: flowc build A.flow B.flow -o APP"
else
    fail "project: build files" "$(head -3 "$T/two.err")"
fi
"$FLOWC" build app/sf_sync.flow app/slack_notify.flow >"$T/noout.err" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q 'several workflows make one project: name it with -o OUT' "$T/noout.err" \
    && pass "project: several files without -o: exit 2, naming the fix" || fail "project: no -o" "rc=$rc $(cat "$T/noout.err")"
"$FLOWC" build dup/a.flow dup/b.flow -o "$T/dup" >"$T/dup.err" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "dup/b.flow:1:.*error: workflow 'same' is already in this project (dup/a.flow:1:" "$T/dup.err" && [ ! -e "$T/dup" ] \
    && pass "project: two workflows of one name: an error at the second, naming the first" || fail "project: unique names" "rc=$rc $(cat "$T/dup.err")"
"$FLOWC" check conflict >"$T/conflict.err" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "integration 'crm' is declared here and, differently, at conflict/a.flow:2:1" "$T/conflict.err" \
    && pass "project: one integration name declared twice differently: an error naming both places" || fail "project: integration conflict" "rc=$rc $(cat "$T/conflict.err")"
"$FLOWC" check app >"$T/check.out" 2>&1 && pass "project: flowc check DIR" || fail "project: check DIR" "$(head -3 "$T/check.out")"
"$FLOWC" check dup/a.flow dup/b.flow >"$T/check2.out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "already in this project" "$T/check2.out" && pass "project: flowc check FILES applies the project's rules" \
    || fail "project: check FILES" "rc=$rc $(cat "$T/check2.out")"
"$FLOWC" graph app >"$T/graph.dot" 2>"$T/graph.err" && [ "$(grep -c '^digraph' "$T/graph.dot")" == 6 ] \
    && pass "project: flowc graph DIR: one digraph per workflow" || fail "project: graph DIR" "$(grep -c '^digraph' "$T/graph.dot") $(head -3 "$T/graph.err")"
"$FLOWC" test "$ROOT/examples/project" >"$T/extest.out" 2>&1 && tail -1 "$T/extest.out" | grep -q '^[1-9][0-9]* passed, 0 failed' \
    && pass "project: flowc test DIR runs every workflow's tests (examples/project: $(tail -1 "$T/extest.out"))" \
    || fail "project: test DIR" "$(tail -5 "$T/extest.out")"
"$FLOWC" build "$ROOT/examples/project" -o "$T/examples" 2>"$T/ex.err" \
    && [ "$(json_eval "$("$T/examples" info --json)" 'len(j["workflows"])')" == 5 ] \
    && pass "project: examples/project builds into one binary" || fail "project: examples build" "$(head -3 "$T/ex.err")"

# ---- the API server and the state ---------------------------------------------------
echo '[]' >"$T/routes.json"
start_server "$T/routes.json"
ctl_routes "[
 {\"method\": \"POST\", \"path\": \"/oauth/token\", \"responses\": [{\"status\": 200, \"body\": {\"access_token\": \"sf-a-NEW\", \"token_type\": \"Bearer\", \"refresh_token\": \"sf-a-R2\", \"instance_url\": \"$API/org1b\"}}, {\"status\": 400, \"body\": {\"error\": \"invalid_grant\"}}]},
 {\"method\": \"POST\", \"path\": \"/org1/services/data/v59.0/sobjects/Contact\", \"require_auth\": \"Bearer sf-a-NEW\", \"status\": 201, \"body\": {\"id\": \"001A\", \"success\": true, \"errors\": []}},
 {\"method\": \"GET\", \"path\": \"/org1b/services/data/v59.0/sobjects/Contact/*\", \"require_auth\": \"Bearer sf-a-NEW\", \"body\": {\"Id\": \"003A\", \"LastName\": \"Org One\"}},
 {\"method\": \"POST\", \"path\": \"/org2/services/data/v59.0/sobjects/Contact\", \"require_auth\": \"Bearer sf-b-1\", \"status\": 201, \"body\": {\"id\": \"001B\", \"success\": true, \"errors\": []}},
 {\"method\": \"GET\", \"path\": \"/org2/services/data/v59.0/sobjects/Contact/*\", \"require_auth\": \"Bearer sf-b-1\", \"body\": {\"Id\": \"003B\", \"LastName\": \"Org Two\"}},
 {\"method\": \"POST\", \"path\": \"/slack/chat.postMessage\", \"body\": {\"ok\": true, \"ts\": \"1.5\", \"channel\": \"C1\"}},
 {\"method\": \"POST\", \"path\": \"/hub/crm/v3/objects/contacts\", \"status\": 201, \"body\": {\"id\": \"h1\", \"properties\": {}, \"createdAt\": \"x\", \"updatedAt\": \"x\", \"archived\": false}}
]"
export FLOW_SALESFORCE_TOKEN_URL="$API/oauth/token"
export FLOW_SALESFORCE_BASE_URL="$API/wrong"            # deployment-wide: a connection's instance_url wins
export FLOW_SLACK_BASE_URL="$API/slack" FLOW_HUBSPOT_BASE_URL="$API/hub"
export FLOW_SECRET_SALESFORCE_CLIENT_ID=cid-123 FLOW_SECRET_SALESFORCE_CLIENT_SECRET=csec-456   # app credentials
export FLOW_SECRET_SLACK_TOKEN=operator-slack-TOKEN FLOW_SECRET_HUBSPOT_TOKEN=operator-hub-TOKEN  # never for a user's run
A="$T/app"
ST="$T/state"
q() { "$A" "$@" --state "$ST" 2>>"$T/cli.log"; }
echo '{"id": "c1", "name": "Ada"}' >"$T/ev.json"
echo '{"id": "003"}' >"$T/look.json"
count() { ctl_count "$1"; }

# ---- connections: each user's org and token; a refresh seen by every workflow ------------
printf 'sf-a-OLD\n' >"$T/sf-a.token"
q users set alice && q users set bob
q connect alice salesforce --secret salesforce_token=@"$T/sf-a.token" --secret salesforce_refresh_token=sf-a-R \
    --field instance_url="$API/org1"
q connect bob salesforce --secret salesforce_token=sf-b-1 --field instance_url="$API/org2"
for w in sf_sync sf_lookup; do q users enable alice --workflow $w; q users enable bob --workflow $w; done
outa=$(q run --user alice --workflow sf_sync --event "$T/ev.json"); ra=$?
outb=$(q run --user bob --workflow sf_sync --event "$T/ev.json"); rb=$?
o1=$(ctl_log /org1/services/data/v59.0/sobjects/Contact); o2=$(ctl_log /org2/services/data/v59.0/sobjects/Contact)
tok=$(ctl_log /oauth/token)
if [ "$ra$rb" == 00 ] && [ "$(json_eval "$outa" 'j["id"]')$(json_eval "$outb" 'j["id"]')" == 001A001B ] \
   && [ "$(json_eval "$o1" '[r["headers"]["authorization"] for r in j]')" == "['Bearer sf-a-OLD', 'Bearer sf-a-NEW']" ] \
   && [ "$(json_eval "$o2" '[r["headers"]["authorization"] for r in j]')" == "['Bearer sf-b-1']" ] \
   && [ "$(count '/wrong*')" == 0 ] \
   && json_eval "$tok" 'len(j) == 1 and sorted(j[0]["body"].split("&")) == sorted(["grant_type=refresh_token", "refresh_token=sf-a-R", "client_id=cid-123", "client_secret=csec-456"])' | grep -q True; then
    pass "connections: two users' runs go to their own org (instance_url) with their own token, not FLOW_SALESFORCE_BASE_URL; the 401 refreshes with the app's client credentials"
else
    fail "connections: per-user org and token" "ra=$ra rb=$rb a=$outa b=$outb org1=$o1 org2=$o2 token=$tok $(tail -3 "$T/cli.log")"
fi
view=$(q users show alice --json)
if [ "$(json_eval "$view" 'j["connections"]["salesforce"]["fields"]["instance_url"]')" == "$API/org1b" ] \
   && [ "$(json_eval "$view" 'j["connections"]["salesforce"]["secrets"]')" == "{'salesforce_token': '<set>', 'salesforce_refresh_token': '<set>'}" ] \
   && ! grep -aqE 'sf-a-(OLD|NEW|R2?)|sf-b-1' "$ST/data.mdb" && ! echo "$view" | grep -qE 'sf-a-|sf-b-'; then
    pass "connections: the token response's instance_url is saved into the connection; users show names secrets, never their values (nor does the state)"
else
    fail "connections: instance_url saved" "$view"
fi
outl=$(q run --user alice --workflow sf_lookup --event "$T/look.json"); rl=$?
outm=$("$A" run --user bob --workflow sf_lookup --event "$T/look.json" --json --state "$ST" 2>"$T/lookup.log"); rm_=$?
l1=$(ctl_log '/org1b/*'); l2=$(ctl_log '/org2/services/data/v59.0/sobjects/Contact/*')
if [ "$rl$rm_" == 00 ] && [ "$(json_eval "$outl" 'j["record"]["LastName"]')" == "Org One" ] \
   && [ "$(json_eval "$l1" '[r["headers"]["authorization"] for r in j]')" == "['Bearer sf-a-NEW']" ] \
   && [ "$(json_eval "$l2" '[r["headers"]["authorization"] for r in j]')" == "['Bearer sf-b-1']" ] && [ "$(count /oauth/token)" == 1 ]; then
    pass "connections: a refresh in one workflow is what another workflow of the same user uses (new token, new org URL, no second refresh)"
else
    fail "connections: refresh shared" "rl=$rl rm=$rm_ out=$outl org1b=$l1 org2=$l2 refreshes=$(count /oauth/token) $(tail -3 "$T/cli.log")"
fi
if python3 - "$T/lookup.log" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = [l for l in lines if "run" in l]
sys.exit(not (runs and all(l["workflow"] == "sf_lookup" and l["project"] == "app" for l in runs)
              and all(l["workflow"] == "app" and "project" not in l for l in lines if "run" not in l)))
PY
then
    pass "log: a project's run lines name the run's workflow (and the project); process lines the project"
else
    fail "log: the run's workflow" "$(head -c 600 "$T/lookup.log")"
fi

# Test Step --from a project's run: its workflow, user (connection) and trigger come from the run
rid=$(json_eval "$(q history --json --limit 1)" 'j[0]["id"]' 2>/dev/null)
ctl_reset
outs=$(q run --step rec --from "$rid"); rs=$?
l2=$(ctl_log '/org2/services/data/v59.0/sobjects/Contact/*')
"$A" run --step rec --from "$rid" --workflow sf_sync --state "$ST" >/dev/null 2>"$T/from.err"; rw=$?
if [ "$rs" == 0 ] && [ "$(json_eval "$outs" 'j["LastName"]' 2>/dev/null)" == "Org Two" ] \
   && [ "$(json_eval "$l2" '[r["headers"]["authorization"] for r in j]')" == "['Bearer sf-b-1']" ] \
   && [ "$rw" == 2 ] && grep -q "is of workflow 'sf_lookup', not 'sf_sync'" "$T/from.err"; then
    pass "Test Step --from RUN_ID in a project: the run's workflow, user (their connection) and trigger; another --workflow is refused"
else
    fail "Test Step --from" "rid=$rid rs=$rs out=$outs org2=$l2 rw=$rw $(cat "$T/from.err") $(tail -3 "$T/cli.log")"
fi

# ---- eligibility on the command line: no request for unknown, disabled, unconnected --------
q users set dora --disabled
q connect dora salesforce --secret salesforce_token=sf-b-1 --field instance_url="$API/org2"
q users enable dora --workflow sf_sync
q users set finn
q users enable finn --workflow sf_sync          # no connection to salesforce
ctl_reset
r=""
for u in ghost dora finn; do q run --user "$u" --workflow sf_sync --event "$T/ev.json" >/dev/null; r="$r$?"; done
if [ "$r" == 222 ] && [ "$(count '/org*')" == 0 ] && [ "$(count '/wrong*')" == 0 ] \
   && grep -q "skipped: unknown user 'ghost'" "$T/cli.log" && grep -q "skipped: user 'dora' is disabled" "$T/cli.log" \
   && grep -q "skipped: user 'finn' has no connection to 'salesforce'" "$T/cli.log"; then
    pass "run: an unknown user, a disabled user and a user without the connection: exit 2 with the reason, no request sent"
else
    fail "run: eligibility" "rc=$r sent=$(count '/org*') $(tail -4 "$T/cli.log")"
fi

# ---- serve ------------------------------------------------------------------------------
serve_start() {    # serve_start LOG [options]: sets SV_PID and SV
    local log=$1; shift
    rm -f "$T/port"
    "$A" serve --listen 127.0.0.1:0 --port-file "$T/port" --state "$ST" --token-file "$T/token" "$@" 2>>"$log" &
    SV_PID=$!
    for _ in $(seq 1 200); do [ -s "$T/port" ] && break; sleep 0.05; done
    SV="http://127.0.0.1:$(cat "$T/port" 2>/dev/null)"
}
serve_stop() { kill -TERM "$SV_PID" 2>/dev/null; wait "$SV_PID"; }
post() {    # post PATH BODY [curl args]: "BODY CODE"
    local path=$1 body=$2; shift 2
    curl -s -w ' %{http_code}' -X POST -H "$AUTH" "$@" --data-binary "$body" "$SV$path"
}
api() {     # api METHOD PATH [BODY]: "BODY CODE"
    curl -s -w ' %{http_code}' -X "$1" -H "$AUTH" ${3:+--data-binary "$3"} "$SV/api$2"
}
status_of() { json_eval "$(curl -s -H "$AUTH" "$SV/runs/$1")" 'j.get("status")' 2>/dev/null; }
wait_status() {     # wait_status ID STATUS
    for _ in $(seq 1 150); do [ "$(status_of "$1")" == "$2" ] && return 0; sleep 0.1; done
    return 1
}
runs_of() { "$A" history --user "$1" --json --limit 0 --state "$ST" 2>/dev/null; }

# one event, three subscribed workflows: enabled, not enabled, undeployed
q users set evan
q connect evan salesforce --secret salesforce_token=sf-b-1 --field instance_url="$API/org2"
q connect evan slack --secret slack_token=xoxb-evan-1
q connect evan hubspot --secret hubspot_token=hub-evan-1
q users enable evan --workflow sf_sync
q users enable evan --workflow slack_notify
q workflows undeploy slack_notify
serve_start "$T/serve.log" --workers 2
ctl_reset
a=$(post /events/contact.created '{"id": "c7", "name": "Eve"}' -H 'X-Flow-User: evan' -H 'Idempotency-Key: order-7')
ida=$(json_eval "${a% *}" 'j["run_id"]' 2>/dev/null)
wait_status "$ida" succeeded
b=$(curl -s -i -X POST -H "$AUTH" -H 'X-Flow-User: evan' -H 'Idempotency-Key: order-7' --data-binary '{"id": "c7", "name": "Eve"}' "$SV/events/contact.created")
sleep 0.5
if [ "${a##* }" == 202 ] && [ "$(json_eval "${a% *}" '[(r["workflow"]) for r in j["runs"]]')" == "['sf_sync']" ] \
   && [ "$(json_eval "${a% *}" 'sorted((s["workflow"], s["reason"]) for s in j["skipped"])')" == \
        "[('hub_import', \"user 'evan' has not enabled workflow 'hub_import'\"), ('slack_notify', \"workflow 'slack_notify' is undeployed\")]" ] \
   && echo "$b" | grep -qi '^Idempotent-Replayed: true' && echo "$b" | tail -1 | grep -q "\"run_id\":\"$ida\"" \
   && [ "$(json_eval "$(runs_of evan)" 'len(j)')" == 1 ] && [ "$(count /org2/services/data/v59.0/sobjects/Contact)" == 1 ] \
   && [ "$(count /slack/chat.postMessage)$(count /hub/crm/v3/objects/contacts)" == 00 ]; then
    pass "events: one event, three subscribed workflows (one not enabled, one undeployed): one run, the answer says why the others were skipped; the replay starts nothing"
else
    fail "events: fan-out" "a=$a b=$(echo "$b" | tail -1) runs=$(json_eval "$(runs_of evan)" 'len(j)') $(tail -3 "$T/serve.log")"
fi
api POST /workflows/slack_notify/deploy >/dev/null
ctl_reset
c=$(post /events/contact.created '{"id": "c8", "name": "Eve"}' -H 'X-Flow-User: evan' -H 'Idempotency-Key: order-8')
for id in $(json_eval "${c% *}" '" ".join(r["run_id"] for r in j["runs"])'); do wait_status "$id" succeeded; done
sl=$(ctl_log /slack/chat.postMessage)
if [ "${c##* }" == 202 ] && [ "$(json_eval "${c% *}" 'sorted(r["workflow"] for r in j["runs"])')" == "['sf_sync', 'slack_notify']" ] \
   && [ "$(json_eval "$sl" '[r["headers"]["authorization"] for r in j]')" == "['Bearer xoxb-evan-1']" ] \
   && ! grep -q 'operator-slack-TOKEN' <<<"$(ctl_log '/*')"; then
    pass "events: deployed again, one event starts both of the user's workflows, each with the user's connection (never FLOW_SECRET_*)"
else
    fail "events: two runs" "c=$c slack=$sl"
fi

# unknown, disabled, unconnected users under serve: no request
ctl_reset
r1=$(post /events/contact.created '{"id": "c9", "name": "X"}' -H 'X-Flow-User: ghost')
r2=$(post /events/contact.created '{"id": "c9", "name": "X"}' -H 'X-Flow-User: dora')
r3=$(post /events/contact.created '{"id": "c9", "name": "X"}' -H 'X-Flow-User: finn')
r4=$(post /events/contact.created '{"id": "c9", "name": "X"}')
sleep 0.5
if [ "${r1##* }${r2##* }${r3##* }${r4##* }" == 200200200400 ] && [ "$(count '/*')" == 0 ] \
   && json_eval "${r1% *}" 'j["runs"] == [] and all("unknown user" in s["reason"] for s in j["skipped"])' | grep -q True \
   && json_eval "${r2% *}" '"user '"'"'dora'"'"' is disabled" in [s["reason"] for s in j["skipped"]][0]' | grep -q True \
   && echo "$r3" | grep -q "user 'finn' has no connection to 'salesforce'" && echo "$r4" | grep -q 'X-Flow-User is required'; then
    pass "serve: unknown, disabled and unconnected users get every workflow skipped with the reason (200), no user 400; nothing sent"
else
    fail "serve: eligibility at accept" "$r1 | $r2 | $r3 | $r4 sent=$(count '/*')"
fi

# one bad request never fails another client's accept: oversized user ids
# sent together with good events (the same group commits)
long=$(printf 'x%.0s' $(seq 1 600))
pids=()
for i in $(seq 1 12); do
    curl -s -o "$T/good.$i" -w '%{http_code}\n' -X POST -H "$AUTH" -H 'X-Flow-User: evan' -H "Idempotency-Key: mix-$i" \
         --data-binary '{"id": "m", "name": "M"}' "$SV/events/contact.created" >"$T/good.$i.code" &
    pids+=($!)
    curl -s -o "$T/bad.$i" -w '%{http_code}\n' -X POST -H "$AUTH" -H "X-Flow-User: $long" -H "Idempotency-Key: mix-$i" \
         --data-binary '{"id": "m", "name": "M"}' "$SV/events/contact.created" >"$T/bad.$i.code" &
    pids+=($!)
done
wait "${pids[@]}"
good=$(cat "$T"/good.*.code | sort -u | tr -d '\n'); bad=$(cat "$T"/bad.*.code | sort -u | tr -d '\n')
if [ "$good" == 202 ] && [ "$bad" == 400 ] && grep -q 'the user id has 600 bytes' "$T/bad.1"; then
    pass "serve: 12 accepts with a 600-byte user id beside 12 good ones: each bad one 400 naming the rule, every good one stored (202)"
else
    fail "serve: a bad request beside good ones" "good=$good bad=$bad $(head -c 200 "$T/bad.1")"
fi
for i in $(seq 1 12); do            # the good ones' runs end before the API's log is counted again
    for id in $(json_eval "$(cat "$T/good.$i")" '" ".join(r["run_id"] for r in j["runs"])' 2>/dev/null); do
        wait_status "$id" succeeded
    done
done

# queued, then disabled or removed: the run ends skipped when claimed, nothing sent
serve_stop
for u in gail hank; do
    q users set $u
    q connect $u hubspot --secret hubspot_token=hub-$u
    q users enable $u --workflow hub_import
done
serve_start "$T/serve.log" --paused
ctl_reset
g=$(post /events/contact.created '{"id": "g1", "name": "G"}' -H 'X-Flow-User: gail')
h=$(post /events/contact.created '{"id": "h1", "name": "H"}' -H 'X-Flow-User: hank')
gid=$(json_eval "${g% *}" 'j["run_id"]' 2>/dev/null); hid=$(json_eval "${h% *}" 'j["run_id"]' 2>/dev/null)
q users disable gail
q users remove hank
serve_stop
serve_start "$T/serve.log" --workers 2
wait_status "$gid" skipped; wait_status "$hid" skipped
ge=$(json_eval "$(curl -s -H "$AUTH" "$SV/runs/$gid")" 'j.get("error")')
he=$(json_eval "$(curl -s -H "$AUTH" "$SV/runs/$hid")" 'j.get("error")')
if [ -n "$gid" ] && [ "$(status_of "$gid")$(status_of "$hid")" == skippedskipped ] && [ "$(count '/*')" == 0 ] \
   && [ "$ge" == "user 'gail' is disabled" ] && [ "$he" == "unknown user 'hank'" ]; then
    pass "serve: a user disabled, and one removed, while their runs are queued: the runs end skipped with the reason, nothing sent"
else
    fail "serve: eligibility at claim" "g=$g h=$h status=$(status_of "$gid"),$(status_of "$hid") errors=$ge,$he sent=$(count '/*')"
fi
# the same through `resume`: disconnected while queued
serve_stop
q users set ivy
q connect ivy hubspot --secret hubspot_token=hub-ivy
q users enable ivy --workflow hub_import
serve_start "$T/serve.log" --paused
i=$(post /events/contact.created '{"id": "i1", "name": "I"}' -H 'X-Flow-User: ivy')
iid=$(json_eval "${i% *}" 'j["run_id"]' 2>/dev/null)
serve_stop
q disconnect ivy hubspot
ctl_reset
"$A" resume --state "$ST" >/dev/null 2>"$T/resume.err"; rc=$?
st=$(json_eval "$("$A" show "$iid" --json --state "$ST" 2>/dev/null)" 'j["run"]["status"], j["run"]["error"]' 2>/dev/null)
if [ -n "$iid" ] && [ "$st" == "('skipped', \"user 'ivy' has no connection to 'hubspot'\")" ] && [ "$(count '/*')" == 0 ]; then
    pass "resume: a run whose user was disconnected while it was queued ends skipped, nothing sent"
else
    fail "resume: eligibility at claim" "rc=$rc st=$st sent=$(count '/*') $(tail -2 "$T/resume.err")"
fi

# ---- undeploy and deploy on a live serve -------------------------------------------------
q users set jay
q connect jay hubspot --secret hubspot_token=hub-jay
q connect jay salesforce --secret salesforce_token=sf-b-1 --field instance_url="$API/org2"
q users enable jay --workflow hub_import
q users enable jay --workflow sf_inbound
ctl_routes '{"method": "POST", "path": "/hub/crm/v3/objects/contacts", "status": 201, "hold_ms": 2500, "body": {"id": "h2", "properties": {}, "createdAt": "x", "updatedAt": "x", "archived": false}}'
serve_start "$T/serve.log" --workers 2
ctl_reset
j1=$(post /events/contact.created '{"id": "j1", "name": "J"}' -H 'X-Flow-User: jay')
jid=$(json_eval "${j1% *}" 'j["run_id"]' 2>/dev/null)
for _ in $(seq 1 100); do [ "$(count /hub/crm/v3/objects/contacts)" == 1 ] && break; sleep 0.05; done
q workflows undeploy hub_import
q workflows undeploy sf_inbound
j2=$(post /events/contact.created '{"id": "j2", "name": "J"}' -H 'X-Flow-User: jay')
hk=$(post /hooks/sf_inbound/jay '{"id": "003"}')
wf=$(api GET /workflows)
wait_status "$jid" succeeded
if [ "$(status_of "$jid")" == succeeded ] && [ "${j2##* }" == 200 ] \
   && [ "$(json_eval "${j2% *}" '[s["reason"] for s in j["skipped"] if s["workflow"] == "hub_import"]')" == "[\"workflow 'hub_import' is undeployed\"]" ] \
   && [ "${hk##* }" == 410 ] && echo "$hk" | grep -q 'undeployed' && [ "$(count /hub/crm/v3/objects/contacts)" == 1 ] \
   && [ "$(json_eval "${wf% *}" '{w["name"]: w["deployed"] for w in j["workflows"]}["hub_import"]')" == False ]; then
    pass "undeploy on a live serve: new events skip the workflow (with the reason), its hook answers 410, the run in flight finishes"
else
    fail "undeploy live" "run=$(status_of "$jid") j2=$j2 hook=$hk hub=$(count /hub/crm/v3/objects/contacts)"
fi
q workflows deploy hub_import
api POST /workflows/sf_inbound/deploy >/dev/null
ctl_routes '{"method": "POST", "path": "/hub/crm/v3/objects/contacts", "status": 201, "body": {"id": "h3", "properties": {}, "createdAt": "x", "updatedAt": "x", "archived": false}}'
j3=$(post /events/contact.created '{"id": "j3", "name": "J"}' -H 'X-Flow-User: jay')
hk2=$(post /hooks/sf_inbound/jay '{"id": "003"}' -D "$T/hk2.headers")
hk3=$(post /hooks/sf_inbound '{"id": "003"}' -H 'X-Flow-User: jay')
hk4=$(post /hooks/sf_inbound '{"id": ""}' -H 'X-Flow-User: jay' -D "$T/hk4.headers")
if [ "${j3##* }" == 202 ] && [ "$(json_eval "${j3% *}" '[r["workflow"] for r in j["runs"]]')" == "['hub_import']" ] \
   && [ "${hk2##* }" == 201 ] && [ "$(json_eval "${hk2% *}" 'j["got"]')" == 003B ] && [ "${hk3##* }" == 201 ] \
   && grep -qi '^X-Contact: 003B' "$T/hk2.headers"; then
    pass "deploy brings it back: events start it again, its hook (/hooks/WORKFLOW/USER or X-Flow-User) answers with the run's return status, headers and value"
else
    fail "deploy again" "j3=$j3 hook=$hk2 hook-header=$hk3 headers=$(tr -d '\r' <"$T/hk2.headers" | tr '\n' ' ')"
fi
if [ "${hk4##* }" == 422 ] && [ "$(json_eval "${hk4% *}" 'j')" == "{'error': 'id is empty'}" ] \
   && grep -qi '^X-Field: id' "$T/hk4.headers"; then
    pass "a project's hook: fail status 422 headers {...} answers 422 {\"error\"} with the headers"
else
    fail "hook fail status" "hook=$hk4 headers=$(tr -d '\r' <"$T/hk4.headers" | tr '\n' ' ')"
fi

# ---- the application's API ----------------------------------------------------------------
codes=""
k1=$(api PUT /users/kim '{}'); k2=$(api PUT /users/kim '{"enabled": true}')
k3=$(api PUT /users/kim '{"enabled": "yes"}'); k4=$(api PUT /users/kim '{"enabled": ')
k5=$(api PUT /users/kim '{"colour": 1}'); k6=$(api GET /users/kim); k7=$(api GET /users/nobody)
long=$(printf 'u%.0s' $(seq 1 600))
k8=$(api PUT "/users/$long" '{}'); k9=$(api PUT '/users/a%20b' '{}'); k10=$(api GET '/users/a*b')
if [ "${k1##* }${k2##* }${k3##* }${k4##* }${k5##* }${k6##* }${k7##* }${k8##* }${k9##* }${k10##* }" == 201200400400400200404400400400 ] \
   && echo "$k3" | grep -q "'enabled' must be true or false" && echo "$k4" | grep -q 'not valid JSON' \
   && echo "$k5" | grep -q "unknown field 'colour'" && echo "$k8" | grep -q 'the user id has 600 bytes: a user id is 1 to 128 bytes' \
   && echo "$k9" | grep -q 'a user id is 1 to 128 bytes of letters, digits' && [ "${#long}" == 600 ] \
   && [ "$(json_eval "$(api GET /users | sed 's/ [0-9]*$//')" 'len([u for u in j["users"] if len(u["id"]) > 128 or " " in u["id"]])')" == 0 ]; then
    pass "api: PUT/GET users, with 400 naming the problem for bad JSON, a mistyped or unknown field, an oversized or malformed id (none stored); 404 for an unknown user"
else
    fail "api: users" "$k1 | $k2 | $k3 | $k4 | $k5 | $k7 | ${k8:0:200} | $k9 | $k10"
fi
c1=$(api PUT /users/kim/connections/slack '{"secrets": {"slack_token": "xoxb-kim-SECRET-99"}}')
c2=$(api PUT /users/kim/connections/nope '{"secrets": {}}')
c3=$(api PUT /users/kim/connections/hubspot '{"secrets": {"crm_token": "x"}}')
c4=$(api PUT /users/kim/connections/slack '{"fields": {"region": "eu"}}')
c5=$(api PUT /users/kim/connections/salesforce '{"secrets": {"salesforce_token": "t"}, "fields": {"instance_url": "ftp://org.example"}}')
c6=$(api PUT /users/kim/connections/salesforce '{"secrets": {"salesforce_client_secret": "x"}}')
c7=$(api PUT /users/kim/connections/slack '{"secrets": "nope"}')
v=$(api GET /users/kim)
if [ "${c1##* }${c2##* }${c3##* }${c4##* }${c5##* }${c6##* }${c7##* }" == 200404400422422400400 ] \
   && [ "$(json_eval "${c1% *}" 'j["connections"]["slack"]["secrets"]')" == "{'slack_token': '<set>'}" ] \
   && echo "$c2" | grep -q "unknown integration 'nope'" && echo "$c3" | grep -q "'crm_token' is not a credential of 'hubspot'" \
   && echo "$c4" | grep -q "'region' is not a connection field of 'slack'" && echo "$c5" | grep -q "instance_url' of 'salesforce' is its base URL" \
   && echo "$c6" | grep -q 'app credential' \
   && [ "$(json_eval "${v% *}" 'sorted(j["connections"])')" == "['slack']" ]; then
    pass "api: PUT connections (secrets shown by name only); unknown integration 404, a secret or field the integration does not declare, a bad base URL, an app credential: 4xx naming it, nothing stored"
else
    fail "api: connections" "$c1 | $c2 | $c3 | $c4 | $c5 | $c6 | $c7 | $v"
fi
a1=$(api PUT /users/kim/workflows/slack_notify '{"settings": {"channel": 5}}')
a2=$(api PUT /users/kim/workflows/slack_notify '{"settings": {"chanel": "#x"}}')
a3=$(api PUT /users/kim/workflows/nope '{}')
v1=$(api GET /users/kim)
a4=$(api PUT /users/kim/workflows/slack_notify '{"settings": {"channel": "#kim"}}')
if [ "${a1##* }${a2##* }${a3##* }${a4##* }" == 422422404200 ] && echo "$a1" | grep -q "setting 'channel': expected string, got int" \
   && echo "$a2" | grep -q "unknown setting 'chanel'" && echo "$a3" | grep -q "unknown workflow 'nope'" \
   && [ "$(json_eval "${v1% *}" 'j["activations"]')" == "{}" ] \
   && [ "$(json_eval "${a4% *}" 'j["activations"]["slack_notify"]["settings"], j["activations"]["slack_notify"]["enabled"]')" == "({'channel': '#kim'}, True)" ]; then
    pass "api: PUT workflows with settings (422 with the validation message, nothing stored; 404 for an unknown workflow)"
else
    fail "api: activations" "$a1 | $a2 | $a3 | $v1 | $a4"
fi
ctl_reset
kk=$(post /events/contact.created '{"id": "k1", "name": "Kim"}' -H 'X-Flow-User: kim')
for id in $(json_eval "${kk% *}" '" ".join(r["run_id"] for r in j["runs"])'); do wait_status "$id" succeeded; done
ks=$(ctl_log /slack/chat.postMessage)
[ "$(json_eval "$ks" '[(r["headers"]["authorization"], json.loads(r["body"])["channel"]) for r in j]')" == "[('Bearer xoxb-kim-SECRET-99', '#kim')]" ] \
    && pass "api: the user connected and activated through the API runs with that connection and those settings" \
    || fail "api: run after API setup" "$kk $ks"
# trigger enabled, fired by an activation through the API
ctl_reset
w1=$(api PUT /users/kim/workflows/welcome '{"settings": {"channel": "#hello"}}')
for _ in $(seq 1 100); do [ "$(count /slack/chat.postMessage)" == 1 ] && break; sleep 0.05; done
w2=$(api PUT /users/kim/workflows/welcome '{"settings": {"channel": "#hello"}}')
sleep 0.5
wl=$(ctl_log /slack/chat.postMessage)
if [ "${w1##* }${w2##* }" == 200200 ] && [ "$(json_eval "$wl" '[json.loads(r["body"])["text"] for r in j]')" == "['welcome kim']" ]; then
    pass "api: enabling a \`trigger enabled\` workflow under serve runs it once per enabling"
else
    fail "api: trigger enabled" "$w1 | $wl"
fi
d1=$(api DELETE /users/kim/workflows/slack_notify); d2=$(api DELETE /users/kim/connections/slack)
d3=$(api DELETE /users/kim/connections/slack); d4=$(api DELETE /users/kim); d5=$(api GET /users/kim)
d6=$(api POST /workflows/nope/undeploy); d7=$(api GET /workflows); d8=$(api DELETE /workflows); d9=$(api GET /nowhere)
if [ "${d1##* }${d2##* }${d3##* }${d4##* }${d5##* }${d6##* }${d7##* }${d8##* }${d9##* }" == 200200404200404404200405404 ] \
   && [ "$(json_eval "${d1% *}" 'j["activations"]["slack_notify"]["enabled"]')" == False ] \
   && [ "$(json_eval "${d7% *}" 'len(j["workflows"])')" == 6 ]; then
    pass "api: DELETE a workflow, a connection (404 the second time), a user; GET /api/workflows; unknown workflow 404, wrong method 405"
else
    fail "api: deletes" "$d1 | $d2 | $d3 | $d4 | $d5 | $d6 | $d8 | $d9"
fi
serve_stop
if ! grep -rqE 'xoxb-kim-SECRET-99|xoxb-evan-1|hub-jay|sf-a-NEW|sf-b-1' "$T/serve.log" "$T/cli.log" \
   && ! grep -aqE 'xoxb-kim-SECRET-99|xoxb-evan-1|hub-jay' "$ST/data.mdb"; then
    pass "api: no log line, and no byte of the state, holds a secret given to a connection"
else
    fail "api: secrets leaked" "$(grep -rhoE '.{40}(xoxb-kim-SECRET-99|xoxb-evan-1|hub-jay|sf-b-1).{10}' "$T/serve.log" "$T/cli.log" | head -3)"
fi

# ---- kill -9 during multi-workflow accepts ------------------------------------------------
q users set lou
q connect lou salesforce --secret salesforce_token=sf-b-1 --field instance_url="$API/org2"
q connect lou slack --secret slack_token=xoxb-lou
q connect lou hubspot --secret hubspot_token=hub-lou
for w in sf_sync slack_notify hub_import; do q users enable lou --workflow $w; done
serve_start "$T/kill.log" --paused
python3 fire.py "$SV" /events/contact.created 3000 --user lou --key-prefix k9- --threads 16 --out "$T/fire1" &
fpid=$!
for _ in $(seq 1 400); do      # killed while accepts are being answered
    [ -f "$T/fire1" ] && [ "$(wc -l <"$T/fire1")" -ge 200 ] && break
    sleep 0.02
done
kill -9 "$SV_PID"; wait "$SV_PID" 2>/dev/null
wait "$fpid" 2>/dev/null
serve_start "$T/kill.log" --paused
python3 fire.py "$SV" /events/contact.created 3000 --user lou --key-prefix k9- --threads 8 --out "$T/fire2"
runs_of lou >"$T/lou.runs"
serve_stop
check=$(python3 - "$T/fire1" "$T/fire2" "$T/lou.runs" <<'PY' 2>&1
import json, sys, collections
first = [json.loads(l) for l in open(sys.argv[1])]
second = {a["key"]: a for a in map(json.loads, open(sys.argv[2]))}
runs = json.load(open(sys.argv[3]))
answered = [a for a in first if a["status"] == 202]
assert len(second) == 3000 and all(a["status"] == 202 and len(a["runs"]) == 3 for a in second.values()), "second round"
by_key = collections.Counter((r["workflow"], r["trigger"]["id"]) for r in runs)
assert len(runs) == 9000 and max(by_key.values()) == 1, "runs: %d, most per (workflow, event) %d" % (len(runs), max(by_key.values()))
for a in answered:             # what was answered before the kill is what a replay names
    assert {(r["workflow"], r["run_id"]) for r in a["runs"]} == {(r["workflow"], r["run_id"]) for r in second[a["key"]]["runs"]}, a["key"]
print("ok %d %d" % (len(answered), len(first)))
PY
)
if [[ $check == ok* ]] && [ "$(echo "$check" | cut -d" " -f2)" -lt 3000 ]; then
    pass "kill -9 during multi-workflow accepts (${check#ok } answered before the kill): after restart every run exists once per (event, workflow); replays name the runs first answered"
else
    fail "kill -9 multi-workflow accept" "$check"
fi

# ---- schedules: each workflow's own, per user who enabled it; undeployed, none -----------
if "$FLOWC" build sched/tick_a.flow sched/tick_b.flow -o "$T/ticks" 2>"$T/ticks.build" \
   && "$FLOWC" build sched -o "$T/zones" 2>>"$T/ticks.build"; then
    TS="$T/ticks.state"
    for u in ann bob; do "$T/ticks" users set $u --state "$TS" 2>/dev/null; done
    "$T/ticks" users enable ann --workflow tick_a --state "$TS" 2>/dev/null
    for w in tick_a tick_b; do "$T/ticks" users enable bob --workflow $w --state "$TS" 2>/dev/null; done
    "$T/ticks" workflows undeploy tick_b --state "$TS" 2>/dev/null
    ctl_routes '[{"method": "POST", "path": "/tick_a/*", "body": {}}, {"method": "POST", "path": "/tick_b/*", "body": {}}]'
    ctl_reset
    rm -f "$T/port"
    "$T/ticks" serve --listen 127.0.0.1:0 --port-file "$T/port" --state "$TS" --token-file "$T/token" 2>"$T/ticks.log" &
    tp=$!
    sleep 4.5
    "$T/ticks" workflows deploy tick_b --state "$TS" 2>/dev/null
    sleep 3
    kill -TERM $tp; wait $tp
    a_ann=$(count '/tick_a/ann'); a_bob=$(count '/tick_a/bob'); b_ann=$(count '/tick_b/ann'); b_bob=$(count '/tick_b/bob')
    first_b=$(json_eval "$(ctl_log '/tick_b/bob')" 'min([r["time_ms"] for r in j] or [0])')
    "$T/zones" serve --listen 127.0.0.1:0 --state "$T/zones.state" --token-file "$T/token" >"$T/zones.out" 2>&1; zrc=$?
    if [ "$a_ann" -ge 3 ] && [ "$a_ann" == "$a_bob" ] && [ "$b_ann" == 0 ] && [ "$b_bob" -ge 1 ] && [ "$b_bob" -lt "$a_bob" ] \
       && grep -q 'schedule tick_b: fire of .*: 0 runs queued (undeployed: no runs)' "$T/ticks.log" \
       && [ $zrc -eq 2 ] && grep -q 'different time zones' "$T/zones.out"; then
        pass "schedules: each workflow fires for the users who enabled it ($a_ann, $a_bob fires; $b_bob after its deploy, none while undeployed); two zones in one serve are refused"
    else
        fail "schedules in a project" "a=$a_ann/$a_bob b=$b_ann/$b_bob zones rc=$zrc $(grep -m2 -E 'schedule|error' "$T/ticks.log") $(head -2 "$T/zones.out")"
    fi
else
    fail "schedules: build" "$(head -3 "$T/ticks.build")"
fi

# ---- a state an earlier version wrote (layout 2: settings and tokens on the user) -----------
if cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g "$ROOT/tests/state/statetool.c" -llmdb -lcrypto -o "$T/statetool" \
       2>"$T/tool.build" && "$FLOWC" build legacy.flow -o "$T/legacy" 2>"$T/legacy.build"; then
    LS="$T/legacy.state"
    "$T/legacy" users set old --state "$LS" >/dev/null 2>&1       # makes the state (and its users_layout)
    sealed=$("$T/statetool" seal1 "$FLOW_SECRETS_KEY" xoxb-old-LAYOUT2)
    "$T/statetool" put "$LS" users old "{\"id\": \"old\", \"enabled\": true, \"settings\": {\"channel\": \"#old\"}, \"secrets\": {\"slack_token\": \"$sealed\"}, \"created\": 1, \"updated\": 1}"
    "$T/statetool" put "$LS" meta users_layout 2
    before=$("$T/legacy" users show old --json --state "$LS" 2>/dev/null)
    ctl_reset
    echo '{"id": "p1"}' >"$T/ping.json"
    "$T/legacy" run --user old --event "$T/ping.json" --state "$LS" >/dev/null 2>"$T/legacy.err"; rc=$?
    after=$("$T/legacy" users show old --json --state "$LS" 2>/dev/null)
    raw=$("$T/statetool" get "$LS" users old)
    sent=$(ctl_log /slack/chat.postMessage)
    if [ $rc -eq 0 ] && [ "$(json_eval "$before" 'sorted(j["connections"]), j["settings"]')" == "(['slack'], {'channel': '#old'})" ] \
       && [ "$(json_eval "$sent" '[(r["headers"]["authorization"], json.loads(r["body"])["channel"]) for r in j]')" == "[('Bearer xoxb-old-LAYOUT2', '#old')]" ] \
       && json_eval "$raw" '"settings" not in j and j["activations"]["legacy"]["settings"] == {"channel": "#old"} and j["connections"]["slack"]["secrets"]["slack_token"].startswith("cp2:") and "slack_token" not in j["secrets"]' | grep -q True \
       && [ "$(json_eval "$after" 'j["connections"]["slack"]["secrets"]')" == "{'slack_token': '<set>'}" ] \
       && grep -q '1 user record moved to layout 3' "$T/legacy.err"; then
        pass "earlier layout: a user's settings and token are read as its activation and connection, and moved there (re-sealed) once"
    else
        fail "earlier layout" "rc=$rc before=$before sent=$sent raw=$raw $(tail -3 "$T/legacy.err")"
    fi
else
    fail "earlier layout: build" "$(head -3 "$T/tool.build" "$T/legacy.build")"
fi
