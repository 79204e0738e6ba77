"""The shipped grafana addon (a declarative webhook mapping) on Grafana Alerting's documented payload.

Payload shape: Grafana docs, "Configure the webhook notifier for Alerting" (webhook JSON payload).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opsconductor.errors import ValidationFailed
from opsconductor.model.event import Severity
from opsconductor.sources.kinds import default_registry
from opsconductor.sources.manifest import load_manifest
from opsconductor.sources.webhook import WebhookSpec

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

GRAFANA = {
    "receiver": "opsconductor",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "noc", "zone": "ams-1", "instance": "web3:9100",
                       "severity": "high"},
            "annotations": {"description": "The system has high memory usage",
                            "runbook_url": "https://runbooks.example/mem", "summary": "web3 memory at 93%"},
            "startsAt": "2026-03-01T10:51:03.157076+01:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.example/alerting/grafana/1afz29v7z/view",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://grafana.example/alerting/silence/new?matchers=alertname%3DHigh",
            "dashboardURL": "https://grafana.example/d/abc",
            "panelURL": "https://grafana.example/d/abc?viewPanel=2",
            "values": {"B": 93.2, "C": 1},
            "valueString": "[ var='B' labels={instance=web3:9100} value=93.2 ], [ var='C' value=1 ]",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "High CPU usage", "team": "noc", "zone": "eu-1"},
            "annotations": {"description": "The system has high CPU usage"},
            "startsAt": "2026-03-01T10:56:03.157076+01:00",
            "endsAt": "2026-03-01T11:58:00+01:00",
            "generatorURL": "https://grafana.example/alerting/grafana/d1rdpdv7k/view",
            "fingerprint": "bc97ff14869b13e3",
            "silenceURL": "", "dashboardURL": "", "panelURL": "",
            "values": None, "valueString": "",
        },
    ],
    "groupLabels": {"alertname": "High memory usage"},
    "commonLabels": {"team": "noc"},
    "commonAnnotations": {},
    "externalURL": "https://grafana.example/",
    "version": "1",
    "groupKey": "{}:{alertname=\"High memory usage\"}",
    "truncatedAlerts": 0,
    "title": "[FIRING:1, RESOLVED:1] (noc)",
    "state": "alerting",
    "message": "**Firing**\n\nValue: B=93.2, C=1 ...",
}


@pytest.fixture
def spec() -> WebhookSpec:
    manifest = load_manifest(REPO / "addons" / "grafana" / "addon.yaml", default_registry())
    (source,) = manifest.sources
    assert isinstance(source.spec, WebhookSpec)
    return source.spec


def test_grafana_payload_becomes_one_event_per_alert(spec: WebhookSpec) -> None:
    mem, cpu = spec.translate(GRAFANA, NOW, max_items=100)
    assert (mem.event, mem.resource, mem.severity, mem.source) == ("High memory usage", "web3:9100",
                                                                   Severity.major, "grafana")
    assert mem.summary == "web3 memory at 93%"
    assert mem.value == GRAFANA["alerts"][0]["valueString"]  # type: ignore[index]
    assert mem.occurred_at is None  # firing: seen when received; Grafana re-sends with the same startsAt
    assert mem.labels["starts_at"] == "2026-03-01T10:51:03.157076+01:00"
    assert mem.labels["team"] == "noc" and mem.labels["severity"] == "high"
    assert mem.labels["grafana_status"] == "firing"
    assert mem.labels["dashboard_url"] == "https://grafana.example/d/abc"
    assert mem.labels["runbook_url"] == "https://runbooks.example/mem"
    assert "panel_url" in mem.labels and mem.raw == GRAFANA["alerts"][0]  # type: ignore[index]
    # resolved -> clear at endsAt; no instance label -> resource "grafana"; description as summary
    assert (cpu.resource, cpu.severity, cpu.summary) == ("grafana", Severity.clear, "The system has high CPU usage")
    assert cpu.occurred_at == datetime(2026, 3, 1, 10, 58, tzinfo=UTC)
    assert "dashboard_url" not in cpu.labels  # empty strings are not labels


def test_unmapped_severity_is_left_to_the_rules(spec: WebhookSpec) -> None:
    payload = copy.deepcopy(GRAFANA)
    payload["alerts"] = payload["alerts"][:1]  # type: ignore[index]
    payload["alerts"][0]["labels"]["severity"] = "sev-x"  # type: ignore[index]
    (ev,) = spec.translate(payload, NOW, max_items=10)
    assert ev.severity is None and ev.labels["severity"] == "sev-x"


def test_an_alert_without_alertname_refuses_the_delivery(spec: WebhookSpec) -> None:
    payload = copy.deepcopy(GRAFANA)
    del payload["alerts"][1]["labels"]["alertname"]  # type: ignore[index]
    with pytest.raises(ValidationFailed) as exc:
        spec.translate(payload, NOW, max_items=10)
    assert [p.as_dict() for p in exc.value.problems] == [
        {"field": "(item)", "message": "event: rendered empty", "index": 1}]


def test_a_bad_timestamp_is_reported(spec: WebhookSpec) -> None:
    payload = copy.deepcopy(GRAFANA)
    payload["alerts"][1]["endsAt"] = "last tuesday"  # type: ignore[index]
    with pytest.raises(ValidationFailed) as exc:
        spec.translate(payload, NOW, max_items=10)
    (problem,) = exc.value.problems
    assert problem.index == 1 and problem.message == "occurred_at: not an RFC 3339 timestamp: 'last tuesday'"
