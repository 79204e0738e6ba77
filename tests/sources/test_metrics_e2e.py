"""Metric thresholds against real snmpd: running counters (the pass script computes them at
request time) -> rates -> thresholds with `for: 3`, through the shipped generic-snmp addon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.sources.conftest import copy_addon
from tests.sources.peers import SnmpAgent
from tests.sources.test_snmp_e2e import write_inventory
from tests.sources.waits import alerts, wait_for
from tests.support.server import start_live_server


async def test_error_rate_and_utilisation_raise_and_clear(snmpd: SnmpAgent, settings_factory: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SNMP_COMMUNITY", snmpd.community)
    # ge-0/0/1: 50 errors/s from just below 2^32 (the Counter32 wraps within a second or two);
    # 118.75 MB/s in on a 1000 Mb/s port = 95 %. ge-0/0/2: quiet.
    snmpd.set_counters(1, in_errors_per_s=50, in_errors_base=2**32 - 60, in_octets_per_s=118_750_000)
    snmpd.set_counters(2, in_errors_per_s=0.5, in_octets_per_s=1_000)
    copy_addon("generic-snmp", tmp_path / "addons")
    inv = write_inventory(tmp_path / "inventory.yaml", snmpd)
    async with start_live_server(settings_factory(addons_dir=tmp_path / "addons", inventory_file=inv)) as srv, \
            srv.client(srv.read_key) as c:
        [errs] = await wait_for(lambda: alerts(c, event="if_in_errors"), timeout=20, what="the error-rate alert")
        assert (errs["component"], errs["severity"]) == ("ge-0/0/1", "major")
        assert 40 <= float(errs["value"]) <= 60, errs["value"]  # the rate, wrap included
        assert errs["labels"]["site"] == "ams" and errs["labels"]["ifIndex"] == "1"
        [util] = await wait_for(lambda: alerts(c, event="if_in_utilisation"), timeout=20, what="utilisation")
        assert util["component"] == "ge-0/0/1" and 90 <= float(util["value"]) <= 100
        assert "of 1000 Mb/s" in util["summary"]

        svc = srv.runtime.sources
        assert svc is not None
        job = next(j for j in svc.poller.status() if j["source"] == "interface-metrics")
        # raised no earlier than the 4th poll: a first sample, then three rates above the limit
        assert job["runs"] >= 4

        snmpd.set_counters(1, in_errors_per_s=0, in_octets_per_s=1_000)

        async def cleared() -> bool:
            return not await alerts(c, event="if_in_errors") and not await alerts(c, event="if_in_utilisation")

        await wait_for(cleared, timeout=15, what="both cleared")
        assert not [a for a in await alerts(c, status=["active", "resolved"]) if a["component"] == "ge-0/0/2"]
