"""Subcommands of the later stages (rules, notify, addons); lives in ``cli/`` so arrows point one way."""

from __future__ import annotations

from typing import Any


def register_cli(sub: Any) -> None:
    # Each stage adds its own `register(sub)` call here.
    from opsconductor.correlate.cli import register as register_rules

    register_rules(sub)  # opsconductor rules check|test|explain
    from opsconductor.notify.cli import register as register_notify

    register_notify(sub)  # opsconductor notify check
    from opsconductor.sources.cli import register as register_addons

    register_addons(sub)  # opsconductor addons list|check|enable|disable|reload
