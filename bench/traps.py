"""Trap benchmark: SNMPv2c traps/s into the event log, with loss measured as sent vs stored.

Runs a real ``opsconductor serve`` child process (embedded SQLite, the shipped snmp-traps
addon, the trap receiver on a loopback UDP port) and a paced raw-UDP sender in this
process, sending pre-encoded linkDown/linkUp traps over 1,000 interfaces of 50 agents
(127.0.0.x sources, so the alert table sees real variety). After the last trap it waits for
the event log to stop growing and compares.

    .venv/bin/python bench/traps.py                        # 3,000 traps/s for 10 s
    .venv/bin/python bench/traps.py --rate 5000 --seconds 10 --rules rules

Prints ONE figure line:
    traps: sent=30000 stored=30000 lost=0 offered=3000/s stored_rate=2990/s ...
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pyasn1.codec.ber import encoder
from pysnmp.proto.api import v2c

ROOT = Path(__file__).resolve().parents[1]
COMMUNITY = "bench-traps"
LINK_DOWN, LINK_UP = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3), (1, 3, 6, 1, 6, 3, 1, 1, 5, 4)


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def encode_trap(trap_oid: tuple[int, ...], if_index: int, uptime: int) -> bytes:
    """One v2c trap as a real agent sends it (pysnmp's encoder, i.e. independent of our decoder)."""
    pdu = v2c.TrapPDU()
    v2c.apiTrapPDU.set_defaults(pdu)
    up = trap_oid == LINK_UP
    v2c.apiTrapPDU.set_varbinds(pdu, [
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), v2c.TimeTicks(uptime)),
        ((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), v2c.ObjectIdentifier(trap_oid)),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, if_index), v2c.Integer(if_index)),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 7, if_index), v2c.Integer(1)),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 8, if_index), v2c.Integer(1 if up else 2)),
        ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1, if_index), v2c.OctetString(f"ge-0/0/{if_index}")),
    ])
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, COMMUNITY)
    v2c.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


def start_server(work: Path, trap_port: int, rules: Path | None) -> tuple[subprocess.Popen[bytes], str]:
    addons = work / "addons"
    shutil.copytree(ROOT / "addons" / "snmp-traps", addons / "snmp-traps")
    rules_dir = rules.resolve() if rules else work / "rules"
    rules_dir.mkdir(exist_ok=True)
    http_port = free_port(socket.SOCK_STREAM)
    env = {**os.environ, "OPSCONDUCTOR_DATA_DIR": str(work / "data"), "OPSCONDUCTOR_PORT": str(http_port),
           "OPSCONDUCTOR_LOG_LEVEL": "warning", "OPSCONDUCTOR_HOUSEKEEPING_INTERVAL_S": "3600",
           "OPSCONDUCTOR_ADDONS_DIR": str(addons), "OPSCONDUCTOR_RULES_DIR": str(rules_dir),
           "OPSCONDUCTOR_TRAP_PORT": str(trap_port), "BENCH_TRAP_COMMUNITY": COMMUNITY,
           "OPSCONDUCTOR_TRAP_COMMUNITIES": json.dumps(["env:BENCH_TRAP_COMMUNITY"])}
    log = (work / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "opsconductor", "serve"], env=env, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{http_port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {(work / 'server.log').read_text()[-3000:]}")
        time.sleep(0.1)
    return proc, url


def trap_metric(url: str, outcome: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(f'opsconductor_snmp_traps_total{{outcome="{outcome}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def stored(db: Path) -> int:
    con = sqlite3.connect(db, timeout=30)
    try:
        sql = "SELECT count(*) FROM events WHERE json_extract(payload, '$.source') = 'snmp-traps'"
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=3000, help="traps per second offered")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--agents", type=int, default=50, help="distinct source addresses 127.0.0.2..")
    ap.add_argument("--rules", type=Path, default=None, help="rules dir for the server (default: none)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="opsc-bench-traps-"))
    trap_port = free_port(socket.SOCK_DGRAM)
    proc, url = start_server(work, trap_port, args.rules)
    try:
        # a linkDown and a linkUp for each of 20 interfaces, cycled over the agents
        packets = [encode_trap(oid, i, 1000 + i) for i in range(1, 21) for oid in (LINK_DOWN, LINK_UP)]
        senders = []
        for a in range(args.agents):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((f"127.0.0.{2 + a}", 0))
            senders.append(s)
        total = int(args.rate * args.seconds)
        tick = 0.005
        per_tick = max(1, round(args.rate * tick))
        sent = 0
        start = time.perf_counter()
        while sent < total:
            for _ in range(min(per_tick, total - sent)):
                senders[sent % len(senders)].sendto(packets[sent % len(packets)], ("127.0.0.1", trap_port))
                sent += 1
            ahead = start + sent / args.rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        send_s = time.perf_counter() - start
        db = work / "data" / "opsconductor.db"
        last, last_change = -1, time.perf_counter()
        while time.perf_counter() - last_change < 15.0:  # until all are in, or none came for 15 s
            n = stored(db)
            if n != last:
                last, last_change = n, time.perf_counter()
            if n >= total:
                break
            time.sleep(0.05)
        done_s = last_change - start if last < total else time.perf_counter() - start
        dropped = {k: trap_metric(url, k) for k in ("bad_community", "malformed", "overflow", "unmapped", "invalid")}
        print(f"traps: sent={sent} stored={last} lost={sent - last} offered={sent / send_s:.0f}/s "
              f"stored_rate={last / done_s:.0f}/s (send {send_s:.1f}s, stored by {done_s:.1f}s) "
              f"drops={ {k: int(v) for k, v in dropped.items() if v} }")
        if last < sent:
            print("server log (tail):\n" + (work / "server.log").read_text()[-3000:], file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
