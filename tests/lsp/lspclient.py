"""tests/lsp/lspclient.py — a minimal LSP client speaking to `flowc lsp` over pipes.

Used by the protocol test driver (tests/lsp/driver.py), the robustness test
and bench/lsp_bench.py. Messages are framed with Content-Length as the base
protocol says; server notifications that arrive while waiting for a response
are kept in order and can be waited for.
"""
import json
import os
import select
import subprocess
import time


class LspError(Exception):
    pass


class LspClient:
    def __init__(self, argv, env=None, cwd=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=cwd)
        self.buf = b""
        self.next_id = 1
        self.notes = []          # notifications received, oldest first
        self.stray = []          # responses to no request of ours
        self.stderr_chunks = []

    # ---- framing ---------------------------------------------------------
    def send(self, msg):
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _read_message(self, deadline):
        while True:
            sep = self.buf.find(b"\r\n\r\n")
            if sep >= 0:
                headers = self.buf[:sep].decode("ascii", "replace")
                length = None
                for line in headers.split("\r\n"):
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v.strip())
                if length is None:
                    raise LspError("a message without Content-Length: %r" % headers)
                if len(self.buf) >= sep + 4 + length:
                    body = self.buf[sep + 4:sep + 4 + length]
                    self.buf = self.buf[sep + 4 + length:]
                    return json.loads(body)
            left = deadline - time.monotonic()
            if left <= 0:
                raise LspError("timed out waiting for the server")
            fds = [self.proc.stdout, self.proc.stderr]
            r, _, _ = select.select(fds, [], [], left)
            if self.proc.stderr in r:
                chunk = os.read(self.proc.stderr.fileno(), 65536)
                if chunk:
                    self.stderr_chunks.append(chunk)
            if self.proc.stdout in r:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise LspError("the server closed its output (exit %s)" % self.proc.poll())
                self.buf += chunk

    # ---- requests and notifications ---------------------------------------
    def notify(self, method, params=None):
        self.send({"jsonrpc": "2.0", "method": method, "params": params if params is not None else {}})

    def request(self, method, params=None, timeout=30):
        """Send a request and return the whole response message (result or error)."""
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params if params is not None else {}})
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_message(deadline)
            if "id" in msg and "method" not in msg:
                if msg["id"] == rid:
                    return msg
                self.stray.append(msg)      # e.g. the answer (id null) to a message that was not JSON
                continue
            self.notes.append(msg)

    def call(self, method, params=None, timeout=30):
        """A request whose answer must be a result: returns it, raises on an error."""
        msg = self.request(method, params, timeout)
        if "error" in msg:
            raise LspError("%s answered an error: %s" % (method, msg["error"]))
        return msg.get("result")

    def wait_note(self, method, pred=lambda p: True, timeout=30):
        """The first notification `method` whose params satisfy pred (consumed)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, n in enumerate(self.notes):
                if n.get("method") == method and pred(n.get("params")):
                    return self.notes.pop(i)["params"]
            msg = self._read_message(deadline)
            if "method" in msg and "id" not in msg:
                self.notes.append(msg)

    def drain(self, wait=0.0):
        """Read whatever arrives within `wait` seconds into notes."""
        deadline = time.monotonic() + wait
        try:
            while True:
                msg = self._read_message(deadline)
                if "method" in msg:
                    self.notes.append(msg)
        except LspError:
            pass

    # ---- the session ------------------------------------------------------
    def initialize(self, root=None, options=None):
        res = self.call("initialize", {"processId": os.getpid(), "rootUri": root, "capabilities": {},
                                       "initializationOptions": options or {}})
        self.notify("initialized", {})
        return res

    def shutdown(self, timeout=30):
        """shutdown then exit; returns the server's exit status."""
        self.call("shutdown", None, timeout)
        self.notify("exit")
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise LspError("the server did not exit after `exit`")
        self.stderr_chunks.append(self.proc.stderr.read() or b"")
        return rc

    def stderr_text(self):
        return b"".join(self.stderr_chunks).decode("utf-8", "replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
