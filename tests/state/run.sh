#!/usr/bin/env bash
# tests/state/run.sh — a job's state under faults and attack: sealed secrets
# bound to their user and name (and the old format opened and re-sealed),
# the key file, file modes, damaged data files (damage.cases), a read-only
# state, and damaged records. Real job binaries, real LMDB: the state is
# damaged the way a disk or an attacker would (statetool.c writes raw
# values through LMDB; bytes of data.mdb are flipped in place).
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT/tests/state" || exit 1
T=$(scratch)
MNT=
trap '[ -n "$MNT" ] && umount "$MNT" 2>/dev/null; stop_server; rm -rf "$SCRATCH_ROOT"' EXIT

if ! cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g statetool.c -llmdb -lcrypto -o "$T/statetool" 2>"$T/tool.build"; then
    fail "state: build statetool" "$(head -5 "$T/tool.build")"
    exit 0
fi
if ! "$FLOWC" build vault.flow -o "$T/vault" 2>"$T/vault.build"; then
    fail "state: build vault" "$(head -5 "$T/vault.build")"
    exit 0
fi
TOOL=$T/statetool
V=$T/vault
jq_() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
newest() { "$V" history --json --state "$1" 2>/dev/null | jq_ 'j[0]["id"]'; }  # newest run id in a state
# flip STATE KIND KEY [AT]: flips one bit (0x01) of the byte at AT (default 0:
# '{' becomes 'z') of every copy in data.mdb of the record KEY of KIND
# (runs, steps, users): LMDB's pages stay intact, the record's bytes do not.
flip() {
    "$TOOL" get "$1" "$2" "$3" >"$T/flip.rec" || return 1
    python3 - "$1/data.mdb" "$T/flip.rec" "${4:-0}" <<'PY'
import sys
path, rec, at = sys.argv[1], open(sys.argv[2], 'rb').read(), int(sys.argv[3])
data = bytearray(open(path, 'rb').read())
i, n = data.find(rec), 0
while i >= 0:
    data[i + at] ^= 0x01
    n += 1
    i = data.find(rec, i + 1)
open(path, 'wb').write(data)
sys.exit(0 if n else 1)
PY
}
# secret_of STATE USER NAME: the stored (sealed) text
secret_of() { "$TOOL" get "$1" users "$2" | jq_ "j['secrets'].get('$3', '')"; }
# set_secret STATE USER NAME TEXT: stores TEXT as the user's sealed secret NAME
set_secret() {
    "$TOOL" get "$1" users "$2" | python3 -c "
import json, sys
j = json.load(sys.stdin); j['secrets']['$3'] = sys.argv[1]; print(json.dumps(j))" "$4" | "$TOOL" put "$1" users "$2" -
}

cat >"$T/routes.json" <<'JSON'
[
 {"method": "GET", "path": "/who/*", "responses": [{"status": 200, "body": {"ok": true}}]},
 {"method": "POST", "path": "/after/ok*", "responses": [{"status": 200, "body": {}}]},
 {"method": "POST", "path": "/after/fail*", "responses": [{"status": 400, "body": {"error": "refused"}}]}
]
JSON
start_server "$T/routes.json"
unset FLOW_STATE_DIR FLOW_SECRETS_KEY FLOW_SECRET_API_KEY
for id in ok1 ok2 ok3 fail1 fail2; do echo "{\"id\": \"$id\"}" >"$T/$id.json"; done
A_SECRET=alice-key-4f1c9e7a
B_SECRET=bob-key-88d02b3c
bearer_count() { json_eval "$(ctl_log '/who/*')" "sum(1 for r in j if r['headers'].get('authorization') == 'Bearer $1')"; }

# ---- sealed secrets: bound to (user, name) ----------------------------------
S=$T/seal.state
"$V" users set alice --secret "api_key=$A_SECRET" --state "$S" >/dev/null 2>&1
"$V" users set bob --secret "api_key=$B_SECRET" --state "$S" >/dev/null 2>&1
a_sealed=$(secret_of "$S" alice api_key)
set_secret "$S" bob api_key "$a_sealed"                 # alice's value into bob's record
"$V" run --user bob --event "$T/ok1.json" --state "$S" >"$T/moved.out" 2>"$T/moved.err"; rm_=$?
if [ $rm_ -ne 0 ] && grep -q "user bob's secret 'api_key' cannot be opened: it was not sealed for this user and secret" "$T/moved.err" \
   && [ "$(bearer_count "$A_SECRET")" == 0 ] && ! grep -q "$A_SECRET" "$T/moved.out" "$T/moved.err"; then
    pass "state: a sealed secret moved into another user's record does not open (the error names user and secret, never the value)"
