#!/usr/bin/env bash
# tests/lsp — `flowc lsp` and `flowc fmt`:
#   - protocol cases (tests/lsp/cases: a document with cursor markers and its
#     .expect), spoken over pipes by tests/lsp/driver.py; the lifecycle and
#     transport (protocol.py: errors, debounce, open imports, close, exit);
#   - fmt goldens (tests/lsp/fmt: NAME.flow formats to NAME.fmt, which formats
#     to itself) and fmt over every .flow of the repository (fmt_repo.py);
#   - a real client: Neovim's built-in LSP client, headless (nvim_client.lua);
#   - robustness: random edits and requests over every test file (fuzz.py).
# Everything runs against the sanitizer build ($FLOWC).
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT"
T=$(scratch)

python3 tests/lsp/driver.py "$FLOWC" tests/lsp/cases/*.flow
mkdir -p "$T/protocol"
python3 tests/lsp/protocol.py "$FLOWC" "$T/protocol"

for f in tests/lsp/fmt/*.flow; do
    want="${f%.flow}.fmt"
    got=$("$FLOWC" fmt --stdout "$f" 2>&1); rc=$?
    if [ $rc -ne 0 ]; then
        fail "fmt $f" "exit $rc: $(echo "$got" | head -3)"
    elif [ "$got" != "$(cat "$want")" ]; then
        fail "fmt $f" "differs from $want:
$(diff <(echo "$got") "$want" | head -20)"
    else
        again=$("$FLOWC" fmt --stdout "$want" 2>&1)
        if [ "$again" != "$(cat "$want")" ]; then
            fail "fmt $f" "formatting $want again changes it: $(diff <(echo "$again") "$want" | head -10)"
        else
            pass "fmt $f"
        fi
    fi
done

# the command line: in place, --check, stdin
cp tests/lsp/fmt/layout.flow "$T/x.flow"
out=$("$FLOWC" fmt --check "$T/x.flow"); rc=$?
if [ $rc -eq 1 ] && [ "$out" = "$T/x.flow" ] && cmp -s tests/lsp/fmt/layout.flow "$T/x.flow"; then
    pass "fmt --check lists an unformatted file and writes nothing"
else
    fail "fmt --check lists an unformatted file and writes nothing" "exit $rc, output '$out'"
fi
"$FLOWC" fmt "$T/x.flow"; rc=$?
if [ $rc -eq 0 ] && cmp -s tests/lsp/fmt/layout.fmt "$T/x.flow" && "$FLOWC" fmt --check "$T/x.flow" >/dev/null; then
    pass "fmt rewrites a file in place"
else
    fail "fmt rewrites a file in place" "exit $rc"
fi
got=$("$FLOWC" fmt - < tests/lsp/fmt/comments.flow)
if [ "$got" = "$(cat tests/lsp/fmt/comments.fmt)" ]; then pass "fmt - reads stdin, writes stdout"; else fail "fmt - reads stdin, writes stdout" "differs"; fi
printf 'workflow w\nlog (\n' > "$T/bad.flow"
err=$("$FLOWC" fmt "$T/bad.flow" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$err" | grep -q "bad.flow:2:6: error: missing .). to close" && [ "$(cat "$T/bad.flow")" = "$(printf 'workflow w\nlog (')" ]; then
    pass "fmt leaves a file with syntax errors alone and reports them"
else
    fail "fmt leaves a file with syntax errors alone and reports them" "exit $rc: $err"
fi

python3 tests/lsp/fmt_repo.py "$FLOWC" "$T"

# A real client: Neovim's built-in LSP client, headless. The server it starts
# writes sanitizer reports to files (nvim does not show its stderr).
if command -v nvim >/dev/null; then
    out="$T/nvim.out"
    FLOWC="$FLOWC" FLOW_FILE="$ROOT/tests/lsp/nvim/lead.flow" RESULT="$out" \
        ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$T/nvim-asan" UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$T/nvim-ubsan" \
        timeout 120 nvim --headless -u NONE -c "luafile $ROOT/tests/lsp/nvim/client.lua" >"$T/nvim.log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        fail "neovim client: diagnostics and completion" "nvim exit $rc: $(tail -5 "$T/nvim.log")"
    elif ls "$T"/nvim-asan* "$T"/nvim-ubsan* >/dev/null 2>&1; then
        fail "neovim client: diagnostics and completion" "sanitizer report: $(cat "$T"/nvim-*san* | head -20)"
    elif ! diff -u tests/lsp/nvim/lead.expect "$out" >"$T/nvim.diff"; then
        fail "neovim client: diagnostics and completion" "$(head -20 "$T/nvim.diff")"
    else
        pass "neovim client: diagnostics and completion"
    fi
    # the setup editors/ ships (the README's two lines): filetype, highlighting, client
    FLOWC="$FLOWC" ROOT="$ROOT" FLOW_FILE="$ROOT/tests/lsp/nvim/config.flow" RESULT="$T/config.out" \
        ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$T/cfg-asan" UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$T/cfg-ubsan" \
        timeout 120 nvim --headless -u NONE -c "luafile $ROOT/tests/lsp/nvim/config.lua" >"$T/config.log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        fail "neovim setup of editors/: filetype, syntax, diagnostics" "nvim exit $rc: $(tail -5 "$T/config.log")"
    elif ls "$T"/cfg-asan* "$T"/cfg-ubsan* >/dev/null 2>&1; then
        fail "neovim setup of editors/: filetype, syntax, diagnostics" "sanitizer report: $(cat "$T"/cfg-*san* | head -20)"
    elif ! diff -u tests/lsp/nvim/config.expect "$T/config.out" >"$T/config.diff"; then
        fail "neovim setup of editors/: filetype, syntax, diagnostics" "$(head -20 "$T/config.diff")"
    else
        pass "neovim setup of editors/: filetype, syntax, diagnostics"
    fi
else
    fail "neovim client: diagnostics and completion" "nvim is not installed (scripts/install-deps.sh installs neovim)"
fi

# The VS Code extension's manifests are JSON that names what it ships
if python3 - "$ROOT/editors/vscode" <<'PY'
import json, os, sys
d = sys.argv[1]
pkg = json.load(open(os.path.join(d, "package.json")))
json.load(open(os.path.join(d, "language-configuration.json")))
grammar = json.load(open(os.path.join(d, "syntaxes", "flow.tmLanguage.json")))
assert pkg["contributes"]["languages"][0]["extensions"] == [".flow"]
assert os.path.exists(os.path.join(d, pkg["main"]))
assert grammar["scopeName"] == pkg["contributes"]["grammars"][0]["scopeName"]
PY
then pass "vscode extension manifests"; else fail "vscode extension manifests" "invalid"; fi

# Robustness: every test file, edited and queried at random (bounded: 90 s)
python3 tests/lsp/fuzz.py "$FLOWC" 90 $(find tests examples stdlib -name '*.flow' | sort)
