"""Route handlers of the later stages (rules, silences, targets, webhooks, notifications).

Lives in ``api/`` (not ``plugins.py``) so that the arrows point one way: api -> runtime/stages.
"""

from __future__ import annotations

from typing import Any


def extra_routes() -> list[Any]:
    routes: list[Any] = []
    # Each stage appends its module's ROUTES here.
    from opsconductor.api import rules, silences

    routes += rules.ROUTES + silences.ROUTES  # /api/v1/rules*, /api/v1/silences, /api/v1/alerts/{id}/explain
    from opsconductor.api import push

    routes += push.ROUTES  # /api/v2/alerts, /api/v1/webhooks/{addon}
    from opsconductor.api import alertmanager

    routes += alertmanager.ROUTES  # Alertmanager API v2: GET alerts, groups, silences, status, receivers
    from opsconductor.api import poller, targets

    routes += targets.ROUTES + poller.ROUTES  # /api/v1/targets, /api/v1/poller, /api/v1/addons
    from opsconductor.api import notifications

    routes += notifications.ROUTES  # /api/v1/notifications, /api/v1/receivers, /api/v1/alerts/{id}/notifications
    from opsconductor.api import inbound

    routes += inbound.ROUTES  # /api/v1/inbound/{receiver}: two-way sync (signed by the service, no API key)
    from opsconductor.api import quarantine

    routes += quarantine.ROUTES  # /api/v1/events/quarantine
    from opsconductor.api.console import docs, pages, shelve

    routes += pages.ROUTES + shelve.ROUTES + docs.ROUTES  # the console at /, its stream; /schema/assets
    from opsconductor.api import heartbeats, incidents, replay

    routes += incidents.ROUTES + heartbeats.ROUTES  # /api/v1/alerts/{id}/children, /api/v1/heartbeats
    routes += replay.ROUTES  # /api/v1/rules/replay
    return routes
