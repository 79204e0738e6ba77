"""Rule files (YAML) -> the rule model, with every problem reported as ``file:line:col``.

Parsing never stops at the first problem: it collects every error it can find in a
file so ``opsconductor rules check`` shows them all at once.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opsconductor.config.yaml_source import DataPath, YamlDocument
from opsconductor.correlate.enrich import is_template, template_error
from opsconductor.correlate.intervals import Interval, parse_interval
from opsconductor.correlate.matchers import (
    CMP_OPS,
    MAX_REGEX_LENGTH,
    TRUE,
    And,
    Cmp,
    Eq,
    Exists,
    Matcher,
    Not,
    Or,
    Regex,
    backtracking_risk,
    is_field,
)
from opsconductor.correlate.rules import (
    Expectation,
    Raise,
    Rule,
    RuleFile,
    RuleTest,
    Schedule,
    SeveritySpec,
    TimedInput,
    Where,
    parse_duration,
)
from opsconductor.errors import ConfigError
from opsconductor.model.event import MATCHABLE_FIELDS, Severity

ACTIONS = ("drop", "set", "dedup", "maintenance", "inhibit", "flap", "correlate", "heartbeat", "topology")
KIND_OF = {"heartbeat": "heartbeat", "topology": "topology",
           "drop": "drop", "set": "severity", "dedup": "dedup", "maintenance": "maintenance",
           "inhibit": "inhibit", "flap": "flap", "correlate": "correlate"}
RULE_KEYS = ("id", "description", "when", "clear_on", "timeout", *ACTIONS)
NEEDS_WHEN = ("drop", "set", "dedup", "flap", "heartbeat")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_TEMPLATE = re.compile(r"\{([^{}]*)\}")
MAX_ANY_OF = 256
"""The engine hangs when one node gets more than 512 children; keep every rule far below that."""
FIELDS_HELP = f"{', '.join(MATCHABLE_FIELDS)} or labels.<name>"
EXPECT_KEYS = ("resource", "event", "component", "status", "severity", "duplicate_count", "suppressed_reason",
               "labels", "summary", "rule_id", "parent")


def is_notify_config(data: Any) -> bool:
    """Notify routing config lives in rules/ too (rules/notify.yaml); it is not a rule file."""
    return isinstance(data, dict) and ("route" in data or "receivers" in data) and "rules" not in data


class _Ctx:
    def __init__(self, doc: YamlDocument):
        self.doc = doc
        self.errors: list[ConfigError] = []

    def err(self, path: DataPath, msg: str) -> None:
        self.errors.append(self.doc.positions.error(path, msg))

    def where(self, path: DataPath) -> Where:
        loc = self.doc.positions.at(path)
        return Where(loc.file, loc.line, loc.col or 1)

    def keys(self, data: dict[str, Any], path: DataPath, allowed: tuple[str, ...], what: str) -> None:
        for k in data:
            if k not in allowed:
                self.err((*path, k), f"unknown key {k!r} in {what} (expected one of: {', '.join(allowed)})")

    def mapping(self, v: Any, path: DataPath, what: str) -> dict[str, Any] | None:
        if not isinstance(v, dict):
            self.err(path, f"{what} must be a mapping")
            return None
        return v

    def field_name(self, v: Any, path: DataPath) -> str | None:
        if not isinstance(v, str) or not is_field(v):
            self.err(path, f"unknown field {v!r} (fields: {FIELDS_HELP})")
            return None
        return v

    def field_list(self, v: Any, path: DataPath) -> tuple[str, ...]:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not v:
            self.err(path, "must be a non-empty list of fields")
            return ()
        out = [self.field_name(x, (*path, i)) for i, x in enumerate(v)]
        return tuple(x for x in out if x)

    def duration(self, v: Any, path: DataPath) -> float:
        d = parse_duration(v)
        if d is None or d <= 0:
            self.err(path, f"invalid duration {v!r} (use e.g. 90s, 10m, 2h, 1d)")
            return 0.0
        return d

    def severity(self, v: Any, path: DataPath) -> Severity | None:
        try:
            return Severity(v)
        except ValueError:
            self.err(path, f"unknown severity {v!r} (expected one of: {', '.join(s.value for s in Severity)})")
            return None

    def positive_int(self, v: Any, path: DataPath, minimum: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            self.err(path, f"must be an integer >= {minimum}")
            return minimum
        return v

    # -- matchers ----------------------------------------------------------------------
    def when(self, v: Any, path: DataPath) -> Matcher:
        data = self.mapping(v, path, "a matcher ('when')")
        if data is None:
            return TRUE
        items: list[Matcher] = []
        for name, spec in data.items():
            fpath = (*path, name)
            if self.field_name(name, fpath) is None:
                continue
            items.append(self.value_spec(name, spec, fpath))
        return items[0] if len(items) == 1 else And(tuple(items))

    def value_spec(self, field: str, spec: Any, path: DataPath) -> Matcher:
        if isinstance(spec, bool):
            self.err(path, "booleans never occur in events; quote the value (\"true\") if you mean text")
            return TRUE
        if spec is None or isinstance(spec, (str, int, float)):
            if isinstance(spec, float) and not math.isfinite(spec):
                self.err(path, "numbers must be finite")
            return Eq(field, spec)
        if isinstance(spec, list):
            if not spec:
                self.err(path, "an empty list can never match")
                return Or(())
            if len(spec) > MAX_ANY_OF:
                self.err(path, f"an any-of list has at most {MAX_ANY_OF} values ({len(spec)} given); "
                               "use a regex or split the rule")
                return Or(())
            return Or(tuple(self.value_spec(field, x, (*path, i)) for i, x in enumerate(spec)))
        if isinstance(spec, dict):
            if not spec:
                self.err(path, "an empty operator mapping; use regex, not, gt, ge, lt, le or exists")
                return TRUE
            parts = [self.operator(field, op, arg, (*path, op)) for op, arg in spec.items()]
            return parts[0] if len(parts) == 1 else And(tuple(parts))
        self.err(path, "a matcher value must be a string, number, list or an operator mapping")
        return TRUE

    def operator(self, field: str, op: str, arg: Any, path: DataPath) -> Matcher:
        if op == "regex":
            if not isinstance(arg, str):
                self.err(path, "regex must be a string")
                return TRUE
            if len(arg) > MAX_REGEX_LENGTH:
                self.err(path, f"regex longer than {MAX_REGEX_LENGTH} characters")
                return TRUE
            try:
                re.compile(arg)
            except re.error as exc:
                self.err(path, f"bad regex {arg!r}: {exc}")
                return TRUE
            risk = backtracking_risk(arg)
            if risk:
                self.err(path, f"regex {arg!r} rejected: {risk}")
                return TRUE
            return Regex(field, arg)
        if op == "not":
            return Not(self.value_spec(field, arg, path))
        if op in CMP_OPS:
            if isinstance(arg, bool) or not isinstance(arg, (int, float)) or not math.isfinite(arg):
                self.err(path, f"{op} needs a finite number")
                return TRUE
            return Cmp(field, op, arg)
        if op == "exists":
            if not isinstance(arg, bool):
                self.err(path, "exists needs true or false")
                return TRUE
            return Exists(field) if arg else Not(Exists(field))
        self.err(path, f"unknown matcher operator {op!r} (expected one of: regex, not, gt, ge, lt, le, exists)")
        return TRUE


def parse_matcher(data: Any, file: str) -> tuple[Matcher, list[ConfigError]]:
    """A standalone matcher mapping (API silences, explain filters) in the rule matcher language."""
    from opsconductor.config.yaml_source import Positions

    ctx = _Ctx(YamlDocument(data, Positions(file)))
    m = ctx.when(data, ())
    return m, ctx.errors


def parse_rule_file(doc: YamlDocument, start_index: int = 0) -> tuple[RuleFile, list[ConfigError]]:
    """Parse one rule file; returns the rules that parsed and every error found."""
    ctx = _Ctx(doc)
    file = doc.positions.file
    data = doc.data
    rules: list[Rule] = []
    tests: list[RuleTest] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        ctx.err((), "a rule file must be a mapping with a 'rules:' list")
        data = {}
    ctx.keys(data, (), ("rules", "tests"), "a rule file")
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        ctx.err(("rules",), "'rules' must be a list")
        raw_rules = []
    for i, raw in enumerate(raw_rules):
        rule = _rule(ctx, raw, ("rules", i), start_index + len(rules))
        if rule is not None:
            rules.append(rule)
    raw_tests = data.get("tests", [])
    if not isinstance(raw_tests, list):
        ctx.err(("tests",), "'tests' must be a list")
        raw_tests = []
    for i, raw in enumerate(raw_tests):
        test = _test(ctx, raw, ("tests", i))
        if test is not None:
            tests.append(test)
    digest = hashlib.sha256(repr(data).encode()).hexdigest()
    return RuleFile(file, tuple(rules), tuple(tests), digest), ctx.errors


def _rule(ctx: _Ctx, raw: Any, path: DataPath, index: int) -> Rule | None:
    data = ctx.mapping(raw, path, "a rule")
    if data is None:
        return None
    ctx.keys(data, path, RULE_KEYS, "a rule")
    rid = data.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        ctx.err((*path, "id") if "id" in data else path,
                "a rule needs an 'id': letters, digits, '_', '.', ':', '-' (at most 128)")
        rid = f"<rule {path[-1]}>"
    actions = [a for a in ACTIONS if a in data]
    if not actions:
        ctx.err(path, f"rule {rid!r} has no action: give one of {', '.join(ACTIONS)}")
        return None
    if len(actions) > 1:
        ctx.err((*path, actions[1]), f"rule {rid!r} has more than one action ({', '.join(actions)}): "
                                     "write one rule per action")
        return None
    action = actions[0]
    kind = KIND_OF[action]
    desc = data.get("description")
    if desc is not None and not isinstance(desc, str):
        ctx.err((*path, "description"), "description must be text")
    when: Matcher | None = None
    if "when" in data:
        if action in ("inhibit", "correlate", "maintenance", "topology"):
            ctx.err((*path, "when"), f"a {action} rule takes its matchers inside '{action}:'")
        else:
            when = ctx.when(data["when"], (*path, "when"))
    elif action in NEEDS_WHEN:
        ctx.err(path, f"a {action} rule needs 'when'")
    if "clear_on" in data and action != "dedup":
        ctx.err((*path, "clear_on"), "clear_on belongs on a dedup rule (it pairs problem and clear on one row)")
    if "timeout" in data and action != "dedup":
        ctx.err((*path, "timeout"), "timeout belongs on a dedup rule")
    fields: dict[str, Any] = {}
    apath = (*path, action)
    arg = data[action]
    if action == "drop":
        if arg is not True:
            ctx.err(apath, "drop must be true")
    elif action == "set":
        fields.update(_set(ctx, arg, apath))
    elif action == "dedup":
        fields.update(_dedup(ctx, arg, apath))
        if "clear_on" in data:
            fields["clear_on"] = ctx.when(data["clear_on"], (*path, "clear_on"))
        if "timeout" in data:
            t = ctx.duration(data["timeout"], (*path, "timeout"))
            fields["timeout"] = int(t)
    elif action == "maintenance":
        fields.update(_maintenance(ctx, arg, apath))
    elif action == "inhibit":
        fields.update(_inhibit(ctx, arg, apath))
    elif action == "flap":
        m = ctx.mapping(arg, apath, "flap")
        if m is not None:
            ctx.keys(m, apath, ("changes", "within"), "flap")
            fields["flap_changes"] = ctx.positive_int(m.get("changes"), (*apath, "changes"), 2)
            fields["flap_within"] = ctx.duration(m.get("within"), (*apath, "within"))
    elif action == "correlate":
        fields.update(_correlate(ctx, arg, apath))
    elif action == "heartbeat":
        fields.update(_heartbeat(ctx, arg, apath))
    elif action == "topology":
        fields.update(_topology(ctx, arg, apath))
    when = fields.pop("when", when)
    return Rule(id=rid, kind=kind, where=ctx.where(path), index=index, description=desc if isinstance(desc, str)
                else None, when=when, source_text=data, **fields)


def _set(ctx: _Ctx, arg: Any, path: DataPath) -> dict[str, Any]:
    m = ctx.mapping(arg, path, "set")
    if m is None:
        return {}
    ctx.keys(m, path, ("severity", "summary", "labels"), "set")
    out: dict[str, Any] = {}
    if not {"severity", "summary", "labels"} & set(m):
        ctx.err(path, "set needs 'severity', 'summary' or 'labels'")
        return out
    if "summary" in m:
        out["set_summary"] = _template(ctx, m["summary"], (*path, "summary"))
    if "labels" in m:
        lm = ctx.mapping(m["labels"], (*path, "labels"), "labels (name: template)")
        pairs = []
        for k, v in (lm or {}).items():
            if not isinstance(k, str) or not 1 <= len(k) <= 128:
                ctx.err((*path, "labels", k), "a label name has 1 to 128 characters")
                continue
            t = _template(ctx, v, (*path, "labels", k))
            if t is not None:
                pairs.append((k, t))
        out["set_labels"] = tuple(pairs)
    if "severity" not in m:
        return out
    spath = (*path, "severity")
    spec = m["severity"]
    if isinstance(spec, str) and is_template(spec):
        return {**out, "severity": SeveritySpec(template=_template(ctx, spec, spath))}
    if isinstance(spec, str):
        sev = ctx.severity(spec, spath)
        return {**out, "severity": SeveritySpec(value=sev)}
    sm = ctx.mapping(spec, spath, "severity (a severity, a template or {from, map, default})")
    if sm is None:
        return out
    ctx.keys(sm, spath, ("from", "map", "default"), "severity")
    source = ctx.field_name(sm.get("from"), (*spath, "from"))
    mapping: list[tuple[str, Severity]] = []
    raw_map = sm.get("map", {})
    if not isinstance(raw_map, dict) or not raw_map:
        ctx.err((*spath, "map"), "map must be a non-empty mapping of value: severity")
        raw_map = {}
    for k, v in raw_map.items():
        sev = ctx.severity(v, (*spath, "map", str(k)))
        if sev is not None:
            mapping.append((str(k), sev))
    default = ctx.severity(sm["default"], (*spath, "default")) if "default" in sm else None
    return {**out, "severity": SeveritySpec(source=source, mapping=tuple(mapping), default=default)}


def _template(ctx: _Ctx, v: Any, path: DataPath) -> str | None:
    if not isinstance(v, str):
        ctx.err(path, "must be text (a template such as \"{{ target.labels.site }}: {{ event.summary }}\")")
        return None
    problem = template_error(v)
    if problem:
        ctx.err(path, problem)
        return None
    return v


def _dedup(ctx: _Ctx, arg: Any, path: DataPath) -> dict[str, Any]:
    m = ctx.mapping(arg, path, "dedup")
    if m is None:
        return {}
    ctx.keys(m, path, ("key", "correlate"), "dedup")
    out: dict[str, Any] = {"dedup_key": ctx.field_list(m.get("key"), (*path, "key"))}
    if "correlate" in m:
        corr = m["correlate"]
        if not isinstance(corr, list) or len(corr) < 2 or not all(isinstance(x, str) and x for x in corr):
            ctx.err((*path, "correlate"), "correlate must list at least two event names")
        else:
            out["dedup_correlate"] = tuple(corr)
    return out


def _maintenance(ctx: _Ctx, arg: Any, path: DataPath) -> dict[str, Any]:
    m = ctx.mapping(arg, path, "maintenance")
    if m is None:
        return {}
    ctx.keys(m, path, ("when", "schedule"), "maintenance")
    out: dict[str, Any] = {"when": ctx.when(m.get("when"), (*path, "when"))}
    sp = (*path, "schedule")
    raw = m.get("schedule")
    if isinstance(raw, list) or (isinstance(raw, dict) and not {"days", "from", "to", "timezone"} & set(raw)):
        intervals = _intervals(ctx, raw, sp)
        if intervals:
            out["schedule"] = Schedule(frozenset(), (0, 0), (0, 0), "UTC", intervals)
        return out
    s = ctx.mapping(raw, sp, "schedule")
    if s is None:
        return out
    ctx.keys(s, sp, ("days", "from", "to", "timezone"), "schedule")
    days: set[int] = set()
    raw_days = s.get("days", ["mon-sun"])
    if not isinstance(raw_days, list):
        raw_days = [raw_days]
    for i, d in enumerate(raw_days):
        parts = str(d).lower().split("-")
        if len(parts) > 2 or any(p not in DAYS for p in parts):
            ctx.err((*sp, "days", i), f"unknown day {d!r} (use mon..sun or a range like mon-fri)")
            continue
        a, b = DAYS.index(parts[0]), DAYS.index(parts[-1])
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    times = []
    for key in ("from", "to"):
        t = _TIME.match(str(s.get(key, "")))
        if not t:
            ctx.err((*sp, key), f"'{key}' must be a time HH:MM")
            times.append((0, 0))
        else:
            times.append((int(t.group(1)), int(t.group(2))))
    tz = s.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        ctx.err((*sp, "timezone"), f"unknown timezone {tz!r}")
        tz = "UTC"
    if times[0] == times[1] and "from" in s and "to" in s:
        ctx.err((*sp, "to"), f"empty window: 'from' and 'to' are both {s['to']} (it would never match)")
    out["schedule"] = Schedule(frozenset(days), times[0], times[1], str(tz))
    return out


def _intervals(ctx: _Ctx, raw: Any, path: DataPath) -> tuple[Interval, ...]:
    """Alertmanager-style time intervals or one-off windows (a mapping or a list of them)."""
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        ctx.err(path, "a schedule needs at least one time interval")
    out = []
    for i, item in enumerate(items):
        ip = (*path, i) if isinstance(raw, list) else path
        im = ctx.mapping(item, ip, "a time interval")
        if im is not None and (iv := parse_interval(im, ip, ctx.err)) is not None:
            out.append(iv)
    return tuple(out)


def _inhibit(ctx: _Ctx, arg: Any, path: DataPath) -> dict[str, Any]:
    m = ctx.mapping(arg, path, "inhibit")
    if m is None:
        return {}
    ctx.keys(m, path, ("source", "target", "equal"), "inhibit")
    for k in ("source", "target"):
        if k not in m:
            ctx.err(path, f"inhibit needs '{k}'")
    return {
        "inhibit_source": ctx.when(m.get("source", {}), (*path, "source")),
        "inhibit_target": ctx.when(m.get("target", {}), (*path, "target")),
        "equal": ctx.field_list(m["equal"], (*path, "equal")) if "equal" in m else (),
    }


def _correlate(ctx: _Ctx, arg: Any, path: DataPath) -> dict[str, Any]:
    m = ctx.mapping(arg, path, "correlate")
    if m is None:
        return {}
    ctx.keys(m, path, ("when", "group_by", "count", "within", "raise", "suppress_members", "resolve"), "correlate")
    out: dict[str, Any] = {
        "when": ctx.when(m.get("when"), (*path, "when")),
        "group_by": ctx.field_list(m.get("group_by"), (*path, "group_by")),
        "count": ctx.positive_int(m.get("count"), (*path, "count"), 2),
        "within": ctx.duration(m.get("within"), (*path, "within")),
    }
    sm = m.get("suppress_members", False)
    if not isinstance(sm, bool):
        ctx.err((*path, "suppress_members"), "suppress_members must be true or false")
    out["suppress_members"] = sm is True
    resolve = m.get("resolve", "all")
    if resolve not in ("all", "any"):
        ctx.err((*path, "resolve"), "resolve must be 'all' (the parent stays open until every child resolved) "
                                    "or 'any' (the first child to resolve resolves it)")
        resolve = "all"
    out["resolve"] = resolve
    rp = (*path, "raise")
    r = ctx.mapping(m.get("raise"), rp, "raise")
    if r is not None:
        ctx.keys(r, rp, ("event", "resource", "severity", "summary"), "raise")
        event, resource = r.get("event"), r.get("resource")
        if not isinstance(event, str) or not event:
            ctx.err((*rp, "event"), "raise needs an 'event' name")
            event = "correlated"
        if not isinstance(resource, str) or not resource:
            ctx.err((*rp, "resource"), "raise needs a 'resource' (a template such as \"{labels.site}\")")
            resource = "correlated"
        for key in ("resource", "summary"):
            tmpl = r.get(key)
            if isinstance(tmpl, str):
                for name in _TEMPLATE.findall(tmpl):
                    if name not in out["group_by"]:
                        ctx.err((*rp, key), f"template field {{{name}}} is not one of group_by")
        # no severity: the parent follows the highest severity among its open children
        sev = ctx.severity(r["severity"], (*rp, "severity")) if "severity" in r else None
        summary = r.get("summary") if isinstance(r.get("summary"), str) else None
        out["raise_"] = Raise(event, resource, sev, summary)
    return out


def _heartbeat(ctx: _Ctx, arg: Any, path: DataPath) -> dict[str, Any]:
    m = ctx.mapping(arg, path, "heartbeat")
    if m is None:
        return {}
    ctx.keys(m, path, ("timeout", "origin"), "heartbeat")
    out: dict[str, Any] = {"heartbeat_timeout": max(1, int(ctx.duration(m.get("timeout"), (*path, "timeout"))))}
    origin = m.get("origin", "{resource}")
    if not isinstance(origin, str) or not origin.strip():
        ctx.err((*path, "origin"), "origin must be a template such as \"{resource}\" or \"{labels.prometheus}\"")
        return out
    for name in _TEMPLATE.findall(origin):
        if not is_field(name):
            ctx.err((*path, "origin"), f"template field {{{name}}} is not a field ({FIELDS_HELP})")
    out["heartbeat_origin"] = origin
    return out


def _topology(ctx: _Ctx, arg: Any, path: DataPath) -> dict[str, Any]:
    m = ctx.mapping(arg, path, "topology")
    if m is None:
        return {}
    ctx.keys(m, path, ("down", "suppress", "settle"), "topology")
    if "down" not in m:
        ctx.err(path, "topology needs 'down': which open alert means a device is down, e.g. {event: device_down}")
    out: dict[str, Any] = {"topology_down": ctx.when(m.get("down", {}), (*path, "down"))}
    if "suppress" in m:
        out["topology_suppress"] = ctx.when(m["suppress"], (*path, "suppress"))
    settle = m.get("settle", 0)
    if settle not in (0, "0s"):
        out["topology_settle"] = ctx.duration(settle, (*path, "settle"))
    return out


def _test(ctx: _Ctx, raw: Any, path: DataPath) -> RuleTest | None:
    data = ctx.mapping(raw, path, "a test")
    if data is None:
        return None
    ctx.keys(data, path, ("name", "start", "targets", "input", "expect"), "a test")
    targets = _test_targets(ctx, data.get("targets", []), (*path, "targets"))
    raw_name = data.get("name")
    name = raw_name if isinstance(raw_name, str) else f"test {path[-1]}"
    start = data.get("start")
    if start is not None and not isinstance(start, str):
        ctx.err((*path, "start"), "start must be an RFC 3339 time")
        start = None
    steps: list[TimedInput] = []
    raw_in = data.get("input", [])
    if not isinstance(raw_in, list):
        ctx.err((*path, "input"), "input must be a list of {at, event}")
        raw_in = []
    for i, s in enumerate(raw_in):
        sp = (*path, "input", i)
        sm = ctx.mapping(s, sp, "a test input step")
        if sm is None:
            continue
        ctx.keys(sm, sp, ("at", "event"), "a test input step")
        ev = sm.get("event")
        if ev is not None and not isinstance(ev, dict):
            ctx.err((*sp, "event"), "event must be a mapping (a normalized event)")
            ev = None
        steps.append(TimedInput(ctx.duration(sm.get("at", "0s"), (*sp, "at")) if sm.get("at") not in (0, "0s")
                              else 0.0, ev, ctx.where(sp)))
    expects: list[Expectation] = []
    raw_exp = data.get("expect", [])
    if not isinstance(raw_exp, list) or not raw_exp:
        ctx.err((*path, "expect"), "expect must be a non-empty list of {at, alerts}")
        raw_exp = []
    for i, e in enumerate(raw_exp):
        ep = (*path, "expect", i)
        em = ctx.mapping(e, ep, "an expectation")
        if em is None:
            continue
        ctx.keys(em, ep, ("at", "alerts"), "an expectation")
        at = None
        if "at" in em:
            at = 0.0 if em["at"] in (0, "0s") else ctx.duration(em["at"], (*ep, "at"))
        alerts = em.get("alerts", [])
        if not isinstance(alerts, list):
            ctx.err((*ep, "alerts"), "alerts must be a list")
            alerts = []
        for j, a in enumerate(alerts):
            am = ctx.mapping(a, (*ep, "alerts", j), "an expected alert")
            if am is not None:
                ctx.keys(am, (*ep, "alerts", j), EXPECT_KEYS, "an expected alert")
        expects.append(Expectation(at, tuple(a for a in alerts if isinstance(a, dict)), ctx.where(ep)))
    return RuleTest(name, ctx.where(path), start, tuple(steps), tuple(expects), targets)


def _test_targets(ctx: _Ctx, raw: Any, path: DataPath) -> tuple[dict[str, Any], ...]:
    """A test's inventory: ``[{name, depends_on: [...], labels: {...}}]`` (as in the inventory file)."""
    if not isinstance(raw, list):
        ctx.err(path, "targets must be a list of {name, depends_on, labels}")
        return ()
    out = []
    for i, t in enumerate(raw):
        tp = (*path, i)
        tm = ctx.mapping(t, tp, "a test target")
        if tm is None:
            continue
        ctx.keys(tm, tp, ("name", "depends_on", "labels"), "a test target")
        deps = tm.get("depends_on", [])
        labels = tm.get("labels", {})
        if not isinstance(tm.get("name"), str) or not tm["name"]:
            ctx.err(tp, "a test target needs a 'name'")
        elif not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            ctx.err((*tp, "depends_on"), "depends_on must be a list of target names")
        elif not isinstance(labels, dict):
            ctx.err((*tp, "labels"), "labels must be a mapping")
        else:
            out.append({"name": tm["name"], "depends_on": tuple(deps),
                        "labels": {str(k): str(v) for k, v in labels.items()}})
    return tuple(out)
