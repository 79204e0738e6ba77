"""Per-receiver delivery metrics, registered on the runtime's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry):
        r = registry
        self.sent = Counter("opsconductor_notify_sent", "Notifications delivered", ["receiver"], registry=r)
        self.failed = Counter("opsconductor_notify_failed", "Notifications given up on (dead)", ["receiver"],
                              registry=r)
        self.retried = Counter("opsconductor_notify_retried", "Delivery attempts that will be retried",
                               ["receiver"], registry=r)
        self.queue_depth = Gauge("opsconductor_notify_queue_depth", "Notifications pending or in flight",
                                 ["receiver"], registry=r)
        self.latency = Histogram(
            "opsconductor_notify_request_seconds", "Receiver request latency", ["receiver"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r,
        )
