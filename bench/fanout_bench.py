#!/usr/bin/env python3
"""Fanout benchmarks, side by side in one run (printed, not asserted).

1. A 10,000-item fanout, concurrency 64, one GET per item against the local
   test server, vs what wrk achieves against the same endpoint with 64
   connections, and vs the same GETs through a bare libcurl multi loop
   (curl_floor.c: the requests the job sends, nothing else), the ceiling
   of the HTTP library the runtime is built on.
2. A durable fanout of 10,000 no-op function items (fsync at every group
   commit): items per second.
3. Peak RSS of a fanout of 1,000 vs 100,000 items each returning 1 KB.

The machine is shared by the server, wrk and the job: each throughput figure
is measured RUNS times (default 3), printed run by run, and summarised by its
median.
"""
import os, re, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import RUNS, SCALE, scaled, bench_prog  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOWC = os.environ.get("FLOWC", os.path.join(ROOT, "build/bin/flowc"))
SERVER = os.path.join(ROOT, "build/tests/flowtest-server")
N = scaled(10000, 10)
N_SMALL, N_BIG = scaled(1000, 10), scaled(100000, 100)
WRK_SECS = max(1, int(5 * min(SCALE, 1)))
tmp = tempfile.mkdtemp(prefix="flowc-fanout-", dir=os.environ.get("BENCH_DIR", ROOT + "/build"))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def write(name, text):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def build(name, text):
    src = write(name + ".flow", text)
    exe = os.path.join(tmp, name)
    run([FLOWC, "build", src, "-o", exe])
    return exe


def timed_run(exe, event, *extra, env=None):
    state = os.path.join(tmp, os.path.basename(exe) + ".state")
    shutil.rmtree(state, ignore_errors=True)
    ev = write("event.json", event)
    t = time.perf_counter()
    out = run(["/usr/bin/time", "-f", "%M", exe, "run", "--event", ev, "--state", state, *extra], env=env)
    return time.perf_counter() - t, int(out.stderr.strip().splitlines()[-1]), out.stdout


IDS = """step ids = function (n: trigger.n) -> [int] {%
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++) json_array_append_new(a, json_integer(i));
    return a;
%}
"""

routes = write("routes.json", '[{"method": "GET", "path": "/item/*", "status": 200, "body": {"v": 1}}]')
server = subprocess.Popen([SERVER, "--port", "0", "--routes", routes, "--max-log", "0"],
                          stdout=subprocess.PIPE, text=True)
try:
    port = int(server.stdout.readline().split()[1])
    api = f"http://127.0.0.1:{port}"

    def median(xs):
        return sorted(xs)[len(xs) // 2]

    def runs(xs):
        return ", ".join(f"{x:,.0f}" for x in xs)

    # 1. HTTP fanout vs wrk ----------------------------------------------------
    wrks = []
    for _ in range(RUNS):
        wrk = run(["wrk", "-t2", "-c64", f"-d{WRK_SECS}s", f"{api}/item/1"]).stdout
        wrks.append(float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1)))
    wrk_rps = median(wrks)
    floor_exe = bench_prog("curl_floor")
    floors = []
    for _ in range(RUNS):
        out = run([floor_exe, api, str(N), "64"]).stdout
        floors.append(float(re.search(r"([\d.]+) req/s", out).group(1)))
    floor_rps = median(floors)
    http = build("fan_http", 'workflow fan_http\ntrigger event "go" { n: int }\n' + IDS +
                 'step got = fanout i in ids concurrency 64 {\n'
                 '  step g = request GET "{{env.API}}/item/{{i}}" returns { v: int }\n'
                 '  return g.body.v\n}\nreturn len(got)\n')
    env = dict(os.environ, API=api)
    rates = [N / timed_run(http, '{"n": %d}' % N, env=env)[0] for _ in range(RUNS)]
    rate = median(rates)
    print(f"fanout {N:,} GETs, concurrency 64: {rate:,.0f} items/s (runs: {runs(rates)}); wrk -c64 on the same "
          f"endpoint {wrk_rps:,.0f} req/s (runs: {runs(wrks)}) -> ratio {rate / wrk_rps * 100:.0f}% of wrk "
          f"(target >= 70%)")
    print(f"  bare libcurl multi loop, the same {N:,} GETs at 64: {floor_rps:,.0f} req/s (runs: {runs(floors)}) = "
          f"{floor_rps / wrk_rps * 100:.0f}% of wrk; the job reaches {rate / floor_rps * 100:.0f}% of it")

    # 2. durable no-op fanout -------------------------------------------------
    noop = build("fan_noop", 'workflow fan_noop\ntrigger event "go" { n: int }\n' + IDS +
                 'step out = fanout i in ids {\n'
                 '  step f = function (i: i) -> int {% return json_integer(i); %}\n'
                 '  return f\n}\nreturn len(out)\n')
    rates = [N / timed_run(noop, '{"n": %d}' % N)[0] for _ in range(RUNS)]
    print(f"durable fanout, {N:,} no-op function items: {median(rates):,.0f} items/s (runs: {runs(rates)}; "
          f"fsync per group commit; target >= 20,000)")

    # 3. memory: 1,000 vs 100,000 items of 1 KB --------------------------------
    kb = build("fan_kb", 'workflow fan_kb\ntrigger event "go" { n: int }\n' + IDS +
               'step out = fanout i in ids {\n'
               '  step f = function (i: i) -> string {%\n'
               '      char buf[1024]; memset(buf, \'a\' + (int)(i % 26), sizeof buf - 1); buf[1023] = 0;\n'
               '      return json_string(buf);\n  %}\n'
               '  return f\n}\nreturn len(out)\n')
    _, rss_small, _ = timed_run(kb, '{"n": %d}' % N_SMALL, "--durability", "batch")
    t_big, rss_big, _ = timed_run(kb, '{"n": %d}' % N_BIG, "--durability", "batch")
    print(f"peak RSS, fanout of 1 KB items: {N_SMALL:,} items {rss_small / 1024:.1f} MB, {N_BIG:,} items "
          f"{rss_big / 1024:.1f} MB (+{(rss_big - rss_small) / 1024:.1f} MB; target < +100 MB); "
          f"{N_BIG:,} items in {t_big:.1f} s")
finally:
    server.terminate()
    server.wait()
    shutil.rmtree(tmp, ignore_errors=True)
