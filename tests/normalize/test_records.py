"""Event rules over records: change, decrease, threshold, present (alarm lists), always."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsconductor.model.event import Severity
from opsconductor.normalize.records import Context, evaluate, transform
from opsconductor.sources.kinds import default_registry
from opsconductor.sources.manifest import parse_manifest

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def spec(events_yaml: str, fields_yaml: str = "") -> Any:
    text = f"""
name: t
version: "1"
sources:
  - name: s
    kind: snmp
    scalars: {{x: 1.3.6.1.2.1.1.3.0}}
{fields_yaml}
    events:
{events_yaml}
"""
    return parse_manifest(text, "t.yaml", default_registry()).sources[0].spec.common


def run(common: Any, records: list[dict[str, Any]], state: dict[str, Any]) -> list[Any]:
    ctx = Context({"name": "r1", "labels": {}}, "t/s", NOW)
    return evaluate(common.events, transform(records, common.fields), ctx, state)


def test_change_detection_with_value_map_and_severity_map() -> None:
    c = spec("""      - event: link_down
        when: change
        field: oper
        component: "{{ name }}"
        severity: {up: clear, down: major, default: warning}
        summary: "{{ name }} is {{ oper }} (device said {{ original.oper }})"
""", "    fields: {oper: {map: if_oper_status}}")
    state: dict[str, Any] = {}
    first = run(c, [{"name": "ge1", "oper": 1}, {"name": "ge2", "oper": 2}], state)
    assert [(e.component, e.severity) for e in first] == [("ge1", Severity.clear), ("ge2", Severity.major)]
    assert first[1].summary == "ge2 is down (device said 2)"
    # Nothing changed: the open condition (ge2 down) is re-asserted, the clear one is not repeated.
    same = run(c, [{"name": "ge1", "oper": 1}, {"name": "ge2", "oper": 2}], state)
    assert [(e.component, e.severity) for e in same] == [("ge2", Severity.major)]
    again = run(c, [{"name": "ge1", "oper": 2}, {"name": "ge2", "oper": 1}], state)
    assert [(e.component, e.severity) for e in again] == [("ge1", Severity.major), ("ge2", Severity.clear)]
    assert [e.severity for e in run(c, [{"name": "ge1", "oper": 5}], state)] == [Severity.warning]  # dormant


def test_decrease_means_reboot_and_never_fires_on_first_sight() -> None:
    c = spec("""      - {event: device_rebooted, when: decrease, field: up, severity: warning}""",
             "    fields: {up: {convert: [timeticks]}}")
    state: dict[str, Any] = {}
    assert run(c, [{"up": 500000}], state) == []
    assert run(c, [{"up": 510000}], state) == []
    [ev] = run(c, [{"up": 300}], state)
    assert ev.event == "device_rebooted" and ev.value == 3.0 and ev.resource == "r1"


def test_threshold_emits_on_severity_change_only() -> None:
    c = spec("""      - event: cpu_high
        when: threshold
        field: cpu
        initial: false
        threshold: {above: {major: 90, warning: 75}}""")
    state: dict[str, Any] = {}
    assert run(c, [{"cpu": 10}], state) == []  # clear on first sight, initial: false
    assert [e.severity for e in run(c, [{"cpu": 80}], state)] == [Severity.warning]
    assert [e.severity for e in run(c, [{"cpu": 85}], state)] == [Severity.warning]  # re-asserted
    assert [e.severity for e in run(c, [{"cpu": 95}], state)] == [Severity.major]
    assert [e.severity for e in run(c, [{"cpu": 20}], state)] == [Severity.clear]
    assert run(c, [{"cpu": 20}], state) == []  # clear is said once


def test_reassert_false_is_change_only() -> None:
    c = spec("""      - event: cpu_high
        when: threshold
        field: cpu
        reassert: false
        threshold: {above: {major: 90}}""")
    state: dict[str, Any] = {}
    assert [e.severity for e in run(c, [{"cpu": 95}], state)] == [Severity.major]
    assert run(c, [{"cpu": 95}], state) == []


def test_a_fixed_severity_change_is_a_one_off_not_a_condition() -> None:
    c = spec("""      - {event: sysname_changed, when: change, field: n, severity: warning}""")
    state: dict[str, Any] = {}
    assert len(run(c, [{"n": "a"}], state)) == 1
    assert run(c, [{"n": "a"}], state) == []


def test_a_clear_condition_still_open_in_the_alert_table_is_cleared_again() -> None:
    """A linkDown trap opened link_down for a port the poll sees up: the next poll clears it."""
    c = spec("""      - event: link_down
        when: change
        field: oper
        component: "{{ name }}"
        severity: {up: clear, down: major}""", "    fields: {oper: {map: if_oper_status}}")
    state: dict[str, Any] = {}
    ctx = Context({"name": "r1", "labels": {}}, "t/s", NOW)
    recs = [{"name": "ge1", "oper": 1}, {"name": "ge2", "oper": 1}]
    evaluate(c.events, transform(recs, c.fields), ctx, state)  # first sight: both clear
    assert evaluate(c.events, transform(recs, c.fields), ctx, state) == []
    again = evaluate(c.events, transform(recs, c.fields), ctx, state, {("r1", "link_down", "ge2")})
    assert [(e.component, e.severity) for e in again] == [("ge2", Severity.clear)]


def test_target_labels_are_on_every_polled_event_under_the_rules_own() -> None:
    c = spec("""      - event: link_down
        when: change
        field: oper
        severity: {"1": clear, "2": major}
        labels: {role: "from-rule"}""")
    ctx = Context({"name": "r1", "labels": {"site": "ams", "role": "core"}}, "t/s", NOW)
    [ev] = evaluate(c.events, transform([{"oper": 2}], c.fields), ctx, {})
    assert ev.labels == {"site": "ams", "role": "from-rule"}


def test_present_clears_alarms_that_disappear() -> None:
    c = spec("""      - event: "{{ cond | lower }}"
        when: present
        component: "{{ obj }}"
        severity: "{{ sev }}"
