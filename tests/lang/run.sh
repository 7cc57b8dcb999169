#!/usr/bin/env bash
# tests/lang — the language end to end: each NAME.flow here is built by
# flowc and run against the real test server as NAME.case says (a list of
# actions and checks, read by driver.py): steps from branches (taken, not
# taken, after kill -9 and resume), conditional expressions and lets,
# request triggers answering with status and headers, `max` on an action,
# --test-limits, floats, Test Step.
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT"
python3 tests/lang/driver.py "$FLOWC" "$SERVER_BIN" tests/lang/*.case
