#!/usr/bin/python3
"""tests/e2e/driver.py — runs end-to-end cases written as data.

A case is a directory holding an expect.json: the workflow, the test
server's routes, the event, the command lines, and what the run must
produce (exit status, output, log lines, history, the requests the server
recorded). Inputs a case lacks come from its nearest parent directory;
expectations never do. The format is docs/testing.md, "End-to-end cases".

Started by tests/e2e/run.sh (which sets FLOWC and SERVER_BIN); prints one
"PASS: name" or one "FAIL: name: file: field: expected X, got Y" line per
problem, as every test group does.
"""
import concurrent.futures
import copy
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLOWC = os.environ.get("FLOWC", os.path.join(ROOT, "build-san/bin/flowc"))
SERVER_BIN = os.environ.get("SERVER_BIN", os.path.join(ROOT, "build/tests/flowtest-server"))
SCRATCH = os.environ.get("E2E_SCRATCH") or tempfile.mkdtemp(prefix="flowc-e2e.")
JOBS = int(os.environ.get("E2E_JOBS", "2"))
VERBOSE = os.environ.get("E2E_VERBOSE") == "1"     # print what each invocation printed

# Files a case may take from a parent directory, and files it must hold itself.
INPUTS = ("flow.flow", "routes.json", "other-routes.json", "event.json", "settings.json",
          "env", "args", "runs.json")
EXPECTATIONS = ("expect.json", "requests.json", "other-requests.json", "expect-log")
EXPECT_KEYS = {"exit", "output", "stdout", "expect-log", "log_json", "log", "history", "show",
               "state", "elapsed_ms", "build", "runners", "secrets", "stats", "other_stats",
               "description"}
RUN_KEYS = {"args", "env", "stdin", "routes", "reset", "signal", "when", "count", "after_ms",
            "expect", "timeout_s"}
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")
MIN_SECRET = 6          # shorter values would match by chance
SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT}


class CaseError(Exception):
    """A case that cannot be run as written (a bad file), reported as a FAIL."""


# ---- the test server ---------------------------------------------------------

