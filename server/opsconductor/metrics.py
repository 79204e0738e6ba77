"""Prometheus metrics, one registry per application instance (no module globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Every metric the server exports; stages receive this object and record into it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_received = Counter(
            "opsconductor_events_received", "Events accepted into the event log", ["source"], registry=r
        )
        self.events_processed = Counter(
            "opsconductor_events_processed", "Events processed into the alert table", ["outcome"], registry=r
        )
        self.processing_lag = Histogram(
            "opsconductor_processing_lag_seconds",
            "Time from accept to processed",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.backlog = Gauge("opsconductor_events_backlog", "Accepted events not yet processed", registry=r)
        self.alerts = Gauge("opsconductor_alerts", "Alerts by status and severity", ["status", "severity"], registry=r)
        self.request_latency = Histogram(
            "opsconductor_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.processing_errors = Counter(
            "opsconductor_processing_errors", "Processing batches that failed and were retried", registry=r
        )
        self.events_quarantined = Counter(
            "opsconductor_events_quarantined", "Events whose processing failed on their own, set aside", registry=r
        )
        self.exclusive_batches = Counter(
            "opsconductor_partition_batches_exclusive",
            "Partition batches (PostgreSQL) run again under the exclusive lock: they touched shared state",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
