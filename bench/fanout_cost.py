#!/usr/bin/env python3
"""What a fanout of GETs costs per item, against a bare libcurl multi loop.

The same GETs (one per item, 64 in flight, against the project's C test
server) are sent by the job (a fanout step of request steps) and by
bench/curl_floor.c, a bare libcurl multi loop with the options and headers
the job uses and nothing else. Two figures, side by side in one run:

1. instructions per item (callgrind, user space, every thread): the
   difference between a run of N items and a run of 1, divided by N - 1, so
   that start-up (dynamic linking, opening the store) is not counted.
   Target: the job at most 1.3x the loop.
2. throughput, items (requests) per second: the job's whole process, from
   start to exit, against the loop's own timing (from its first request to
   its last response); RUNS runs each, interleaved, medians. Target: the job
   at least 80 % of the loop. The loop is also timed as the job is, its
   whole process from start to exit (its start-up: loading libcurl and its
   libraries, curl_global_init), and the job's share of that is printed
   too: the job's start-up and end (opening the state, its first and last
   commits, closing it) are about 40 ms of its time at 10,000 items.
3. where the throughput goes, from the same runs (getrusage of each child):
   CPU per item (user and system, every thread, start-up included) and
   context switches per item, voluntary (a thread slept: the scheduler in
   poll, the committer waiting for work or the disk) and involuntary (a
   thread was preempted: on 2 cores shared with the server, mostly by the
   server's thread and the job's own committer).

The figures of main before the typed boundary (issue 14) are printed beside
them: they were measured by this script on the same machine.
"""
import os, re, resource, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import RUNS, scaled, bench_prog  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOWC = os.environ.get("FLOWC", os.path.join(ROOT, "build/bin/flowc"))
SERVER = os.path.join(ROOT, "build/tests/flowtest-server")
N_INSTR = scaled(2000, 10)
N_RATE = scaled(10000, 10)
CONC = 64
# main at 82f8406, before the typed boundary (issue 14), by this script
BEFORE = {"job": 203_300, "floor": 87_200, "rate_ratio": 0.34}
tmp = tempfile.mkdtemp(prefix="flowc-fancost-", dir=os.environ.get("BENCH_DIR", ROOT + "/build"))

WORKFLOW = """workflow fan_cost
trigger event "go" { n: int }
step ids = function (n: trigger.n) -> [int] {%
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++) json_array_append_new(a, json_integer(i));
    return a;
%}
step got = fanout i in ids concurrency 64 {
  step g = request GET "{{env.API}}/item/{{i}}" returns { v: int }
  return g.body.v
}
return len(got)
"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def write(name, text):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def job_cmd(exe, n):
    state = os.path.join(tmp, "state")
    shutil.rmtree(state, ignore_errors=True)
    return [exe, "run", "--event", write("event.json", '{"n": %d}' % n), "--state", state]


def instructions(cmd, env=None):
    """Instructions callgrind counted for cmd (every thread)."""
    out = os.path.join(tmp, "callgrind.out")
    r = run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, *cmd], env=env)
    m = re.search(r"refs:\s+([\d,]+)", r.stderr)
    if not m:
        raise SystemExit("callgrind printed no instruction count:\n" + r.stderr[-500:])
    return int(m.group(1).replace(",", ""))


def per_item(count, n):
    """Instructions per item: (count(n) - count(1)) / (n - 1)."""
    return (count(n) - count(1)) / (n - 1)


def median(xs):
    return sorted(xs)[len(xs) // 2]


def timed(cmd, **kw):
    """Runs cmd: its stdout, wall seconds, and its rusage (the child's
    CPU seconds and context switches)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = run(cmd, **kw).stdout
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    use = {"cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
           "sys": after.ru_stime - before.ru_stime, "vcsw": after.ru_nvcsw - before.ru_nvcsw,
           "ivcsw": after.ru_nivcsw - before.ru_nivcsw}
    return out, wall, use


routes = write("routes.json", '[{"method": "GET", "path": "/item/*", "status": 200, "body": {"v": 1}}]')
server = subprocess.Popen([SERVER, "--port", "0", "--routes", routes, "--max-log", "0"],
                          stdout=subprocess.PIPE, text=True)
try:
    port = int(server.stdout.readline().split()[1])
    api = f"http://127.0.0.1:{port}"
    env = dict(os.environ, API=api)
    exe = os.path.join(tmp, "fan_cost")
    run([FLOWC, "build", write("fan_cost.flow", WORKFLOW), "-o", exe])
    floor = bench_prog("curl_floor")

    # 1. instructions per item ------------------------------------------------
    job_i = per_item(lambda n: instructions(job_cmd(exe, n), env=env), N_INSTR)
    floor_i = per_item(lambda n: instructions([floor, api, str(n), str(CONC)]), N_INSTR)
    ratio_i = job_i / floor_i
    print(f"instructions per item, {N_INSTR:,} GETs at concurrency {CONC} (callgrind): "
          f"job {job_i:,.0f}, bare libcurl loop {floor_i:,.0f} -> {ratio_i:.2f}x the loop (target <= 1.30x)")
    print(f"  before (main, 82f8406): job {BEFORE['job']:,}, loop {BEFORE['floor']:,} -> "
          f"{BEFORE['job'] / BEFORE['floor']:.2f}x; the job's own part per item "
          f"{BEFORE['job'] - BEFORE['floor']:,} before, {job_i - floor_i:,.0f} now")

    # 2. throughput, interleaved ----------------------------------------------
    jobs, floors, floor_procs, job_use, floor_use = [], [], [], [], []
    for _ in range(RUNS):
        out, wall, use = timed([floor, api, str(N_RATE), str(CONC)])
        floor_procs.append(N_RATE / wall)
        floors.append(float(re.search(r"([\d.]+) req/s", out).group(1)))
        floor_use.append(use)
        _, wall, use = timed(job_cmd(exe, N_RATE), env=env)
        jobs.append(N_RATE / wall)
        job_use.append(use)
    job_r, floor_r, proc_r = median(jobs), median(floors), median(floor_procs)
    runs = lambda xs: ", ".join(f"{x:,.0f}" for x in xs)  # noqa: E731
    print(f"throughput, {N_RATE:,} GETs at concurrency {CONC}: job {job_r:,.0f} items/s (runs: {runs(jobs)}), "
          f"bare libcurl loop {floor_r:,.0f} req/s (runs: {runs(floors)}) -> {job_r / floor_r * 100:.0f}% "
          f"of the loop (target >= 80%; before: {BEFORE['rate_ratio'] * 100:.0f}%)")
    print(f"  the loop timed as the job is (its whole process, start to exit): {proc_r:,.0f} req/s "
          f"(runs: {runs(floor_procs)}) -> the job {job_r / proc_r * 100:.0f}% of it")

    # 3. CPU and context switches per item, from the same runs ---------------
    def per(uses, key, scale):
        return median([u[key] for u in uses]) * scale / N_RATE

    for name, uses in (("job", job_use), ("loop", floor_use)):
        print(f"  {name}: CPU {per(uses, 'cpu', 1e6):.1f} us an item (system {per(uses, 'sys', 1e6):.1f}), "
              f"context switches {per(uses, 'vcsw', 1):.3f} voluntary and {per(uses, 'ivcsw', 1):.3f} "
              f"involuntary an item (whole process, medians)")
finally:
    server.terminate()
    server.wait()
    shutil.rmtree(tmp, ignore_errors=True)