else
    fail "state: moved sealed secret" "rc=$rm_ sent_with_alice's=$(bearer_count "$A_SECRET") $(head -3 "$T/moved.err")"
fi
"$V" users set bob --secret "api_key=$B_SECRET" --state "$S" >/dev/null 2>&1
set_secret "$S" alice other "$a_sealed"                 # alice's value under another name
"$V" run --user alice --event "$T/ok1.json" --state "$S" >/dev/null 2>"$T/renamed.err"; rr=$?
"$TOOL" get "$S" users alice | python3 -c "
import json, sys
j = json.load(sys.stdin); del j['secrets']['other']; print(json.dumps(j))" | "$TOOL" put "$S" users alice -
if grep -q "user alice's secret 'other' cannot be opened: it was not sealed for this user and secret" "$T/renamed.err" \
   && [ "$(bearer_count "$A_SECRET")" == 0 ]; then
    pass "state: a sealed secret copied under another name does not open"
else
    fail "state: renamed sealed secret" "rc=$rr $(head -3 "$T/renamed.err")"
fi

# an old-format value (cp1: no associated data, as earlier versions sealed
# it; made here with OpenSSL directly) opens, and is re-sealed bound on first use
OLD_SECRET=alice-old-format-31d7
old=$("$TOOL" seal1 "$(cat "$S/secrets.key")" "$OLD_SECRET")
set_secret "$S" alice api_key "$old"
"$V" run --user alice --event "$T/ok1.json" --state "$S" >/dev/null 2>"$T/old1.err"; ro1=$?
now=$(secret_of "$S" alice api_key)
"$V" run --user alice --event "$T/ok2.json" --state "$S" >/dev/null 2>"$T/old2.err"; ro2=$?
set_secret "$S" bob api_key "$now"                      # the re-sealed value is bound as well
"$V" run --user bob --event "$T/ok3.json" --state "$S" >/dev/null 2>"$T/old3.err"
if [ $ro1 -eq 0 ] && [ $ro2 -eq 0 ] && [ "$(bearer_count "$OLD_SECRET")" == 2 ] && [ "${old:0:4}" == cp1: ] && [ "${now:0:4}" == cp2: ] \
   && grep -q "user alice: 1 secret re-sealed in the current format" "$T/old1.err" && ! grep -q "re-sealed" "$T/old2.err" \
   && grep -q "user bob's secret 'api_key' cannot be opened" "$T/old3.err" && [ "$(bearer_count "$OLD_SECRET")" == 2 ]; then
    pass "state: a secret sealed in the old format (cp1) still opens and is re-sealed bound to its user (cp2) on first use"
else
    fail "state: old sealed format" "rc=$ro1/$ro2 sent=$(bearer_count "$OLD_SECRET") now=${now:0:4} $(cat "$T/old1.err" "$T/old3.err" | head -4)"
fi
"$V" users set bob --secret "api_key=$B_SECRET" --state "$S" >/dev/null 2>&1

# the key file: never silently replaced while sealed secrets exist
mv "$S/secrets.key" "$T/secrets.key.saved"
"$V" users set carol --secret "api_key=carol-key-0a0b0c" --state "$S" >/dev/null 2>"$T/nokey.err"; rk=$?
"$V" run --user alice --event "$T/ok1.json" --state "$S" >/dev/null 2>"$T/nokey2.err"
if [ $rk -eq 2 ] && [ ! -e "$S/secrets.key" ] && grep -q "secrets.key is missing, but the secrets of users alice, bob were sealed with the key it held" "$T/nokey.err" \
   && grep -q "secrets.key is missing" "$T/nokey2.err" && [ "$(bearer_count carol-key-0a0b0c)" == 0 ]; then
    pass "state: a missing key file while users hold sealed secrets is an error, not a new key"
else
    fail "state: missing key file" "rc=$rk key_made=$([ -e "$S/secrets.key" ] && echo yes || echo no) $(head -2 "$T/nokey.err")"
