#!/usr/bin/env python3
"""tests/lsp/protocol.py FLOWC SCRATCH — the lifecycle and transport of `flowc lsp`.

What the case files cannot say: errors for requests out of order and for bad
input, debounced analysis, an open document seen by the files that import it,
closing a document, and the exit status after shutdown/exit. One PASS/FAIL line
per test.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import LspClient, LspError  # noqa: E402

FLOWC, SCRATCH = sys.argv[1], sys.argv[2]


def test(name):
    def wrap(fn):
        c = LspClient([FLOWC, "lsp"])
        try:
            fn(c)
            err = c.stderr_text()
            assert "Sanitizer" not in err and "runtime error" not in err, "sanitizer report:\n" + err[-2000:]
            print("PASS: lsp protocol: " + name)
        except (AssertionError, LspError) as e:
            print("FAIL: lsp protocol: %s: %s" % (name, e))
        finally:
            c.kill()
        return fn
    return wrap


def open_doc(c, uri, text, version=1):
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "flow", "version": version,
                                                       "text": text}})


@test("a request before initialize is refused; shutdown then exit ends with status 0")
def _(c):
    msg = c.request("textDocument/hover", {"textDocument": {"uri": "file:///x.flow"},
                                           "position": {"line": 0, "character": 0}})
    assert msg.get("error", {}).get("code") == -32002, msg
    c.initialize()
    msg = c.request("shutdown")
    assert msg.get("result", 1) is None, msg
    msg = c.request("textDocument/documentSymbol", {"textDocument": {"uri": "file:///x.flow"}})
    assert msg.get("error", {}).get("code") == -32600, "after shutdown: %r" % msg
    c.notify("exit")
    assert c.proc.wait(timeout=30) == 0


@test("exit without shutdown ends with status 1")
def _(c):
    c.initialize()
    c.notify("exit")
    assert c.proc.wait(timeout=30) == 1


@test("unknown methods, bad JSON and unknown documents get errors, and the server goes on")
def _(c):
    c.initialize()
    msg = c.request("textDocument/noSuchThing", {})
    assert msg["error"]["code"] == -32601, msg
    c.send_raw(b"Content-Length: 9\r\n\r\n{not json")
    msg = c.request("textDocument/completion", {"textDocument": {"uri": "file:///never-opened.flow"},
                                                "position": {"line": 0, "character": 0}})
    assert msg["error"]["code"] == -32602, msg
    assert any(m.get("id") is None and m.get("error", {}).get("code") == -32700 for m in c.stray), c.stray
    assert c.shutdown() == 0


@test("changes are debounced: one analysis for a burst of edits")
def _(c):
    c.initialize(options={"debounceMs": 1000})
    uri = "file://%s/debounce.flow" % SCRATCH
    text = 'workflow d\ntrigger event "e" { id: string }\nlog trigger.id\n'
    open_doc(c, uri, text)
    first = c.wait_note("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    assert first.get("version") == 1, first
    # five edits in one write: `log trigger.idx` ... each adds a character
    burst = b""
    for v in range(2, 7):
        body = json.dumps({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": v},
            "contentChanges": [{"range": {"start": {"line": 2, "character": 14 + v - 2},
                                          "end": {"line": 2, "character": 14 + v - 2}}, "text": "x"}]}}).encode()
        burst += b"Content-Length: %d\r\n\r\n" % len(body) + body
    c.send_raw(burst)
    last = c.wait_note("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    assert last.get("version") == 6, "the first analysis after the burst is of version %s" % last.get("version")
    assert any("idxxxxx" in d["message"] for d in last["diagnostics"]), last
    c.drain(0.3)
    more = [n for n in c.notes if n.get("method") == "textDocument/publishDiagnostics"]
    assert not more, "analysed again: %s" % more
    assert c.shutdown() == 0


@test("an open document is what the files importing it see; closing it clears its diagnostics")
def _(c):
    c.initialize(options={"debounceMs": 0})
    lib = "file://%s/lib.flow" % SCRATCH
    main = "file://%s/main.flow" % SCRATCH
    with open(os.path.join(SCRATCH, "lib.flow"), "w") as f:
        f.write('integration api "https://api.test" {}\n')
    # the editor's lib has an action the file on disk does not
    open_doc(c, lib, 'integration api "https://api.test" {}\n'
                     'action api.ping() -> json =\n  request GET "/ping"\n')
    c.wait_note("textDocument/publishDiagnostics", lambda p: p["uri"] == lib)
    open_doc(c, main, 'workflow m\nimport "./lib.flow"\ntrigger event "e" {}\nstep p = api.ping()\nlog p\n')
    p = c.wait_note("textDocument/publishDiagnostics", lambda p: p["uri"] == main)
    assert p["diagnostics"] == [], p
    # closed, the lib is read from disk, where ping does not exist
    c.notify("textDocument/didClose", {"textDocument": {"uri": lib}})
    gone = c.wait_note("textDocument/publishDiagnostics", lambda p: p["uri"] == lib)
    assert gone["diagnostics"] == [], gone
    p = c.wait_note("textDocument/publishDiagnostics", lambda p: p["uri"] == main)
    assert any("has no action 'ping'" in d["message"] for d in p["diagnostics"]), p
    assert c.shutdown() == 0


@test("a tests file: completion of its expects names the workflow's steps")
def _(c):
    c.initialize(options={"debounceMs": 0})
    with open(os.path.join(SCRATCH, "wf.flow"), "w") as f:
        f.write('workflow wf\ntrigger event "e" { id: string }\n'
                'step look = request GET "https://x.test/{{trigger.id}}"\n  returns { name: string }\n')
    uri = "file://%s/wf_tests.flow" % SCRATCH
    text = 'tests for "./wf.flow"\n\ntest "t" {\n  event { id: "1" }\n  expect look.body.\n}\n'
    open_doc(c, uri, text)
    c.wait_note("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    res = c.call("textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": 4, "character": 19}})
    labels = {i["label"]: i.get("detail") for i in res["items"]}
    assert labels.get("name") == "string", labels
    assert c.shutdown() == 0


@test("caches: an edit elsewhere compiles no C body again; an unchanged import is parsed once")
def _(c):
    c.initialize(options={"debounceMs": 0})
    uri = "file://%s/cache.flow" % SCRATCH
    text = ('workflow cache\nimport "slack"\ntrigger event "e" { n: int }\n'
            'step a = function (n: trigger.n) -> int {%\n    return json_integer(n + 1);\n%}\n'
            'step b = function (n: a) -> int {%\n    return json_integer(n * 2);\n%}\n'
            'log "{{b}}"\n')
    open_doc(c, uri, text)
    p = c.wait_note("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    assert p["diagnostics"] == [], p
    s1 = c.call("flowc/stats", {"textDocument": {"uri": uri}})
    assert s1["cBodiesCompiled"] == 2 and s1["tccRuns"] == 1 and s1["importsParsed"] == 1, s1

    def edit(version, line, ch, new):
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [
            {"range": {"start": {"line": line, "character": ch}, "end": {"line": line, "character": ch}},
             "text": new}]})
        return c.wait_note("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["version"] == version)

    edit(2, 0, 0, "# a comment above everything moves every body down a line\n")
    s2 = c.call("flowc/stats", {"textDocument": {"uri": uri}})
    assert s2["cBodiesCompiled"] == 2 and s2["tccRuns"] == 1, "recompiled after an edit elsewhere: %s" % s2
    assert s2["importsParsed"] == 1 and s2["importsReused"] >= 1, s2
    # an error in body b: only b is compiled, and the error is at its line
    p = edit(3, 8, 4, "retun ")
    s3 = c.call("flowc/stats", {"textDocument": {"uri": uri}})
    assert s3["cBodiesCompiled"] == 3 and s3["tccRuns"] == 2, s3
    assert any(d["range"]["start"]["line"] == 8 and d["severity"] == 1 for d in p["diagnostics"]), p
    assert c.shutdown() == 0


@test("completion after a string that opens the document reads nothing before it")
def _(c):
    c.initialize(options={"debounceMs": 0})
    uri = "file://%s/quote.flow" % SCRATCH
    open_doc(c, uri, '"\nor')
    res = c.call("textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
    assert isinstance(res.get("items"), list), res
    assert c.shutdown() == 0
