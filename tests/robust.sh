#!/usr/bin/env bash
# Bad input never crashes the compiler: each input must end with exit 0 or 1,
# a diagnostic when 1, no signal and no sanitizer report.
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
T=$(scratch)

python3 - "$T" <<'PY'
import os, random, sys
d = sys.argv[1]
rnd = random.Random(1234)
def w(name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
head = 'workflow deep\ntrigger event "e" { x: int }\n'
w("empty.flow", b"")
w("only_comment.flow", "# nothing here\n")
w("garbage.flow", bytes(rnd.randrange(256) for _ in range(20000)))
w("nul_bytes.flow", head.encode() + b'step a = request GET "http://x/\x00y"\n\x00\x00')
w("bad_utf8.flow", head.encode() + b'log "caf\xc3\x28 \xff\xfe"\n# \xc0\xaf comment\nstep \xe2\x82 = x\n')
w("unterminated_string.flow", head + 'log "never closed\n')
w("unterminated_c.flow", head + 'step f = function () -> int {% return json_integer(1);\n')
w("unterminated_block.flow", head + 'if trigger.x > 1 {\n log "a"\n')
w("deep_parens.flow", head + "log " + "(" * 10000 + "1" + ")" * 10000 + "\n")
w("deep_lists.flow", head + "log " + "[" * 10000 + "]" * 10000 + "\n")
w("deep_objects.flow", head + "log " + "{a: " * 10000 + "1" + "}" * 10000 + "\n")
w("deep_not.flow", head + "log " + "not " * 10000 + "true\n")
w("deep_neg.flow", head + "log " + "- " * 10000 + "1\n")
w("deep_ifs.flow", head + "if true {\n" * 10000 + "}\n" * 10000)
w("deep_fanouts.flow", head + "".join(f"step f{i} = fanout v{i} in [1] {{\n" for i in range(10000)) + "}\n" * 10000)
w("long_chain.flow", head + "log " + " + ".join(["trigger.x"] * 10000) + "\n")
w("deep_interp.flow", head + 'log "' + "{{ (" * 3000 + '1' + ") }}" * 3000 + '"\n')
w("deep_type.flow", head + "step f = function () -> " + "[" * 10000 + "int" + "]" * 10000 + " {% return NULL; %}\n")
# 10 MB of valid steps
lines = [head]
size = len(head)
i = 0
while size < 10 * 1024 * 1024:
    l = f'step s{i} = request GET "http://127.0.0.1/x/{{{{trigger.x}}}}" returns {{ id: int, name: string }}\n'
    lines.append(l); size += len(l); i += 1
w("big_valid.flow", "".join(lines))
# 10 MB of one token kind that is never closed
w("big_string.flow", head + 'log "' + "a" * (10 * 1024 * 1024))
w("big_comment.flow", "#" + "x" * (10 * 1024 * 1024))
# random mutations of a valid program
base = open("tests/parse/design_example.flow", "rb").read() if os.path.exists("tests/parse/design_example.flow") else head.encode()
for k in range(40):
    b = bytearray(base)
    for _ in range(rnd.randrange(1, 12)):
        op = rnd.randrange(3)
        pos = rnd.randrange(len(b) + 1) if b else 0
        if op == 0 and b: del b[min(pos, len(b) - 1)]
        elif op == 1: b[pos:pos] = bytes([rnd.choice(b'{}()[]"%#:=.,?-+ \n\\')])
        elif b: b[min(pos, len(b) - 1)] = rnd.randrange(256)
    w(f"mutant_{k:02d}.flow", bytes(b))
PY

for f in "$T"/*.flow; do
    name=$(basename "$f")
    timeout 60 "$FLOWC" check "$f" >"$T/out" 2>&1; rc=$?
    if [ $rc -ge 2 ]; then
        fail "robust $name" "exit $rc: $(tail -3 "$T/out")"
    elif sanitizer_report "$T/out"; then
        fail "robust $name" "sanitizer: $(grep -m1 -E 'ERROR|runtime error' "$T/out")"
    elif [ $rc -eq 1 ] && ! grep -q "error:" "$T/out"; then
        fail "robust $name" "exit 1 without a diagnostic"
    else
        pass "robust $name"
    fi
done

# Specific expectations on a few of them.
check_msg() {   # file, expected substring
    "$FLOWC" check "$T/$1" >"$T/out" 2>&1
    if grep -qF -- "$2" "$T/out"; then pass "robust message $1"; else fail "robust message $1" "no '$2' in: $(head -3 "$T/out")"; fi
}
check_msg deep_parens.flow "nesting too deep"
check_msg deep_ifs.flow "nesting too deep"
check_msg unterminated_string.flow "unterminated string"
check_msg unterminated_c.flow "unterminated"
check_msg bad_utf8.flow "UTF-8"
if "$FLOWC" check "$T/big_valid.flow" >"$T/out" 2>&1; then pass "robust 10MB valid file checks clean"; else fail "robust 10MB valid file" "$(head -3 "$T/out")"; fi
