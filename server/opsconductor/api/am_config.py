"""Our notify routes written as an Alertmanager configuration (pure), for ``GET /api/v2/status``.

``amtool config show`` prints it and ``amtool config routes [test]`` loads it, so it must be
a configuration Alertmanager itself accepts: receivers by name only (no integrations, no
secrets), the route tree with ``matchers`` in Alertmanager's syntax, timings in seconds.
What Alertmanager cannot say (numeric comparisons, time windows, notify_on) is listed in
the leading comment instead.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML

from opsconductor.api.am_matchers import from_silence_matchers, label_of
from opsconductor.api.am_views import UNROUTED
from opsconductor.notify.config import NotifyConfig, Route


def _seconds(v: float) -> str:
    return f"{int(v)}s" if float(v).is_integer() else f"{round(v * 1000)}ms"


def _route(route: Route, parent: Route | None, notes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"receiver": route.receiver}
    if route.match_spec:
        matchers, unsaid = from_silence_matchers(dict(route.match_spec))
        out["matchers"] = [str(m) for m in matchers]
        notes += [f"route {route.id}: match {n} (not expressible as a matcher)" for n in unsaid]
    if parent is None or route.group_by != parent.group_by:
        out["group_by"] = [g if g == "..." else label_of(g) for g in route.group_by]
    for name in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(route, name)
        if value > 0 and (parent is None or value != getattr(parent, name)):
            out[name] = _seconds(value)
    if route.continue_:
        out["continue"] = True
    if route.active_time or route.mute_time:
        notes.append(f"route {route.id}: has active_time/mute_time windows")
    if route.routes:
        out["routes"] = [_route(r, route, notes) for r in route.routes]
    return out


def alertmanager_config(config: NotifyConfig, source: str) -> str:
    """The YAML text of an Alertmanager configuration equivalent to ``config``'s routing."""
    notes: list[str] = []
    if config.route is None:
        doc: dict[str, Any] = {"route": {"receiver": UNROUTED}, "receivers": [{"name": UNROUTED}]}
    else:
        names = sorted(config.receivers)
        if UNROUTED not in names:
            names.append(UNROUTED)
        doc = {"route": _route(config.route, None, notes), "receivers": [{"name": n} for n in names]}
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump(doc, buf)
    header = [f"# OpsConductor notify routing from {source or 'its notify file'}, in Alertmanager's format.",
              "# Read-only: edit the notify file. Receivers are shown by name only.",
              *(f"# {n}" for n in notes)]
    return "\n".join(header) + "\n" + buf.getvalue()
