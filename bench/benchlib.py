"""bench/benchlib.py — what the Python benchmarks share: the size scale.

BENCH_SCALE (default 1) multiplies every size a benchmark uses; `make test`
runs each benchmark once at BENCH_SCALE=0.01 so that none can silently
break (its figures then mean nothing). BENCH_BIN is where `make bench-progs`
put the floor programs (curl_floor, lmdb_floor, history_fill).
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
BENCH_BIN = os.environ.get("BENCH_BIN", os.path.join(ROOT, "build/bench"))
# Repetitions of a measurement: fewer when the sizes are cut down.
RUNS = int(os.environ.get("RUNS", "3" if SCALE >= 1 else "1"))


def scaled(n, least=1):
    """n at the current scale, never below least."""
    return max(least, int(round(n * SCALE)))


def bench_prog(name):
    """The path of a floor program built by `make bench-progs`; exits with a
    clear message when it is missing."""
    p = os.path.join(BENCH_BIN, name)
    if not os.access(p, os.X_OK):
        raise SystemExit(f"{p} is not built: run `make bench-progs`")
    return p
