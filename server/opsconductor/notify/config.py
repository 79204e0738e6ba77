"""Load ``rules/notify.yaml``: receivers and the route tree, strictly, with ``file:line:col`` errors.

Loading is pure apart from reading the file: secret references are kept as
references (resolved when a request is built), so ``opsconductor rules check``
works without any secret present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsconductor.config.yaml_source import DataPath, Positions, YamlDocument, load_yaml, parse_yaml
from opsconductor.errors import ConfigError, ConfigErrors
from opsconductor.notify.matchers import Predicate, compile_match
from opsconductor.notify.secrets import SecretRef
from opsconductor.notify.timing import TimeWindow, parse_clock, parse_days, parse_duration, parse_zone

TRANSITIONS = ("firing", "severity_changed", "acknowledged", "unacknowledged", "resolved", "expired")
DEFAULT_NOTIFY_ON = ("firing", "severity_changed", "acknowledged", "resolved", "expired")
GROUP_BY_ALERT = "..."  # Alertmanager's spelling of "do not aggregate": one group per alert

# kind -> (required secret fields, optional secret fields, optional plain fields)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "webhook": (("url",), ("signing_secret",), ("batch_max",)),
    "slack": ((), ("url", "token"), ("channel", "api_url", "username")),
    "teams": (("url",), (), ()),
    "mattermost": (("url",), (), ("channel", "username")),
    "pagerduty": (("routing_key",), ("url",), ("source", "client")),
    "opsgenie": (("api_key",), ("url",), ("responders", "tags", "priority")),
    "jira": (("url", "user", "token"), (), ("project", "issue_type", "resolve_transition", "labels",
                                            "create_retry_delay")),
    "servicenow": (("url", "user", "password"), (), ("assignment_group", "caller_id", "close_code", "category")),
}
COMMON = ("kind", "concurrency", "timeout", "max_age", "templates", "headers")
TEMPLATE_KEYS = ("title", "text")
ROUTE_KEYS = ("match", "receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "continue",
              "routes", "notify_on", "active_time", "mute_time")
WINDOW_KEYS = ("days", "start", "end", "timezone")


@dataclass(frozen=True)
class ReceiverConfig:
    name: str
    kind: str
    secrets: dict[str, SecretRef]
    options: dict[str, Any]
    headers: dict[str, SecretRef] = field(default_factory=dict)
    concurrency: int = 4
    timeout: float = 10.0
    max_age: float = 86_400.0
    templates: dict[str, str] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """What the API shows: no secret values, only references."""
        return {
            "name": self.name,
            "kind": self.kind,
            "concurrency": self.concurrency,
            "timeout_s": self.timeout,
            "max_age_s": self.max_age,
            "secrets": {k: v.describe() for k, v in sorted(self.secrets.items())},
            "headers": sorted(self.headers),
            "options": self.options,
            "templates": sorted(self.templates),
        }


@dataclass(frozen=True)
class Route:
    id: str  # position in the tree: "root", "root.0", "root.0.1"
    match: Predicate
    receiver: str
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    notify_on: frozenset[str]
    continue_: bool
    active_time: tuple[TimeWindow, ...]
    mute_time: tuple[TimeWindow, ...]
    routes: tuple[Route, ...] = ()
    match_spec: Any = field(default=None, compare=False)  # the `match:` as written (Alertmanager's view)


@dataclass(frozen=True)
class NotifyConfig:
    receivers: dict[str, ReceiverConfig]
    route: Route | None
    file: str = ""

    def routes_by_id(self) -> dict[str, Route]:
        out: dict[str, Route] = {}
        stack = [self.route] if self.route else []
        while stack:
            r = stack.pop()
            out[r.id] = r
            stack.extend(r.routes)
        return out


EMPTY = NotifyConfig({}, None)


class _Loader:
    def __init__(self, pos: Positions):
        self.pos = pos
        self.errors: list[ConfigError] = []
        self.used: list[tuple[DataPath, str]] = []

    def err(self, path: DataPath, msg: str) -> None:
        self.errors.append(self.pos.error(path, msg))

    def unknown_keys(self, data: Mapping[str, Any], allowed: tuple[str, ...], path: DataPath, what: str) -> None:
        for k in data:
            if k not in allowed:
                self.err((*path, k), f"unknown {what} key {k!r} (expected one of {', '.join(allowed)})")

    def duration(self, data: Mapping[str, Any], key: str, path: DataPath, default: float) -> float:
        if key not in data:
            return default
        try:
            return parse_duration(data[key])
        except ValueError as exc:
            self.err((*path, key), str(exc))
            return default

    def secret(self, value: Any, path: DataPath) -> SecretRef:
        if not isinstance(value, str) or not value:
            self.err(path, "expected a secret reference like env:NAME or file:/path")
            return SecretRef("")
        if value.startswith(("env:", "file:")) and len(value.split(":", 1)[1]) == 0:
            self.err(path, f"empty secret reference {value!r}")
        return SecretRef(value)

    def receiver(self, name: str, data: Any, path: DataPath) -> ReceiverConfig | None:
        if not isinstance(data, dict):
            self.err(path, "a receiver must be a mapping")
            return None
        kind = data.get("kind")
        if kind not in KINDS:
            self.err((*path, "kind") if "kind" in data else path,
                     f"receiver {name!r}: kind must be one of {', '.join(KINDS)}")
            return None
        required, optional, plain = KINDS[kind]
        self.unknown_keys(data, (*COMMON, *required, *optional, *plain), path, f"{kind} receiver")
        secrets = {k: self.secret(data[k], (*path, k)) for k in (*required, *optional) if k in data}
        for k in required:
            if k not in data:
                self.err(path, f"receiver {name!r}: {kind} needs {k!r}")
        if kind == "slack" and not ({"url", "token"} & set(data)):
            self.err(path, f"receiver {name!r}: slack needs 'url' (incoming webhook) or 'token' and 'channel'")
        if kind == "slack" and "token" in data and "channel" not in data:
            self.err(path, f"receiver {name!r}: slack with a token needs 'channel'")
        headers: dict[str, SecretRef] = {}
        raw_headers = data.get("headers", {})
        if not isinstance(raw_headers, dict):
            self.err((*path, "headers"), "headers must be a mapping of name: value")
        else:
            headers = {str(k): self.secret(v, (*path, "headers", k)) for k, v in raw_headers.items()}
        templates = data.get("templates", {})
        if not isinstance(templates, dict):
            self.err((*path, "templates"), "templates must be a mapping")
            templates = {}
        for k, v in templates.items():
            if k not in TEMPLATE_KEYS:
                self.err((*path, "templates", k), f"unknown template {k!r} (expected {', '.join(TEMPLATE_KEYS)})")
            elif not isinstance(v, str):
                self.err((*path, "templates", k), "a template must be a string")
            else:
                from opsconductor.notify.templates import check_template

                problem = check_template(v)
                if problem:
                    self.err((*path, "templates", k), problem)
        if "create_retry_delay" in data:
            self.duration(data, "create_retry_delay", path, 15.0)
        batch_max = data.get("batch_max", 1)
        if not isinstance(batch_max, int) or isinstance(batch_max, bool) or not 1 <= batch_max <= 500:
            self.err((*path, "batch_max"), "batch_max must be an integer from 1 to 500")
        concurrency = data.get("concurrency", 4)
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 1 <= concurrency <= 64:
            self.err((*path, "concurrency"), "concurrency must be an integer from 1 to 64")
            concurrency = 4
        return ReceiverConfig(
            name=name,
            kind=kind,
            secrets=secrets,
            options={k: data[k] for k in plain if k in data},
            headers=headers,
            concurrency=concurrency,
            timeout=self.duration(data, "timeout", path, 10.0) or 10.0,
            max_age=self.duration(data, "max_age", path, 86_400.0),
            templates={k: v for k, v in templates.items() if isinstance(v, str)},
        )

    def windows(self, data: Any, path: DataPath) -> tuple[TimeWindow, ...]:
        if data is None:
            return ()
        if not isinstance(data, list):
            self.err(path, "time windows must be a list")
            return ()
        out: list[TimeWindow] = []
        for i, w in enumerate(data):
            p = (*path, i)
            if not isinstance(w, dict):
                self.err(p, "a time window must be a mapping with days, start, end, timezone")
                continue
            self.unknown_keys(w, WINDOW_KEYS, p, "time window")
            try:
                days = parse_days(w.get("days", list(("mon-sun",))))
                start = parse_clock(w.get("start", "00:00"))
                end = parse_clock(w.get("end", "24:00"))
                zone = parse_zone(w.get("timezone", "UTC"))
            except ValueError as exc:
                self.err(p, str(exc))
                continue
            out.append(TimeWindow(days, start, end, zone))
        return tuple(out)

    def route(self, data: Any, path: DataPath, rid: str, parent: Route | None) -> Route | None:
        if not isinstance(data, dict):
            self.err(path, "a route must be a mapping")
            return None
        self.unknown_keys(data, ROUTE_KEYS, path, "route")
        receiver = data.get("receiver", parent.receiver if parent else None)
        if not isinstance(receiver, str):
            self.err(path, "the root route needs a receiver" if parent is None else "receiver must be a name")
            receiver = ""
        elif "receiver" in data:
            self.used.append(((*path, "receiver"), receiver))
        group_by: tuple[str, ...] = parent.group_by if parent else ()
        if "group_by" in data:
            gb = data["group_by"]
            if not isinstance(gb, list) or not all(isinstance(x, str) for x in gb):
                self.err((*path, "group_by"), "group_by must be a list of field names (or ['...'])")
            else:
                group_by = tuple(gb)
        notify_on = parent.notify_on if parent else frozenset(DEFAULT_NOTIFY_ON)
        if "notify_on" in data:
            no = data["notify_on"]
            if not isinstance(no, list) or any(x not in TRANSITIONS for x in no):
                self.err((*path, "notify_on"), f"notify_on must be a list of {', '.join(TRANSITIONS)}")
            else:
                notify_on = frozenset(no)
        cont = data.get("continue", False)
        if not isinstance(cont, bool):
            self.err((*path, "continue"), "continue must be true or false")
        if parent is None and "match" in data:
            self.err((*path, "match"), "the root route matches every alert; put match on child routes")
        route = Route(
            id=rid,
            match=compile_match(data.get("match"), (*path, "match"), self.pos, self.errors),
            receiver=receiver,
            group_by=group_by,
            group_wait=self.duration(data, "group_wait", path, parent.group_wait if parent else 30.0),
            group_interval=self.duration(data, "group_interval", path, parent.group_interval if parent else 300.0),
            repeat_interval=self.duration(data, "repeat_interval", path, parent.repeat_interval if parent else 14400.0),
            notify_on=notify_on,
            continue_=bool(cont),
            active_time=self.windows(data.get("active_time"), (*path, "active_time")),
            mute_time=self.windows(data.get("mute_time"), (*path, "mute_time")),
            match_spec=data.get("match"),
        )
        children = data.get("routes", [])
        if not isinstance(children, list):
            self.err((*path, "routes"), "routes must be a list")
            children = []
        kids = [self.route(c, (*path, "routes", i), f"{rid}.{i}", route) for i, c in enumerate(children)]
        object.__setattr__(route, "routes", tuple(k for k in kids if k is not None))
        return route


def compile_config(doc: YamlDocument) -> NotifyConfig:
    """Validate and compile a parsed notify document; raises ConfigErrors listing every problem."""
    data, pos = doc.data, doc.positions
    ld = _Loader(pos)
    if data is None:
        return NotifyConfig({}, None, pos.file)
    if not isinstance(data, dict):
        raise ConfigErrors([pos.error((), "notify config must be a mapping with receivers and route")])
    ld.unknown_keys(data, ("version", "receivers", "route"), (), "top-level")
    if data.get("version", 1) != 1:
        ld.err(("version",), "unsupported version (expected 1)")
    receivers: dict[str, ReceiverConfig] = {}
    raw = data.get("receivers", {})
    if not isinstance(raw, dict):
        ld.err(("receivers",), "receivers must be a mapping of name: receiver")
        raw = {}
    for name, spec in raw.items():
        r = ld.receiver(str(name), spec, ("receivers", str(name)))
        if r is not None:
            receivers[r.name] = r
    route = ld.route(data["route"], ("route",), "root", None) if "route" in data else None
    if route is None and "route" not in data and raw:
        ld.err((), "receivers are defined but there is no route")
    for path, name in ld.used:
        if name not in receivers and name not in raw:
            ld.err(path, f'undefined receiver "{name}" used in route')
    if ld.errors:
        raise ConfigErrors(ld.errors)
    return NotifyConfig(receivers, route, pos.file)


def load_config(path: Path) -> NotifyConfig:
    """Load a notify file; a missing file means no notifications (not an error)."""
    if not path.exists():
        return NotifyConfig({}, None, str(path))
    return compile_config(load_yaml(path))


def parse_config(text: str, file: str = "<notify>") -> NotifyConfig:
    return compile_config(parse_yaml(text, file))


def check_file(path: Path) -> list[ConfigError]:
    """Every problem of a notify file, in file order (empty when valid). Used by ``rules check``."""
    try:
        compile_config(load_yaml(path))
    except ConfigErrors as exc:
        return list(exc.errors)
    except ConfigError as exc:
        return [exc]
    return []
