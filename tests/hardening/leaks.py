#!/usr/bin/env python3
"""Secrets handed back by an API, in every form, against every output.

  leaks.py SCRATCH_DIR LEAK_BIN ECHO_BIN

For each case of forms.cases(secrets.json) the test API answers the
leak workflow's request with that 400 body; the job runs (plain, or --json
for every other case) with the case's secret set, then `show` and
`show --json` (without the secret: the stored text alone must be clean).
The echo workflow runs once per secret against an API that echoes every
request. At the end: `history`, `history --json`, the state file, and
`serve`'s GET /runs/ID of every run. Each output is scanned for every form
of the secret (forms.scan) and must still say what failed. Prints one
PASS/FAIL line per secret and output, as tests/lib/common.sh does.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forms  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
API = os.environ["API"]
os.environ["FLOW_DURABILITY"] = "batch"     # the same records, fewer fsyncs: 100 runs on a busy machine
FLOWC = os.environ.get("FLOWC")


def ctl(path, data):
    req = urllib.request.Request(API + path, data=json.dumps(data).encode(), method="POST")
    urllib.request.urlopen(req).read()


def run(cmd, env, out, err):
    with open(out, "wb") as o, open(err, "wb") as e:
        return subprocess.run(cmd, env=env, stdout=o, stderr=e, stdin=subprocess.DEVNULL, timeout=120).returncode


def run_id(log):
    """The run's id, from its log lines (plain or --json)."""
    m = re.search(rb'(?:"run":"| )([0-9a-f]{20})[" ]', open(log, "rb").read())
    return m.group(1).decode() if m else ""


def report(ok, name, why=""):
    print(f"PASS: {name}" if ok else f"FAIL: {name}: {why}", flush=True)


def serve_answers(job, state, ids, out_dir):
    """GET /runs/ID of each run from `job serve` over the state: the files."""
    port_file = os.path.join(out_dir, "serve.port")
    log = open(os.path.join(out_dir, "serve.log"), "wb")
    sv = subprocess.Popen([job, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file, "--state", state],
                          stdout=log, stderr=log)
    files = []
    try:
        for _ in range(200):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        base = "http://127.0.0.1:" + open(port_file).read().strip()
        for rid in ids:
            path = os.path.join(out_dir, f"serve.{rid}.json")
            with open(path, "wb") as f:
                f.write(urllib.request.urlopen(f"{base}/runs/{rid}").read())
            files.append(path)
    finally:
        sv.send_signal(signal.SIGTERM)
        sv.wait(timeout=60)
        log.close()
    return files