fi
mv "$T/secrets.key.saved" "$S/secrets.key"
K=$T/key.state
"$V" users set dave --secret "api_key=dave-key-7e7e7e" --state "$K" >/dev/null 2>&1
if [ "$(stat -c %a "$K/secrets.key")" == 600 ] && grep -qE '^[0-9a-f]{64}$' "$K/secrets.key" \
   && [ -z "$(ls "$K" | grep -v -x -e data.mdb -e lock.mdb -e secrets.key)" ]; then
    pass "state: a new key file is 0600, whole (written, fsync'ed, linked into place), no temporary file left"
else
    fail "state: new key file" "$(ls -la "$K")"
fi

# ---- file modes ------------------------------------------------------------
M=$T/modes/deep/m.state
(umask 000; "$V" run --event "$T/ok1.json" --state "$M" >/dev/null 2>&1; "$V" users set erin --secret "api_key=erin-key-123456" --state "$M" >/dev/null 2>&1)
modes=$(cd "$M" && stat -c '%n %a' . data.mdb lock.mdb secrets.key | tr '\n' ' ')
if [ "$modes" == ". 700 data.mdb 600 lock.mdb 600 secrets.key 600 " ]; then
    pass "state: a new state is 0700 with its files 0600 (even under umask 000)"
else
    fail "state: modes of a new state" "$modes"
fi
chmod 755 "$M"
chmod 644 "$M/data.mdb"
"$V" history --state "$M" >/dev/null 2>"$T/open.err"; rh=$?
"$V" run --event "$T/ok2.json" --state "$M" >/dev/null 2>"$T/open2.err"
if [ $rh -eq 0 ] && [ "$(grep -c 'can be read by other users' "$T/open.err")" == 1 ] \
   && grep -q "the directory 0755, data.mdb 0644" "$T/open.err" && grep -q "chmod 700 $M" "$T/open.err" \
   && [ "$(grep -c 'can be read by other users' "$T/open2.err")" == 1 ] \
   && [ "$(stat -c %a "$M" "$M/data.mdb" | tr '\n' ' ')" == "755 644 " ]; then
    pass "state: a state open to other users is warned about, once per command, naming the modes and the chmod (modes left as they are)"
else
    fail "state: open state warning" "rc=$rh $(cat "$T/open.err" "$T/open2.err" | head -4)"
fi

# ---- damaged data files (damage.cases) ----------------------------------------
B=$T/base.state
export FLOW_SECRET_API_KEY=env-key-5a5a5a
for i in $(seq 1 12); do "$V" run --event "$T/ok$(( i % 3 + 1 )).json" --state "$B" >/dev/null 2>&1; done
"$V" run --event "$T/fail1.json" --state "$B" >/dev/null 2>&1
FAILED_ID=$(newest "$B")
ANY_ID=$FAILED_ID
"$V" users set frank --state "$B" >/dev/null 2>&1
damage() {  # damage KIND STATE
    local f=$2/data.mdb size
    size=$(stat -c %s "$f")
    case $1 in
        half) truncate -s $((size / 2)) "$f" ;;
        meta) truncate -s $((4096 + 200)) "$f" ;;
        header) truncate -s 100 "$f" ;;
        zero) : >"$f" ;;
        missing) rm -f "$f" ;;
    esac
}
n=0
while read -r kind cmd word; do
    n=$((n + 1))
    case $kind in ''|\#*) continue ;; esac
    d=$T/dmg.$n
    cp -a "$B" "$d"
    damage "$kind" "$d"
    sum_before=$(md5sum "$d/data.mdb" 2>/dev/null | cut -d' ' -f1)
    case $cmd in
        run) args=(run --event "$T/ok1.json") ;;
        show) args=(show "$ANY_ID") ;;
        retry) args=(retry "$FAILED_ID") ;;
        serve) args=(serve --listen 127.0.0.1:0 --port-file "$d.port") ;;
        users) args=(users list) ;;
        *) args=("$cmd") ;;
    esac
    timeout 20 "$V" "${args[@]}" --state "$d" >"$d.out" 2>"$d.err"; rc=$?
    sum_after=$(md5sum "$d/data.mdb" 2>/dev/null | cut -d' ' -f1)
    name="state: damage.cases:$n: data.mdb $kind: $cmd exits 2 saying it is $word, nothing started over"
    if [ $rc -eq 2 ] && grep -q "$d/data.mdb" "$d.err" && grep -q "$word" "$d.err" && grep -q "restore the state directory from a backup" "$d.err" \
       && [ "$sum_after" == "$sum_before" ] && ! [ -e "$d.port" ]; then
        pass "$name"
    else
        fail "$name" "rc=$rc data.mdb $([ "$sum_after" == "$sum_before" ] && echo unchanged || echo CHANGED) $(head -c 300 "$d.err")"
    fi
