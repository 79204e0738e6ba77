"""Alertmanager API v2 (read and silence parts) over real HTTP, against a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.api.am_support import am_server

AM_JSON = {"Accept": "application/json"}  # what Alertmanager's Go clients send


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


async def _alerts(c: httpx.AsyncClient, **params: Any) -> dict[str, dict[str, Any]]:
    r = await c.get("/api/v2/alerts", params=params)
    assert r.status_code == 200, r.text
    return {a["labels"]["alertname"]: a for a in r.json()}


async def test_alerts_labels_states_receivers_and_filters(settings_factory: Any, tmp_path: Path) -> None:
    async with am_server(settings_factory, tmp_path) as srv, srv.client(srv.read_key) as c:
        alerts = await _alerts(c)
        assert sorted(alerts) == ["bgp_down", "cpu_high", "device_down", "link_down"]
        bgp = alerts["bgp_down"]
        assert bgp["labels"] == {"alertname": "bgp_down", "resource": "rtr1.ams", "severity": "critical",
                                 "site": "ams1"}
        assert bgp["annotations"]["summary"] == "BGP peer 10.0.0.2 down"
        assert bgp["annotations"]["opsconductor_url"].startswith("https://noc.example.net/api/v1/alerts/")
        assert [r["name"] for r in bgp["receivers"]] == ["core"]  # the critical + site=~ams.* route
        assert [r["name"] for r in alerts["cpu_high"]["receivers"]] == ["noc"]
        assert bgp["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
        link = alerts["link_down"]
        assert link["labels"]["component"] == "ge-0/0/1"
        assert link["status"]["state"] == "suppressed"  # inhibited by device_down: its fingerprint
        assert link["status"]["inhibitedBy"] == [alerts["device_down"]["fingerprint"]]
        for key in ("startsAt", "updatedAt", "endsAt"):
            datetime.fromisoformat(bgp[key].replace("Z", "+00:00"))

        assert sorted(await _alerts(c, filter='site=~"ams.*"')) == ["bgp_down", "device_down", "link_down"]
        assert sorted(await _alerts(c, filter=["site=~ams.*", "severity!=critical"])) == ["link_down"]
        assert sorted(await _alerts(c, filter='{alertname="cpu_high", resource="rtr2.fra"}')) == ["cpu_high"]
        assert sorted(await _alerts(c, inhibited="false")) == ["bgp_down", "cpu_high", "device_down"]
        assert sorted(await _alerts(c, active="false")) == ["link_down"]
        assert sorted(await _alerts(c, receiver="co.*")) == ["bgp_down", "device_down"]
        assert sorted(await _alerts(c, receiver="no")) == []  # a receiver regex matches the whole name


async def test_ack_shows_as_annotations_and_groups_follow_routes(settings_factory: Any, tmp_path: Path) -> None:
    async with am_server(settings_factory, tmp_path) as srv, srv.client(srv.write_key) as c:
        aid = int((await _alerts(c))["cpu_high"]["annotations"]["opsconductor_id"])
        assert (await c.post(f"/api/v1/alerts/{aid}/ack", json={"text": "on it"})).status_code == 200
        cpu = (await _alerts(c))["cpu_high"]
        assert cpu["status"]["state"] == "active"  # an acknowledgement is not a silence
        assert cpu["annotations"]["acknowledged"] == "true"
        assert cpu["annotations"]["acknowledged_by"].startswith("test-write-")
        assert cpu["annotations"]["opsconductor_status"] == "acknowledged"

        r = await c.get("/api/v2/alerts/groups")
        assert r.status_code == 200, r.text
        groups = {(g["receiver"]["name"], tuple(sorted(g["labels"].items()))):
                  sorted(a["labels"]["alertname"] for a in g["alerts"]) for g in r.json()}
        assert groups == {
            ("core", (("resource", "rtr1.ams"),)): ["bgp_down"],
            ("noc", (("resource", "rtr2.fra"),)): ["cpu_high"],
            ("core", (("resource", "sw1.ams"),)): ["device_down"],
            ("noc", (("resource", "sw1.ams"),)): ["link_down"],
        }
        r = await c.get("/api/v2/alerts/groups", params={"receiver": "core"})
        assert [g["receiver"]["name"] for g in r.json()] == ["core", "core"]

        r = await c.get("/api/v2/receivers")
        assert [x["name"] for x in r.json()] == ["core", "noc", "unrouted"]


async def test_silence_round_trip_suppresses_and_expires(settings_factory: Any, tmp_path: Path) -> None:
    async with am_server(settings_factory, tmp_path) as srv, srv.client(srv.write_key) as c:
        now = datetime.now(UTC)
        body = {"matchers": [{"name": "alertname", "value": "cpu_high", "isRegex": False, "isEqual": True},
                             {"name": "site", "value": "fra.*", "isRegex": True}],
                "startsAt": _iso(now), "endsAt": _iso(now + timedelta(hours=2)), "createdBy": "alice",
                "comment": "CHG-1234 CPU upgrade"}
        r = await c.post("/api/v2/silences", json=body)
        assert r.status_code == 200, r.text
        sid = r.json()["silenceID"]
        assert sid.startswith("00000000-0000-0000-0000-")

        cpu = (await _alerts(c))["cpu_high"]
        assert cpu["status"] == {"state": "suppressed", "silencedBy": [sid], "inhibitedBy": []}
        assert sorted(await _alerts(c, active="false", inhibited="false")) == ["cpu_high"]  # amtool -s

        # the same silence in our own API, in our matcher language
        ours = (await c.get(f"/api/v1/silences/{int(sid[-12:])}")).json()
        assert ours["matchers"] == {"event": "cpu_high", "labels.site": {"regex": "fra.*"}}
        assert ours["created_by"].startswith("alice (key test-write-")

        got = (await c.get(f"/api/v2/silence/{sid}")).json()
        assert got["status"]["state"] == "active" and got["comment"] == "CHG-1234 CPU upgrade"
        assert got["matchers"] == [{"name": "alertname", "value": "cpu_high", "isRegex": False, "isEqual": True},
                                   {"name": "site", "value": "fra.*", "isRegex": True, "isEqual": True}]
        listed = (await c.get("/api/v2/silences", params={"filter": 'alertname="cpu_high"'})).json()
        assert [s["id"] for s in listed] == [sid]
        assert (await c.get("/api/v2/silences", params={"filter": 'alertname="nope"'})).json() == []
        # Alertmanager's filter tests the value a silence gives the name
        assert [s["id"] for s in (await c.get("/api/v2/silences", params={"filter": "alertname=~cpu.*"})).json()] \
            == [sid]
        assert (await c.get("/api/v2/silences", params={"filter": "team=db"})).json() == []
        assert len((await c.get("/api/v2/silences", params={"filter": 'team=""'})).json()) == 1

        # posting with an id replaces that silence (as amtool silence update does)
        r = await c.post("/api/v2/silences", json={**body, "id": sid, "comment": "CHG-1234 extended"})
        assert r.status_code == 200, r.text
        new_sid = r.json()["silenceID"]
        assert new_sid != sid
        assert (await c.get(f"/api/v2/silence/{sid}")).json()["status"]["state"] == "expired"
        assert (await _alerts(c))["cpu_high"]["status"]["silencedBy"] == [new_sid]
        sid = new_sid

        assert (await c.delete(f"/api/v2/silence/{sid}")).status_code == 200
        assert (await c.get(f"/api/v2/silence/{sid}")).json()["status"]["state"] == "expired"
        assert (await _alerts(c))["cpu_high"]["status"]["state"] == "active"  # re-evaluated at once


async def test_v1_silences_show_their_matchers_in_alertmanager_terms(settings_factory: Any, tmp_path: Path) -> None:
    async with am_server(settings_factory, tmp_path) as srv, srv.client(srv.write_key) as c:
        r = await c.post("/api/v1/silences", json={
            "matchers": {"resource": ["rtr1.ams", "rtr2.fra"], "labels.site": {"not": "lab"}, "value": {"gt": 90}},
            "comment": "mixed", "duration": "1h"})
        assert r.status_code == 201, r.text
        (s,) = (await c.get("/api/v2/silences")).json()
        assert s["matchers"] == [
            {"name": "resource", "value": r"rtr1\.ams|rtr2\.fra", "isRegex": True, "isEqual": True},
            {"name": "site", "value": "lab", "isRegex": False, "isEqual": False}]
        assert s["comment"] == "mixed [also: value gt 90]"  # what Alertmanager cannot express is said


async def test_errors_in_alertmanager_form_for_go_clients(settings_factory: Any, tmp_path: Path) -> None:
    async with am_server(settings_factory, tmp_path) as srv:
        async with srv.client(srv.write_key) as c:
            r = await c.get("/api/v2/alerts", params={"filter": "no operator"}, headers=AM_JSON)
            assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
            assert r.json().startswith("bad matcher format")
            r = await c.get("/api/v2/silence/00000000-0000-0000-0000-000000000999", headers=AM_JSON)
            assert r.status_code == 404 and isinstance(r.json(), str)
            now = datetime.now(UTC)
            bad = {"matchers": [{"name": "a", "value": "(", "isRegex": True}], "startsAt": _iso(now),
                   "endsAt": _iso(now + timedelta(hours=1)), "createdBy": "x", "comment": "y"}
            r = await c.post("/api/v2/silences", json=bad, headers=AM_JSON)
            assert r.status_code == 400 and "bad regex" in r.json()
            past = {**bad, "matchers": [{"name": "a", "value": "b", "isRegex": False}],
                    "endsAt": _iso(now - timedelta(hours=1))}
            r = await c.post("/api/v2/silences", json=past, headers=AM_JSON)
            assert r.status_code == 400 and "past" in r.json()
            r = await c.post("/api/v2/silences", content=b"{", headers={**AM_JSON, "Content-Type": "application/json"})
            assert r.status_code == 400 and isinstance(r.json(), str)
            r = await c.post("/api/v2/silences", json={"matchers": []}, headers=AM_JSON)
            assert r.status_code == 400 and "startsAt" in r.json()  # the field errors are in the text
            # a client that accepts problem bodies (curl, browsers) still gets RFC 9457
            r = await c.get("/api/v2/alerts", params={"filter": "no operator"})
            assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
        async with srv.client() as anon:
            r = await anon.get("/api/v2/alerts", headers=AM_JSON)
            assert r.status_code == 401 and "API key" in r.json()
        async with srv.client(srv.read_key) as reader:
            r = await reader.delete("/api/v2/silence/1", headers=AM_JSON)
            assert r.status_code == 403 and "scope" in r.json()
        async with srv.client(srv.read_key) as reader:
            status = (await reader.get("/api/v2/status")).json()
            assert status["cluster"]["status"] == "disabled"
            # clients choose their API mapping by version: karma needs >= 0.17.0
            assert tuple(int(x) for x in status["versionInfo"]["version"].split(".")) >= (0, 17, 0)
            assert status["versionInfo"]["revision"].startswith("opsconductor ")
            assert "receiver: core" in status["config"]["original"]
            assert "site=~\"ams.*\"" in status["config"]["original"]