def main():
    scratch, leak_bin, echo_bin = sys.argv[1:4]
    secrets = json.load(open(os.path.join(HERE, "secrets.json")))
    cases = forms.cases(os.path.join(HERE, "secrets.json"))
    state = os.path.join(scratch, "leak.state")
    outputs = {i: {"run": [], "show": []} for i in range(len(secrets))}
    not_failed = []             # cases whose run did not fail with the cut body
    ids = []
    for n, case in enumerate(cases):
        i = case["secret"]
        env = dict(os.environ, FLOW_SECRET_TOK=secrets[i])
        ctl("/_ctl/routes", {"method": "POST", "path": "/c", "status": 400, "body": case["body"]})
        base = os.path.join(scratch, f"case{n}")
        mode = ["--json"] if n % 2 else []
        rc = run([leak_bin, "run", "--state", state] + mode, env, base + ".out", base + ".err")
        outputs[i]["run"] += [base + ".out", base + ".err"]
        rid = run_id(base + ".err")
        ids.append(rid)
        clean = dict(os.environ)
        clean.pop("FLOW_SECRET_TOK", None)
        run([leak_bin, "show", rid, "--state", state], clean, base + ".show", base + ".show.err")
        run([leak_bin, "show", rid, "--state", state, "--json"], clean, base + ".showj", base + ".showj.err")
        outputs[i]["show"] += [base + ".show", base + ".showj"]
        try:
            shown = json.load(open(base + ".showj"))
            error = shown["run"]["error"]
            step = [s for s in shown["steps"] if s["path"] == "call"][0]
            ok = (rc == 1 and error.startswith("step 'call': HTTP 400: ") and "...." in error
                  and step["error"] in error and step["attempts"][0]["error"] == step["error"])
        except (ValueError, KeyError, IndexError):
            ok = False
        if not ok:
            not_failed.append(f"case {n} ({case['form']} of secret {i}): rc={rc}")

    # the same through `flowc run` (the runtime loaded in flowc's process)
    if FLOWC:
        case = cases[0]
        ctl("/_ctl/routes", {"method": "POST", "path": "/c", "status": 400, "body": case["body"]})
        env = dict(os.environ, FLOW_SECRET_TOK=secrets[case["secret"]])
        base = os.path.join(scratch, "flowc-run")
        run([FLOWC, "run", os.path.join(HERE, "leak.flow"), "--state", os.path.join(scratch, "flowc.state")], env,
            base + ".out", base + ".err")
        outputs[case["secret"]]["run"] += [base + ".out", base + ".err"]

    report(not not_failed, f"redact: {len(cases)} runs failed with the start of the API's answer as their reason",
           "; ".join(not_failed[:5]))

    # the echo workflow: 200 answers echoing every request, once per secret
    ctl("/_ctl/routes", {"path": "/echo", "body": {"$echo": True}})
    echo_state = os.path.join(scratch, "echo.state")
    echo_bad = []
    for i, secret in enumerate(secrets):
        if any(ord(ch) < 0x20 for ch in secret):
            continue            # a header cannot carry it (the request is refused, as it must be)
        base = os.path.join(scratch, f"echo{i}")
        env = dict(os.environ, FLOW_SECRET_TOK=secret)
        rc = run([echo_bin, "run", "--state", echo_state] + (["--json"] if i % 2 else []), env, base + ".out",
                 base + ".err")
        rid = run_id(base + ".err")
        clean = dict(os.environ)
        clean.pop("FLOW_SECRET_TOK", None)
        run([echo_bin, "show", rid, "--state", echo_state], clean, base + ".show", base + ".show.err")
        run([echo_bin, "show", rid, "--state", echo_state, "--json"], clean, base + ".showj", base + ".showj.err")
        outputs[i]["run"] += [base + ".out", base + ".err"]
        outputs[i]["show"] += [base + ".show", base + ".showj"]
        try:
            out = json.load(open(base + ".out"))
            ok = (rc == 0 and out["e"]["headers"]["authorization"] == "Bearer [redacted]"
                  and out["e"]["query"] == "key=[redacted]" and out["f"]["body"] == "key=[redacted]"
                  and out["b"]["headers"]["authorization"].startswith("Basic ")
                  and "[redacted]" in out["b"]["headers"]["authorization"])
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            echo_bad.append(f"secret {i}: rc={rc} {open(base + '.out').read()[:300]}")
    report(not echo_bad, "redact: an echoing API's answers (header, query, JSON body, form, url_encode, base64, "
           "Basic) come out with [redacted] in place of the secret", "; ".join(echo_bad[:2]))

    # the outputs all runs share
    shared = {}
    for name, job, st in (("leak", leak_bin, state), ("echo", echo_bin, echo_state)):
        for args, suffix in ((["history"], "hist"), (["history", "--json"], "histj")):
            path = os.path.join(scratch, f"{name}.{suffix}")
            run([job] + args + ["--state", st, "--limit", "1000"], dict(os.environ), path, path + ".err")
            shared.setdefault("history", []).append(path)
        shared.setdefault("state", []).append(os.path.join(st, "data.mdb"))
    shared["serve"] = serve_answers(leak_bin, state, ids, scratch)
    try:
        answers = [json.load(open(p)) for p in shared["serve"]]
        ok = all(a.get("status") == "failed" and a.get("error", "").startswith("step 'call': HTTP 400: ")
                 and "...." in a["error"] and a["steps"]["call"]["error"] in a["error"] for a in answers)
    except (ValueError, KeyError):
        ok = False
    report(ok and len(answers) == len(cases), "redact: serve's GET /runs/ID gives each run's reason (the cut body)",
           f"{len(shared['serve'])} answers")

    what = {"run": "the run's stdout and stderr (plain and --json)", "show": "show and show --json",
            "history": "history and history --json", "state": "the state files (data.mdb)",
            "serve": "serve's GET /runs/ID"}
    for i, secret in enumerate(secrets):
        label = f"secret {i + 1} ({len(secret)} chars, {len(forms.forms(secret)) + 2} forms)"
        for kind, files in list(outputs[i].items()) + list(shared.items()):
            found = forms.scan(secret, files)
            report(not found, f"redact: {label}: no form of it, nor its start, in {what[kind]}",
                   " | ".join(found)[:600])


if __name__ == "__main__":
    main()
