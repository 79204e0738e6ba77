#!/usr/bin/python3
"""snmpd `pass` helper for tests: serves OIDs from a JSON file the test rewrites.

snmpd runs ``snmp_pass.py STATE_FILE -g OID`` (get) or ``-n OID`` (getnext) and reads
three lines back: OID, type, value (see snmpd.conf(5), "pass").
"""

import json
import sys


def key(oid):
    return tuple(int(x) for x in oid.strip(".").split(".") if x)


def main():
    state_file, op, oid = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(state_file) as f:
        oids = json.load(f)["oids"]
    table = sorted((key(o), t, v) for o, (t, v) in oids.items())
    want = key(oid)
    hit = None
    if op == "-g":
        hit = next((row for row in table if row[0] == want), None)
    elif op == "-n":
        hit = next((row for row in table if row[0] > want), None)
    if hit is None:
        print("NONE")
        return
    print("." + ".".join(map(str, hit[0])))
    print(hit[1])
    print(hit[2])


main()
