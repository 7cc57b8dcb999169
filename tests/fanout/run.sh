#!/usr/bin/env bash
# Fanout and rate limits end to end. The cases in tests/fanout/cases
# (concurrency and --max-inflight as the test server counted requests in
# flight, order, failing and nested items, timeout and retry clauses, the
# crash guard in concurrent items, a 429 storm) run through the end-to-end
# driver (docs/testing.md, "End-to-end cases"); this script adds the
# 2,000-item fanout killed with -9 at random moments: after each kill, the
# items whose records the state holds are never sent again, and at most
# 2 x concurrency requests per kill are (docs/runtime.md, "Fanout"); a
# fanout of two-request items killed so: an item's first request is never
# sent again once its second one was (a step's record is durable before
# the next step of its item starts); and a fanout killed once the step after
# it has sent its request: every item was durable, none is sent again (the
# fanout ends only once every item's records are durable).
source "$(dirname "$0")/../lib/common.sh"
bash "$ROOT/tests/e2e/run.sh" "$ROOT/tests/fanout/cases"
cd "$ROOT/tests/fanout" || exit 1
T=$(scratch)

build() {   # build NAME: compiles NAME.flow to $T/NAME
    if "$FLOWC" build "$1.flow" -o "$T/$1" 2>"$T/$1.build"; then return 0; fi
    fail "build $1" "$(head -5 "$T/$1.build")"
    return 1
}
cat >"$T/routes.json" <<'JSON'
[{"method": "GET", "path": "/k/*", "body": {"$echo": true}, "delay_ms": 2},
 {"method": "GET", "path": "/a/*", "body": {"$echo": true}, "delay_ms": 2},
 {"method": "GET", "path": "/b/*", "body": {"$echo": true}, "delay_ms": 2},
 {"method": "GET", "path": "/done", "body": {"$echo": true}, "delay_ms": 3000}]
JSON
start_server "$T/routes.json"
export API

