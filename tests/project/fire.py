#!/usr/bin/env python3
"""tests/project/fire.py - sends events that start several workflows each.

  fire.py BASE PATH N --user U --key-prefix P [--threads K] [--out FILE]
      POSTs N events {"id": "eI", "name": "nI"} with Idempotency-Key PI on
      keep-alive connections (K threads). Each answer is written to FILE as
      one JSON line {"key", "status", "runs": [{workflow, run_id}]} the
      moment it arrives (flushed), so a serve killed half-way leaves the
      answers it gave. Connection errors end a thread quietly.
The token comes from $TOKEN.
"""
import http.client
import json
import os
import sys
import threading
import urllib.parse


def main():
    a = sys.argv[1:]
    base, path, n = a[0], a[1], int(a[2])
    opts = dict(zip(a[3::2], a[4::2]))
    user = opts["--user"]
    prefix = opts["--key-prefix"]
    threads = int(opts.get("--threads", "8"))
    out = open(opts.get("--out", "/dev/stdout"), "a")
    lock = threading.Lock()
    u = urllib.parse.urlparse(base)

    def work(k):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        for i in range(k, n, threads):
            key = "%s%d" % (prefix, i)
            body = json.dumps({"id": "e%d" % i, "name": "n%d" % i})
            h = {"Authorization": "Bearer " + os.environ.get("TOKEN", ""), "Content-Type": "application/json",
                 "X-Flow-User": user, "Idempotency-Key": key}
            try:
                c.request("POST", path, body, h)
                r = c.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException):
                return
            try:
                ans = json.loads(data)
            except ValueError:
                ans = {}
            line = json.dumps({"key": key, "status": r.status, "runs": ans.get("runs", []),
                               "skipped": ans.get("skipped", [])})
            with lock:
                out.write(line + "\n")
                out.flush()

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


if __name__ == "__main__":
    main()
