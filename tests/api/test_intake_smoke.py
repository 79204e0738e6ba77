from tests.support.server import LiveServer


async def test_event_becomes_deduplicated_alert(live_server: LiveServer) -> None:
    ev = {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major"}
    async with live_server.client(live_server.write_key) as c:
        r = await c.post("/api/v1/events?wait=true", json=[ev, ev])
        assert r.status_code == 200, r.text
        outcomes = [x["outcome"] for x in r.json()["results"]]
        assert outcomes == ["created", "deduplicated"]
        r = await c.get("/api/v1/alerts")
        (alert,) = r.json()["alerts"]
        assert alert["duplicate_count"] == 1 and alert["status"] == "active"
