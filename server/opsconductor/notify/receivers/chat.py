"""Helpers shared by the chat receivers (Slack, Teams, Mattermost): colours and fact lists (pure)."""

from __future__ import annotations

from typing import Any

from opsconductor.notify.receivers.base import Item

COLORS = {"critical": "#B00020", "major": "#E4572E", "minor": "#F3A712", "warning": "#F3C612",
          "info": "#3B82F6", "clear": "#2E9E44"}
CLOSED = ("resolved", "expired")


def color(item: Item) -> str:
    if item.transition in CLOSED:
        return COLORS["clear"]
    return COLORS.get(str(item.alert.get("severity")), "#808080")


def facts(item: Item) -> list[tuple[str, str]]:
    a: dict[str, Any] = item.alert
    out = [("Resource", str(a.get("resource"))), ("Event", str(a.get("event"))),
           ("Severity", str(a.get("severity"))), ("Status", str(a.get("status")))]
    if a.get("component"):
        out.insert(1, ("Component", str(a["component"])))
    if a.get("value") is not None:
        out.append(("Value", str(a["value"])))
    return out
