"""Attach the pushed sources (webhook catalog, SNMP trap receiver) to a Runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter

from opsconductor.sources.webhook_catalog import PushCatalog, service_snapshot

if TYPE_CHECKING:
    from opsconductor.runtime import Runtime


class PushMetrics:
    """Metrics of pushed sources, registered in the server's registry."""

    def __init__(self, registry: CollectorRegistry):
        self.deliveries = Counter(
            "opsconductor_webhook_deliveries", "Webhook/Alertmanager deliveries by addon and outcome",
            ["addon", "outcome"], registry=registry,
        )


def install(rt: Runtime) -> None:
    """Load the addons' pushed sources; the routes in api/push.py find them in ``rt.components``."""
    rt.components["push"] = PushCatalog(service_snapshot(rt.components, rt.settings.addons_dir))
    rt.components["push_metrics"] = PushMetrics(rt.metrics.registry)
