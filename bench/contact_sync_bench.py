#!/usr/bin/env python3
"""examples/crm_contacts_full_sync.flow at 100,000 contacts (printed, not asserted).

Against the local test server (1,000 pages of 100 contacts, cursor
pagination; an upsert route answering 200):
1. an uninterrupted sync: time, items/s, peak RSS;
2. the same sync killed with -9 halfway through the upserts, then `resume`:
   time of each part and overall, peak RSS of each process, upserts sent
   again (those in flight at the kill);
3. peak RSS of the sync at 1,000 vs 100,000 contacts, and the difference.
"""
import json, os, shutil, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import scaled  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOWC = os.environ.get("FLOWC", os.path.join(ROOT, "build/bin/flowc"))
SERVER = os.path.join(ROOT, "build/tests/flowtest-server")
N = int(os.environ.get("SYNC_CONTACTS", str(scaled(100000, 1000))))
N_SMALL = max(100, N // 100)
tmp = tempfile.mkdtemp(prefix="flowc-sync-", dir=os.environ.get("BENCH_DIR", ROOT + "/build"))


def routes(total):
    return [{"method": "GET", "path": "/v1/contacts",
             "paginate": {"style": "cursor", "total": total, "per_page": 100}},
            {"method": "PUT", "path": "/api/contacts/*", "status": 200, "body": {"ok": True}}]


def ctl(api, path, body=None):
    req = urllib.request.Request(api + path, data=None if body is None else json.dumps(body).encode(),
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def puts(api):
    return ctl(api, "/_ctl/stats")["routes"].get("PUT /api/contacts/*", {}).get("count", 0)


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def timed(cmd, env):
    """Runs cmd under /usr/bin/time: (seconds, peak RSS in KB, stdout)."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{cmd[1]} failed (exit {p.returncode}): {p.stderr[-500:]}")
    return time.perf_counter() - t, int(p.stderr.strip().splitlines()[-1]), p.stdout


exe = os.path.join(tmp, "sync")
subprocess.run([FLOWC, "build", os.path.join(ROOT, "examples/crm_contacts_full_sync.flow"), "-o", exe], check=True)
event = os.path.join(tmp, "event.json")
with open(event, "w") as f:
    f.write("{}")
rfile = os.path.join(tmp, "routes.json")
with open(rfile, "w") as f:
    json.dump(routes(N), f)
server = subprocess.Popen([SERVER, "--port", "0", "--routes", rfile, "--max-log", "0"], stdout=subprocess.PIPE,
                          text=True)
try:
    api = "http://127.0.0.1:%d" % int(server.stdout.readline().split()[1])
    env = dict(os.environ, CRM_URL=api, APP_URL=api, FLOW_SECRET_CRM_TOKEN="crm", FLOW_SECRET_APP_TOKEN="app")

    # 1. uninterrupted ---------------------------------------------------------
    t_full, rss_full, out_full = timed([exe, "run", "--event", event, "--state", os.path.join(tmp, "a.state")], env)
    print(f"sync of {N:,} contacts ({N // 100:,} pages, fanout of 32): {t_full:.1f} s, {N / t_full:,.0f} items/s, "
          f"peak RSS {rss_full / 1024:.1f} MB")

    # 2. kill -9 halfway through the upserts, then resume ----------------------------
    ctl(api, "/_ctl/reset", {})
    state = os.path.join(tmp, "k.state")
    t0 = time.perf_counter()
    job = subprocess.Popen([exe, "run", "--event", event, "--state", state], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    while puts(api) < N // 2 and job.poll() is None:
        time.sleep(0.02)
    rss_killed = peak_rss_kb(job.pid)
    job.kill()
    job.wait()
    t_killed = time.perf_counter() - t0
    sent_before = puts(api)
    if job.returncode != -9:
        sys.exit("the sync ended before it could be killed")
    t_resume, rss_resume, out_resume = timed([exe, "resume", "--state", state], env)
    resent = puts(api) - N
    same = json.loads(out_resume) == json.loads(out_full)
    print(f"killed with -9 after {t_killed:.1f} s ({sent_before:,} upserts sent, peak RSS {rss_killed / 1024:.1f} MB); "
          f"resume finished in {t_resume:.1f} s (peak RSS {rss_resume / 1024:.1f} MB): "
          f"{t_killed + t_resume:.1f} s in all, {N / (t_killed + t_resume):,.0f} items/s; "
          f"{resent} upserts sent twice (in flight at the kill); output {'=' if same else '!='} uninterrupted run's")

    # 3. peak RSS, 1,000 vs 100,000 contacts ----------------------------------------
    ctl(api, "/_ctl/routes", routes(N_SMALL))
    _, rss_small, _ = timed([exe, "run", "--event", event, "--state", os.path.join(tmp, "s.state")], env)
    print(f"peak RSS of the sync: {N_SMALL:,} contacts {rss_small / 1024:.1f} MB, {N:,} contacts {rss_full / 1024:.1f} MB "
          f"(+{(rss_full - rss_small) / 1024:.1f} MB)")
finally:
    server.terminate()
    server.wait()
    shutil.rmtree(tmp, ignore_errors=True)
