#!/usr/bin/env bash
# tests/hardening/run.sh — secrets and failure reasons under hostile
# answers: an API that hands a secret back in any form the runtime can
# produce (cut by the 300-byte error limit in its middle), failure reasons
# that are not ASCII, page checkpoints of a request holding an API key.
# Real job binaries, the real test API server, real LMDB, kill -9.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/hardening" || exit 1
T=$(scratch)

build() {   # build NAME: compiles NAME.flow to $T/NAME
    if "$FLOWC" build "$1.flow" -o "$T/$1" 2>"$T/$1.build"; then return 0; fi
    fail "build $1" "$(head -5 "$T/$1.build")"
    return 1
}
# serve_start BIN STATE: `BIN serve` on a free loopback port (no token);
# sets SV_PID and SV.
serve_start() {
    rm -f "$T/port"
    "$1" serve --listen 127.0.0.1:0 --port-file "$T/port" --state "$2" 2>>"$T/serve.log" &
    SV_PID=$!
    for _ in $(seq 1 200); do [ -s "$T/port" ] && break; sleep 0.05; done
    SV="http://127.0.0.1:$(cat "$T/port" 2>/dev/null)"
}
serve_stop() { kill -TERM "$SV_PID" 2>/dev/null; wait "$SV_PID"; }
utf8() {    # utf8 FILE...: true when every file is valid UTF-8
    python3 -c 'import sys; [open(f, "rb").read().decode("utf-8") for f in sys.argv[1:]]' "$@" 2>/dev/null
}

echo '[]' >"$T/routes.json"
start_server "$T/routes.json"

# ---- a secret in every form, cut at 300 bytes inside it ---------------------------
# forms.py computes the forms (Python's json, urllib, base64: not the
# runtime's code); leaks.py runs each case and scans every output.
if build leak && build echo; then
    FLOWC=$FLOWC python3 leaks.py "$T" "$T/leak" "$T/echo" 2>"$T/leaks.err" || fail "redact: leaks.py" "$(tail -3 "$T/leaks.err")"
fi

# ---- failure reasons that are not ASCII ------------------------------------------
# A 400 whose body is "a" then 200 "é" (the 300-byte cut falls inside a
# character), and 25 "é" where a bool is expected: the run fails with its
# reason in history, show, show --json and GET /runs/ID, valid UTF-8.
ACC=$(python3 -c 'print("a" + "\u00e9" * 200)')
python3 - "$API" "$ACC" <<'EOF'
import json, sys, urllib.request
api, acc = sys.argv[1:3]
routes = [{"path": "/r/status", "status": 400, "body": acc},
          {"path": "/r/typed", "body": {"ok": "\u00e9" * 25}}]
