#!/usr/bin/env python3
"""tests/lsp/driver.py FLOWC CASE.flow... — the LSP protocol tests, cases as data.

Each case is a document, tests/lsp/cases/NAME.flow, with cursor markers $1, $2,
... (a `$` and one or two digits; removed before the text is sent), and its
expectations beside it in NAME.expect, one command per line (# starts a comment):

  diagnostics none | count N | has L:C TEXT | file SUFFIX has L:C TEXT
                          the diagnostics published for the current version
                          (L:C 1-based; TEXT a substring of the message)
  type $N TEXT            type TEXT at marker N, one didChange per character
                          (incremental edits); markers after it move along,
                          $N ends after the typed text. \\n \\t \\\\ escapes
  replace $N $M TEXT      one didChange replacing the text between two markers
  complete $N has LABEL [: DETAIL] | lacks LABEL | only L1, L2 | empty
  hover $N contains TEXT | none
  definition $N here $M | file SUFFIX line L | none
  references $N at $M $K ...    the references (declaration included) start at these markers
  rename $N to NAME at $M ...   the edits start at these markers, each writing NAME
  rename $N to NAME error TEXT  refused, the error message holding TEXT
  symbols has A/B/C       a document symbol path (names joined by /)
  format same | file NAME | error TEXT

The document is opened with didOpen (version 1); each command runs against the
text as edited so far. Prints "PASS: lsp NAME" or "FAIL: lsp NAME: why" per case.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import LspClient, LspError  # noqa: E402

MARK = re.compile(r"\$(\d{1,2})")


class Doc:
    def __init__(self, raw):
        self.marks = {}
        out = []
        pos = 0
        for m in MARK.finditer(raw):
            out.append(raw[pos:m.start()])
            self.marks[int(m.group(1))] = sum(len(x) for x in out)
            pos = m.end()
        out.append(raw[pos:])
        self.text = "".join(out)

    def position(self, offset):
        """LSP position (UTF-16 column) of a character offset."""
        before = self.text[:offset]
        line = before.count("\n")
        col_text = before[before.rfind("\n") + 1:]
        return {"line": line, "character": len(col_text.encode("utf-16-le")) // 2}

    def offset(self, pos):
        lines = self.text.split("\n")
        off = sum(len(l) + 1 for l in lines[:pos["line"]])
        line = lines[pos["line"]] if pos["line"] < len(lines) else ""
        units = 0
        for i, ch in enumerate(line):
            if units >= pos["character"]:
                return off + i
            units += len(ch.encode("utf-16-le")) // 2
        return off + len(line)

    def insert(self, at, s):
        self.text = self.text[:at] + s + self.text[at:]
        for k, v in self.marks.items():
            if v >= at:
                self.marks[k] = v + len(s)

    def replace(self, a, b, s):
        self.text = self.text[:a] + s + self.text[b:]
        for k, v in self.marks.items():
            if v >= b:
                self.marks[k] = v - (b - a) + len(s)
            elif v > a:
                self.marks[k] = a + len(s)


def unescape(s):
    return s.encode().decode("unicode_escape").encode("latin-1").decode("utf-8")


class Case:
    def __init__(self, client, path):
        self.c = client
        self.path = os.path.abspath(path)
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.uri = "file://" + self.path
        with open(path, encoding="utf-8") as f:
            self.doc = Doc(f.read())
        self.version = 1
        self.diags = {}          # uri -> latest diagnostics

    def mark(self, tok):
        m = MARK.fullmatch(tok)
        if not m or int(m.group(1)) not in self.doc.marks:
            raise AssertionError("unknown marker %s" % tok)
        return self.doc.marks[int(m.group(1))]

    def pos(self, tok):
        return self.doc.position(self.mark(tok))

    def td(self):
        return {"uri": self.uri}

    # ---- edits ----------------------------------------------------------
    def change(self, a, b, text):
        start, end = self.doc.position(a), self.doc.position(b)
        self.doc.replace(a, b, text)
        self.version += 1
        self.c.notify("textDocument/didChange", {
            "textDocument": {"uri": self.uri, "version": self.version},
            "contentChanges": [{"range": {"start": start, "end": end}, "text": text}]})

    def published(self):
        """The diagnostics of the current version (waits for them), and those
        published with them for other files (imports), by URI."""
        if self.diags.get("version") == self.version:
            return self.diags["own"], self.diags["others"]
        p = self.c.wait_note("textDocument/publishDiagnostics",
                             lambda p: p["uri"] == self.uri and p.get("version") == self.version)
        # the imports' diagnostics are published right after the document's
        self.c.drain(0.2)
        others = {}
        for n in list(self.c.notes):
            if n.get("method") == "textDocument/publishDiagnostics" and n["params"]["uri"] != self.uri:
                others[n["params"]["uri"]] = n["params"]["diagnostics"]
                self.c.notes.remove(n)
        self.diags = {"version": self.version, "own": p["diagnostics"], "others": others}
        return p["diagnostics"], others

    # ---- commands -------------------------------------------------------
    def run(self, line):
        words = line.split()
        cmd = words[0]
        getattr(self, "cmd_" + cmd)(line[len(cmd):].strip())

    def cmd_type(self, rest):
        tok, _, text = rest.partition(" ")
        text = unescape(text)
        at = self.mark(tok)
        for ch in text:
            self.change(at, at, ch)
            at += 1

    def cmd_replace(self, rest):
        a, b, text = (rest.split(" ", 2) + [""])[:3]
        self.change(self.mark(a), self.mark(b), unescape(text))

    def cmd_diagnostics(self, rest):
        diags, others = self.published()
        if rest == "none":
            assert not diags, "expected no diagnostics, got %s" % [d["message"] for d in diags]
            return
        m = re.fullmatch(r"count (\d+)", rest)
        if m:
            assert len(diags) == int(m.group(1)), "expected %s diagnostics, got %s" % (
                m.group(1), [d["message"] for d in diags])
            return
        m = re.fullmatch(r"(?:file (\S+) )?has (\d+):(\d+) (.*)", rest)
        assert m, "bad diagnostics command: " + rest
        pool = diags
        if m.group(1):
            uris = [u for u in others if u.endswith(m.group(1))]
            assert uris, "no diagnostics published for a file ending %s (got %s)" % (m.group(1), list(others))
            pool = others[uris[0]]
        line, col, text = int(m.group(2)) - 1, int(m.group(3)) - 1, m.group(4)
        for d in pool:
            s = d["range"]["start"]
            if s["line"] == line and s["character"] == col and text in d["message"]:
                return
        raise AssertionError("no diagnostic at %s:%s holding %r; got %s" % (
            line + 1, col + 1, text,
            ["%d:%d %s" % (d["range"]["start"]["line"] + 1, d["range"]["start"]["character"] + 1, d["message"])
             for d in pool]))

    def completion(self, tok):
        res = self.c.call("textDocument/completion", {"textDocument": self.td(), "position": self.pos(tok)})
        items = res["items"] if isinstance(res, dict) else res
        return {i["label"]: i for i in items}

    def cmd_complete(self, rest):
        tok, what, *arg = rest.split(" ", 2)
        arg = arg[0] if arg else ""
        items = self.completion(tok)
        if what == "empty":
            assert not items, "expected no completion, got %s" % sorted(items)
        elif what == "has":
            label, sep, detail = arg.partition(" : ")
            label = label.strip()
            assert label in items, "no item %r in %s" % (label, sorted(items))
            if sep:
                got = items[label].get("detail")
                assert got == detail.strip(), "item %r has detail %r, want %r" % (label, got, detail.strip())
        elif what == "lacks":
            assert arg.strip() not in items, "item %r offered (want it absent)" % arg.strip()
        elif what == "only":
            want = sorted(x.strip() for x in arg.split(",") if x.strip())
            assert sorted(items) == want, "items %s, want exactly %s" % (sorted(items), want)
        else:
            raise AssertionError("bad complete command: " + rest)

    def cmd_hover(self, rest):
        tok, what, *arg = rest.split(" ", 2)
        res = self.c.call("textDocument/hover", {"textDocument": self.td(), "position": self.pos(tok)})
        if what == "none":
            assert res is None, "expected no hover, got %r" % res
            return
        assert res, "no hover at %s" % tok
        value = res["contents"]["value"]
        assert arg[0] in value, "hover %r lacks %r" % (value, arg[0])

    def cmd_definition(self, rest):
        tok, what, *arg = rest.split(" ", 2)
        res = self.c.call("textDocument/definition", {"textDocument": self.td(), "position": self.pos(tok)})
        if isinstance(res, list):
            res = res[0] if res else None
        if what == "none":
            assert res is None, "expected no definition, got %r" % res
            return
        assert res, "no definition at %s" % tok
        if what == "here":
            want = self.pos(arg[0])
            assert res["uri"] == self.uri and res["range"]["start"] == want, "definition %r, want %r in this file" % (
                res, want)
        elif what == "file":
            suffix, _, line = arg[0].partition(" line ")
            assert res["uri"].endswith(suffix), "definition in %s, want a file ending %s" % (res["uri"], suffix)
            assert res["range"]["start"]["line"] == int(line) - 1, "definition at line %d, want %s" % (
                res["range"]["start"]["line"] + 1, line)
        else:
            raise AssertionError("bad definition command: " + rest)

    def cmd_references(self, rest):
        tok, at, *marks = rest.split()
        res = self.c.call("textDocument/references", {"textDocument": self.td(), "position": self.pos(tok),
                                                      "context": {"includeDeclaration": True}})
        got = sorted((r["range"]["start"]["line"], r["range"]["start"]["character"]) for r in res
                     if r["uri"] == self.uri)
        want = sorted((self.pos(m)["line"], self.pos(m)["character"]) for m in marks)
        assert got == want, "references at %s, want %s" % (got, want)

    def cmd_rename(self, rest):
        m = re.fullmatch(r"(\$\d+) to (\S+) (at|error) ?(.*)", rest)
        assert m, "bad rename command: " + rest
        tok, name, what, arg = m.groups()
        msg = self.c.request("textDocument/rename", {"textDocument": self.td(), "position": self.pos(tok),
                                                     "newName": name})
        if what == "error":
            assert "error" in msg, "rename to %s should be refused, got %r" % (name, msg.get("result"))
            assert arg in msg["error"]["message"], "rename error %r lacks %r" % (msg["error"]["message"], arg)
            return
        assert "result" in msg, "rename refused: %r" % msg.get("error")
        edits = msg["result"]["changes"].get(self.uri, [])
        assert all(e["newText"] == name for e in edits), "edits write %s" % [e["newText"] for e in edits]
        got = sorted((e["range"]["start"]["line"], e["range"]["start"]["character"]) for e in edits)
        want = sorted((self.pos(t)["line"], self.pos(t)["character"]) for t in arg.split())
        assert got == want, "rename edits at %s, want %s" % (got, want)

    def cmd_symbols(self, rest):
        what, path = rest.split(" ", 1)
        assert what == "has", "bad symbols command"
        res = self.c.call("textDocument/documentSymbol", {"textDocument": self.td()})
        names = path.split("/")
        level = res
        for n in names:
            found = [s for s in level if s["name"] == n]
            assert found, "no symbol %r among %s (path %s)" % (n, [s["name"] for s in level], path)
            level = found[0].get("children", [])

    def cmd_format(self, rest):
        what, _, arg = rest.partition(" ")
        msg = self.c.request("textDocument/formatting", {"textDocument": self.td(),
                                                         "options": {"tabSize": 2, "insertSpaces": True}})
        if what == "error":
            assert "error" in msg and arg in msg["error"]["message"], "formatting: %r, want an error %r" % (msg, arg)
            return
        assert "result" in msg, "formatting refused: %r" % msg.get("error")
        text = self.doc.text
        for e in sorted(msg["result"], key=lambda e: (e["range"]["start"]["line"], e["range"]["start"]["character"]),
                        reverse=True):
            a, b = self.doc.offset(e["range"]["start"]), self.doc.offset(e["range"]["end"])
            text = text[:a] + e["newText"] + text[b:]
        if what == "same":
            want = self.doc.text
        else:
            with open(os.path.join(os.path.dirname(self.path), arg), encoding="utf-8") as f:
                want = f.read()
        assert text == want, "formatted text differs:\n%s\n--- want:\n%s" % (text, want)


def run_case(flowc, path):
    c = LspClient([flowc, "lsp"])
    case = Case(c, path)
    try:
        c.initialize(options={"debounceMs": 0})
        c.notify("textDocument/didOpen", {"textDocument": {"uri": case.uri, "languageId": "flow", "version": 1,
                                                           "text": case.doc.text}})
        expect = os.path.splitext(path)[0] + ".expect"
        with open(expect, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                try:
                    case.run(line)
                except (AssertionError, LspError) as e:
                    raise AssertionError("%s:%d: %s: %s" % (os.path.relpath(expect), n, line, e))
        rc = c.shutdown()
        assert rc == 0, "exit status %s after shutdown and exit" % rc
        err = c.stderr_text()
        assert "Sanitizer" not in err and "runtime error" not in err, "sanitizer report:\n" + err[-3000:]
        print("PASS: lsp %s" % case.name)
    except AssertionError as e:
        print("FAIL: lsp %s: %s" % (case.name, e))
        print(c.stderr_text()[-2000:], file=sys.stderr)
    finally:
        c.kill()


def main():
    flowc = sys.argv[1]
    for path in sys.argv[2:]:
        run_case(flowc, path)


if __name__ == "__main__":
    main()