class Server:
    """One flowtest-server on 127.0.0.1; each worker owns its own."""

    def __init__(self):
        self.proc = subprocess.Popen([SERVER_BIN, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError("flowtest-server did not start: %r" % line)
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise CaseError("the test server refused %s %s: %s" % (method, path, e.read().decode(errors="replace")))

    def start_case(self, routes):
        self.call("POST", "/_ctl/routes?clear=1", routes if routes is not None else [])
        self.call("POST", "/_ctl/reset", {})

    def add_routes(self, routes):
        self.call("POST", "/_ctl/routes", routes)

    def reset(self):
        self.call("POST", "/_ctl/reset", {})

    def log(self, path=None):
        return self.call("GET", "/_ctl/log" + ("?path=" + urllib.parse.quote(path, safe="/*") if path else ""))

    def stats(self):
        return self.call("GET", "/_ctl/stats")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---- finding cases and their files -------------------------------------------

def find_cases(paths):
    """[(root, case_dir)] for every directory under the paths holding an expect.json.

    root is where inheritance stops: the nearest directory named `cases` at
    or above the path (so one case can be run alone), else the path itself."""
    cases = []
    for path in paths:
        path = os.path.abspath(path)
        root = path
        while os.path.basename(root) != "cases" and os.path.dirname(root) != root:
            root = os.path.dirname(root)
        if os.path.basename(root) != "cases":
            root = path
        for d, subdirs, files in os.walk(path):
            subdirs.sort()
            if "expect.json" in files:
                cases.append((root, d))
    return cases


def case_name(root, d):
    group = os.path.relpath(root, os.path.join(ROOT, "tests"))
    if group.startswith(".."):                  # cases outside tests/
        group = root
    group = group[:-len("/cases")] if group.endswith("/cases") else group
    return "%s: %s" % (group, os.path.relpath(d, root))


def lookup(root, d, name):
    """The path of input `name` for case d: d's own, else the nearest parent's up to root."""
    while True:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
        if os.path.samefile(d, root) or d == "/":
            return None
        d = os.path.dirname(d)


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise CaseError("%s: not valid JSON: %s" % (what, e))


# ---- placeholders --------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{(api|api_hostport|other|other_hostport|other_hostport_enc|state|tmp|flow|job|"
                         r"event|settings|case|run_id|file:[^{}\s]+)\}")


def subst(value, vars_):
    """Replaces the known {name} placeholders in every string of a JSON value."""
    if isinstance(value, str):
        def one(m):
            k = m.group(1)
            if k not in vars_:
                raise CaseError("placeholder {%s} has no value here" % k)
            return vars_[k]
        return PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        return [subst(v, vars_) for v in value]
    if isinstance(value, dict):
        return {subst(k, vars_): subst(v, vars_) for k, v in value.items()}
    return value


# ---- matching expected values against what was seen ------------------------------

def show(v, limit=300):
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= limit else s[:limit] + "..."


def project(exp, got):
    """got trimmed to the keys exp names, to print what matters of a mismatch."""
    if isinstance(exp, dict) and isinstance(got, dict) and not all(k.startswith("$") for k in exp):
        return {k: project(exp[k], got[k]) for k in exp if k in got}
    if isinstance(exp, dict) and exp and all(k.startswith("$") for k in exp) and isinstance(got, list):
        inner = next((v for k, v in exp.items() if k in ("$each", "$has")), None)
        if isinstance(exp.get("$unordered"), list) and exp["$unordered"]:
            inner = exp["$unordered"][0]
        return [project(inner, g) for g in got] if inner is not None else got
    if isinstance(exp, list) and isinstance(got, list):
        return [project(exp[0] if exp else None, g) for g in got]
    return got


def parse_form(s):
    out = {}
    for k, v in urllib.parse.parse_qsl(s or "", keep_blank_values=True):
        if k in out:
            out[k] = (out[k] if isinstance(out[k], list) else [out[k]]) + [v]
        else:
            out[k] = v
    return out


class Matcher:
    """match(expected, got) -> list of problems "field: expected X, got Y".

    Objects match as subsets (extra keys allowed), lists element by element,
    scalars by equality; {"$...": ...} objects are the operators documented
    in docs/testing.md. $same binds names across one case."""

    def __init__(self):
        self.same = {}

    def match(self, exp, got, where):
        if isinstance(exp, dict) and exp and all(k.startswith("$") for k in exp):
            probs = []
            if "$select" in exp:      # the other operators see only the items that match it
                if not isinstance(got, list):
                    return ["%s: expected a list, got %s" % (where or "value", show(got))]
                got = [g for g in got if not Matcher().match(exp["$select"], g, "")]
                where = "%s(selected by %s)" % (where or "value", show(exp["$select"]))
            for op, arg in exp.items():
                if op == "$select":
                    continue
                probs += self.op(op, arg, got, where)
                if probs:
                    break
            return probs
        if isinstance(exp, dict):
            if not isinstance(got, dict):
                return ["%s: expected an object, got %s" % (where or "value", show(got))]
            probs = []
            for k, e in exp.items():
                w = "%s.%s" % (where, k) if where else k
                if isinstance(e, dict) and e.get("$absent"):
                    if k in got:
                        probs.append("%s: expected absent, got %s" % (w, show(got[k])))
                    continue
                if k not in got:
                    probs.append("%s: expected %s, got nothing (no such key)" % (w, show(e)))
                    continue
                probs += self.match(e, got[k], w)
            return probs
        if isinstance(exp, list):
            if not isinstance(got, list):
                return ["%s: expected a list, got %s" % (where or "value", show(got))]
            if len(exp) != len(got):
                return ["%s: expected %d items %s, got %d items %s" % (where or "value", len(exp), show(exp),
                                                                       len(got), show(project(exp, got)))]
            probs = []
            for i, (e, g) in enumerate(zip(exp, got)):
                probs += self.match(e, g, "%s[%d]" % (where, i))
            return probs
        if type(exp) is bool or type(got) is bool or exp is None or got is None:
            ok = exp is got if (type(exp) is bool or exp is None) else False
        else:                       # 7 and 7.0 differ: a float printed as an int is a bug
            ok = type(exp) is type(got) and exp == got
        return [] if ok else ["%s: expected %s, got %s" % (where or "value", show(exp), show(got))]

    def op(self, op, arg, got, where):
        w = where or "value"

        def bad(what):
            return ["%s: expected %s, got %s" % (w, what, show(got))]

        def need_str():
            return None if isinstance(got, str) else bad("a string")
        if op == "$eq":
            return self.match(arg, got, where) if not isinstance(arg, dict) else \
                ([] if got == arg else bad(show(arg)))
        if op == "$match":
            return self.match(arg, got, where)
        if op == "$exact":
            if not isinstance(got, dict) or set(got) != set(arg):
                return bad("exactly the keys %s" % sorted(arg))
            return self.match(arg, got, where)
        if op == "$any":
            return []
        if op == "$not":
            trial = copy.deepcopy(self.same)
            if self.match(arg, got, where):
                self.same = trial
                return []
            self.same = trial
            return bad("not %s" % show(arg))
        if op == "$contains":
            return need_str() or ([] if arg in got else bad("a string containing %s" % show(arg)))
        if op == "$lacks":
            return need_str() or ([] if arg not in got else bad("a string without %s" % show(arg)))
        if op == "$re":
            return need_str() or ([] if re.search(arg, got) else bad("a match of /%s/" % arg))
        if op in ("$gte", "$gt", "$lte", "$lt"):
            if not isinstance(got, (int, float)) or isinstance(got, bool):
                return bad("a number")
            ok = {"$gte": got >= arg, "$gt": got > arg, "$lte": got <= arg, "$lt": got < arg}[op]
            return [] if ok else bad("%s %s" % ({"$gte": ">=", "$gt": ">", "$lte": "<=", "$lt": "<"}[op], arg))
        if op == "$len":
            if not hasattr(got, "__len__"):
                return bad("something with a length")
            return self.match(arg, len(got), "len(%s)" % w)
        if op == "$each":
            if not isinstance(got, list):
                return bad("a list")
            probs = []
            for i, g in enumerate(got):
                probs += self.match(arg, g, "%s[%d]" % (where, i))
            return probs
        if op == "$has":
            if not isinstance(got, list):
                return bad("a list")
            for g in got:
                trial = copy.deepcopy(self.same)
                if not self.match(arg, g, where):
                    return []
                self.same = trial
            return ["%s: expected a list holding %s, got %s" % (w, show(arg), show(project([arg], got)))]
        if op == "$includes":
            if not isinstance(got, list) or not isinstance(arg, list):
                return bad("a list")
            probs = []
            for i, a in enumerate(arg):
                probs += self.op("$has", a, got, "%s($includes[%d])" % (w, i))
            return probs
        if op == "$unordered":
            if not isinstance(got, list) or len(got) != len(arg):
                return ["%s: expected %d items in any order %s, got %s" % (
                    w, len(arg), show(arg), show(project(arg, got) if isinstance(got, list) else got))]
            if self.permutation(arg, got, 0, set(), where):
                return []
            lone = next((e for e in arg if all(Matcher().match(e, g, "") for g in got)), None)
            return ["%s: expected these items in any order%s, got %s" % (
                w, "" if lone is None else " (none matches %s)" % show(lone), show(project(arg, got)))]
        if op == "$json":
            if need_str():
                return need_str()
            try:
                parsed = json.loads(got)
            except ValueError:
                return bad("JSON text")
            return self.match(arg, parsed, "%s(json)" % w)
        if op == "$form":
            if need_str():
                return need_str()
            return self.match(arg, parse_form(got), "%s(form)" % w)
        if op == "$same":
            if arg in self.same:
                return [] if self.same[arg] == got else \
                    bad("the same value as the other $same %s (%s)" % (show(arg), show(self.same[arg])))
            self.same[arg] = got
            return []
        raise CaseError("%s: unknown operator %s" % (w, op))

    def permutation(self, exp, got, i, used, where):
        if i == len(exp):
            return True
        for j, g in enumerate(got):
            if j in used:
                continue
            saved = copy.deepcopy(self.same)
            if not self.match(exp[i], g, "%s[%d]" % (where, j)) and \
                    self.permutation(exp, got, i + 1, used | {j}, where):
                return True
            self.same = saved
        return False


def count_checks(exp):
    """How many assertions an expectation makes: its leaves and operators."""
    if isinstance(exp, dict):
        if exp and all(k.startswith("$") for k in exp):
            return sum(count_checks(v) if k in ("$each", "$json", "$form", "$exact", "$has", "$includes", "$unordered", "$not",
                                                "$match")
                       else 1 for k, v in exp.items())
        return sum(count_checks(v) for v in exp.values()) or 1
    if isinstance(exp, list):
        return sum(count_checks(v) for v in exp) + 1
    return 1


# ---- one case --------------------------------------------------------------------

class Builds:
    """Each workflow is built once per driver, whoever asks first."""

    def __init__(self):
        self.lock = threading.Lock()
        self.done = {}

    def get(self, flow):
        with self.lock:
            ev = self.done.get(flow)
            if ev is None:
                ev = self.done[flow] = [threading.Event(), None]
                mine = True
            else:
                mine = False
        if mine:
            key = hashlib.sha1(flow.encode()).hexdigest()[:12]
            out = os.path.join(SCRATCH, "build-" + key)
            os.makedirs(out, exist_ok=True)
            job = os.path.join(out, "job")
            p = subprocess.run([FLOWC, "build", os.path.basename(flow), "-o", job], cwd=os.path.dirname(flow),
                               capture_output=True, text=True, errors="replace")
            ev[1] = {"exit": p.returncode, "stderr": p.stdout + p.stderr, "job": job}
            ev[0].set()
        ev[0].wait()
        return ev[1]


BUILDS = Builds()


def read_env(path, vars_):
    env = {}
    if not path:
        return env
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if "=" not in line:
                raise CaseError("%s:%d: expected NAME=VALUE" % (path, n))
            k, v = line.split("=", 1)
            env[k.strip()] = subst(v, vars_)
    return env


def read_expect_log(path):
    lines = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            lines.append((line, "%s:%d" % (os.path.basename(path), n)))
    return lines


def check_log_lines(lines, stderr, where):
    probs = []
    for line, loc in lines:
        kind, _, text = line.partition(" ")
        if kind == "+":
            if text not in stderr:
                probs.append("%s: expected the log to contain %s, got %s" % (loc, show(text), show(stderr[-400:])))
        elif kind == "-":
            if text in stderr:
                probs.append("%s: expected the log not to contain %s, got it" % (loc, show(text)))
        elif kind == "~":
            if not re.search(text, stderr, re.M):
                probs.append("%s: expected a log line matching /%s/, got %s" % (loc, text, show(stderr[-400:])))
        elif kind == "!~":
            if re.search(text, stderr, re.M):
                probs.append("%s: expected no log line matching /%s/, got %s" % (
                    loc, text, show(re.search(text, stderr, re.M).group(0))))
        else:
            raise CaseError("%s (%s): a line starts with '+ ', '- ', '~ ' or '!~ '" % (loc, where))
    return probs


class Case:
    def __init__(self, root, d, runner, server, other):
        self.root, self.dir, self.runner = root, d, runner
        self.server, self.other = server, other
        self.name = case_name(root, d) + ("" if runner == "job" else " [flowc run]")
        self.tmp = tempfile.mkdtemp(dir=SCRATCH, prefix="case.")
        self.state = os.path.join(self.tmp, "state")
        self.problems = []
        self.checks = 0
        self.matcher = Matcher()
        self.results = []           # one per invocation: {"argv", "exit", "stdout", "stderr", "ms"}
        self.history_cache = None

    def file(self, name):
        return lookup(self.root, self.dir, name)

    def fail(self, where, probs):
        self.problems += ["%s: %s" % (where, p) for p in probs]

    # -- running the job --------------------------------------------------------
    def vars(self):
        v = {"api": self.server.url, "api_hostport": self.server.url[len("http://"):],
             "state": self.state, "tmp": self.tmp, "case": self.dir, "flow": self.flow or "",
             "job": self.job or ""}
        if self.other:
            hp = self.other.url[len("http://"):]
            v.update(other=self.other.url, other_hostport=hp, other_hostport_enc=hp.replace(":", "%3A"))
        for name, key in (("event.json", "event"), ("settings.json", "settings")):
            p = self.file(name)
            if p:
                v[key] = self.substituted(p, v)
        for m in re.finditer(r"\{file:([^{}\s]+)\}", self.raw_text):
            p = self.file(m.group(1))
            if not p:
                raise CaseError("{file:%s}: no such file in the case or its parents" % m.group(1))
            v["file:" + m.group(1)] = p
        return v

    def substituted(self, path, vars_):
        """path, or a copy in the case's scratch directory with its placeholders replaced."""
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        if not PLACEHOLDER.search(text):
            return path
        copy_path = os.path.join(self.tmp, os.path.basename(path))
        with open(copy_path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(subst(text, vars_))
        return copy_path

    def history(self, refresh=False):
        if self.history_cache is None or refresh:
            if not os.path.exists(self.state):
                self.history_cache = []
            else:
                p = subprocess.run([self.job, "history", "--state", self.state, "--json", "--limit", "0"],
                                   capture_output=True, text=True, errors="replace", cwd=self.tmp)
                try:
                    self.history_cache = json.loads(p.stdout) if p.stdout.strip() else []
                except ValueError:
                    raise CaseError("history --json printed no JSON: %s" % show(p.stdout + p.stderr))
        return self.history_cache

    def show_run(self, run_id, form="json"):
        p = subprocess.run([self.job, "show", run_id, "--state", self.state] + (["--json"] if form == "json" else []),
                           capture_output=True, text=True, errors="replace", cwd=self.tmp)
        return p.stdout

    def seen(self, path, count):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if len(self.server.log(path)) >= count:
                return True
            time.sleep(0.02)
        return False

    def invoke(self, spec, index):
        vars_ = self.vars()
        if "{run_id}" in spec["args"]:              # `show {run_id}`, `retry {run_id}`: the newest run
            h = self.history(refresh=True)
            vars_["run_id"] = h[0]["id"] if h else "(no run)"
        argv = shlex.split(subst(spec["args"], vars_))
        if not argv:
            raise CaseError("an empty command line")
        if argv[0] == "flowc":
            cmd = [FLOWC] + argv[1:]
        elif self.runner == "flowc" and argv[0] == "run":
            cmd = [FLOWC, "run", self.flow] + argv[1:]
        else:
            cmd = [self.job] + argv
        # the driver's environment without FLOW_*: a case states its own
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOW_")}
        env.update(API=self.server.url, FLOW_STATE_DIR=self.state)
        if self.other:
            env["OTHER"] = self.other.url
        env.update(self.env)
        for k, v in (spec.get("env") or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = subst(v, vars_)
        if spec.get("routes") is not None:
            self.server.add_routes(subst(spec["routes"], vars_))
        if spec.get("reset"):
            self.server.reset()
        out_path = os.path.join(self.tmp, "out.%d" % index)
        err_path = os.path.join(self.tmp, "err.%d" % index)
        stdin = spec.get("stdin")
        start = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            p = subprocess.Popen(cmd, cwd=self.tmp, env=env, stdout=out, stderr=err,
                                 stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
            if stdin is not None:
                p.stdin.write(subst(stdin, vars_).encode())
                p.stdin.close()
            sig = spec.get("signal")
            if sig:
                if sig not in SIGNALS:
                    raise CaseError("%s: signal is one of %s" % (self.where(index), ", ".join(SIGNALS)))
                if spec.get("when") and not self.seen(subst(spec["when"], vars_), spec.get("count", 1)):
                    self.problems.append("%s: the server never saw %s (count %d) before the signal" % (
                        self.where(index), spec["when"], spec.get("count", 1)))
                time.sleep(spec.get("after_ms", 0) / 1000)
                p.send_signal(SIGNALS[sig])
            try:
                rc = p.wait(timeout=spec.get("timeout_s", 90))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise CaseError("%s: `%s` still running after %ss: killed" % (
                    self.where(index), " ".join(argv), spec.get("timeout_s", 90)))
        ms = (time.monotonic() - start) * 1000
        with open(out_path, encoding="utf-8", errors="replace") as f:
            stdout = f.read()
        with open(err_path, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        self.history_cache = None
        return {"argv": argv, "cmd": cmd, "exit": rc, "stdout": stdout, "stderr": stderr, "ms": ms,
                "signal": spec.get("signal"), "out_path": out_path, "err_path": err_path}

    def where(self, index):
        return "runs.json[%d]" % index if self.runs_file else ("args" if self.file("args") else "the run")

    # -- checking -----------------------------------------------------------------
    def check_invocation(self, exp, res, label, log_lines):
        exp = dict(exp)
        vars_ = dict(self.vars())
        if "{run_id}" in json.dumps(exp) + json.dumps(log_lines):
            h = self.history()
            vars_["run_id"] = h[0]["id"] if h else "(no run)"
        exp = subst(exp, vars_)
        log_lines = [(subst(line, vars_), loc) for line, loc in log_lines]
        m = self.matcher
        want_exit = exp.get("exit", None if res["signal"] == "KILL" else 0)
        if want_exit is not None:
            self.checks += 1
            if res["exit"] != want_exit:
                self.fail(label, ["exit: expected %s, got %s (%s)" % (want_exit, res["exit"],
                                                                     show(res["stderr"][-300:].strip()))])
        if "output" in exp:
            self.checks += count_checks(exp["output"])
            try:
                out = json.loads(res["stdout"])
            except ValueError:
                self.fail(label, ["output: expected JSON on stdout, got %s" % show(res["stdout"])])
            else:
                self.fail(label, m.match(exp["output"], out, "output"))
        if "stdout" in exp:
            self.checks += count_checks(exp["stdout"])
            self.fail(label, m.match(exp["stdout"], res["stdout"], "stdout"))
        if "elapsed_ms" in exp:
            self.checks += 1
            self.fail(label, m.match(exp["elapsed_ms"], round(res["ms"]), "elapsed_ms"))
        if log_lines:
            self.checks += len(log_lines)
            self.problems += check_log_lines(log_lines, res["stderr"], label)
        if exp.get("log_json") or "log" in exp:
            objs, probs = [], []
            for n, line in enumerate(res["stderr"].splitlines(), 1):
                if not line.strip() or SANITIZER.search(line):
                    continue
                try:
                    o = json.loads(line)
                except ValueError:
                    o = None
                if not isinstance(o, dict) or not all(k in o for k in ("ts", "level", "msg")):
                    probs.append("log_json: stderr line %d: expected a JSON object with ts, level and msg, got %s"
                                 % (n, show(line)))
                else:
                    objs.append(o)
            if exp.get("log_json"):
                self.checks += 1
                if not objs:
                    probs.append("log_json: expected JSON log lines, got none")
                self.fail(label, probs[:3])
            if "log" in exp:
                self.checks += count_checks(exp["log"])
                self.fail(label, m.match(exp["log"], objs, "log"))
        if "history" in exp:
            self.checks += count_checks(exp["history"])
            self.fail(label, m.match(exp["history"], self.history(refresh=True), "history"))
        if "show" in exp:
            self.checks += count_checks(exp["show"])
            h = self.history(refresh=True)
            if not h:
                self.fail(label, ["show: expected a run in the state, got none"])
            else:
                text = self.show_run(h[0]["id"])
                try:
                    shown = json.loads(text)
                except ValueError:
                    self.fail(label, ["show: `show %s --json` printed no JSON: %s" % (h[0]["id"], show(text))])
                else:
                    self.fail(label, m.match(exp["show"], shown, "show"))
        if "requests" in exp:       # runs.json only: the requests so far
            self.check_requests(exp["requests"], self.server, label + ".requests")
        if "state" in exp:
            self.checks += 1
            there = os.path.exists(self.state)
            if exp["state"] not in ("absent", "present"):
                raise CaseError("%s: state is \"absent\" or \"present\"" % label)
            if there != (exp["state"] == "present"):
                self.fail(label, ["state: expected the state directory %s, got it %s" % (
                    exp["state"], "present" if there else "absent")])

    def check_requests_file(self, fname, server, vars_):
        path = os.path.join(self.dir, fname)
        if os.path.isfile(path):
            self.check_requests(subst(read_json(path, fname), vars_), server, fname)

    def check_requests(self, exp, server, fname):
        """exp: {path or glob: matcher over the requests to it, in order; "$all": matcher over all}."""
        if not isinstance(exp, dict):
            raise CaseError("%s: expected an object of path -> requests" % fname)
        exp = dict(exp)
        log = server.log()
        first = min((r["time_ms"] for r in log), default=0)
        log = [dict(r, since_first_ms=r["time_ms"] - first) for r in log]
        whole = exp.pop("$all", None)       # a matcher over every request, in the order they came
        if whole is not None:
            self.checks += count_checks(whole)
            self.fail(fname, self.matcher.match(whole, log, "$all"))
        groups = {k: [] for k in exp}
        unexpected = []
        for r in log:
            key = r["path"] if r["path"] in exp else next(
                (k for k in exp if "*" in k and re.fullmatch(re.escape(k).replace(r"\*", ".*"), r["path"])), None)
            if key is None:
                unexpected.append(r)
            else:
                if groups[key]:
                    r = dict(r, gap_ms=r["time_ms"] - groups[key][-1]["time_ms"])
                groups[key].append(r)
        for k, want in exp.items():
            self.checks += count_checks(want)
            self.fail(fname, self.matcher.match(want, groups[k], k))
        self.checks += whole is None
        if unexpected and whole is None:
            self.fail(fname, ["expected no other requests, got %s" % show(
                ["%s %s%s" % (r["method"], r["path"], "?" + r["query"] if r["query"] else "") for r in unexpected])])

    def scan_secrets(self, exp):
        secrets = set()
        for env in [self.env] + [s.get("env") or {} for s in self.specs]:
            secrets |= {v for k, v in env.items() if k.startswith("FLOW_SECRET_") and v}
        for s in self.specs:
            argv = shlex.split(s["args"])
            secrets |= {argv[i + 1].split("=", 1)[1] for i, a in enumerate(argv[:-1])
                        if a == "--secret" and "=" in argv[i + 1] and "=@" not in argv[i + 1]}
        secrets = sorted(set(s for s in secrets if len(s) >= MIN_SECRET) | set(exp.get("secrets", [])))
        if not secrets:
            return
        places = {}
        for i, r in enumerate(self.results):
            places["stdout of %s" % self.where(i)] = r["stdout"].encode()
            places["stderr of %s" % self.where(i)] = r["stderr"].encode()
        if os.path.isdir(self.state):
            for d, _, files in os.walk(self.state):
                for f in files:
                    with open(os.path.join(d, f), "rb") as fh:
                        places["state file " + os.path.relpath(os.path.join(d, f), self.state)] = fh.read()
            try:
                h = self.history(refresh=True)
            except CaseError:
                h = []
            places["history --json"] = json.dumps(h).encode()
            for r in h[:10]:
                places["show %s --json" % r["id"]] = self.show_run(r["id"]).encode()
                places["show %s" % r["id"]] = self.show_run(r["id"], "text").encode()
        if self.other:          # the second server is another origin: no credential may reach it
            places["requests the other origin received"] = "\n".join(
                "\n".join([r["path"], r["query"] or "", r["body"] or ""] + ["%s: %s" % h for h in r["headers"].items()])
                for r in self.other.log()).encode()
        self.checks += len(secrets)
        for s in secrets:
            hits = [p for p, data in places.items() if s.encode() in data]
            if hits:
                self.fail("secrets", ["expected %s nowhere, got it in %s" % (show(s), ", ".join(hits))])

    # -- the whole case -------------------------------------------------------------
    def run(self):
        exp_path = os.path.join(self.dir, "expect.json")
        exp = read_json(exp_path, "expect.json")
        unknown = set(exp) - EXPECT_KEYS
        if unknown:
            raise CaseError("expect.json: unknown keys %s" % sorted(unknown))
        self.flow = self.file("flow.flow")
        self.job = None
        raw = ""
        for name in INPUTS + EXPECTATIONS:
            p = self.file(name) if name in INPUTS else os.path.join(self.dir, name)
            if p and os.path.isfile(p) and name != "flow.flow":
                with open(p, encoding="utf-8", errors="replace") as f:
                    raw += f.read()
        self.raw_text = raw
        if not self.flow:
            raise CaseError("no flow.flow in the case or its parents")
        build = BUILDS.get(self.flow)
        self.job = build["job"]
        want_build = exp.get("build", {})
        self.checks += 1 + count_checks(want_build.get("stderr", []))
        if SANITIZER.search(build["stderr"]):
            self.fail("build", ["expected flowc (ASan/UBSan) clean, got %s" % show(
                SANITIZER.search(build["stderr"]).group(0))])
        if build["exit"] != want_build.get("exit", 0):
            self.fail("expect.json", ["build.exit: expected %s, got %s (%s)" % (
                want_build.get("exit", 0), build["exit"], show(build["stderr"][:400]))])
            return
        if "stderr" in want_build:
            self.fail("expect.json", self.matcher.match(want_build["stderr"], build["stderr"], "build.stderr"))
        if build["exit"] != 0:
            return
        vars_ = self.vars()
        self.env = read_env(self.file("env"), vars_)
        # the nearer of args and runs.json says how the job runs
        self.runs_file, args_file = self.file("runs.json"), self.file("args")
        if self.runs_file and args_file:
            if len(os.path.dirname(args_file)) > len(os.path.dirname(self.runs_file)):
                self.runs_file = None
            else:
                args_file = None
        if self.runs_file:
            self.specs = read_json(self.runs_file, "runs.json")
            if not isinstance(self.specs, list) or not self.specs:
                raise CaseError("runs.json: expected a list of invocations")
            for i, s in enumerate(self.specs):
                if set(s) - RUN_KEYS:
                    raise CaseError("runs.json[%d]: unknown keys %s" % (i, sorted(set(s) - RUN_KEYS)))
        else:
            if args_file:
                with open(args_file, encoding="utf-8") as f:
                    args = " ".join(l.strip() for l in f if l.strip() and not l.lstrip().startswith("#"))
            else:
                args = "run --state {state}" + (" --event {event}" if self.file("event.json") else "")
            self.specs = [{"args": args}]
        routes = self.file("routes.json")
        self.server.start_case(subst(read_json(routes, "routes.json"), vars_) if routes else [])
        if self.other:
            oroutes = self.file("other-routes.json")
            self.other.start_case(subst(read_json(oroutes, "other-routes.json"), vars_) if oroutes else [])
        log_path = os.path.join(self.dir, "expect-log")
        final_log = read_expect_log(log_path) if os.path.isfile(log_path) else []
        for i, spec in enumerate(self.specs):
            res = self.invoke(spec, i)
            self.results.append(res)
            label = self.where(i)
            if "cmd" in res and res["cmd"][0] == FLOWC and SANITIZER.search(res["stderr"]):
                self.fail(label, ["expected flowc (ASan/UBSan) clean, got %s" % show(
                    SANITIZER.search(res["stderr"]).group(0))])
            last = i == len(self.specs) - 1
            if last:
                self.check_invocation({k: v for k, v in exp.items() if k not in ("expect-log",)}, res,
                                      "expect.json", final_log + [(l, "expect.json expect-log[%d]" % n)
                                                                  for n, l in enumerate(exp.get("expect-log", []))])
            elif "expect" in spec:
                e = spec["expect"]
                if set(e) - EXPECT_KEYS - {"requests"}:
                    raise CaseError("%s.expect: unknown keys %s" % (label, sorted(set(e) - EXPECT_KEYS - {"requests"})))
                self.check_invocation({k: v for k, v in e.items() if k != "expect-log"}, res, label + ".expect",
                                      [(l, label + " expect-log[%d]" % n) for n, l in enumerate(e.get("expect-log", []))])
            elif res["signal"] != "KILL" and res["exit"] != 0:
                self.fail(label, ["exit: expected 0 (a step before the last), got %s (%s)" % (
                    res["exit"], show(res["stderr"][-300:].strip()))])
        vars_ = dict(self.vars())
        if "{run_id}" in self.raw_text:
            h = self.history(refresh=True)
            vars_["run_id"] = h[0]["id"] if h else "(no run)"
        self.check_requests_file("requests.json", self.server, vars_)
        if self.other:
            self.check_requests_file("other-requests.json", self.other, vars_)
        for key, srv in (("stats", self.server), ("other_stats", self.other)):
            if key in exp:
                self.checks += count_checks(exp[key])
                self.fail("expect.json", self.matcher.match(subst(exp[key], vars_), srv.stats(), key))
        self.scan_secrets(exp)


# ---- the driver ---------------------------------------------------------------------

def main(argv):
    roots = argv or [os.path.join(ROOT, "tests/e2e/cases")]
    cases = find_cases(roots)
    if not cases:
        print("FAIL: e2e: no cases found under %s" % " ".join(roots))
        return 1
    jobs = []
    for root, d in cases:
        try:
            runners = read_json(os.path.join(d, "expect.json"), "expect.json").get("runners", ["job"])
        except CaseError:
            runners = ["job"]
        jobs += [(root, d, r) for r in runners]
    needs_other = {(root, d) for root, d in cases if lookup(root, d, "other-routes.json")
                   or os.path.isfile(os.path.join(d, "other-requests.json"))}
    servers = []
    lock = threading.Lock()
    local = threading.local()
    failed = [0]

    def own_servers(other):
        if not hasattr(local, "server"):
            local.server = Server()
            local.other = None
            with lock:
                servers.append(local.server)
        if other and local.other is None:
            local.other = Server()
            with lock:
                servers.append(local.other)
        return local.server, (local.other if other else None)

    def one(job):
        root, d, runner = job
        server, other = own_servers((root, d) in needs_other)
        case = Case(root, d, runner, server, other)
        try:
            case.run()
        except CaseError as e:
            case.problems.append(str(e))
        except Exception as e:      # a driver bug must not pass a case
            case.problems.append("driver error: %s: %s" % (type(e).__name__, e))
        with lock:
            if case.problems:
                failed[0] += 1
                for p in case.problems[:8]:
                    print("FAIL: %s: %s" % (case.name, p.replace("\n", "\\n")))
                if len(case.problems) > 8:
                    print("FAIL: %s: ... and %d more" % (case.name, len(case.problems) - 8))
            else:
                print("PASS: %s (%d checks)" % (case.name, case.checks))
            if VERBOSE:
                for r in case.results:
                    print("#   $ %s  -> exit %s, %d ms" % (" ".join(shlex.quote(a) for a in r["argv"]), r["exit"], r["ms"]))
                    for stream in ("stdout", "stderr"):
                        for line in r[stream].splitlines()[-int(os.environ.get("E2E_LINES", "15")):]:
                            print("#   %s| %s" % (stream[3:], line))
            sys.stdout.flush()

    # the slow ones first, so that two workers finish together
    weight = {}
    for root, d, r in jobs:
        weight[(root, d, r)] = -(os.path.isfile(lookup(root, d, "runs.json") or "") * 2)
    jobs.sort(key=lambda j: (weight[j], j[1]))
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, JOBS)) as pool:
            list(pool.map(one, jobs))
    finally:
        for s in servers:
            s.stop()
    return 1 if failed[0] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
