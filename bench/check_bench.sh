#!/usr/bin/env bash
# bench/check_bench.sh — how `flowc check` scales: generate workflows of
# 10,000 and 20,000 steps (bench/gen_workflow.py), time `flowc check` on
# each (best of 3 wall-clock runs), print the times and the 20k/10k ratio,
# and the 10k one without compiling the C bodies (--no-c).
# Targets: 10k under 200 ms, ratio at most 2.2 (linear). Figures, not asserts.
cd "$(dirname "$0")/.." || exit 2
source bench/lib.sh
FLOWC=${FLOWC:-build/bin/flowc}
if [ ! -x "$FLOWC" ]; then
    echo "check_bench: $FLOWC not built (run make)" >&2
    exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$FLOWC" "$tmp" "$(scaled 10000 10)" <<'PY'
import subprocess, sys, time
flowc, tmp, small = sys.argv[1], sys.argv[2], int(sys.argv[3])
best = {}
for n in (small, 2 * small):
    path = f"{tmp}/bench_{n}.flow"
    with open(path, "w") as f:
        subprocess.run([sys.executable, "bench/gen_workflow.py", str(n)], stdout=f, check=True)
    lines = sum(1 for _ in open(path))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = subprocess.run([flowc, "check", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            print(f"check of the {n}-step workflow failed (exit {r.returncode}):")
            print(r.stderr.decode(errors="replace")[:2000])
            sys.exit(1)
    best[n] = min(times)
    print(f"flowc check {n:>6} steps ({lines:>7} lines): {best[n] * 1000:8.1f} ms  (best of 3)")
# the share of the C bodies (compiled by tcc since issue 13): the small one again without them
path = f"{tmp}/bench_{small}.flow"
times = []
for _ in range(3):
    t0 = time.perf_counter()
    subprocess.run([flowc, "check", "--no-c", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times.append(time.perf_counter() - t0)
print(f"flowc check --no-c {small:>6} steps: {min(times) * 1000:8.1f} ms  (the C of function steps: "
      f"{(best[small] - min(times)) * 1000:+.1f} ms)")
ratio = best[2 * small] / best[small]
print(f"{2 * small}/{small} ratio: {ratio:.2f}  (target <= 2.2; 10k target < 200 ms: "
      f"{'met' if best[small] < 0.2 else 'missed'})")
PY
