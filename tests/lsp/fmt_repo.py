#!/usr/bin/env python3
"""tests/lsp/fmt_repo.py FLOWC SCRATCH — `flowc fmt` over every .flow of the repository.

Two mirrors of every .flow file (examples, stdlib, tests) are made under
SCRATCH: A as it is, B formatted in place by `flowc fmt`. Then, for each file:
  - a file fmt refuses has syntax errors (`flowc check` says so) and is left alone;
  - formatting is idempotent: `flowc fmt --check` finds nothing left to do in B;
  - the syntax tree is the same: `flowc check --dump-ast` of A and B are equal
    once positions are taken out;
  - it checks the same: `flowc check` prints the same diagnostics for A and B
    once paths and positions are taken out.
Prints one PASS/FAIL line per property (failures name the files).
"""
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def flow_files():
    out = []
    for top in ("examples", "stdlib", "tests"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(".flow"):
                    out.append(os.path.relpath(os.path.join(d, f), ROOT))
    return sorted(out)


def mirror(files, dest):
    for f in files:
        os.makedirs(os.path.join(dest, os.path.dirname(f)), exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, f), os.path.join(dest, f))


POS = re.compile(r" @\d+(:\d+)?")


def dumps(flowc, base, files):
    """The dump of each file (one `check --dump-ast` for all), without positions."""
    r = run([flowc, "check", "--dump-ast"] + files, cwd=base)
    out, cur = [], None
    for line in r.stdout.decode("utf-8", "replace").split("\n"):
        if line.startswith("(file "):
            cur = []
            out.append(cur)
        elif cur is not None:
            cur.append(POS.sub("", line))
    return ["\n".join(d) for d in out]


def messages(flowc, base, files):
    """The diagnostics of `flowc check` on every file, without paths and positions."""
    r = run([flowc, "check"] + files, cwd=base)
    msgs = []
    for line in r.stderr.decode("utf-8", "replace").split("\n"):
        m = re.match(r"^(\S*?):(\d+:\d+:)? (error|warning|note): (.*)$", line)
        if m:
            text = re.sub(r"\b\d+:\d+\b", "L:C", m.group(4))
            text = text.replace(base, "<root>")
            msgs.append("%s: %s" % (m.group(3), text))
        elif "error:" in line and not line.startswith(" "):
            msgs.append(re.sub(r"^\S+: ", "", line.replace(base, "<root>")))
    return msgs, r.returncode


def refused_by(stderr):
    """The files whose syntax errors fmt reported."""
    out = set()
    for line in stderr.decode("utf-8", "replace").split("\n"):
        m = re.match(r"^(\S+?):\d+:\d+: error: ", line)
        if m:
            out.add(m.group(1))
    return out


def main():
    flowc, scratch = sys.argv[1], sys.argv[2]
    files = flow_files()
    a, b = os.path.join(scratch, "A"), os.path.join(scratch, "B")
    mirror(files, a)
    mirror(files, b)

    # format B in place, all files at once; files with syntax errors are
    # refused (reported) and left alone
    r = run([flowc, "fmt"] + files, cwd=b)
    if r.returncode not in (0, 1):
        print("FAIL: fmt over the repository: exit %d: %s" % (r.returncode, r.stderr.decode()[:300]))
    refused = sorted(refused_by(r.stderr) & set(files))
    chk = run([flowc, "check"] + refused, cwd=a) if refused else None
    with_errors = refused_by(chk.stderr) if chk else set()
    bad = []
    for f in refused:
        with open(os.path.join(a, f), "rb") as x, open(os.path.join(b, f), "rb") as y:
            if x.read() != y.read() or f not in with_errors:
                bad.append(f)
    formatted = [f for f in files if f not in refused]
    if bad:
        print("FAIL: fmt refuses only files with errors, leaving them as they are: %s" % bad)
    else:
        print("PASS: fmt refuses only files with errors (%d of %d), leaving them as they are" % (
            len(refused), len(files)))

    r = run([flowc, "fmt", "--check"] + formatted, cwd=b)
    again = r.stdout.decode().split()
    if again or r.returncode != 0:
        print("FAIL: fmt is idempotent: formatting again changes %s" % (again or r.stderr.decode()[:300]))
    else:
        print("PASS: fmt is idempotent on %d files" % len(formatted))

    da, db = dumps(flowc, a, formatted), dumps(flowc, b, formatted)
    diff = [i for i in range(max(len(da), len(db))) if i >= len(da) or i >= len(db) or da[i] != db[i]]
    if diff or not da:
        import difflib
        i = diff[0] if diff else 0
        x = da[i] if i < len(da) else ""
        y = db[i] if i < len(db) else ""
        d = "\n".join(list(difflib.unified_diff(x.split("\n"), y.split("\n"), lineterm=""))[:30])
        print("FAIL: fmt keeps the syntax tree: %d trees differ; the first:\n%s" % (len(diff), d))
    else:
        print("PASS: fmt keeps the syntax tree of %d files" % len(da))

    ma, ra = messages(flowc, a, files)
    mb, rb = messages(flowc, b, files)
    if ma != mb or ra != rb:
        import difflib
        d = "\n".join(list(difflib.unified_diff(ma, mb, lineterm=""))[:30])
        print("FAIL: fmt(x) checks as x does: diagnostics differ:\n%s" % d)
    else:
        print("PASS: fmt(x) checks as x does (%d diagnostics over %d files)" % (len(ma), len(files)))


if __name__ == "__main__":
    main()
