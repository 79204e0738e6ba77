"""Counters -> rates (wrap, restart), computed fields, thresholds with hysteresis and `for: N`."""

from __future__ import annotations

from typing import Any

from opsconductor.model.event import Severity
from opsconductor.normalize.metrics import Sample, apply_metrics, counter_rate
from opsconductor.normalize.records import Context, evaluate, transform
from tests.normalize.test_records import NOW, spec

C32 = 2**32


def test_counter_rates_wrap_and_restart() -> None:
    assert counter_rate(None, 100, 10.0, "counter32") is None  # first sample
    assert counter_rate(Sample(100, 0.0), 600, 10.0, "counter32") == 50.0
    assert counter_rate(Sample(C32 - 100, 0.0), 400, 10.0, "counter32") == 50.0  # wrapped past 2^32
    assert counter_rate(Sample(1_000, 0.0), 10, 10.0, "counter32") is None  # low in range: agent restarted
    assert counter_rate(Sample(2**63, 0.0), 10, 10.0, "counter64") is None  # a Counter64 never wraps: reset
    assert counter_rate(Sample(100, 0.0), 200, 0.05, "counter32") is None  # no time between samples


def run(common: Any, records: list[dict[str, Any]], state: dict[str, Any], at: float) -> list[Any]:
    ctx = Context({"name": "r1", "labels": {}}, "t/s", NOW)
    rows = apply_metrics(records, common.fields, state, at, "ifIndex")
    return evaluate(common.events, transform(rows, common.fields), ctx, state)


def test_error_rate_threshold_for_three_polls_with_hysteresis() -> None:
    c = spec("""      - event: if_errors
        when: threshold
        field: errs
        for: 3
        component: "{{ ifIndex }}"
        threshold: {above: {major: 10}, hysteresis: 4}""", "    fields: {errs: {rate: counter32}}")
    state: dict[str, Any] = {}
    total, t = 1000, 0.0

    def poll(per_s: float) -> list[tuple[Any, Any]]:
        nonlocal total, t
        total, t = total + int(per_s * 10), t + 10
        return [(e.severity, round(e.value, 1)) for e in run(c, [{"ifIndex": 1, "errs": total}], state, t)]

    assert run(c, [{"ifIndex": 1, "errs": total}], state, t) == []  # first sample: no rate yet
    assert [s for s, _ in poll(2)] == [Severity.clear]  # first rate: clear on first sight
    assert poll(20) == [] and poll(20) == []  # above for 2 polls: not yet
    assert poll(20) == [(Severity.major, 20.0)]  # 3rd poll in a row: raised, the rate on the event
    assert poll(8) == [(Severity.major, 8.0)]  # below 10 but within the hysteresis band: held (re-asserted)
    assert poll(5) == [(Severity.clear, 5.0)]  # 6 or less: cleared
    assert poll(20) == [] and poll(2) == [] and poll(20) == []  # interrupted: the count starts again


def test_utilisation_from_octet_rate_and_speed() -> None:
    c = spec("""      - event: if_utilisation
        when: threshold
        field: util_in
        component: "{{ ifIndex }}"
        threshold: {above: {major: 90}}""",
             "    fields:\n      octets: {rate: counter64}\n"
             "      util_in: {compute: \"{{ octets * 8 / (speed * 1000000) * 100 "
             "if octets is not none and speed else '' }}\"}")
    state: dict[str, Any] = {}
    run(c, [{"ifIndex": 1, "octets": 0, "speed": 1000}], state, 0.0)
    # 1 Gb/s port, 118.75 MB/s = 95 %
    [ev] = run(c, [{"ifIndex": 1, "octets": 1_187_500_000, "speed": 1000}], state, 10.0)
    assert ev.severity == Severity.major and ev.value == 95.0