done <damage.cases

# ---- a read-only state serves history and show ----------------------------
R=$T/ro
mkdir -p "$R"
if mount -t tmpfs -o size=8m tmpfs "$R" 2>/dev/null; then
    MNT=$R
    cp -a "$B" "$R/s"
    mount -o remount,ro "$R"
    how="a read-only mount"
else
    cp -a "$B" "$R/s"
    chmod -R a-w "$R/s"
    how="files without write permission"
fi
h=$("$V" history --json --state "$R/s" 2>"$T/ro1.err"); r1=$?
"$V" show "$FAILED_ID" --state "$R/s" >"$T/ro2.out" 2>"$T/ro2.err"; r2=$?
"$V" users list --state "$R/s" >"$T/ro3.out" 2>&1; r3=$?
"$V" run --event "$T/ok1.json" --state "$R/s" >/dev/null 2>"$T/ro4.err"; r4=$?
if [ $r1 -eq 0 ] && [ "$(echo "$h" | jq_ 'len(j), j[0]["id"]')" == "13 $FAILED_ID" ] && [ $r2 -eq 0 ] \
   && grep -q "after .*failed" "$T/ro2.out" && [ $r3 -eq 0 ] && grep -q frank "$T/ro3.out" \
   && [ $r4 -eq 2 ] && grep -q "Read-only file system\|Permission denied" "$T/ro4.err"; then
    pass "state: a read-only state ($how) serves history, show and users list; run says it cannot write"
else
    fail "state: read-only state ($how)" "rc=$r1/$r2/$r3/$r4 runs=$(echo "$h" | jq_ 'len(j)') $(cat "$T/ro1.err" "$T/ro2.err" "$T/ro4.err" | head -3)"
fi
[ -n "$MNT" ] && umount "$MNT" && MNT=
# a backup read by another user: no write permission on the files, nor on lock.mdb
if [ "$(id -u)" == 0 ] && command -v setpriv >/dev/null; then
    N=$T/nobody
    mkdir -p "$N" && cp -a "$B" "$N/s" && cp "$V" "$N/vault" && chmod 755 "$T" "$N" "$SCRATCH_ROOT"
    chown -R nobody "$N/s" && chmod 500 "$N/s" && chmod 400 "$N/s/"*
    as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
    h=$(as_nobody "$N/vault" history --json --state "$N/s" 2>"$T/nb.err"); n1=$?
    as_nobody "$N/vault" show "$FAILED_ID" --state "$N/s" >/dev/null 2>&1; n2=$?
    if [ $n1 -eq 0 ] && [ "$(echo "$h" | jq_ 'len(j)')" == 13 ] && [ $n2 -eq 0 ]; then
        pass "state: a backup another user cannot write (not even lock.mdb) serves history and show"
    else
        fail "state: read-only backup as another user" "rc=$n1/$n2 $(head -3 "$T/nb.err")"
    fi
fi

# ---- damaged records: reported, never dropped ---------------------------------
D=$T/rec.state
"$V" run --event "$T/ok1.json" --state "$D" >/dev/null 2>&1; A_ID=$(newest "$D")
"$V" run --event "$T/fail2.json" --state "$D" >/dev/null 2>&1; F_ID=$(newest "$D")
"$V" run --event "$T/ok3.json" --state "$D" >/dev/null 2>&1; C_ID=$(newest "$D")
"$V" users set gina --secret "api_key=gina-key-d00d1e" --state "$D" >/dev/null 2>&1
flip "$D" runs "$A_ID" && flip "$D" steps "$F_ID\\0call" && flip "$D" users gina || fail "state: flip records" "a record was not found in data.mdb"
"$V" history --state "$D" >"$T/h.out" 2>"$T/h.err"; rh=$?
hj=$("$V" history --json --state "$D" 2>/dev/null)
if [ $rh -eq 0 ] && grep -q "^$A_ID  unreadable .*record damaged" "$T/h.out" && grep -q "^$C_ID  succeeded" "$T/h.out" \
   && grep -q "1 run record could not be read (damaged data in the state; listed as unreadable): $A_ID" "$T/h.err" \
   && [ "$(echo "$hj" | jq_ '[(r["id"], r["status"]) for r in j]')" == "[('$C_ID', 'succeeded'), ('$F_ID', 'failed'), ('$A_ID', 'unreadable')]" ]; then
    pass "state: history lists a run whose record cannot be decoded as unreadable and says how many could not be read (--json too)"
