#!/usr/bin/env python3
"""tests/lang/driver.py — end-to-end cases of the language, as data.

A case is tests/lang/NAME.flow (the workflow) and NAME.case (JSON): a list
of actions run in order against the real test server (tests/server) and the
real job binary that flowc builds. Each action prints PASS/FAIL lines.

  {"routes": [...]}            reset the server's log and set these routes
  {"env": {...}}               environment of the job from now on ($API: the server)
  {"run": {...}}               JOB run (or --step with "step"): see run()
  {"cmd": {...}}               JOB ARGS... (another command: `users set u1`), checked like a run
  {"crash": {...}}             JOB run, kill -9 once the server saw a request
                               for "at", then the checks of the next "resume"
  {"resume": {...}}            JOB resume, checked like a run (output from
                               the run's record)
  {"serve": {...}}             JOB serve; HTTP requests and their answers
  {"show": {...}}              JOB show RUN (the last run) --json, text checks

Checks of a run (all optional): "exit" (0), "output" (the output must hold
these fields with these values, recursively), "output_text" (substrings of
the printed output), "stderr" (substrings of stderr), "requests" ({path:
count}), "bodies" ({path: [substrings of the first request's body]}).
"$LAST_RUN" in args is the id of the last run of the state.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

FLOWC, SERVER = sys.argv[1], sys.argv[2]
CASES = sys.argv[3:]
SCRATCH = tempfile.mkdtemp(prefix="flowc-lang.")


def say(ok, name, why=""):
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok else ": " + why[:600]), flush=True)


def http(method, url, body=None, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class Server:
    def __init__(self):
        self.p = subprocess.Popen([SERVER, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        self.url = "http://127.0.0.1:" + line.split()[1]

    def routes(self, routes):
        http("POST", self.url + "/_ctl/reset", b"")
        st, _, body = http("POST", self.url + "/_ctl/routes?clear=1", routes)
        assert st == 200, body

    def log(self, path):
        return json.loads(http("GET", self.url + "/_ctl/log?path=" + path)[2])

    def stop(self):
        self.p.terminate()
        self.p.wait()


def fits(got, want, where="output"):
    """Why got does not hold want (recursively, extra fields allowed), or None."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return "%s is %s, want an object" % (where, json.dumps(got))
        for k, v in want.items():
            if k not in got:
                return "%s has no field %s" % (where, k)
            why = fits(got[k], v, where + "." + k)
            if why:
                return why
        return None
    if isinstance(want, float) or isinstance(got, float):
        return None if isinstance(got, (int, float)) and got == want and type(got) == type(want) else \
            "%s is %s, want %s" % (where, json.dumps(got), json.dumps(want))
    return None if got == want and type(got) == type(want) else \
        "%s is %s, want %s" % (where, json.dumps(got), json.dumps(want))


