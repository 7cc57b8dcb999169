#!/usr/bin/env bash
# tests/layers.sh — the runtime's layers hold (docs/architecture.md,
# "The runtime in layers"): runtime/LAYERS names the layer of every module
# (rt_x.c and rt_x.h), and
#   - every file of runtime/ is in the map;
#   - no file includes the header of a module of a higher layer;
#   - no object calls (or reads) a symbol defined by a higher layer's object:
#     `nm` over build/obj/runtime/*.o, each undefined symbol matched with the
#     object that defines it;
#   - the modules' includes and calls form no cycle, inside a layer too;
#   - no file of runtime/ is over 800 lines.
# A failure names the file and the header or symbol that crosses.
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

OBJ=${LAYERS_OBJ:-$ROOT/build/obj/runtime}
if ! ls "$OBJ"/*.o >/dev/null 2>&1; then
    fail "layers" "no objects in $OBJ (run make first)"
    exit 0
fi

python3 - "$OBJ" <<'EOF'
import os, re, subprocess, sys

obj_dir = sys.argv[1]
MAX_LINES = 800

def fail(name, why): print(f"FAIL: {name}: {why}")
def ok(name): print(f"PASS: {name}")

# ---- the map ----------------------------------------------------------------
order, layer_of = [], {}
bad_map = []
for n, line in enumerate(open('runtime/LAYERS'), 1):
    line = line.split('#', 1)[0].strip()
    if not line: continue
    if line.startswith('layers:'):
        order = line.split(':', 1)[1].split()
        continue
    parts = line.split()
    if len(parts) != 2 or parts[1] not in order:
        bad_map.append(f"runtime/LAYERS:{n}: '{line}' is not 'MODULE LAYER' with a layer of the 'layers:' line")
        continue
    layer_of[parts[0]] = parts[1]
rank = {l: i for i, l in enumerate(order)}
if bad_map or not order: fail("layers: runtime/LAYERS reads", '; '.join(bad_map) or "no 'layers:' line")
else: ok("layers: runtime/LAYERS reads")

files = sorted(f for f in os.listdir('runtime') if f.endswith(('.c', '.h')))
module = lambda f: os.path.splitext(os.path.basename(f))[0]
missing = [f for f in files if module(f) not in layer_of]
stale = [m for m in layer_of if not any(module(f) == m for f in files)]
if missing or stale:
    fail("layers: every runtime file has a layer",
         '; '.join([f"runtime/{f} is not in runtime/LAYERS" for f in missing] +
                   [f"runtime/LAYERS names {m}, which has no file" for m in stale]))
else: ok("layers: every runtime file has a layer")

def lay(m): return f"{m} ({layer_of.get(m, '?')})"
edges = {}          # module -> {module: why}
def edge(a, b, why):
    if a != b: edges.setdefault(a, {}).setdefault(b, why)

# ---- includes ---------------------------------------------------------------
up = []
for f in files:
    m = module(f)
    for n, line in enumerate(open('runtime/' + f), 1):
        inc = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
        if not inc or not os.path.exists('runtime/' + inc.group(1)): continue
        t = module(inc.group(1))
        if m in layer_of and t in layer_of and rank[layer_of[t]] > rank[layer_of[m]]:
            up.append(f"runtime/{f}:{n} includes {inc.group(1)}: {lay(t)} is above {lay(m)}")
        edge(m, t, f"runtime/{f}:{n} includes {inc.group(1)}")
if up: fail("layers: no include reaches up", '; '.join(up))
else: ok("layers: no include reaches up")

# ---- calls ------------------------------------------------------------------
objs = [o for o in sorted(os.listdir(obj_dir))
        if o.endswith('.o') and os.path.exists('runtime/' + o[:-2] + '.c')]
defined, undefined = {}, {}
for o in objs:
    out = subprocess.run(['nm', os.path.join(obj_dir, o)], capture_output=True, text=True).stdout
    m = o[:-2]
    for line in out.splitlines():
        p = line.split()
        if len(p) == 2 and p[0] == 'U': undefined.setdefault(m, set()).add(p[1])
        elif len(p) == 3 and p[1] in 'TDBRVWCG': defined.setdefault(p[2], m)
up = []
for m, syms in sorted(undefined.items()):
    for s in sorted(syms):
        d = defined.get(s)
        if not d or d == m: continue
        if m in layer_of and d in layer_of and rank[layer_of[d]] > rank[layer_of[m]]:
            up.append(f"runtime/{m}.c calls {s}, defined in runtime/{d}.c: {lay(d)} is above {lay(m)}")
        edge(m, d, f"runtime/{m}.c calls {s} (runtime/{d}.c)")
if up: fail("layers: no call reaches up", '; '.join(up))
else: ok("layers: no call reaches up")

# ---- cycles -----------------------------------------------------------------
# Strongly connected components (Tarjan): any with two modules is a cycle.
index, low, stack, on, comps = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index); stack.append(v); on.add(v)
    for w in edges.get(v, {}):
        if w not in index: visit(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v: break
        if len(c) > 1: comps.append(sorted(c))
sys.setrecursionlimit(10000)
for v in sorted(set(edges) | {w for e in edges.values() for w in e}):
    if v not in index: visit(v)
if comps:
    msgs = []
    for c in comps:
        why = [edges[a][b] for a in c for b in edges.get(a, {}) if b in c]
        msgs.append(f"cycle among {', '.join(c)}: " + '; '.join(why))
    fail("layers: no cycle between modules", ' | '.join(msgs))
else: ok("layers: no cycle between modules")

# ---- sizes ------------------------------------------------------------------
big = []
for f in files:
    n = sum(1 for _ in open('runtime/' + f))
    if n > MAX_LINES: big.append(f"runtime/{f} has {n} lines (at most {MAX_LINES})")
if big: fail("layers: no runtime file over 800 lines", '; '.join(big))
else: ok("layers: no runtime file over 800 lines")
EOF
