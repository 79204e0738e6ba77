"""The fast replay path gives the same outcome as the plain one: a recorded stream (flapping
links, inhibited BGP sessions, site correlation) replayed on the server's database settings in
this process, and on scratch databases in two worker processes, alert by alert."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsconductor.correlate.loader import load_ruleset
from opsconductor.correlate.replay import (
    LoggedEvent,
    _decode_log,
    _encode_log,
    _in_processes,
    _jobs,
    diff,
    replay,
    replay_diff,
)
from opsconductor.correlate.service import compile_ruleset
from opsconductor.correlate.topology import Graph
from opsconductor.notify.config import load_config

SHIPPED = Path(__file__).parents[2] / "rules"


def _stream(n: int, resources: int, span_s: float) -> list[LoggedEvent]:
    rnd = random.Random(7)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    out = []
    for i in range(n):
        r = f"sw{rnd.randrange(resources)}.site{rnd.randrange(3)}"
        x = rnd.random()
        if x < 0.2:
            ev = {"resource": r, "event": rnd.choice(["device_down", "device_up"]), "severity": "critical"}
        elif x < 0.6:
            ev = {"resource": r, "event": rnd.choice(["link_down", "link_up"]),
                  "component": f"ge-0/0/{rnd.randrange(3)}", "severity": "major"}
        else:
            ev = {"resource": r, "event": rnd.choice(["bgp_down", "bgp_up"]), "component": f"peer-{rnd.randrange(2)}",
                  "severity": "major"}
        ev["labels"] = {"site": r.split(".")[1]}
        out.append(LoggedEvent(t0 + timedelta(seconds=i * span_s / n), ev))
    return out


def _rule_sets(tmp: Path):  # type: ignore[no-untyped-def]
    new_dir = tmp / "new"
    new_dir.mkdir()
    for f in SHIPPED.glob("*.yaml"):
        shutil.copy(f, new_dir / f.name)
    dev = new_dir / "30-devices.yaml"
    dev.write_text(dev.read_text().replace("target: {event: [link_down, bgp_down]}", "target: {event: link_down}"))
    (base, e1), (new, e2) = load_ruleset([SHIPPED]), load_ruleset([new_dir])
    assert not e1 and not e2
    return compile_ruleset(base), compile_ruleset(new)


@pytest.mark.faults  # spawns worker processes: the slow step of .ci/run
@pytest.mark.parametrize("resolution", [5.0, 60.0])
async def test_worker_processes_on_scratch_databases_give_the_same_alerts(tmp_path: Path, resolution: float) -> None:
    base, new = _rule_sets(tmp_path)
    log = _stream(300, 10, 3 * 3600)
    notify = SHIPPED / "notify.yaml"
    plain = []
    for c in (base, new):
        work = tmp_path / f"plain-{c.version}"
        work.mkdir()
        plain.append(await replay(c, log, workdir=work, notify=load_config(notify), resolution_s=resolution,
                                  scratch=False))
    fast_dir = tmp_path / "fast"
    fast_dir.mkdir()
    fast = await _in_processes(_jobs(fast_dir, {"resolution_s": resolution},
                                     [("base", base, notify), ("new", new, notify)]), log, (Graph(), {}))
    for p, f in zip(plain, fast, strict=True):
        assert f.version == p.version and f.events == p.events == len(log)
        assert f.alerts == p.alerts
    report = diff(*plain)
    assert report["changed"] and diff(*fast)["differences"] == report["differences"]
    if resolution != 60.0:
        return
    # what the CLI and the API run: the same diff either way
    kw = {"base_notify": notify, "new_notify": notify, "resolution_s": resolution}
    both = [await replay_diff(base, new, log, processes=p, **kw) for p in (True, False)]
    assert both[0]["differences"] == both[1]["differences"] == report["differences"]


def test_the_log_reaches_the_workers_unchanged() -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    log = [LoggedEvent(at, {"resource": "a", "event": "x", "labels": {"k": "v"}, "value": 1.5, "n": [1, None, True]}),
           LoggedEvent(at + timedelta(seconds=1), {"resource": "b", "event": "y", "summary": "ünïcode"})]
    blob = _encode_log(log)
    assert blob[:1] == b"m" and _decode_log(blob) == log
    assert _decode_log(blob)[0].received_at.tzinfo is not None
    huge = [*log, LoggedEvent(at, {"resource": "c", "event": "z", "value": 1 << 70})]
    blob = _encode_log(huge)  # not msgpack's: pickled
    assert blob[:1] == b"p" and _decode_log(blob) == huge


async def test_alerts_expire_in_log_time(tmp_path: Path) -> None:
    """An alert not seen within its timeout expires before the next event of its kind arrives,
    as the server's housekeeping would expire it: that event opens a new alert."""
    f = tmp_path / "r.yaml"
    f.write_text("rules:\n  - id: s\n    when: {event: link_down}\n    set: {severity: major}\n")
    rs, errors = load_ruleset([f])
    assert errors == []
    t = datetime(2026, 1, 5, tzinfo=UTC)
    down = {"resource": "sw1", "event": "link_down", "component": "ge-0/0/1"}
    work = tmp_path / "w"
    work.mkdir()
    for gap, keys in ((30, {"event 1"}), (600, {"event 1", "event 2"})):
        log = [LoggedEvent(t, down), LoggedEvent(t + timedelta(seconds=gap), down)]
        run = await replay(compile_ruleset(rs), log, workdir=work, default_timeout=60)
        assert set(run.alerts) == keys
        assert run.alerts["event 1"]["status"] == ("expired" if gap > 60 else "active")


def test_row_event_builds_what_model_construct_builds() -> None:
    """``row_event`` (every re-evaluation pass, a replay's hot path) skips pydantic's field-by-field
    defaults; the model is the same one ``model_construct`` builds."""
    from opsconductor.correlate.suppress import row_event
    from opsconductor.model.event import NormalizedEvent, Severity

    for row in ({"resource": "sw1", "event": "link_down", "component": "ge-0/0/1", "severity": "major",
                 "summary": "down", "value": 3.5, "labels": {"site": "ams"}, "source": "snmp", "id": 7},
                {"resource": "sw1", "event": "x", "component": None, "severity": None, "summary": None,
                 "value": None, "labels": None, "source": None}):
        sev = row["severity"]
        expected = NormalizedEvent.model_construct(
            resource=row["resource"], event=row["event"], component=row["component"],
            severity=Severity(sev) if sev is not None else None, summary=row["summary"], value=row["value"],
            labels=row["labels"] or {}, source=row["source"])
        got = row_event(row)
        assert type(got) is NormalizedEvent and got == expected and repr(got) == repr(expected)
        assert got.__dict__ == expected.__dict__ and list(got.__dict__) == list(expected.__dict__)
        assert got.model_fields_set == expected.model_fields_set
        assert (got.__pydantic_extra__, got.__pydantic_private__) == (
            expected.__pydantic_extra__, expected.__pydantic_private__)
        assert got.model_dump() == expected.model_dump() and got.model_copy(update={"event": "y"}).event == "y"
