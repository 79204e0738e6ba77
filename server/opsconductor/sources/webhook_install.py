"""Attach the pushed sources (webhook catalog, SNMP trap receiver) to a Runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter

from opsconductor.sources.snmp_trap_service import TrapService
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
        self.traps = Counter(
            "opsconductor_snmp_traps",
            "SNMP notifications by outcome: accepted (became an event), unmapped (no addon rule), invalid "
            "(rule rendered no valid event), bad_community, malformed, overflow (receiver queue full)",
            ["outcome"], registry=registry,
        )


def install(rt: Runtime) -> None:
    """Index the addons' pushed sources (api/push.py finds them in ``rt.push``); run the trap receiver.

    Install after the sources service: its start hook loads the manifests this reads.
    """
    catalog = PushCatalog(service_snapshot(lambda: rt.sources, rt.settings.addons_dir))
    metrics = PushMetrics(rt.metrics.registry)
    rt.push = catalog
    rt.push_metrics = metrics
    traps = TrapService(rt, catalog, metrics)
    rt.snmp_traps = traps
    rt.on_start(traps.start)
    rt.on_stop(traps.stop)
