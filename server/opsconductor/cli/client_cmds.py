"""Client commands that talk to a running server over HTTP: events send, alerts list."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from opsconductor.api_client import DEFAULT_URL
from opsconductor.api_client import client as _client

__all__ = ["DEFAULT_URL", "_client"]


def read_events_file(path: Path) -> list[Any]:
    """A JSON file (object or array) or NDJSON (one event per line)."""
    text = path.read_text(encoding="utf-8") if str(path) != "-" else sys.stdin.read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = json.loads(text)
        return list(data)
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _fail(resp: httpx.Response) -> int:
    try:
        body = resp.json()
        print(f"{resp.status_code} {body.get('title', '')}: {body.get('detail', '')}", file=sys.stderr)
        for e in body.get("errors", [])[:20]:
            where = f"[{e['index']}] " if "index" in e else ""
            print(f"  {where}{e.get('field', '')}: {e.get('message', '')}", file=sys.stderr)
    except ValueError:
        print(f"{resp.status_code}: {resp.text[:500]}", file=sys.stderr)
    return 1


def cmd_events_send(args: argparse.Namespace) -> int:
    events = read_events_file(Path(args.file))
    with _client(args) as c:
        for i in range(0, len(events), args.batch):
            resp = c.post("/api/v1/events", json=events[i : i + args.batch], params={"wait": str(args.wait).lower()})
            if resp.status_code >= 400:
                return _fail(resp)
            body = resp.json()
            print(json.dumps(body) if args.wait else f"accepted {body['accepted']} events")
    return 0


def cmd_alerts_list(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.status:
        params["status"] = args.status
    with _client(args) as c:
        resp = c.get("/api/v1/alerts", params=params)
    if resp.status_code >= 400:
        return _fail(resp)
    alerts = resp.json()["alerts"]
    if args.json:
        print(json.dumps(alerts, indent=2))
        return 0
    print(f"{'ID':>6}  {'STATUS':<12} {'SEVERITY':<9} {'DUP':>4}  {'RESOURCE':<20} {'COMPONENT':<14} EVENT")
    for a in alerts:
        print(f"{a['id']:>6}  {a['status']:<12} {a['severity']:<9} {a['duplicate_count']:>4}  "
              f"{a['resource']:<20} {(a['component'] or '-'):<14} {a['event']}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=os.environ.get("OPSCONDUCTOR_URL", DEFAULT_URL))
    p.add_argument("--key", help="API key (default: $OPSCONDUCTOR_API_KEY, then data/admin.key)")


def register(sub: Any) -> None:
    ev = sub.add_parser("events", help="send events to a server").add_subparsers(dest="events_command", required=True)
    send = ev.add_parser("send", help="post a JSON or NDJSON file of events ('-' for stdin)")
    send.add_argument("file")
    send.add_argument("--batch", type=int, default=1000)
    send.add_argument("--wait", action="store_true", help="wait for processing and print outcomes")
    _common(send)
    send.set_defaults(func=cmd_events_send)

    al = sub.add_parser("alerts", help="query alerts").add_subparsers(dest="alerts_command", required=True)
    ls = al.add_parser("list", help="list open alerts")
    ls.add_argument("--status", action="append")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true")
    _common(ls)
    ls.set_defaults(func=cmd_alerts_list)