else
    fail "state: history of a damaged record" "rc=$rh $(cat "$T/h.out" "$T/h.err" | head -6)"
fi
"$V" show "$A_ID" --state "$D" >"$T/s1.out" 2>"$T/s1.err"; s1=$?
"$V" show "$F_ID" --state "$D" >"$T/s2.out" 2>"$T/s2.err"; s2=$?
sj=$("$V" show "$F_ID" --json --state "$D" 2>/dev/null)
if [ $s1 -eq 2 ] && grep -q "^run $A_ID  unreadable" "$T/s1.out" && grep -q "the run record cannot be read: .* not JSON" "$T/s1.out" \
   && grep -q "^  call  *succeeded" "$T/s1.out" && grep -q "could not be read (damaged data in the state): the run record $A_ID" "$T/s1.err" \
   && [ $s2 -eq 2 ] && grep -q "^  call  *unreadable" "$T/s2.out" && grep -q "after .*failed" "$T/s2.out" \
   && grep -q "1 record of run $F_ID could not be read (damaged data in the state): step record 'call'" "$T/s2.err" \
   && [ "$(echo "$sj" | jq_ '[(s["path"], s["status"]) for s in j["steps"]]')" == "[('call', 'unreadable'), ('after', 'failed')]" ]; then
    pass "state: show names a damaged run record, and a damaged step record by its key (exit 2), showing the rest"
else
    fail "state: show of damaged records" "rc=$s1/$s2 $(cat "$T/s1.err" "$T/s2.err" "$T/s2.out" | head -6)"
fi
sent=$(ctl_count '/who/fail2')
"$V" retry "$F_ID" --state "$D" >/dev/null 2>"$T/retry.err"; rr=$?
if [ $rr -eq 1 ] && [ "$(ctl_count '/who/fail2')" == "$sent" ] \
   && grep -q "run failed: the record of step 'call' of run $F_ID cannot be read" "$T/retry.err"; then
    pass "state: retry past a damaged step record fails naming it, and never sends that step again"
else
    fail "state: retry with a damaged step record" "rc=$rr sent=$sent now=$(ctl_count '/who/fail2') $(tail -2 "$T/retry.err")"
fi
"$V" users show gina --state "$D" >"$T/u1.out" 2>&1; u1=$?
"$V" run --user gina --event "$T/ok1.json" --state "$D" >/dev/null 2>"$T/u2.err"; u2=$?
if [ $u1 -eq 2 ] && grep -q "record    unreadable" "$T/u1.out" && [ $u2 -eq 2 ] \
   && grep -q "user 'gina''s record cannot be read" "$T/u2.err"; then
    pass "state: a damaged user record is shown as unreadable and its runs are refused, not taken for an unknown user"
else
    fail "state: damaged user record" "rc=$u1/$u2 $(cat "$T/u1.out" "$T/u2.err" | head -4)"
