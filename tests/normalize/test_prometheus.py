"""The Prometheus/Alertmanager translator on payloads shaped as their documentation describes.

- API v2 postableAlerts: alertmanager/api/v2/openapi.yaml (what Prometheus' notifier POSTs).
- Webhook receiver payload version 4: prometheus.io/docs/alerting/latest/configuration/#webhook_config.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsconductor.errors import ValidationFailed
from opsconductor.model.event import Severity
from opsconductor.normalize.prometheus import (
    PrometheusMapping,
    parse_alertmanager_any,
    parse_alertmanager_webhook,
    parse_prometheus_alerts,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

# What Prometheus 2.x sends for one firing and one resolved alert (endsAt in the past).
POSTABLE = [
    {
        "labels": {"alertname": "NodeFilesystemAlmostFull", "instance": "web1:9100", "job": "node",
                   "device": "/dev/sda1", "mountpoint": "/", "severity": "warning"},
        "annotations": {"summary": "Filesystem / on web1 is 92% full",
                        "description": "Only 8% left", "runbook_url": "https://runbooks.example/fs"},
        "startsAt": "2026-03-01T11:50:00.123456789Z",
        "endsAt": "2026-03-01T12:04:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=node_filesystem_avail_bytes",
    },
    {
        "labels": {"alertname": "InstanceDown", "instance": "db1:9100", "job": "node", "severity": "critical"},
        "annotations": {"description": "db1 has been down for more than 1 minute."},
        "startsAt": "2026-03-01T11:00:00Z",
        "endsAt": "2026-03-01T11:59:30.5Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
    },
]

WEBHOOK_V4 = {
    "version": "4",
    "groupKey": '{}:{alertname="InstanceDown"}',
    "truncatedAlerts": 0,
    "status": "resolved",
    "receiver": "opsconductor",
    "groupLabels": {"alertname": "InstanceDown"},
    "commonLabels": {"alertname": "InstanceDown", "job": "node"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {"status": "resolved", "labels": {"alertname": "InstanceDown", "instance": "db1:9100", "job": "node",
                                          "severity": "critical"},
         "annotations": {"summary": "db1 down"}, "startsAt": "2026-03-01T11:00:00Z",
         "endsAt": "2026-03-01T11:58:00Z", "generatorURL": "http://prometheus:9090/graph",
         "fingerprint": "c6eadffa33fcdf37"},
        {"status": "firing", "labels": {"alertname": "InstanceDown", "instance": "db2:9100", "job": "node",
                                        "severity": "page"},
         "annotations": {"summary": "db2 down"}, "startsAt": "2026-03-01T11:30:00Z",
         "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph",
         "fingerprint": "bc97ff14869b13e3"},
    ],
}


def test_postable_alerts_map_to_events() -> None:
    fs, down = parse_prometheus_alerts(POSTABLE, PrometheusMapping(), NOW)
    assert (fs.event, fs.resource, fs.severity) == ("NodeFilesystemAlmostFull", "web1:9100", Severity.warning)
    assert fs.summary == "Filesystem / on web1 is 92% full"
    assert fs.occurred_at is None  # firing: seen when received (re-sends keep startsAt)
    assert fs.labels == {"job": "node", "device": "/dev/sda1", "mountpoint": "/", "severity": "warning",
                         "annotation_description": "Only 8% left",
                         "annotation_runbook_url": "https://runbooks.example/fs",
                         "starts_at": "2026-03-01T11:50:00.123456Z",  # nanoseconds cut to microseconds
                         "generator_url": POSTABLE[0]["generatorURL"]}
    assert fs.source == "prometheus" and fs.raw == POSTABLE[0]
    # endsAt in the past: the alert is over -> clear, at the time it ended
    assert down.severity is Severity.clear
    assert down.occurred_at == datetime(2026, 3, 1, 11, 59, 30, 500000, tzinfo=UTC)
    assert down.summary == "db1 has been down for more than 1 minute."  # description when no summary
    assert "annotation_description" not in down.labels


def test_mapping_options_resource_component_and_severity() -> None:
    mapping = PrometheusMapping(source="prom-eu", resource_labels=("host", "instance"), strip_port=True,
                                component_labels=("mountpoint", "device"),
                                severity_map={"warning": Severity.minor}, severity_default=Severity.info,
                                firing_time="starts_at")
    fs, down = parse_prometheus_alerts(POSTABLE, mapping, NOW)
    assert (fs.resource, fs.component, fs.severity, fs.source) == ("web1", "/", Severity.minor, "prom-eu")
    assert fs.occurred_at == datetime(2026, 3, 1, 11, 50, 0, 123456, tzinfo=UTC)
    assert "mountpoint" not in fs.labels and "instance" not in fs.labels and fs.labels["device"] == "/dev/sda1"
    assert down.resource == "db1"
    unmapped = copy.deepcopy(POSTABLE[0])
    unmapped["labels"]["severity"] = "sev-unknown"
    unmapped["endsAt"] = (NOW + timedelta(minutes=4)).isoformat()
    (ev,) = parse_prometheus_alerts([unmapped], mapping, NOW)
    assert ev.severity is Severity.info  # severity_default


@pytest.mark.parametrize(("word", "expected"), [
    ("critical", Severity.critical), ("error", Severity.major), ("warning", Severity.warning),
    ("info", Severity.info), ("none", Severity.info), ("CRITICAL", Severity.critical), ("page", Severity.critical),
    ("resolved", None), ("bogus", None), ("", None),
])
def test_severity_label_values(word: str, expected: Severity | None) -> None:
    alert = {"labels": {"alertname": "A", "severity": word}, "endsAt": "2026-03-01T12:05:00Z"}
    (ev,) = parse_prometheus_alerts([alert], PrometheusMapping(), NOW)
    assert ev.severity == expected  # None: the rules decide; a label never resolves a firing alert


def test_alert_without_instance_or_times() -> None:
    (ev,) = parse_prometheus_alerts([{"labels": {"alertname": "Watchdog"}}], PrometheusMapping(), NOW)
    assert (ev.resource, ev.severity, ev.occurred_at) == ("prometheus", None, None)  # receive time, firing


def test_alertmanager_webhook_v4() -> None:
    resolved, firing = parse_alertmanager_webhook(WEBHOOK_V4, PrometheusMapping(), NOW)
    assert (resolved.resource, resolved.severity) == ("db1:9100", Severity.clear)
    assert resolved.occurred_at == datetime(2026, 3, 1, 11, 58, tzinfo=UTC)
    assert (firing.resource, firing.severity) == ("db2:9100", Severity.critical)  # status wins over endsAt
    assert firing.occurred_at is None and firing.labels["starts_at"] == "2026-03-01T11:30:00Z"
    assert firing.labels["receiver"] == "opsconductor"
    # the same payload through the shape-sniffing entry point
    assert parse_alertmanager_any(WEBHOOK_V4, PrometheusMapping(), NOW) == [resolved, firing]


def _problems(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[dict[str, Any]]:
    return [p.as_dict() for p in exc.value.problems]


@pytest.mark.parametrize(("payload", "expected"), [
    ({"labels": {}}, [{"field": "(root)", "message": "expected array, got dict"}]),
    ([{"annotations": {}}], [{"field": "labels", "message": "missing: an alert needs a label set", "index": 0}]),
    ([{"labels": {"job": "x"}}], [{"field": "labels.alertname", "message": "missing: it names the event",
                                   "index": 0}]),
    ([{"labels": {"alertname": "A", "n": 5}}], [{"field": "labels.n", "message": "must be a string, got int",
                                                 "index": 0}]),
    ([{"labels": {"alertname": "A"}, "startsAt": "yesterday"}],
     [{"field": "startsAt", "message": "not an RFC 3339 timestamp: 'yesterday'", "index": 0}]),
    ([{"labels": {"alertname": "A"}, "endsAt": "2026-03-01T12:00:00"}],
     [{"field": "endsAt", "message": "timestamp without a timezone offset: '2026-03-01T12:00:00'", "index": 0}]),
    ([{"labels": {"alertname": "A"}}, "oops"], [{"field": "(item)", "message": "must be an alert object, got str",
                                                 "index": 1}]),
])
def test_bad_postable_alerts_are_refused_whole(payload: Any, expected: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_prometheus_alerts(payload, PrometheusMapping(), NOW)
    assert _problems(exc) == expected


def test_bad_webhook_payloads() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_alertmanager_webhook({**WEBHOOK_V4, "version": "3"}, PrometheusMapping(), NOW)
    assert _problems(exc) == [{"field": "version", "message": "expected \"4\", got '3'"}]
    with pytest.raises(ValidationFailed) as exc:
        parse_alertmanager_webhook({"version": "4"}, PrometheusMapping(), NOW)
    assert _problems(exc) == [{"field": "alerts", "message": "expected array, got NoneType"}]
    bad = copy.deepcopy(WEBHOOK_V4)
    bad["alerts"][1]["status"] = "pending"
    with pytest.raises(ValidationFailed) as exc:
        parse_alertmanager_webhook(bad, PrometheusMapping(), NOW)
    assert _problems(exc) == [{"field": "status", "message": "must be 'firing' or 'resolved', got 'pending'",
                               "index": 1}]


def test_too_many_alerts() -> None:
    with pytest.raises(ValidationFailed, match="too many alerts: 3 > 2"):
        parse_prometheus_alerts([{"labels": {"alertname": "A"}}] * 3, PrometheusMapping(), NOW, max_items=2)


def test_oversized_fields_are_clipped_not_refused() -> None:
    alert = {"labels": {"alertname": "A" * 300, "instance": "i", "big": "v" * 2000},
             "annotations": {"summary": "s" * 5000, "blob": "x" * 20_000}}
    (ev,) = parse_prometheus_alerts([alert], PrometheusMapping(), NOW)
    assert len(ev.event) == 255 and len(ev.summary or "") == 4096 and len(ev.labels["big"]) == 1024
    assert ev.raw is None  # larger than the raw limit: dropped, the event kept
