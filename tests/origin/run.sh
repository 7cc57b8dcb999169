#!/usr/bin/env bash
# tests/origin/run.sh — credentials stay on their origin, and values never
# change a URL's structure. The cases (tests/origin/cases, run by the
# end-to-end driver: docs/testing.md, "End-to-end cases") run against two
# real test servers on 127.0.0.1: the API, and a second one on another port
# (another origin) that pages and redirects point to; that one must never
# receive a credential (the driver scans what it received for every secret).
#   cases/paths      payload values in paths and queries, one case a value
#   cases/creds      redirects, next pages, 307s and OAuth2 refreshes to the other origin
#   cases/salesforce salesforce.query's nextRecordsUrl on the other origin
#   cases/stdlib     stdlib actions given ids that hold URL syntax
source "$(dirname "$0")/../lib/common.sh"
bash "$ROOT/tests/e2e/run.sh" "$ROOT/tests/origin/cases"
