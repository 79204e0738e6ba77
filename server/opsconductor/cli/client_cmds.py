"""Client commands that talk to a running server over HTTP: events send, alerts list (actions: alert_cmds)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from opsconductor.api_client import DEFAULT_URL
from opsconductor.api_client import client as _client
from opsconductor.errors import Unavailable

__all__ = ["DEFAULT_URL", "_client", "request"]


def request(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request; an unreachable server is one line (Unavailable), never a traceback."""
    try:
        with _client(args) as c:
            return c.request(method, path, **kwargs)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = str(exc) or type(exc).__name__
        raise Unavailable(f"cannot reach the server at {args.url}: {reason}") from None


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


def fail(resp: httpx.Response, prefix: str = "") -> int:
    """The problem body as one line (plus one indented line per invalid field); returns exit code 1."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        print(f"{prefix}{resp.status_code} {body.get('title', '')}: {body.get('detail', '')}", file=sys.stderr)
        for e in body.get("errors", [])[:20]:
            where = f"[{e['index']}] " if "index" in e else ""
            print(f"  {where}{e.get('field', '')}: {e.get('message', '')}", file=sys.stderr)
    else:
        print(f"{prefix}{resp.status_code}: {' '.join(resp.text.split())[:500]}", file=sys.stderr)
    return 1



def cmd_events_send(args: argparse.Namespace) -> int:
    events = read_events_file(Path(args.file))
    for i in range(0, len(events), args.batch):
        resp = request(args, "POST", "/api/v1/events", json=events[i : i + args.batch],
                       params={"wait": str(args.wait).lower()})
        if resp.status_code >= 400:
            return fail(resp)
        body = resp.json()
        print(json.dumps(body) if args.wait else f"accepted {body['accepted']} events")
    return 0


def cmd_alerts_list(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit, "sort": args.sort}
    for name in ("status", "severity", "resource", "label"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    if args.q:
        params["q"] = args.q
    resp = request(args, "GET", "/api/v1/alerts", params=params)
    if resp.status_code >= 400:
        return fail(resp)
    alerts = resp.json()["alerts"]
    if args.json:
        print(json.dumps(alerts, indent=2))
        return 0
    if not alerts:
        filtered = any(getattr(args, n) for n in ("severity", "resource", "label", "q"))
        print("no open alerts" + (" matching" if filtered else "") if not args.status
              else f"no alerts with status {', '.join(args.status)}")
        return 0
    from opsconductor.cli.alert_cmds import alert_table

    print("\n".join(alert_table(alerts, datetime.now(UTC))))
    return 0


def common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=os.environ.get("OPSCONDUCTOR_URL", DEFAULT_URL),
                   help=f"server URL (default: $OPSCONDUCTOR_URL, then {DEFAULT_URL})")
    p.add_argument("--key", help="API key (default: $OPSCONDUCTOR_API_KEY, then data/admin.key)")


def register(sub: Any) -> None:
    ev = sub.add_parser("events", help="send events to a server").add_subparsers(dest="events_command", required=True)
    send = ev.add_parser("send", help="post a JSON or NDJSON file of events ('-' for stdin)")
    send.add_argument("file")
    send.add_argument("--batch", type=int, default=1000)
    send.add_argument("--wait", action="store_true", help="wait for processing and print outcomes")
    common_args(send)
    send.set_defaults(func=cmd_events_send)

    al = sub.add_parser("alerts", help="list, show and act on alerts").add_subparsers(dest="alerts_command",
                                                                                       required=True)
    ls = al.add_parser("list", help="list open alerts (repeat a filter for 'any of')")
    ls.add_argument("--status", action="append", help="default: active, acknowledged, suppressed")
    ls.add_argument("--severity", action="append")
    ls.add_argument("--resource", action="append")
    ls.add_argument("--label", action="append", help="name:value, e.g. site:ams")
    ls.add_argument("-q", help="text in resource, event, component or summary")
    ls.add_argument("--sort", default="-last_seen", help="id|last_seen|first_seen|severity|duplicate_count, "
                                                         "prefix - for descending (default -last_seen)")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true")
    common_args(ls)
    ls.set_defaults(func=cmd_alerts_list)
    from opsconductor.cli.alert_cmds import register_alerts, register_silences

    register_alerts(al)  # alerts show|history|ack|unack|resolve|note
    register_silences(sub)  # silences add|list|expire