class Case:
    def __init__(self, path, server):
        self.name = os.path.basename(path)[:-5]
        self.dir = os.path.dirname(path)
        self.server = server
        self.tmp = tempfile.mkdtemp(dir=SCRATCH)
        self.job = os.path.join(self.tmp, self.name)
        self.state = os.path.join(self.tmp, "state")
        self.env = dict(os.environ, API=server.url, FLOW_STATE_DIR=self.state)
        self.spec = json.load(open(path))

    def last_run(self):
        out = subprocess.run([self.job, "history", "--json", "--limit", "1"], env=self.env, capture_output=True,
                             text=True).stdout
        runs = json.loads(out or "[]")
        return runs[0]["id"] if runs else ""

    def args(self, spec):
        return [a.replace("$LAST_RUN", self.last_run()) if "$LAST_RUN" in a else a for a in spec.get("args", [])]

    def event_args(self, spec):
        if "event" not in spec:
            return []
        f = os.path.join(self.tmp, "event.json")
        json.dump(spec["event"], open(f, "w"))
        return ["--event", f]

    def check(self, label, spec, rc, out, err):
        want_rc = spec.get("exit", 0)
        if rc != want_rc:
            return say(False, label, "exit %d, want %d; stderr: %s; stdout: %s" % (rc, want_rc, err[-400:], out[:300]))
        problems = []
        if "output" in spec:
            try:
                got = json.loads(out) if out.strip() else None
            except ValueError:
                got = "(not JSON) " + out[:200]
            why = fits(got, spec["output"])
            if why:
                problems.append(why)
        for s in spec.get("output_text", []):
            if s not in out:
                problems.append("printed output lacks %r: %s" % (s, out[:300]))
        for s in spec.get("output_lacks", []):
            if s in out:
                problems.append("printed output has %r" % s)
        for s in spec.get("stderr", []):
            if s not in err:
                problems.append("stderr lacks %r: %s" % (s, err[-400:]))
        for path, n in spec.get("requests", {}).items():
            got = len(self.server.log(path))
            if got != n:
                problems.append("%d requests to %s, want %d" % (got, path, n))
        for path, subs in spec.get("bodies", {}).items():
            log = self.server.log(path)
            body = log[0]["body"] if log else ""
            for s in subs:
                if s not in body:
                    problems.append("the request to %s has no %r in its body: %s" % (path, s, body[:300]))
        for path, subs in spec.get("urls", {}).items():
            log = self.server.log(path)
            q = log[0]["query"] if log else ""
            for s in subs:
                if s not in q:
                    problems.append("the request to %s has no %r in its query: %s" % (path, s, q))
        for path, hdrs in spec.get("headers", {}).items():
            log = self.server.log(path)
            h = log[0]["headers"] if log else {}
            for k, v in hdrs.items():
                if h.get(k.lower()) != v:
                    problems.append("the request to %s has header %s %r, want %r" % (path, k, h.get(k.lower()), v))
        say(not problems, label, "; ".join(problems))

    def run(self, i, spec):
        cmd = [self.job, "run"] + self.event_args(spec) + self.args(spec)
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        self.check("lang %s: %s" % (self.name, spec.get("name", "run %d" % i)), spec, p.returncode, p.stdout, p.stderr)

    def cmd(self, i, spec):
        p = subprocess.run([self.job] + self.args(spec), env=self.env, capture_output=True, text=True, timeout=120)
        self.check("lang %s: %s" % (self.name, spec.get("name", "cmd %d" % i)), spec, p.returncode, p.stdout, p.stderr)

    def crash(self, i, spec):
        cmd = [self.job, "run"] + self.event_args(spec) + self.args(spec)
        p = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            if self.server.log(spec["at"]):
                break
            time.sleep(0.025)
        p.send_signal(signal.SIGKILL)
        p.wait()
        say(p.returncode == -signal.SIGKILL, "lang %s: %s: killed -9 at %s" % (self.name, spec.get("name", "crash"),
                                                                               spec["at"]), "rc %s" % p.returncode)

    def resume(self, i, spec):
        p = subprocess.run([self.job, "resume"], env=self.env, capture_output=True, text=True, timeout=120)
        out = ""
        if p.returncode == 0:
            rid = self.last_run()
            shown = subprocess.run([self.job, "show", rid, "--json"], env=self.env, capture_output=True, text=True)
            out = json.dumps(json.loads(shown.stdout or "{}").get("run", {}).get("output"))
        self.check("lang %s: %s" % (self.name, spec.get("name", "resume")), spec, p.returncode, out, p.stderr)

    def show(self, i, spec):
        rid = self.last_run()
        p = subprocess.run([self.job, "show", rid] + spec.get("args", []), env=self.env, capture_output=True,
                           text=True)
        self.check("lang %s: %s" % (self.name, spec.get("name", "show")), spec, p.returncode, p.stdout, p.stderr)

    def serve(self, i, spec):
        port_file = os.path.join(self.tmp, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        log = open(os.path.join(self.tmp, "serve.log"), "a")
        p = subprocess.Popen([self.job, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file, "--no-auth"] +
                             spec.get("args", []), env=self.env, stdout=log, stderr=log)
        for _ in range(200):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        base = "http://127.0.0.1:" + open(port_file).read().strip()
        try:
            for k, r in enumerate(spec["requests"]):
                st, hdrs, body = http(r.get("method", "POST"), base + r["path"],
                                      r["body"] if isinstance(r.get("body"), (dict, list)) else
                                      (r["body"].encode() if "body" in r else b""),
                                      {"Content-Type": "application/json"})
                problems = []
                if st != r["status"]:
                    problems.append("status %d, want %d (%s)" % (st, r["status"], body[:300]))
                for h, v in r.get("headers", {}).items():
                    got = next((hv for hk, hv in hdrs.items() if hk.lower() == h.lower()), None)
                    if got != v:
                        problems.append("header %s is %r, want %r" % (h, got, v))
                if "answer" in r:
                    try:
                        why = fits(json.loads(body), r["answer"], "answer")
                    except ValueError:
                        why = "answer is not JSON: " + body[:200]
                    if why:
                        problems.append(why)
                if "answer_is" in r:
                    try:
                        if json.loads(body) != r["answer_is"]:
                            problems.append("answer is %s, want exactly %s" % (body[:300], json.dumps(r["answer_is"])))
                    except ValueError:
                        problems.append("answer is not JSON: " + body[:200])
                for s in r.get("answer_has", []):
                    if s not in body:
                        problems.append("answer lacks %r: %s" % (s, body[:300]))
                say(not problems, "lang %s: %s" % (self.name, r.get("name", "request %d" % k)), "; ".join(problems))
        finally:
            p.terminate()
            p.wait()
            log.close()

    def go(self):
        b = subprocess.run([FLOWC, "build", os.path.join(self.dir, self.name + ".flow"), "-o", self.job],
                           capture_output=True, text=True)
        if b.returncode != 0:
            return say(False, "lang %s: build" % self.name, b.stderr[:600])
        for i, action in enumerate(self.spec):
            (kind, spec), = action.items()
            if kind == "routes":
                self.server.routes(spec)
            elif kind == "env":
                self.env.update({k: v.replace("$API", self.server.url) for k, v in spec.items()})
            else:
                getattr(self, kind)(i, spec)


server = Server()
try:
    for c in CASES:
        try:
            Case(c, server).go()
        except Exception as e:      # a broken case is a failure, not a crash of the group
            say(False, "lang %s" % os.path.basename(c), "%s: %s" % (type(e).__name__, e))
finally:
    server.stop()
