#!/usr/bin/env python3
"""The forms a secret can be written in, computed independently of the
runtime (Python's json, urllib and base64), for tests/hardening/run.sh.

  forms.py cases SECRETS.json      the API answers to script: one JSON case a line
  forms.py scan SECRET FILE...     every form (or the start of one) found in the files

A case is {"secret": i, "form": NAME, "kind": "text"|"json", "body": ...}:
a 400 whose body puts the form of secret i where the runtime's 300-byte cut
of the error message falls in its middle. `scan` reports each file holding
the first bytes of any form: 4 of a text form, 6 of a base64 one (4 base64
characters are 3 arbitrary bytes: a binary state file may hold them by
chance). Any longer start of a form, the form itself included, begins
with those bytes.
"""
import base64
import json
import re
import sys
import urllib.parse

CUT = 300           # the runtime keeps this many bytes of an error body


def json_escaped(s, ascii_only=False, upper=False, slash=False):
    t = json.dumps(s, ensure_ascii=ascii_only)[1:-1]
    if upper:
        t = re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), t)
    if slash:
        t = t.replace("/", "\\/")
    return t


def b64_core(raw, k):
    """The base64 characters only `raw` decides when k bytes precede it."""
    enc = base64.b64encode(b"\0" * k + raw).decode()
    return enc[(8 * k + 5) // 6:(8 * (k + len(raw))) // 6]


def forms(secret):
    """{name: (what the API sends, what must never be seen, base64?)}"""
    raw = secret.encode()
    b64 = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    f = {
        "raw": secret,
        "json": json_escaped(secret),
        "json-ascii": json_escaped(secret, ascii_only=True),
        "json-ascii-upper": json_escaped(secret, ascii_only=True, upper=True),
        "json-slash": json_escaped(secret, slash=True),
        "json-twice": json_escaped(json_escaped(secret)),
        "json-twice-ascii": json_escaped(json_escaped(secret, ascii_only=True), ascii_only=True),
        "percent": urllib.parse.quote(secret, safe=""),
        "percent-lower": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(secret, safe="")),
        "plus": urllib.parse.quote_plus(secret, safe=""),
        "plus-lower": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote_plus(secret, safe="")),
    }
    out = {name: (text, text, False) for name, text in f.items()}
    out.update({
        "base64": (b64, b64, True),
        "base64-bare": (b64.rstrip("="), b64.rstrip("="), True),
        "base64url": (url, url, True),
        "base64url-bare": (url.rstrip("="), url.rstrip("="), True),
        # HTTP Basic: base64 of user:password, the secret at offset 5
        "basic": (base64.b64encode(b"user:" + raw).decode(), b64_core(raw, 5 % 3), True),
        # inside a longer base64 text, at the other two byte offsets
        "base64-offset1": (base64.b64encode(b"x" + raw + b"yz").decode(), b64_core(raw, 1), True),
        "base64-offset2": (base64.b64encode(b"xy" + raw + b"z").decode(), b64_core(raw, 2), True),
    })
    return out


def cases(path):
    """The scripted 400 answers, one per form of each secret."""
    out = []
    for i, secret in enumerate(json.load(open(path))):
        for name, (sent, _, _) in forms(secret).items():
            # a text body is the message's text as it is: the cut lands
            # in the middle of the form
            pad = "." * (CUT - len(sent.encode()) // 2)
            out.append({"secret": i, "form": name, "kind": "text", "body": pad + sent + " <- the key"})
        # a JSON body the runtime renders: it writes the secret escaped,
        # once (a field) or twice (a JSON text inside a field)
        once = json_escaped(secret)
        pad = "." * (CUT - len('{"error":"') - len(once.encode()) // 2)
        out.append({"secret": i, "form": "rendered-json", "kind": "json", "body": {"error": pad + secret}})
        inner = json.dumps({"key": secret}, ensure_ascii=False, separators=(",", ":"))
        twice = json_escaped(inner)
        pad = "." * (CUT - len('{"error":"') - len(twice.encode()) // 2)
        out.append({"secret": i, "form": "rendered-json-twice", "kind": "json", "body": {"error": pad + inner}})
    return out


def scan(secret, files):
    """What the files show of the secret: one line per file that holds the
    start of some form of it (empty when none does)."""
    found = []
    for path in files:
        try:
            data = open(path, "rb").read()
        except OSError as e:
            found.append(f"{path}: cannot read: {e}")
            continue
        for name, (_, hidden, is_b64) in forms(secret).items():
            at = data.find(hidden.encode()[:6 if is_b64 else 4])
            if at >= 0:
                seen = data[max(0, at - 20):at + len(hidden.encode()) + 10]
                found.append(f"{path}: the {name} form of the secret: ...{seen!r}...")
                break
    return found


if __name__ == "__main__":
    if sys.argv[1] == "cases":
        for case in cases(sys.argv[2]):
            print(json.dumps(case))
    elif sys.argv[1] == "scan":
        leaks = scan(sys.argv[2], sys.argv[3:])
        print("\n".join(leaks))
        sys.exit(1 if leaks else 0)
    else:
        sys.exit("usage: forms.py cases SECRETS.json | scan SECRET FILE...")
