#!/usr/bin/env bash
# bench/test_bench.sh — how fast `flowc test` runs many tests: generate a
# workflow (a request, a function step, a branch with an action, a fanout)
# with 200 test blocks, each with its own event, mocks and expects, and time
# `flowc test` on it (best of 3 wall-clock runs, compilation included).
# Target: 200 tests in under 1 s. A figure, not an assert.
cd "$(dirname "$0")/.." || exit 2
source bench/lib.sh
FLOWC=${FLOWC:-build/bin/flowc}
N=${N:-$(scaled 200 2)}
if [ ! -x "$FLOWC" ]; then
    echo "test_bench: $FLOWC not built (run make)" >&2
    exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$N" >"$tmp/bench_tests.flow" <<'PY'
import sys
n = int(sys.argv[1])
print('''workflow bench_tests "Generated: many test blocks over one workflow"

import "slack"

settings { threshold: int = 50 }

trigger event "lead" { id: string, score: int, tags: [string] }

step person = request GET "{{env.CRM}}/people/{{trigger.id}}"
  returns { name: string, employees: int }
  retry 2 backoff 1s

step grade = function (score: trigger.score, size: person.body.employees) -> { grade: string } {%
    return json_pack("{s:s}", "grade", score >= 90 && size > 100 ? "A" : score >= 50 ? "B" : "C");
%}

if trigger.score >= settings.threshold {
  step notify = slack.send_message(channel: "#leads", text: "{{person.body.name}}: {{grade.grade}}")
}

step tagged = fanout tag in trigger.tags concurrency 4 {
  step add = request POST "{{env.CRM}}/people/{{trigger.id}}/tags" json { tag: tag }
  return add.status
}

return { grade: grade.grade, tags: len(tagged) }
''')
for i in range(n):
    score = (i * 37) % 100
    grade = "A" if score >= 90 and i % 3 else "B" if score >= 50 else "C"
    size = 500 if i % 3 else 10
    if score >= 90 and size <= 100:
        grade = "B"
    tags = ", ".join(f'"t{k}"' for k in range(i % 4))
    print(f'''test "lead {i}" {{
  event {{ id: "p{i}", score: {score}, tags: [{tags}] }}
  secret slack_token = "xoxb-bench"
  env CRM = "http://crm.test"
  mock GET "http://crm.test/people/p{i}" -> {"503 then 200" if i % 5 == 0 else "200"} {{ name: "Lead {i}", employees: {size} }}
  mock POST slack "/chat.postMessage" -> 200 {{ ok: true, ts: "1.{i}", channel: "C1" }}
  mock POST "http://crm.test/people/p{i}/tags" -> 201 {{ }}
  expect person.ok
  expect output.grade == "{grade}"
  expect output.tags == {i % 4}
  expect notify.ok == {"true" if score >= 50 else "false"}
}}
''')
PY

python3 - "$FLOWC" "$tmp/bench_tests.flow" "$N" <<'PY'
import subprocess, sys, time
flowc, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(3):
    t0 = time.perf_counter()
    r = subprocess.run([flowc, "test", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    times.append(time.perf_counter() - t0)
    last = r.stdout.decode().strip().splitlines()[-1:] or [""]
    if r.returncode != 0:
        print(f"flowc test failed (exit {r.returncode}): {last[0]}")
        print((r.stdout + r.stderr).decode(errors="replace")[-2000:])
        sys.exit(1)
best = min(times)
print(f"flowc test, {n} test blocks: {best * 1000:8.1f} ms (best of 3, compile included; "
      f"{best / n * 1e6:.0f} us per test) -> {last[0]}")
print(f"target: {n} tests under 1 s: {'met' if best < 1.0 else 'missed'}")
PY