urllib.request.urlopen(urllib.request.Request(api + "/_ctl/routes", data=json.dumps(routes).encode(), method="POST"))
EOF
if build reasons; then
    for which in status typed; do
        case $which in
            status) want="step 'cut': HTTP 400: a$(python3 -c 'print("\u00e9" * 30)')"; step=cut ;;
            typed) want="step 'typed': response body: field 'ok' expected bool, got string \"$(python3 -c 'print("\u00e9" * 18)')" ; step=typed ;;
        esac
        st="$T/reasons.$which"
        echo "{\"which\": \"$which\"}" >"$T/ev.$which"
        "$T/reasons" run --event "$T/ev.$which" --state "$st" >"$T/r.$which.out" 2>&1; rc=$?
        "$T/reasons" run --json --event "$T/ev.$which" --state "$st" >/dev/null 2>"$T/r.$which.jlog"
        "$T/reasons" history --state "$st" >"$T/r.$which.hist" 2>&1
        "$T/reasons" history --state "$st" --json >"$T/r.$which.histj" 2>&1
        id=$(json_eval "$(cat "$T/r.$which.histj")" 'j[0]["id"]' 2>/dev/null)
        "$T/reasons" show "$id" --state "$st" >"$T/r.$which.show" 2>&1
        "$T/reasons" show "$id" --state "$st" --json >"$T/r.$which.showj" 2>&1
        serve_start "$T/reasons" "$st"
        curl -s "$SV/runs/$id" >"$T/r.$which.get"
        serve_stop
        got=$(python3 - "$want" "$step" "$T/r.$which.histj" "$T/r.$which.showj" "$T/r.$which.get" "$T/r.$which.jlog" <<'EOF'
import json, sys
want, step, histj, showj, get, jlog = sys.argv[1:7]
h = json.load(open(histj))
s = json.load(open(showj))
g = json.load(open(get))
logs = [json.loads(l) for l in open(jlog, encoding="utf-8") if l.strip()]
rec = [x for x in s["steps"] if x["path"] == step][0]
reasons = {"history --json": [r.get("error", "") for r in h],
           "show --json (run)": [s["run"].get("error", "")],
           "show --json (step)": [rec.get("error", "")],
           "show --json (attempt)": [rec["attempts"][0].get("error", "")],
           "GET /runs/ID (run)": [g.get("error", "")],
           "GET /runs/ID (step)": [g["steps"][step].get("error") or ""],
           "the --json log": [l.get("error", "") for l in logs if l.get("event") == "run" and l.get("status") == "failed"]}
# the step's own records say it without the "step 'NAME': " the run adds
tail = want.split(": ", 1)[1]
bad = [k for k, v in reasons.items() if not v or not all(r.startswith(want if "(step)" not in k and "(attempt)" not in k
                                                                      else tail) for r in v)]
print("ok" if not bad and all(x["status"] == "failed" for x in h) else "missing or wrong in: " + ", ".join(bad))
EOF
)
        if [ $rc -eq 1 ] && [ "$got" == ok ] && grep -qF "$want" "$T/r.$which.hist" "$T/r.$which.show" &&
           grep -qF "$want" "$T/r.$which.out" &&
           utf8 "$T/r.$which.out" "$T/r.$which.jlog" "$T/r.$which.hist" "$T/r.$which.histj" "$T/r.$which.show" \
                "$T/r.$which.showj" "$T/r.$which.get"; then
            pass "reasons ($which): the reason is kept, cut between characters, in the run's output, logs, history, show, show --json and GET /runs/ID"
        else
            fail "reasons ($which)" "rc=$rc $got $(head -c 300 "$T/r.$which.histj")"
        fi
    done
    # the same bool check on a payload: refused whole, with a readable reason
    python3 -c 'import json; print(json.dumps({"flag": "\u00e9" * 25}))' >"$T/ev.bool"
    cat >"$T/bool.flow" <<'EOF'
