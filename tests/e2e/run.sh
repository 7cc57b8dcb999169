#!/usr/bin/env bash
# tests/e2e/run.sh — the end-to-end cases: every directory under
# tests/e2e/cases (or under the directories given) holding an expect.json is
# one case: a workflow built by flowc, run as a job binary (or by `flowc
# run`) against the real test server on 127.0.0.1, and compared with what
# the case expects: exit status, output, log lines, history, the requests
# the server recorded, no secret anywhere. The format: docs/testing.md,
# "End-to-end cases". Runs E2E_JOBS (default 2) cases at a time, each worker
# with its own test server.
#   tests/e2e/run.sh [CASE-OR-DIR...]
source "$(dirname "$0")/../lib/common.sh"
[ -x "$SERVER_BIN" ] || bash "$ROOT/tests/server/build.sh" >/dev/null 2>&1
export FLOWC SERVER_BIN E2E_SCRATCH
E2E_SCRATCH=$(scratch)
python3 "$ROOT/tests/e2e/driver.py" "$@"
