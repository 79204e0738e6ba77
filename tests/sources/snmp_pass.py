#!/usr/bin/python3
"""snmpd ``pass_persist`` helper for tests: serves OIDs from a JSON file the test rewrites.

Protocol (snmpd.conf(5), "pass_persist"): snmpd writes ``PING`` (we answer ``PONG``), or
``get``/``getnext`` and an OID on the next line; we answer OID, type, value on three lines,
or ``NONE``. The file is re-read whenever it changed, so the test controls the values.
"""

import json
import os
import sys
import time

STATE = sys.argv[1]
_cache = {"mtime": None, "table": []}


def key(oid):
    return tuple(int(x) for x in oid.strip().strip(".").split(".") if x)


def table():
    try:
        mtime = os.stat(STATE).st_mtime_ns
    except OSError:
        return []
    if mtime != _cache["mtime"]:
        with open(STATE) as f:
            oids = json.load(f)["oids"]
        _cache["table"] = sorted((key(o), t, v) for o, (t, v) in oids.items())
        _cache["mtime"] = mtime
    return _cache["table"]


def value(v):
    """A counter the test set running: {"base", "per_s", "since", "mod"} -> its value now (wraps at mod)."""
    if isinstance(v, dict):
        return int(v["base"] + v["per_s"] * (time.time() - v["since"])) % v["mod"]
    return v


def answer(hit):
    if hit is None:
        sys.stdout.write("NONE\n")
    else:
        sys.stdout.write("." + ".".join(map(str, hit[0])) + f"\n{hit[1]}\n{value(hit[2])}\n")
    sys.stdout.flush()


def main():
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        cmd = line.strip()
        if cmd == "PING":
            sys.stdout.write("PONG\n")
            sys.stdout.flush()
        elif cmd in ("get", "getnext"):
            want = key(sys.stdin.readline())
            rows = table()
            if cmd == "get":
                answer(next((r for r in rows if r[0] == want), None))
            else:
                answer(next((r for r in rows if r[0] > want), None))
        elif cmd == "set":
            sys.stdin.readline()
            sys.stdin.readline()
            sys.stdout.write("not-writable\n")
            sys.stdout.flush()


main()
