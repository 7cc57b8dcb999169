#!/usr/bin/env bash
# tests/origin/run.sh — credentials stay on their origin, and values never
# change a URL's structure. Two real test servers on 127.0.0.1: the API, and
# a second one on another port (another origin) that pages and redirects
# point to; that one must never receive a credential. Cases are data:
# paths.cases (payload values in URLs), stdlib.cases (stdlib actions).
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/origin" || exit 1
T=$(scratch)

build() {   # build NAME: compiles NAME.flow to $T/NAME
    if "$FLOWC" build "$1.flow" -o "$T/$1" 2>"$T/$1.build"; then return 0; fi
    fail "origin: build $1" "$(head -5 "$T/$1.build")"
    return 1
}

# the other origin: answers everything, logs everything
echo '[{"path": "/*", "status": 200, "body": {"where": "other", "items": [], "records": [], "totalSize": 0, "done": true}}]' >"$T/other.json"
start_server "$T/other.json"
OTHER=$API OTHER_PID=$SERVER_PID
trap 'kill "$OTHER_PID" 2>/dev/null; stop_server; rm -rf "$SCRATCH_ROOT"' EXIT
OTHER_HOSTPORT=${OTHER#http://}
other_log() { curl -s "$OTHER/_ctl/log"; }
other_reset() { curl -s -o /dev/null -X POST "$OTHER/_ctl/reset"; }

echo '[{"path": "/*", "status": 200, "body": {}}]' >"$T/api.json"
start_server "$T/api.json"
export FLOW_STATE_DIR="$T/state"

# ---- payload values in paths and queries (paths.cases) -----------------------
if build paths; then
    export FLOW_CRM_BASE_URL="$API/base" FLOW_SECRET_CRM_TOKEN=crm-Token-0451
    while IFS= read -r line; do
        case "$line" in '#'*|'') continue ;; esac
        line=${line//\{OTHER\}/$OTHER_HOSTPORT}
        line=${line//\{OTHER_ENC\}/${OTHER_HOSTPORT//:/%3A}}
        p=$(json_eval "$line" 'j["p"]')
        ctl_reset; other_reset
        json_eval "$line" 'json.dumps({"p": j["p"]})' >"$T/ev.json"
        API=$API "$T/paths" run --event "$T/ev.json" >"$T/p.out" 2>"$T/p.err" </dev/null
        seen=$(curl -s "$API/_ctl/log")
        if python3 - "$line" "$seen" "$(other_log)" "$(cat "$T/p.out")" <<'PY'
import json, sys
case, seen, other, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
got = sorted((r["path"], r["query"]) for r in seen)
want = [("/base/q", "name=%s&x=1" % case["query"])]
if case["segment"] != "REFUSED":
    want += [("/base/people/%s" % case["segment"], ""), ("/base/people/%s/tags" % case["segment"], "")]
problems = []
if got != sorted(want): problems.append("api saw %r, want %r" % (got, sorted(want)))
if other: problems.append("the other origin saw %r" % [(r["path"], r["headers"]) for r in other])
o = json.loads(out) if out.strip() else {}
if case["segment"] == "REFUSED" and not all(e and "segment" in e for e in o.get("errors", [None])[:2]):
    problems.append("refusal not named: %r" % o.get("errors"))
if problems:
    print("; ".join(problems)); sys.exit(1)
PY
        then pass "origin: path value '$p' stays one segment"
        else fail "origin: path value '$p' stays one segment" "$(tail -2 "$T/p.err" | tr '\n' ' ')"
        fi
    done <paths.cases
    # a base URL with a query would put the action's path inside it
    ctl_reset
    echo '{"p": "x"}' >"$T/ev.json"
    out=$(FLOW_CRM_BASE_URL="$API/base?key=1" API=$API "$T/paths" run --event "$T/ev.json" 2>/dev/null </dev/null)
    if [ "$(json_eval "$out" 'j["via_action"]')" == False ] && json_eval "$out" 'j["errors"][1]' | grep -q "FLOW_CRM_BASE_URL" \
       && [ "$(ctl_count '/base/people*')" == 1 ]; then
        pass "origin: a FLOW_<NAME>_BASE_URL with a query fails the action, naming the variable"
    else
        fail "origin: FLOW_<NAME>_BASE_URL with a query" "$out"
    fi
    unset FLOW_CRM_BASE_URL FLOW_SECRET_CRM_TOKEN
fi

# ---- credentials and other origins ------------------------------------------
ctl_routes "[
 {\"path\": \"/redirect\", \"status\": 302, \"headers\": {\"Location\": \"$OTHER/landing\"}, \"body\": \"\"},
 {\"path\": \"/redirect-same\", \"status\": 302, \"headers\": {\"Location\": \"/landing-same\"}, \"body\": \"\"},
 {\"path\": \"/landing-same\", \"status\": 200, \"body\": {\"where\": \"same\", \"key\": true}},
 {\"path\": \"/redirect-plain\", \"status\": 302, \"headers\": {\"Location\": \"$OTHER/landing-plain\"}, \"body\": \"\"},
 {\"method\": \"POST\", \"path\": \"/redirect-post\", \"status\": 307, \"headers\": {\"Location\": \"$OTHER/landing-post\"}, \"body\": \"\"},
 {\"path\": \"/link\", \"status\": 200, \"headers\": {\"Link\": \"<$OTHER/link?page=2>; rel=\\\"next\\\"\"}, \"body\": {\"items\": [1]}},
 {\"path\": \"/cursor\", \"status\": 200, \"body\": {\"items\": [1], \"next\": \"$OTHER/cursor?page=2\"}},
 {\"path\": \"/cursor-plain\", \"status\": 200, \"body\": {\"items\": [1], \"next\": \"$OTHER/cursor-plain?page=2\"}},
 {\"path\": \"/needs-refresh\", \"status\": 401, \"body\": {\"error\": \"invalid_token\"}},
 {\"method\": \"POST\", \"path\": \"/token\", \"status\": 307, \"headers\": {\"Location\": \"$OTHER/token\"}, \"body\": \"\"},
 {\"path\": \"/services/data/v59.0/query\", \"status\": 200, \"body\": {\"totalSize\": 2, \"done\": false, \"records\": [{}], \"nextRecordsUrl\": \"$OTHER/services/data/v59.0/query/01g-2000\"}}
]"
SECRETS=(api-Token-7731 keyed-Key-5520 crm-Token-0451 sf-Token-9912 rf-Refresh-3318 rf-Client-Secret-6604 rf-Access-1177)
# no_credential_at_other NAME: the other origin's log holds no credential
no_credential_at_other() {
    local log
    log=$(other_log)
    if python3 - "$log" "${SECRETS[@]}" <<'PY'
import json, sys
log, secrets = json.loads(sys.argv[1]), sys.argv[2:]
bad = [(r["path"], k) for r in log for k, v in r["headers"].items()
       if k in ("authorization", "x-api-key", "x-token", "cookie", "x-session-id") or any(s in v for s in secrets)]
bad += [(r["path"], "body") for r in log if any(s in (r["body"] or "") for s in secrets)]
bad += [(r["path"], "query") for r in log if any(s in (r["query"] or "") for s in secrets)]
if bad: print(bad); sys.exit(1)
PY
    then pass "$1"; else fail "$1" "$(echo "$log" | head -c 600)"; fi
}
if build creds; then
    ctl_reset; other_reset
    echo "{\"other\": \"$OTHER\"}" >"$T/ev.json"
    out=$(FLOW_KEYED_BASE_URL=$API FLOW_CRM_BASE_URL=$API FLOW_SECRET_API_TOKEN=${SECRETS[0]} \
          FLOW_SECRET_KEYED_KEY=${SECRETS[1]} FLOW_SECRET_CRM_TOKEN=${SECRETS[2]} API=$API \
          FLOW_REFRESHING_BASE_URL=$API FLOW_REFRESHING_TOKEN_URL=$API/token FLOW_SECRET_REFRESHING_REFRESH=${SECRETS[4]} \
          FLOW_SECRET_REFRESHING_CLIENT_ID=rf-client FLOW_SECRET_REFRESHING_CLIENT_SECRET=${SECRETS[5]} \
          FLOW_SECRET_REFRESHING_TOKEN=${SECRETS[6]} \
          "$T/creds" run --event "$T/ev.json" 2>"$T/c.err")
    no_credential_at_other "origin: pages and redirects to another origin carry no credential"
    ol=$(other_log)
    paths=$(json_eval "$ol" 'sorted(r["path"] for r in j)')
    [ "$paths" == "['/landing', '/landing-plain']" ] \
        && pass "origin: only the GET redirects reached the other origin" || fail "origin: other origin requests" "$paths"
    [ "$(json_eval "$out" 'j["redirected"], j["plain_redirect"]')" == "('other', 'other')" ] \
        && pass "origin: a redirect to another origin is followed without credentials" \
        || fail "origin: cross-origin redirect followed" "$out $(tail -3 "$T/c.err")"
    [ "$(json_eval "$ol" '[r["headers"].get("x-trace") for r in j if r["path"] == "/landing-plain"]')" == "['t-1']" ] \
        && pass "origin: headers that are no credential still go with a redirect" || fail "origin: x-trace kept" "$ol"
    al=$(curl -s "$API/_ctl/log?path=/landing-same")
    [ "$(json_eval "$out" 'j["redirected_same"]')" == same ] && [ "$(json_eval "$al" '[r["headers"].get("x-api-key") for r in j]')" == "['${SECRETS[1]}']" ] \
        && pass "origin: a redirect within the origin keeps the credentials" || fail "origin: same-origin redirect" "$out $al"
    if python3 - "$out" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
assert not any(o["oks"].values()), o["oks"]
for k, e in o["errors"].items():
    assert e and "origin" in e, (k, e)
PY
    then pass "origin: next pages, 307s with a secret body (a step's, the OAuth2 refresh's) and an action URL elsewhere fail naming the origin"
    else fail "origin: refusals" "$out"
    fi
    if grep -rqa -e "${SECRETS[0]}" -e "${SECRETS[1]}" -e "${SECRETS[2]}" -e "${SECRETS[4]}" -e "${SECRETS[5]}" "$T/c.err" "$T/state"; then
        fail "origin: refusals keep the secrets out of logs and state" "found"
    else
        pass "origin: refusals keep the secrets out of logs and state"
    fi
fi
if build salesforce; then
    ctl_reset; other_reset
    echo '{}' >"$T/ev.json"
    out=$(FLOW_SALESFORCE_BASE_URL=$API FLOW_SECRET_SALESFORCE_TOKEN=${SECRETS[3]} \
          "$T/salesforce" run --event "$T/ev.json" 2>"$T/sf.err")
    no_credential_at_other "origin: salesforce.query's nextRecordsUrl on another origin gets no bearer"
    [ "$(json_eval "$out" 'j["ok"]')" == False ] && json_eval "$out" 'j["error"]' | grep -q origin \
        && pass "origin: salesforce.query fails naming the other origin" || fail "origin: salesforce.query refusal" "$out"
    [ "$(json_eval "$(other_log)" 'len(j)')" == 0 ] && pass "origin: salesforce next page not sent" \
        || fail "origin: salesforce next page not sent" "$(other_log | head -c 300)"
fi

# ---- stdlib actions with ids that hold URL syntax (stdlib.cases) -------------
ctl_routes '[
 {"path": "/services/data/v59.0/sobjects/*", "status": 200, "body": {"id": "1", "success": true, "created": false, "errors": []}},
 {"path": "/calendar/v3/*", "status": 200, "body": {"id": "e", "status": "confirmed", "htmlLink": "h", "iCalUID": "i", "created": "c", "updated": "u", "start": {}, "end": {}}},
 {"path": "/crm/v3/*", "status": 200, "body": {"id": "1", "properties": {}, "createdAt": "c", "updatedAt": "u", "archived": false}}
]'
if build stdlib; then
    n=0
    # a case is one JSON value, over as many lines as it needs
    python3 - stdlib.cases >"$T/cases.jsonl" <<'PY'
import json, sys
text = "\n".join(l for l in open(sys.argv[1]) if not l.startswith("#"))
dec, i = json.JSONDecoder(), 0
while True:
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    v, i = dec.raw_decode(text, i)
    print(json.dumps(v))
PY
    while IFS= read -r case; do
        n=$((n + 1))
        ctl_reset
        json_eval "$case" 'json.dumps(j["event"])' >"$T/ev.json"
        FLOW_SALESFORCE_BASE_URL=$API FLOW_GOOGLE_CALENDAR_BASE_URL=$API/calendar/v3 FLOW_HUBSPOT_BASE_URL=$API \
        FLOW_SECRET_SALESFORCE_TOKEN=t1 FLOW_SECRET_GOOGLE_CALENDAR_TOKEN=t2 FLOW_SECRET_HUBSPOT_TOKEN=t3 \
            "$T/stdlib" run --event "$T/ev.json" >"$T/s.out" 2>"$T/s.err" </dev/null
        seen=$(curl -s "$API/_ctl/log")
        got=$(json_eval "$seen" 'json.dumps([[r["method"], r["path"]] for r in j])')
        want=$(json_eval "$case" 'json.dumps(j["seen"])')
        if [ "$got" == "$want" ]; then
            pass "origin: stdlib actions encode path values (case $n: $(json_eval "$case" 'j["event"]["email"]'))"
        else
            fail "origin: stdlib actions encode path values (case $n)" "saw $got want $want $(tail -2 "$T/s.err" | tr '\n' ' ')"
        fi
    done <"$T/cases.jsonl"
fi
