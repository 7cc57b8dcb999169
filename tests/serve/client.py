#!/usr/bin/env python3
"""tests/serve/client.py - a small HTTP client for the serve tests.

  client.py post BASE PATH N [--user U] [--threads K] [--start I] [--key-prefix P]
      POSTs N events {"id": "eI", "score": I} to BASE+PATH on keep-alive
      connections (K threads); prints the run ids as a JSON list, in order.
      The user is stored first (PUT /api/users/U): runs belong to users.
  client.py wait BASE IDS_FILE [--timeout S]
      polls GET /runs/ID until every run has ended; prints {"status": count}.
The token comes from $TOKEN.
"""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def conn_for(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def headers(user=None, key=None):
    h = {"Authorization": "Bearer " + os.environ.get("TOKEN", ""), "Content-Type": "application/json"}
    if user:
        h["X-Flow-User"] = user
    if key:
        h["Idempotency-Key"] = key
    return h


def ensure_user(base, user):
    """Every run belongs to a stored user (docs/project.md): PUT /api/users/U
    (an existing user is left as it is; a project of one enables its
    workflow for a new one)."""
    c = conn_for(base)
    for attempt in range(5):
        try:
            c.request("PUT", "/api/users/" + user, "{}", headers())
            r = c.getresponse()
            r.read()
            if r.status not in (200, 201):
                sys.exit("PUT /api/users/%s: %d" % (user, r.status))
            break
        except (ConnectionError, http.client.HTTPException):
            c.close()
            c = conn_for(base)
    c.close()


def post(base, path, n, user, threads, start, key_prefix):
    ids = [None] * n
    errors = []
    if user and path.startswith("/events/"):
        ensure_user(base, user)

    def work(k):
        c = conn_for(base)
        for i in range(k, n, threads):
            body = json.dumps({"id": "e%d" % (start + i), "score": start + i})
            key = "%s%d" % (key_prefix, start + i) if key_prefix else None
            for attempt in range(5):
                try:
                    c.request("POST", path, body, headers(user, key))
                    r = c.getresponse()
                    data = r.read()
                    break
                except (ConnectionError, http.client.HTTPException):
                    c.close()
                    c = conn_for(base)
            else:
                errors.append("connection failed")
                return
            if r.status != 202:
                errors.append("%d %s" % (r.status, data[:200]))
                return
            ids[i] = json.loads(data)["run_id"]
        c.close()

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        print("errors: " + "; ".join(errors[:3]), file=sys.stderr)
        sys.exit(1)
    print(json.dumps(ids))


def wait(base, ids_file, timeout):
    ids = json.load(open(ids_file))
    pending = set(ids)
    statuses = {}
    deadline = time.time() + timeout
    c = conn_for(base)
    while pending and time.time() < deadline:
        for i in list(pending):
            try:
                c.request("GET", "/runs/" + i, headers=headers())
                r = c.getresponse()
                rec = json.loads(r.read())
            except (ConnectionError, http.client.HTTPException, OSError):
                c.close()
                time.sleep(0.2)
                c = conn_for(base)
                continue
            if rec.get("status") in ("succeeded", "failed", "skipped"):
                statuses[i] = rec["status"]
                pending.discard(i)
        if pending:
            time.sleep(0.2)
    out = {}
    for s in statuses.values():
        out[s] = out.get(s, 0) + 1
    if pending:
        out["unfinished"] = len(pending)
    print(json.dumps(out, sort_keys=True))


def main():
    a = sys.argv[1:]
    opts = {}
    pos = []
    i = 0
    while i < len(a):
        if a[i].startswith("--"):
            opts[a[i][2:]] = a[i + 1]
            i += 2
        else:
            pos.append(a[i])
            i += 1
    if pos[0] == "post":
        post(pos[1], pos[2], int(pos[3]), opts.get("user"), int(opts.get("threads", "4")),
             int(opts.get("start", "0")), opts.get("key-prefix"))
    elif pos[0] == "wait":
        wait(pos[1], pos[2], float(opts.get("timeout", "60")))
    else:
        sys.exit("unknown command " + pos[0])


if __name__ == "__main__":
    main()