""")
    state: dict[str, Any] = {}
    a = {"cond": "LOS", "obj": "1/1", "sev": "critical"}
    b = {"cond": "FAN", "obj": "F2", "sev": "minor"}
    assert [(e.event, e.severity) for e in run(c, [a, b], state)] == [("los", Severity.critical),
                                                                       ("fan", Severity.minor)]
    out = run(c, [b], state)
    assert sorted((e.event, e.severity) for e in out) == [("fan", Severity.minor), ("los", Severity.clear)]
    assert [(e.event, e.severity) for e in run(c, [b], state)] == [("fan", Severity.minor)]


def test_only_filter_and_labels() -> None:
    c = spec("""      - event: link_down
        when: always
        only: {admin: [up]}
        component: "{{ name }}"
        labels: {admin: "{{ admin }}", empty: "{{ missing }}"}
""")
    out = run(c, [{"name": "a", "admin": "up"}, {"name": "b", "admin": "down"}], {})
    assert [(e.component, e.labels) for e in out] == [("a", {"admin": "up"})]


def test_a_bad_record_is_skipped_not_fatal(caplog: Any) -> None:
    c = spec("""      - {event: "x", when: always, severity: "{{ sev }}", component: "{{ c }}"}""")
    out = run(c, [{"sev": "nonsense", "c": "1"}, {"sev": "major", "c": "2"}], {})
    assert [(e.component, e.severity) for e in out] == [("1", Severity.warning), ("2", Severity.major)]


def test_sandbox_blocks_unsafe_templates(tmp_path: Path) -> None:
    c = spec("""      - {event: "{{ ''.__class__.__mro__ }}", when: always}""")
    assert run(c, [{"a": 1}], {}) == []


def test_a_reasserted_condition_follows_what_the_record_says_now() -> None:
    """Re-assertion of an unchanged record repeats the last event (new time); any change rebuilds it."""
    c = spec("""      - event: link_down
        when: change
        field: oper
        component: "{{ name }}"
        severity: {"1": clear, "2": major}
        summary: "{{ name }} {{ descr }}" """)
    state: dict[str, Any] = {}
    first = evaluate(c.events, transform([{"name": "ge1", "descr": "uplink", "oper": 2}], c.fields),
                     Context({"name": "r1", "labels": {}}, "t/s", NOW), state)
    later = NOW.replace(hour=1)
    ctx = Context({"name": "r1", "labels": {}}, "t/s", later)
    [same] = evaluate(c.events, transform([{"name": "ge1", "descr": "uplink", "oper": 2}], c.fields), ctx, state)
    assert same.summary == first[0].summary and same.occurred_at == later
    [changed] = evaluate(c.events, transform([{"name": "ge1", "descr": "to core", "oper": 2}], c.fields), ctx, state)
    assert changed.summary == "ge1 to core" and changed.severity == Severity.major
    moved = Context({"name": "r1", "labels": {"site": "new"}}, "t/s", later)
    [relabelled] = evaluate(c.events, transform([{"name": "ge1", "descr": "to core", "oper": 2}], c.fields), moved,
                            state)
    assert relabelled.labels == {"site": "new"}
