"""Daily actions against a running server: alerts show/ack/unack/resolve/note/history, silences add/list/expire.

The server is ``--url`` (default ``$OPSCONDUCTOR_URL``, then http://127.0.0.1:8080), the key
``--key`` (default ``$OPSCONDUCTOR_API_KEY``, then ``data/admin.key``). Every failure is one
line on stderr and a non-zero exit: 1 when the server refused (the problem's text), 2 when it
could not be reached.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from opsconductor.api.am_matchers import parse_matcher, to_silence_matchers
from opsconductor.cli.client_cmds import common_args, fail, request
from opsconductor.errors import InputError
from opsconductor.model.event import MATCHABLE_FIELDS

SUMMARY_WIDTH = 48


def age(ts: str | None, now: datetime) -> str:
    """``2026-01-01T00:00:00Z`` -> ``3m`` / ``5h`` / ``2d`` (how long ago, coarse)."""
    if not ts:
        return "-"
    secs = max(0, int((now - datetime.fromisoformat(ts.replace("Z", "+00:00"))).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def clip(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def alert_table(alerts: list[dict[str, Any]], now: datetime) -> list[str]:
    """A readable table: id, status, severity, age (since first seen), duplicates, what, summary."""
    lines = [f"{'ID':>6}  {'STATUS':<12} {'SEVERITY':<8} {'AGE':>4} {'DUP':>4}  {'RESOURCE':<20} "
             f"{'EVENT':<18} SUMMARY"]
    for a in alerts:
        what = a["event"] + (f" {a['component']}" if a.get("component") else "")
        lines.append(f"{a['id']:>6}  {a['status']:<12} {a['severity'] or '-':<8} {age(a['first_seen'], now):>4} "
                     f"{a['duplicate_count']:>4}  {clip(a['resource'], 20):<20} {clip(what, 18):<18} "
                     f"{clip(a.get('summary'), SUMMARY_WIDTH)}")
    return lines


def cli_field(name: str) -> str:
    """A CLI matcher name -> our matcher field: fields as they are, ``alertname`` = event, else a label."""
    if name in MATCHABLE_FIELDS or name.startswith("labels."):
        return name
    return "event" if name == "alertname" else f"labels.{name}"


def silence_matchers(texts: list[str]) -> dict[str, Any]:
    """``resource=rtr1 event=~"link_.*" site!=lab`` -> our silence matcher mapping."""
    if not texts:
        raise InputError("give at least one matcher, e.g. resource=rtr1.ams or labels.site=~'ams.*'")
    return to_silence_matchers([parse_matcher(t) for t in texts], cli_field)


def _now() -> datetime:
    return datetime.now(UTC)


def cmd_show(args: argparse.Namespace) -> int:
    resp = request(args, "GET", f"/api/v1/alerts/{args.id}")
    if resp.status_code >= 400:
        return fail(resp)
    a = resp.json()
    if args.json:
        print(json.dumps(a, indent=2))
        return 0
    now = _now()
    rows = [("id", a["id"]), ("status", a["status"]), ("severity", a["severity"]), ("resource", a["resource"]),
            ("component", a.get("component")), ("event", a["event"]), ("summary", a.get("summary")),
            ("value", a.get("value")), ("source", a.get("source")),
            ("first seen", f"{a['first_seen']} ({age(a['first_seen'], now)} ago)"),
            ("last seen", f"{a['last_seen']} ({age(a['last_seen'], now)} ago)"),
            ("duplicates", a["duplicate_count"]),
            ("acknowledged", f"by {a['acknowledged_by']} at {a['acknowledged_at']}" if a.get("acknowledged_by")
             else None),
            ("suppressed", a.get("suppressed_reason")), ("rule", a.get("rule_id")),
            ("labels", ", ".join(f"{k}={v}" for k, v in sorted((a.get("labels") or {}).items())) or None)]
    for name, value in rows:
        if value is not None and value != "":
            print(f"{name + ':':<14}{value}")
    notes = [h for h in a.get("history", []) if h["kind"] == "note"]
    for h in notes:
        print(f"{'note:':<14}{h['at']} {h.get('actor') or '-'}: {h.get('text') or ''}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    resp = request(args, "GET", f"/api/v1/alerts/{args.id}")
    if resp.status_code >= 400:
        return fail(resp)
    history = resp.json()["history"]
    if args.json:
        print(json.dumps(history, indent=2))
        return 0
    print(f"{'AT':<25} {'KIND':<16} {'STATUS':<12} {'SEVERITY':<8} {'ACTOR':<16} TEXT")
    for h in history:
        print(f"{h['at']:<25} {h['kind']:<16} {h.get('status') or '-':<12} {h.get('severity') or '-':<8} "
              f"{clip(h.get('actor') or '-', 16):<16} {h.get('text') or ''}")
    return 0


def cmd_action(args: argparse.Namespace) -> int:
    """ack / unack / resolve / note: each id in turn; the exit code is 1 if any was refused."""
    body = {"text": args.text} if args.text else {}
    failed = 0
    for alert_id in args.ids:
        resp = request(args, "POST", f"/api/v1/alerts/{alert_id}/{args.action}", json=body)
        if resp.status_code >= 400:
            failed += 1
            fail(resp, prefix=f"alert {alert_id}: ")
            continue
        a = resp.json()
        done = "note added" if args.action == "note" else a["status"]
        print(f"alert {a['id']}: {done} ({a['resource']} {a['event']})")
    return 1 if failed else 0


def cmd_silence_add(args: argparse.Namespace) -> int:
    body = {"matchers": silence_matchers(args.matchers), "comment": args.comment, "duration": args.duration}
    resp = request(args, "POST", "/api/v1/silences", json=body)
    if resp.status_code >= 400:
        return fail(resp)
    s = resp.json()
    print(f"silence {s['id']} {s['state']} until {s['ends_at']}")
    return 0


def _describe(matchers: dict[str, Any]) -> str:
    return " ".join(f"{k}={json.dumps(v)}" if not isinstance(v, str) else f"{k}={v}" for k, v in matchers.items())


def cmd_silence_list(args: argparse.Namespace) -> int:
    resp = request(args, "GET", "/api/v1/silences", params={"status": "all" if args.all else "active"})
    if resp.status_code >= 400:
        return fail(resp)
    silences = resp.json()["silences"]
    if args.json:
        print(json.dumps(silences, indent=2))
        return 0
    if not silences:
        print("no silences" if args.all else "no active silences (--all shows expired and pending ones)")
        return 0
    print(f"{'ID':>5}  {'STATE':<8} {'ENDS':<21} {'BY':<16} {'MATCHERS':<36} COMMENT")
    for s in silences:
        print(f"{s['id']:>5}  {s['state']:<8} {s['ends_at']:<21} {clip(s['created_by'], 16):<16} "
              f"{clip(_describe(s['matchers']), 36):<36} {clip(s['comment'], SUMMARY_WIDTH)}")
    return 0


def cmd_silence_expire(args: argparse.Namespace) -> int:
    failed = 0
    for sid in args.ids:
        resp = request(args, "DELETE", f"/api/v1/silences/{sid}")
        if resp.status_code >= 400:
            failed += 1
            fail(resp, prefix=f"silence {sid}: ")
            continue
        print(f"silence {sid} expired")
    return 1 if failed else 0


def register_alerts(al: Any) -> None:
    """``alerts show|ack|unack|resolve|note|history`` on the ``alerts`` subcommand."""
    show = al.add_parser("show", help="one alert: fields, labels, notes")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    common_args(show)
    show.set_defaults(func=cmd_show)
    hist = al.add_parser("history", help="one alert's history, oldest first")
    hist.add_argument("id", type=int)
    hist.add_argument("--json", action="store_true")
    common_args(hist)
    hist.set_defaults(func=cmd_history)
    for action, what in (("ack", "acknowledge"), ("unack", "take back the acknowledgement of"),
                         ("resolve", "resolve")):
        p = al.add_parser(action, help=f"{what} alerts")
        p.add_argument("ids", type=int, nargs="+", metavar="ID")
        p.add_argument("--text", help="a note kept in the alert's history")
        common_args(p)
        p.set_defaults(func=cmd_action, action=action)
    note = al.add_parser("note", help="add a note to an alert's history")
    note.add_argument("ids", type=int, nargs=1, metavar="ID")
    note.add_argument("text")
    common_args(note)
    note.set_defaults(func=cmd_action, action="note")


def register_silences(sub: Any) -> None:
    si = sub.add_parser("silences", help="add, list and expire silences").add_subparsers(
        dest="silences_command", required=True)
    add = si.add_parser("add", help="silence alerts matching every MATCHER",
                        description="MATCHER: name=value, name!=value, name=~regex, name!~regex; names are "
                                    "resource, event, component, severity, source, summary, value, "
                                    "labels.<name> (a bare other name is a label; alertname is event)")
    add.add_argument("matchers", nargs="+", metavar="MATCHER")
    add.add_argument("--duration", default="1h", help="e.g. 30m, 2h, 1d (default 1h)")
    add.add_argument("--comment", required=True, help="why (who asked, which change)")
    common_args(add)
    add.set_defaults(func=cmd_silence_add)
    ls = si.add_parser("list", help="active silences (--all: also pending and expired)")
    ls.add_argument("--all", action="store_true")
    ls.add_argument("--json", action="store_true")
    common_args(ls)
    ls.set_defaults(func=cmd_silence_list)
    ex = si.add_parser("expire", help="end silences now")
    ex.add_argument("ids", type=int, nargs="+", metavar="ID")
    common_args(ex)
    ex.set_defaults(func=cmd_silence_expire)
