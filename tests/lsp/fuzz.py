#!/usr/bin/env python3
"""tests/lsp/fuzz.py FLOWC SECONDS FILE... — random edits and requests never break `flowc lsp`.

One server for the whole run (so that state carried between analyses is
exercised too): each file is opened, edited at random (incremental didChange:
inserted fragments of .flow syntax, deletions, bytes of multi-byte characters),
and after each edit completion, hover, definition, references, document symbols
and prepareRename are asked at random positions (some past the end of a line or
of the document). Every request must get a result, never an error; the server
must still answer, then exit 0 after shutdown. Stops after SECONDS (the files
not reached are counted). Prints PASS/FAIL lines.
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import LspClient, LspError  # noqa: E402

FRAGMENTS = [
    "{{", "}}", "{{person.", "trigger.", "settings.", "secret.", "env.", "run.", ".", "\"", "\"{{x}}\"",
    "step s = ", "step s = request GET \"http://x/{{", "step f = function (a: 1) -> int {% return NULL; %}",
    "{%", "%}", "if ", " {", "}", "(", ")", "[", "]", ",", ":", " and ", " ?? ", "not ", "fanout x in ",
    "# comment\n", "\n", "  ", "slack.", "slack.send_message(", "channel: ", "return ", "log ", "test \"t\" {",
    "expect ", "mock GET \"u\" -> 200", "import \"", "retry 3", "on failure continue", "é", "\u2603", "\U0001F600",
    "workflow w\n", "trigger event \"e\" { a: int }\n", "0", "1.5", "5s", "\\", "\t", "@", "&&",
]

METHODS = ["textDocument/completion", "textDocument/hover", "textDocument/definition",
           "textDocument/references", "textDocument/prepareRename"]


def position(rng, text):
    lines = text.split("\n")
    line = rng.randrange(len(lines) + 2)
    width = len(lines[line]) if line < len(lines) else 0
    return {"line": line, "character": rng.randrange(width + 3)}


def offset_of(text, pos):
    """Python offset of an LSP position, as the server clamps it."""
    lines = text.split("\n")
    if pos["line"] >= len(lines):
        return len(text)
    off = sum(len(l) + 1 for l in lines[:pos["line"]])
    line, units = lines[pos["line"]], 0
    for i, ch in enumerate(line):
        w = len(ch.encode("utf-16-le")) // 2
        if units + w > pos["character"]:
            return off + i
        units += w
    return off + len(line)


HEAD = 'workflow deep\ntrigger event "e" { x: int }\n'

# Documents no test file holds (tests/robust.sh has their like for `check`).
GENERATED = {
    "deep_parens": HEAD + "log " + "(" * 400 + "1" + ")" * 400 + "\n",
    "deep_objects": HEAD + "log " + "{a: " * 400 + "1" + "}" * 400 + "\n",
    "long_chain": HEAD + "log " + " + ".join(["trigger.x"] * 3000) + "\n",
    "deep_interp": HEAD + 'log "' + "{{ (" * 200 + "1" + ") }}" * 200 + '"\n',
    "nul_bytes": HEAD + 'step a = request GET "http://x/\x00y"\n\x00\x00log a.\n',
    "unterminated": HEAD + 'step f = function () -> int {% return json_integer(1);\nlog "x\n',
    "many_steps": HEAD + "".join('step s%d = request GET "http://x/{{trigger.x}}" returns { id: int }\n' % i
                                 for i in range(300)),
}


def main():
    flowc, seconds, files = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    files = ["<%s>" % g for g in GENERATED] + files
    rng = random.Random(int(os.environ.get("LSP_FUZZ_SEED", "20161")))
    c = LspClient([flowc, "lsp"])
    deadline = time.monotonic() + seconds
    done = requests = edits = 0
    failure = None
    try:
        c.initialize(options={"debounceMs": 0})
        for path in files:
            if time.monotonic() > deadline:
                break
            if path.startswith("<"):
                text = GENERATED[path[1:-1]]
                uri = "file:///nonexistent/%s.flow" % path[1:-1]
            else:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                uri = "file://" + os.path.abspath(path)
            version = 1
            c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "flow", "version": 1,
                                                               "text": text}})
            for _ in range(6):
                a = position(rng, text)
                b = a if rng.random() < 0.6 else position(rng, text)
                oa, ob = offset_of(text, a), offset_of(text, b)
                if ob < oa:
                    a, b, oa, ob = b, a, ob, oa
                new = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randrange(0, 4)))
                text = text[:oa] + new + text[ob:]
                version += 1
                edits += 1
                c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                    "contentChanges": [{"range": {"start": a, "end": b},
                                                                        "text": new}]})
                for _ in range(2):
                    method = rng.choice(METHODS)
                    params = {"textDocument": {"uri": uri}, "position": position(rng, text),
                              "context": {"includeDeclaration": True}}
                    msg = c.request(method, params)
                    requests += 1
                    if "error" in msg:
                        raise LspError("%s at %s in %s (after %d edits) answered %s" % (
                            method, params["position"], path, version - 1, msg["error"]))
                msg = c.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
                requests += 1
                if "error" in msg:
                    raise LspError("documentSymbol in %s answered %s" % (path, msg["error"]))
            c.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
            done += 1
        rc = c.shutdown(timeout=60)
        if rc != 0:
            raise LspError("exit status %s after shutdown" % rc)
        err = c.stderr_text()
        if "Sanitizer" in err or "runtime error" in err:
            raise LspError("sanitizer report:\n" + err[-3000:])
    except (LspError, OSError) as e:
        failure = str(e)
    finally:
        c.kill()
    name = "lsp survives random edits and requests (%d files of %d, %d edits, %d requests)" % (
        done, len(files), edits, requests)
    if failure:
        print("FAIL: %s: %s" % (name, failure))
        print(c.stderr_text()[-3000:], file=sys.stderr)
    else:
        print("PASS: " + name)


if __name__ == "__main__":
    main()
