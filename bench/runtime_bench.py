#!/usr/bin/env python3
"""Runtime and build benchmarks for native job binaries (printed, not asserted).

1. `flowc build` of a 1,000-step workflow vs gcc -O0 on the same generated C.
2. Per-step cost of a durable run of 1,000 no-op function steps vs bare LMDB
   write transactions with fsync on the same disk (the physical floor).
3. Steps per second with --durability batch (10,000 no-op steps).
4. Peak RSS of the job binary for a small workflow.
"""
import os, resource, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import scaled, bench_prog  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOWC = os.environ.get("FLOWC", os.path.join(ROOT, "build/bin/flowc"))
PREFIX = os.path.dirname(os.path.dirname(FLOWC))
tmp = tempfile.mkdtemp(prefix="flowc-bench-", dir=os.environ.get("BENCH_DIR", ROOT + "/build"))

def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

def best(f, n=3):
    times = []
    for _ in range(n):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return min(times)

def write(name, text):
    p = os.path.join(tmp, name)
    open(p, "w").write(text)
    return p

def noop_workflow(n, name):
    lines = [f"workflow {name}\n", 'trigger event "go" { }\n']
    for i in range(n):
        lines.append(f"step f{i} = function () -> int {{% return json_integer({i}); %}}\n")
    lines.append(f"return f{n-1}\n")
    return write(name + ".flow", "".join(lines))

# 1. build speed -------------------------------------------------------------
gen = os.path.join(ROOT, "bench/gen_workflow.py")
N_BUILD, N_DURABLE, N_BATCH = scaled(1000, 10), scaled(1000, 10), scaled(10000, 10)
mixed = write("mixed.flow", run([sys.executable, gen, str(N_BUILD)]).stdout)
exe = os.path.join(tmp, "mixed")
t_tcc = best(lambda: run([FLOWC, "build", mixed, "-o", exe]))
csrc = os.path.join(tmp, "mixed.c")
run([FLOWC, "build", mixed, "-o", exe, "--emit-c", csrc])
gcc_cmd = ["gcc", "-O0", "-w", "-I", PREFIX + "/include/flowc", csrc, PREFIX + "/lib/flowc/libflowrt.a",
           "-lcurl", "-lcrypto", "-ljansson", "-llmdb", "-lmicrohttpd", "-lm", "-lpthread", "-ldl", "-o", exe + "-gcc"]
t_gcc = best(lambda: run(gcc_cmd), n=1)
print(f"build {N_BUILD:,}-step workflow: flowc build {t_tcc*1000:.0f} ms, gcc -O0 {t_gcc*1000:.0f} ms "
      f"-> {t_gcc/t_tcc:.1f}x faster (target >= 10x)")

# 2. durable per-step overhead -------------------------------------------------
floor_us = float(run([bench_prog("lmdb_floor"), os.path.join(tmp, "floor.lmdb"), str(N_DURABLE)]).stdout)
noop = noop_workflow(N_DURABLE, "noop")
noop_bin = os.path.join(tmp, "noop")
run([FLOWC, "build", noop, "-o", noop_bin])
def durable_run(state, *extra):
    shutil.rmtree(state, ignore_errors=True)
    t = time.perf_counter()
    run([noop_bin, "run", "--state", state, *extra])
    return time.perf_counter() - t
t_run = min(durable_run(os.path.join(tmp, f"noop{i}.state")) for i in range(3))
per_step = t_run / N_DURABLE * 1e6
print(f"durable run, {N_DURABLE:,} no-op function steps: {per_step:.0f} us/step; bare LMDB commit with fsync "
      f"{floor_us:.0f} us -> {per_step/floor_us:.2f}x the floor (target <= 1.5x)")

# 3. batch durability ---------------------------------------------------------
big = noop_workflow(N_BATCH, "noop10k")
big_bin = os.path.join(tmp, "noop10k")
run([FLOWC, "build", big, "-o", big_bin])
def batch_run(i):
    st = os.path.join(tmp, f"batch{i}.state")
    shutil.rmtree(st, ignore_errors=True)
    t = time.perf_counter()
    run([big_bin, "run", "--state", st, "--durability", "batch"])
    return time.perf_counter() - t
t_batch = min(batch_run(i) for i in range(3))
print(f"--durability batch, {N_BATCH:,} no-op steps: {N_BATCH/t_batch:,.0f} steps/s (target >= 100,000)")

# 4. peak RSS -----------------------------------------------------------------
small = write("small.flow", 'workflow small\ntrigger event "go" { n: int }\n'
              'step a = function (n: trigger.n) -> { m: int } {% return json_pack("{s:I}", "m", (json_int_t)n * 2); %}\n'
              'return a.m\n')
small_bin = os.path.join(tmp, "small")
run([FLOWC, "build", small, "-o", small_bin])
ev = write("ev.json", '{"n": 21}')
# /usr/bin/time reads the job's own peak (a wait4 from here would count the
# forked Python before exec)
out = run(["/usr/bin/time", "-f", "%M", small_bin, "run", "--event", ev, "--state",
           os.path.join(tmp, "small.state")]).stderr.strip().splitlines()
rss = int(out[-1])
print(f"job binary peak RSS, small workflow: {rss/1024:.1f} MB (target < 10 MB)")
shutil.rmtree(tmp, ignore_errors=True)