workflow h_bool
trigger event "go" { flag: bool }
return "x"
EOF
    if "$FLOWC" build "$T/bool.flow" -o "$T/bool" 2>"$T/bool.build"; then
        "$T/bool" run --event "$T/ev.bool" --state "$T/bool.state" >"$T/bool.out" 2>&1; rc=$?
        if [ $rc -eq 2 ] && grep -qF "expected bool, got string \"$(python3 -c 'print("\u00e9" * 18)')" "$T/bool.out" && utf8 "$T/bool.out"; then
            pass "reasons: 25 \"é\" where the payload wants a bool: exit 2, the reason cut between characters"
        else
            fail "reasons: bool payload" "rc=$rc $(head -2 "$T/bool.out")"
        fi
        serve_start "$T/bool" "$T/bool.sv"
        curl -s -o /dev/null -X PUT --data '{}' "$SV/api/users/hb"     # runs belong to users
        ans=$(curl -s -w ' %{http_code}' -X POST -H 'X-Flow-User: hb' --data-binary @"$T/ev.bool" "$SV/events/go")
        user=$(curl -s -w ' %{http_code}' -X POST -H $'X-Flow-User: \xffu' --data-binary '{"flag": true}' "$SV/events/go")
        runs=$(curl -s "$SV/runs")
        norun=$(curl -s -w ' %{http_code}' "$SV/runs/%ff%fe$(printf 'x%.0s' $(seq 1 250))")
        noevent=$(curl -s -w ' %{http_code}' -X POST --data-binary '{}' "$SV/events/%c3$(python3 -c 'print("%C3%A9" * 150)')")
        serve_stop
        if [ "${ans##* }" == 400 ] && echo "${ans% *}" | python3 -c 'import json,sys; e=json.load(sys.stdin)["error"]; assert "expected bool, got string" in e and e.endswith("...\"")'; then
            pass "reasons: serve answers 400 with the payload's reason (valid UTF-8) for 25 \"é\" where a bool belongs"
        else
            fail "reasons: serve bool payload" "$ans"
        fi
        if [ "${user##* }" == 400 ] && echo "$user" | grep -q "X-Flow-User is not valid UTF-8" && [ "$(json_eval "$runs" 'len(j["runs"])')" == 0 ]; then
            pass "reasons: serve refuses an X-Flow-User that is not UTF-8 (400) instead of accepting a run it cannot store"
        else
            fail "reasons: X-Flow-User not UTF-8" "$user runs=$runs"
        fi
        if [ "${norun##* }" == 404 ] && [ "${noevent##* }" == 404 ] &&
           echo "${norun% *}" | python3 -c 'import json,sys; e=json.load(sys.stdin)["error"]; assert e.startswith("no run \ufffd\ufffd") and e.endswith("x...")' &&
           echo "${noevent% *}" | python3 -c 'import json,sys; e=json.load(sys.stdin)["error"]; assert e.startswith("no event \x27\ufffd\u00e9") and "...\x27 here" in e'; then
            pass "reasons: serve's 404 for an unknown run or event quotes the request's bytes shortened between characters, as valid JSON"
        else
            fail "reasons: serve 404 answers" "$norun | $noevent"
        fi
        echo '{"flag": true}' >"$T/ev.true"
        "$T/bool" run --event "$T/ev.true" --user $'\xffu' --state "$T/bool.state" >"$T/user.out" 2>&1; rc=$?
        [ $rc -eq 2 ] && grep -q -- "--user is not valid UTF-8" "$T/user.out" && pass "reasons: run --user that is not UTF-8: exit 2" \
            || fail "reasons: run --user not UTF-8" "rc=$rc $(head -2 "$T/user.out")"
    else
        fail "build bool" "$(head -3 "$T/bool.build")"
    fi
fi

# ---- page checkpoints of a request holding an API key ------------------------------
# page numbers: killed while page 3 is in flight, the resume asks for page 3
# (with the key) and not page 1 again. A Link holding the key: not stored, so
# the resume reads those pages again from the first.
PKEY='Pk7-page-key/with+plus and "quote"'
if build pages; then
    python3 - "$API" "$PKEY" <<'EOF'
import json, sys, urllib.parse, urllib.request
api, key = sys.argv[1:3]
q = urllib.parse.quote(key, safe="")
routes = [
    {"method": "GET", "path": "/p/items", "paginate": {"style": "page", "total": 40, "per_page": 10},
     "responses": [{"status": 200}, {"status": 200}, {"status": 200, "hold_ms": 10000}, {"status": 200}]},
    {"method": "GET", "path": "/p/linked", "responses": [
        {"status": 200, "headers": {"Link": f"<{api}/p/linked?api_key={q}&page=2>; rel=\"next\""}, "body": {"items": [{"id": 1}]}},
        {"status": 200, "body": {"items": [{"id": 2}]}, "hold_ms": 10000},
        {"status": 200, "headers": {"Link": f"<{api}/p/linked?api_key={q}&page=2>; rel=\"next\""}, "body": {"items": [{"id": 1}]}},
        {"status": 200, "body": {"items": [{"id": 2}]}}]}]
