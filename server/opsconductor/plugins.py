"""Where the later pipeline stages attach themselves to a Runtime.

Each stage (rules engine, sources/poller, notify) exposes ``install(runtime)``
which registers components, start/stop hooks and background loops. This file
only lists them; the stage order itself lives in ``pipeline.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsconductor.runtime import Runtime


def install_components(rt: Runtime) -> None:
    """Attach every optional stage to the runtime, in dependency order."""
    # correlate (rules engine), then sources (poller), then notify (delivery worker).
    # Each line is added by the stage's own change.
    from opsconductor.correlate.install import install as install_rules

    install_rules(rt)  # rules correlator, engine worker, hot reload, re-evaluation
    from opsconductor.sources.service import install as install_poller

    install_poller(rt)  # targets, poller, leader election
    from opsconductor.sources.webhook_install import install as install_pushed

    install_pushed(rt)  # webhook catalog, SNMP trap receiver (after the poller: uses its manifests)
    from opsconductor.notify.install import install as install_notify

    install_notify(rt)  # outbox sink + delivery worker (last: it hears every other stage's transitions)
    return None


def extra_routes() -> list[Any]:
    """Route handlers of the later stages (rules, silences, targets, webhooks, notifications)."""
    routes: list[Any] = []
    # Each stage appends its module's ROUTES here.
    from opsconductor.api import rules, silences

    routes += rules.ROUTES + silences.ROUTES  # /api/v1/rules*, /api/v1/silences, /api/v1/alerts/{id}/explain
    from opsconductor.api import push

    routes += push.ROUTES  # /api/v2/alerts, /api/v1/webhooks/{addon}
    from opsconductor.api import poller, targets

    routes += targets.ROUTES + poller.ROUTES  # /api/v1/targets, /api/v1/poller, /api/v1/addons
    from opsconductor.api import notifications

    routes += notifications.ROUTES  # /api/v1/notifications, /api/v1/receivers
    from opsconductor.api import heartbeats, incidents, replay

    routes += incidents.ROUTES + heartbeats.ROUTES  # /api/v1/alerts/{id}/children, /api/v1/heartbeats
    routes += replay.ROUTES  # /api/v1/rules/replay
    return routes


def register_cli(sub: Any) -> None:
    """Subcommands of the later stages (rules, addons, notify)."""
    # Each stage adds its own `register(sub)` call here.
    from opsconductor.correlate.cli import register as register_rules

    register_rules(sub)  # opsconductor rules check|test|explain
    from opsconductor.notify.install import register as register_notify

    register_notify(sub)  # opsconductor notify check
    from opsconductor.sources.cli import register as register_addons

    register_addons(sub)  # opsconductor addons list|check|enable|disable|reload
    return None