fi
# serve: GET /runs lists it, GET /runs/ID says so; the state's files stay 0600
rm -f "$T/port"
"$V" serve --listen 127.0.0.1:0 --port-file "$T/port" --state "$D" 2>"$T/serve.err" &
SV_PID=$!
for _ in $(seq 1 200); do [ -s "$T/port" ] && break; sleep 0.05; done
SV="http://127.0.0.1:$(cat "$T/port" 2>/dev/null)"
list=$(curl -s "$SV/runs")
one=$(curl -s "$SV/runs/$A_ID")
two=$(curl -s "$SV/runs/$F_ID")
lockmode=$(stat -c %a "$D/serve.lock" 2>/dev/null)
kill -TERM $SV_PID 2>/dev/null; wait $SV_PID 2>/dev/null
if [ "$(json_eval "$list" '[(r["id"], r["status"]) for r in j["runs"]], j.get("unreadable")')" == "([('$C_ID', 'succeeded'), ('$F_ID', 'failed'), ('$A_ID', 'unreadable')], 1)" ] \
   && json_eval "$list" '[r for r in j["runs"] if r["status"] == "unreadable"][0]["error"]' | grep -q "record damaged" \
   && [ "$(json_eval "$one" 'j["status"]')" == unreadable ] && json_eval "$one" 'j["error"]' | grep -q "cannot be read" \
   && [ "$(json_eval "$two" 'j["steps"]["call"]["status"]')" == unreadable ] && [ "$lockmode" == 600 ]; then
    pass "state: serve's GET /runs lists a damaged run (and counts it), GET /runs/ID reports damaged records; serve.lock is 0600"
else
    fail "state: serve and damaged records" "list=$(echo "$list" | head -c 300) one=$(echo "$one" | head -c 200) lock=$lockmode"
fi

# ---- the same paths under ASan/UBSan: the generated C and the runtime built by gcc ----
if "$FLOWC" build vault.flow --emit-c "$T/vault_san.c" -o "$T/vault_tcc" >/dev/null 2>&1 \
   && gcc -std=gnu11 $SANFLAGS -D_GNU_SOURCE -w -I"$ROOT/runtime" -I"$ROOT/stdlib" -o "$T/vault_san" "$T/vault_san.c" \
          "$SAN_RTLIB" $RT_LIBS \
          2>"$T/san.build"; then
    SL=$T/san.log SS=$T/san.state
    cp -a "$D" "$T/san.rec"
    cp -a "$B" "$T/san.trunc" && damage half "$T/san.trunc"
    cp -a "$B" "$T/san.zero" && damage zero "$T/san.zero"
    codes=""
    run_san() { ASAN_OPTIONS=detect_leaks=1:allow_user_segv_handler=1:use_sigaltstack=0 "$T/vault_san" "$@" >>"$SL" 2>&1; codes="$codes $?"; }
    run_san users set alice --secret "api_key=$A_SECRET" --state "$SS"
    run_san users set bob --secret "api_key=$B_SECRET" --state "$SS"
    set_secret "$SS" bob api_key "$(secret_of "$SS" alice api_key)"
    # bob's secret does not open: the run fails (exit 1), never falling
    # back to FLOW_SECRET_API_KEY (docs/runtime.md, "Secrets")
    run_san run --user bob --event "$T/ok1.json" --state "$SS"
    set_secret "$SS" alice api_key "$("$TOOL" seal1 "$(cat "$SS/secrets.key")" "$OLD_SECRET")"
    run_san run --user alice --event "$T/ok1.json" --state "$SS"
    run_san history --state "$T/san.rec"
    run_san history --json --state "$T/san.rec"
    run_san show "$A_ID" --state "$T/san.rec"
    run_san show "$F_ID" --json --state "$T/san.rec"
    run_san users show gina --state "$T/san.rec"
    run_san retry "$F_ID" --state "$T/san.rec"
    run_san history --state "$T/san.trunc"
    run_san run --event "$T/ok1.json" --state "$T/san.zero"
    # (a user's secret that cannot be opened fails that user's run: exit 1)
    if [ "$codes" == " 0 0 1 0 0 0 2 2 2 1 2 2" ] && ! sanitizer_report "$SL"; then
        pass "state: sealing, migration, damaged records and damaged data files are ASan/UBSan clean"
    else
        fail "state: sanitized commands" "codes=$codes $(grep -m3 -E 'ERROR|runtime error' "$SL")"
    fi
else
    fail "state: sanitized job binary builds" "$(head -3 "$T/san.build")"
fi

# no secret in any output or state file
if grep -rqa -e "$A_SECRET" -e "$B_SECRET" -e "$OLD_SECRET" "$T" --exclude=flip.rec 2>/dev/null; then
    fail "state: no secret value in any state dir or output" "$(grep -rla -e "$A_SECRET" -e "$B_SECRET" -e "$OLD_SECRET" "$T" | head -3)"
else
    pass "state: no secret value in any state dir or output"
fi