# ---- kill -9 at random moments during a 2,000-item fanout --------------------------
if build crash; then
    ctl_reset
    echo '{"n": 2000}' >"$T/c.json"
    "$T/crash" run --event "$T/c.json" --state "$T/ref.state" >"$T/ref.out" 2>"$T/ref.err"
    ctl_reset
    kills=0
    : >"$T/c.out"    # only the process that finishes the run prints its output
    "$T/crash" run --event "$T/c.json" --state "$T/c.state" >>"$T/c.out" 2>/dev/null &
    pid=$!
    for delay in 0.15 0.2 0.1 0.25; do
        sleep "$delay"
        if kill -0 $pid 2>/dev/null; then
            kill -9 $pid; wait $pid 2>/dev/null; kills=$((kills + 1))
            # what the state holds at the kill, and what the server saw until then
            id=$("$T/crash" history --state "$T/c.state" --json | json_eval "$(cat)" 'j[0]["id"]')
            "$T/crash" show "$id" --state "$T/c.state" --json >"$T/kill$kills.show"
            ctl_log '/k/*' >"$T/kill$kills.log"
        fi
        "$T/crash" resume --state "$T/c.state" >>"$T/c.out" 2>/dev/null &
        pid=$!
    done
    wait $pid; rc=$?
    # a request may be sent again only if its record was not durable at a kill (at several kills: several times)
    counts=$(curl -s "$API/_ctl/log?path=/k/*" | python3 -c '
import json, sys, collections
c = collections.Counter(r["path"] for r in json.load(sys.stdin))
print(len(c), sum(c.values()), max(c.values()))')
    read -r distinct total most <<<"$counts"
    if [ $rc -eq 0 ] && cmp -s <(json_eval "$(cat "$T/ref.out")" 'json.dumps(j, sort_keys=True)') <(json_eval "$(cat "$T/c.out")" 'json.dumps(j, sort_keys=True)'); then
        pass "2,000-item fanout killed $kills times: output identical to an uninterrupted run"
    else
        fail "fanout kill -9 output" "rc=$rc kills=$kills $(head -c 200 "$T/c.out") ref: $(tail -2 "$T/ref.err")"
    fi
    if [ "$distinct" == 2000 ] && [ "$most" -le $((1 + kills)) ] && [ "$total" -le $((2000 + 2 * 16 * kills)) ]; then
        pass "every item's request sent, re-sent only for items not durable at a kill ($total requests, $kills kills)"
    else
        fail "fanout kill -9 requests" "distinct=$distinct total=$total most=$most kills=$kills"
    fi
    # an item whose record the state held at a kill is never sent again
    ctl_log '/k/*' >"$T/final.log"
    if [ "$kills" -gt 0 ] && why=$(python3 - "$T" "$kills" <<'PY' 2>&1
import collections, json, re, sys
t, kills = sys.argv[1], int(sys.argv[2])
count = lambda f: collections.Counter(r["path"] for r in json.load(open(f)))
final = count(t + "/final.log")
held = 0
for k in range(1, kills + 1):
    show, seen = json.load(open("%s/kill%d.show" % (t, k))), count("%s/kill%d.log" % (t, k))
    for s in show["steps"]:
        m = re.fullmatch(r"got\[(\d+)\]\.g", s["path"])
        if not m or s["status"] != "succeeded": continue
        held += 1
        p = "/k/%s" % m.group(1)
        assert seen[p] >= 1, "%s: durable at kill %d but never sent" % (p, k)
        assert final[p] == seen[p], "%s: durable at kill %d, sent again after it" % (p, k)
print(held)
PY
); then
        pass "no item whose record was durable at a kill is sent again ($why item records checked over $kills kills)"
    else
        fail "fanout kill -9: durable items sent again" "$why"
    fi
fi

# ---- kill -9 during a fanout of two-request items ----------------------------------
if build twostep; then
    ctl_reset
    echo '{"n": 2000}' >"$T/t.json"
    kills=0
    : >"$T/t.out"
    "$T/twostep" run --event "$T/t.json" --state "$T/t.state" >>"$T/t.out" 2>/dev/null &
    pid=$!
    for delay in 0.2 0.15 0.25; do
        sleep "$delay"
        if kill -0 $pid 2>/dev/null; then
            kill -9 $pid; wait $pid 2>/dev/null; kills=$((kills + 1))
            curl -s "$API/_ctl/log" >"$T/tkill$kills.log"    # what the server saw until the kill
        fi
        "$T/twostep" resume --state "$T/t.state" >>"$T/t.out" 2>/dev/null &
        pid=$!
    done
    wait $pid; rc=$?
    curl -s "$API/_ctl/log" >"$T/tfinal.log"
    if [ $rc -eq 0 ] && json_eval "$(cat "$T/t.out")" "j == {'n': 2000, 'last': '/b/1999'}" | grep -q True &&
       why=$(python3 - "$T" "$kills" <<'PY' 2>&1
import collections, json, sys
t, kills = sys.argv[1], int(sys.argv[2])
count = lambda f: collections.Counter(r["path"] for r in json.load(open(f)))
final = count(t + "/tfinal.log")
assert all(final["/a/%d" % i] >= 1 and final["/b/%d" % i] >= 1 for i in range(2000)), "an item's request never sent"
extra = sum(final.values()) - 4000
assert extra <= 2 * 16 * kills, "%d requests sent again over %d kills" % (extra, kills)
checked = 0
for k in range(1, kills + 1):
    seen = count("%s/tkill%d.log" % (t, k))
    for i in range(2000):
        if seen["/b/%d" % i]:
            checked += 1
            assert final["/a/%d" % i] == seen["/a/%d" % i], "/a/%d sent again after kill %d, its item's /b/%d was sent before it" % (i, k, i)
print("%d items checked over %d kills, %d requests sent again" % (checked, kills, extra))
PY
); then
        pass "two-request items killed $kills times: no first request sent again once its second was ($why)"
    else
        fail "two-request items killed with -9" "rc=$rc $(head -c 200 "$T/t.out") ${why:-}"
    fi
fi

# ---- kill -9 once the fanout has ended: every item durable -------------------------
# The step after the fanout is held by the server; the kill comes while it
# is: the fanout had ended, so each item's record was durable (its last
# group committed before the fanout's own record), and the resume, which
# rebuilds the fanout's output from the items' records, sends no item
# again.
if build after; then
    ctl_reset
    echo '{"n": 3000}' >"$T/a.json"
    "$T/after" run --event "$T/a.json" --state "$T/a.state" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 3000); do      # polled by curl alone: the kill follows within milliseconds
        [ "$(curl -s "$API/_ctl/log?path=/done")" != "[]" ] && break
        sleep 0.01
    done
    kill -9 $pid; wait $pid 2>/dev/null
    ctl_log '/k/*' >"$T/akill.log"
    done_seen=$(ctl_count /done)
    "$T/after" resume --state "$T/a.state" >"$T/a.out" 2>"$T/a.err"; rc=$?
    ctl_log '/k/*' >"$T/afinal.log"
    if [ "$done_seen" -ge 1 ] && [ $rc -eq 0 ] && why=$(python3 - "$T" <<'PY' 2>&1
import collections, json, sys
t = sys.argv[1]
count = lambda f: collections.Counter(r["path"] for r in json.load(open(f)))
at_kill, final = count(t + "/akill.log"), count(t + "/afinal.log")
out = json.load(open(t + "/a.out"))
assert out == {"n": 3000, "last": "/k/2999"}, out
assert len(at_kill) == 3000, "%d items sent before the kill" % len(at_kill)
again = [p for p in final if final[p] != at_kill[p]]
assert not again, "sent again after the fanout ended: %s" % again[:5]
print("3,000 items, none sent again")
PY
); then
        pass "fanout killed after it ended: $why"
    else
        fail "fanout killed after it ended" "done=$done_seen rc=$rc ${why:-} $(tail -2 "$T/a.err")"
    fi
fi