urllib.request.urlopen(urllib.request.Request(api + "/_ctl/routes", data=json.dumps(routes).encode(), method="POST"))
urllib.request.urlopen(urllib.request.Request(api + "/_ctl/reset", data=b"", method="POST"))
EOF
    export FLOW_SECRET_KEY=$PKEY
    "$T/pages" run --state "$T/pages.state" >"$T/pages.out" 2>"$T/pages.err" &
    pid=$!
    for _ in $(seq 1 400); do [ "$(ctl_count /p/items)" -ge 3 ] && break; sleep 0.05; done
    kill -9 $pid; wait $pid 2>/dev/null
    leaked=$(python3 forms.py scan "$PKEY" "$T/pages.state/data.mdb")
    "$T/pages" resume --state "$T/pages.state" >"$T/pages2.out" 2>"$T/pages2.err" &
    pid=$!
    for _ in $(seq 1 400); do [ "$(ctl_count /p/linked)" -ge 2 ] && break; sleep 0.05; done
    kill -9 $pid; wait $pid 2>/dev/null
    leaked="$leaked$(python3 forms.py scan "$PKEY" "$T/pages.state/data.mdb")"
    out=$("$T/pages" resume --state "$T/pages.state" 2>"$T/pages3.err"); rc=$?
    unset FLOW_SECRET_KEY
    sent=$(python3 - "$API" "$PKEY" <<'EOF'
import json, sys, urllib.parse, urllib.request
api, key = sys.argv[1:3]
def log(p): return json.load(urllib.request.urlopen(api + "/_ctl/log?path=" + p))
q = urllib.parse.quote(key, safe="")
items = [urllib.parse.parse_qs(r["query"]) for r in log("/p/items")]
linked = [urllib.parse.parse_qs(r["query"]) for r in log("/p/linked")]
print([x.get("page", ["?"])[0] for x in items], all(x.get("api_key") == [key] for x in items + linked),
      [x.get("page", ["1"])[0] for x in linked])
EOF
)
    if [ $rc -eq 0 ] && [ "$(json_eval "$out" 'j["pages"], j["n"], j["linked"]')" == "(5, 40, 2)" ] \
       && [ "$sent" == "['1', '2', '3', '3', '4', '5'] True ['1', '2', '1', '2']" ]; then
        pass "pages: resumed after kill -9 at the page in flight (numbers), from the first page (a Link holding the key), the key sent each time"
    else
        fail "pages: resume" "rc=$rc out=$out sent=$sent $(tail -2 "$T/pages3.err")"
    fi
    if [ -z "$leaked" ] && python3 forms.py scan "$PKEY" "$T/pages.state/data.mdb" >/dev/null; then
        pass "pages: no page checkpoint holds the API key (state scanned at each kill and at the end)"
    else
        fail "pages: API key in the state" "$leaked"
    fi
fi
# ---- a refused URL: its text in the message is redacted before it is cut -------
if build urlcut; then
    UKEY="Qv8Lm$(python3 -c 'print("Zq7" * 12)')"
    pad=$(python3 -c "import sys; print('p' * (272 - len(sys.argv[1])))" "$API")
    echo "{\"pad\": \"$pad\", \"p\": \"..\"}" >"$T/urlcut.json"
    FLOW_SECRET_TOK=$UKEY "$T/urlcut" run --event "$T/urlcut.json" --state "$T/urlcut.state" >"$T/urlcut.out" 2>&1; rc=$?
    rid=$("$T/urlcut" history --state "$T/urlcut.state" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
    "$T/urlcut" show "$rid" --state "$T/urlcut.state" >"$T/urlcut.show" 2>&1
    "$T/urlcut" show "$rid" --state "$T/urlcut.state" --json >"$T/urlcut.showj" 2>&1
    "$T/urlcut" history --state "$T/urlcut.state" --json >"$T/urlcut.hist" 2>&1
    leaked=$(python3 forms.py scan "$UKEY" "$T/urlcut.out" "$T/urlcut.show" "$T/urlcut.showj" "$T/urlcut.hist" \
             "$T/urlcut.state/data.mdb")
    if [ $rc -eq 1 ] && grep -q "would climb above" "$T/urlcut.show" && [ -z "$leaked" ]; then
        pass "url: a refused URL's message (cut at 300 bytes inside an API key) holds no piece of the key"
    else
        fail "url: refused URL message" "rc=$rc leaked=$leaked $(grep -m1 climb "$T/urlcut.show" | cut -c1-200)"
    fi
fi
exit 0
