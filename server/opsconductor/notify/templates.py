"""Jinja2 templates in an immutable sandbox: no access to internals, no I/O, bounded output.

Every receiver has default ``title`` and ``text`` templates; a receiver's
``templates`` mapping overrides them. The context is plain data only (see
:func:`alert_context`), so a template can read the alert, its history and links
but cannot reach Python objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 8_000

DEFAULT_TEMPLATES: dict[str, str] = {
    "title": "[{{ transition | upper }}] {{ alert.severity }}: {{ alert.event }} on {{ alert.resource }}"
             "{% if alert.component %} {{ alert.component }}{% endif %}",
    "text": "{{ alert.summary or alert.event }}"
            "{% if alert.value is not none %} (value {{ alert.value }}){% endif %}"
            "{% if actor and transition in ['acknowledged', 'unacknowledged'] %} by {{ actor }}{% endif %}"
            "{% if note %}: {{ note }}{% endif %}",
}


def _env() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def check_template(source: str) -> str | None:
    """None when the template compiles, else the syntax error (for config checks)."""
    try:
        _env().parse(source)
    except TemplateError as exc:
        return f"template error: {exc}"
    return None


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def alert_context(alert: Mapping[str, Any], transition: str, *, history: Sequence[Mapping[str, Any]] = (),
                  links: Mapping[str, str] | None = None, actor: str | None = None,
                  note: str | None = None, receiver: str = "") -> dict[str, Any]:
    """The template context: plain JSON-like data only."""
    return {
        "alert": {k: _plain(v) if isinstance(v, (datetime, Mapping, list, tuple)) else v
                  for k, v in alert.items() if k != "trace"},
        "transition": transition,
        "history": _plain(list(history)),
        "links": dict(links or {}),
        "actor": actor,
        "note": note,
        "receiver": receiver,
    }


class Renderer:
    """Renders the templates of one receiver; compiled once, reused for every message."""

    def __init__(self, overrides: Mapping[str, str] | None = None):
        env = _env()
        merged = {**DEFAULT_TEMPLATES, **(overrides or {})}
        self._templates = {k: env.from_string(v) for k, v in merged.items()}

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render one template; a failing template falls back to the default so nothing is lost."""
        try:
            out = self._templates[name].render(context)
        except Exception as exc:  # a user template error must not block delivery
            fallback = _env().from_string(DEFAULT_TEMPLATES[name]).render(context)
            out = f"{fallback} [template error: {type(exc).__name__}]"
        return out[:MAX_OUTPUT]
