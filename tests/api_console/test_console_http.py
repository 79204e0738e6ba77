"""The console over real HTTP on loopback: sign-in, cookie + CSRF, scope, pages, fragments, SSE, shelve, docs."""

from __future__ import annotations

import asyncio
import json
import re
import time
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from opsconductor.store.api_keys import KEYS, revoke_key
from tests.api_console.conftest import send, signed_in
from tests.support.server import LiveServer, start_live_server
from tests.support.tcp_proxy import TcpProxy

LINK = {"resource": "rtr1.ams", "event": "link_down", "component": "ge-0/0/1", "severity": "major",
        "summary": "uplink to core down", "labels": {"site": "ams"}}


async def test_pages_need_a_session_and_sign_in_sets_a_safe_cookie(console_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=console_server.url) as c:
        r = await c.get("/alerts/1?x=1")
        assert r.status_code == 302 and r.headers["location"] == "/login?next=%2Falerts%2F1%3Fx%3D1"
        r = await c.post("/login", data={"key": "opsc_wrong", "next": "/"})
        assert r.status_code == 401 and "not valid" in r.text and "opsc_session" not in r.headers.get("set-cookie", "")
        r = await c.post("/login", data={"key": console_server.read_key, "next": "https://evil.example/"})
        assert r.status_code == 303 and r.headers["location"] == "/"  # never an open redirect
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert console_server.read_key not in cookie and console_server.read_key[5:] not in cookie
        page = await c.get("/")
        assert page.status_code == 200 and "No open alerts" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        # every script and stylesheet is our own: nothing from a CDN
        assert not re.search(r'(src|href)="https?://', page.text)


async def test_cookie_actions_need_the_csrf_token_and_write_scope(console_server: LiveServer) -> None:
    (res,) = await send(console_server, LINK)
    alert_id = res["alert_id"]
    c, token = await signed_in(console_server, console_server.write_key)
    async with aclosing(c):
        r = await c.post(f"/api/v1/alerts/{alert_id}/ack", json={})
        assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
        r = await c.post(f"/api/v1/alerts/{alert_id}/ack", json={}, headers={"X-CSRF-Token": "0" * 64})
        assert r.status_code == 403
        r = await c.post(f"/api/v1/alerts/{alert_id}/ack", json={}, headers={"X-CSRF-Token": token})
        assert r.status_code == 200 and r.json()["acknowledged_by"].startswith("test-write-")
        # reads with the cookie need no token
        assert (await c.get(f"/api/v1/alerts/{alert_id}")).json()["status"] == "acknowledged"
    rc, rtoken = await signed_in(console_server, console_server.read_key)
    async with aclosing(rc):
        page = (await rc.get("/")).text
        assert "uplink to core down" in page and 'class="select"' not in page and "Read-only key" in page
        r = await rc.post(f"/api/v1/alerts/{alert_id}/unack", json={}, headers={"X-CSRF-Token": rtoken})
        assert r.status_code == 403 and "scope read" in r.json()["detail"]


async def test_a_revoked_key_ends_its_sessions(console_server: LiveServer) -> None:
    c, _ = await signed_in(console_server, console_server.read_key)
    async with aclosing(c):
        assert (await c.get("/api/v1/alerts")).status_code == 200
        async with console_server.runtime.db.write() as conn:
            names = (await conn.execute(select(KEYS.c.name).where(KEYS.c.scope == "read"))).scalars().all()
            for n in names:
                await revoke_key(conn, n, datetime.now(UTC))
        r = await c.get("/api/v1/alerts")
        assert r.status_code == 401 and "sign in again" in r.json()["detail"]
        r = await c.get("/")
        assert r.status_code == 302 and r.headers["location"].startswith("/login")


async def test_list_filters_sort_and_group_live_in_the_url(console_server: LiveServer) -> None:
    fra = {"site": "fra"}
    await send(console_server, LINK,
               {**LINK, "resource": "rtr2.fra", "severity": "minor", "summary": "fra uplink", "labels": fra},
               {**LINK, "resource": "rtr3.fra", "severity": "critical", "summary": "fra core", "labels": fra})
    c, _ = await signed_in(console_server, console_server.read_key)
    async with aclosing(c):
        page = (await c.get("/", params={"group": "site"})).text
        heads = re.findall(r'site = (\w+) <span class="n">(\d+)</span>', page)
        assert heads == [("fra", "2"), ("ams", "1")]  # sorted by severity: the critical fra alert leads
        rows = re.findall(r'<a href="/alerts/\d+">([\w.]+)</a>', page)
        assert rows == ["rtr3.fra", "rtr2.fra", "rtr1.ams"]
        page = (await c.get("/", params={"severity": "minor"})).text
        assert re.findall(r'<a href="/alerts/\d+">([\w.]+)</a>', page) == ["rtr2.fra"]
        page = (await c.get("/", params={"label": "site:ams", "sort": "first_seen"})).text
        assert re.findall(r'<a href="/alerts/\d+">([\w.]+)</a>', page) == ["rtr1.ams"]
        page = (await c.get("/", params={"q": "nothing-like-this"})).text
        assert "No alerts match these filters" in page
        # bad values are reported on the page, never a 500
        r = await c.get("/", params={"severity": "bogus", "sort": "nope", "label": "nocolon"})
        assert r.status_code == 200
        assert "unknown severity &#39;bogus&#39; ignored" in r.text and "cannot sort by" in r.text
        frag = await c.get("/console/fragment/alerts", params={"severity": "critical"})
        assert frag.status_code == 200 and "rtr3.fra" in frag.text and "rtr1.ams" not in frag.text
        assert "<html" not in frag.text


async def test_correlation_parent_lists_its_children_and_detail_shows_everything(
        console_server: LiveServer) -> None:
    results = await send(console_server, *[
        {"resource": f"sw{i}.ams", "event": "device_down", "severity": "major", "labels": {"site": "ams"}}
        for i in range(3)])
    async with console_server.admin as api:
        alerts: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10  # the parent is raised just after its members
        while not alerts and time.monotonic() < deadline:
            alerts = (await api.get("/api/v1/alerts", params={"event": "site_isolated"})).json()["alerts"]
            await asyncio.sleep(0.05)
        assert len(alerts) == 1
        parent = alerts[0]
        await api.post(f"/api/v1/alerts/{parent['id']}/note", json={"text": "called the ams DC"})
    c, _ = await signed_in(console_server, console_server.read_key)
    async with aclosing(c):
        page = (await c.get("/")).text
        assert f'data-parent="{parent["id"]}"' in page and "▸ 3" in page
        for r in results:
            assert f'child-of-{parent["id"]}" data-id="{r["alert_id"]}"' in page
        detail = (await c.get(f"/alerts/{parent['id']}")).text
        assert "site ams isolated" in detail and "Correlated alerts (3)" in detail
        assert "called the ams DC" in detail and "Decision trace" in detail
        assert "parent alert of a correlation" in detail
        assert "No notification was sent" in detail
        child = (await c.get(f"/alerts/{results[0]['alert_id']}")).text
        assert f'<a href="/alerts/{parent["id"]}">site_isolated on ams (#{parent["id"]})</a>' in child
        missing = await c.get("/alerts/999999")
        assert missing.status_code == 404 and "no alert with id 999999" in missing.text


async def test_silence_preview_shows_what_it_would_hit(console_server: LiveServer) -> None:
    await send(console_server, LINK, {**LINK, "resource": "rtr9.fra", "labels": {"site": "fra"}})
    c, _ = await signed_in(console_server, console_server.write_key)
    async with aclosing(c):
        def q(m: object) -> dict[str, str]:
            return {"matchers": json.dumps(m)}

        r = await c.get("/console/preview", params=q({"labels.site": "ams"}))
        assert 'data-count="1"' in r.text and "rtr1.ams" in r.text and "rtr9.fra" not in r.text
        r = await c.get("/console/preview", params=q({"resource": {"regex": "rtr\\d\\..*"}}))
        assert 'data-count="2"' in r.text
        r = await c.get("/console/preview", params=q({"resource": {"regex": "(a+)+"}}))
        assert "errors" in r.text and "backtrack" in r.text
        r = await c.get("/console/preview", params=q({}))
        assert "add at least one matcher" in r.text
        r = await c.get("/console/preview", params={"matchers": "{not json"})
        assert r.status_code == 400 and r.json()["detail"] == "matchers must be a JSON object"
        page = (await c.get("/silences", params={"resource": "rtr1.ams"})).text
        assert 'value="resource"' in page and 'value="rtr1.ams"' in page


async def test_stream_sends_a_change_within_a_second(console_server: LiveServer) -> None:
    c, _ = await signed_in(console_server, console_server.read_key)
    async with aclosing(c), c.stream("GET", "/console/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        got: list[str] = []
        while "event: hello" not in got:
            got.append(await asyncio.wait_for(anext(lines), 5))
        sent = time.monotonic()
        await send(console_server, LINK)
        while "event: change" not in got:
            got.append(await asyncio.wait_for(anext(lines), 5))
        assert time.monotonic() - sent < 1.0


async def test_stream_needs_a_key_or_session(console_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=console_server.url) as c:
        r = await c.get("/console/stream")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        r = await c.get("/console/fragment/alerts")
        assert r.status_code == 401


async def test_shelve_acknowledges_until_the_time_is_up(console_server: LiveServer) -> None:
    (res,) = await send(console_server, LINK)
    alert_id = res["alert_id"]
    c, token = await signed_in(console_server, console_server.write_key)
    async with aclosing(c):
        r = await c.post("/console/shelve", json={"ids": [alert_id], "duration": "forever"},
                         headers={"X-CSRF-Token": token})
        assert r.status_code == 400 and "30m, 2h, 1d" in r.json()["detail"]
        r = await c.post("/console/shelve", json={"ids": [alert_id], "duration": "1s", "text": "maintenance"},
                         headers={"X-CSRF-Token": token})
        assert r.status_code == 200 and r.json()["changed"] == 1
        a = (await c.get(f"/api/v1/alerts/{alert_id}")).json()
        assert a["status"] == "acknowledged"
        until = a["history"][-1]["text"][len("shelved until "):][11:16]  # HH:MM of the RFC 3339 end
        assert f'<span class="shelved" title="shelved: unacknowledged again at {until} UTC">until {until}</span>' in (
            await c.get("/")).text
        assert a["history"][-1]["text"].startswith("shelved until ") and a["history"][-1]["text"].endswith(
            ": maintenance")
        deadline = time.monotonic() + 10
        while a["status"] == "acknowledged" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            a = (await c.get(f"/api/v1/alerts/{alert_id}")).json()
        assert a["status"] == "active"
        last = a["history"][-1]
        assert (last["kind"], last["actor"], last["text"]) == ("unack", "shelve", "shelve ended")


async def test_a_plain_ack_is_never_unshelved(console_server: LiveServer) -> None:
    (res,) = await send(console_server, LINK)
    async with console_server.client(console_server.write_key) as api:
        await api.post(f"/api/v1/alerts/{res['alert_id']}/ack", json={"text": "looking"})
        await asyncio.sleep(0.6)  # three unshelve passes at the test's 0.2 s interval
        assert (await api.get(f"/api/v1/alerts/{res['alert_id']}")).json()["status"] == "acknowledged"


async def test_tv_mode_counts_by_severity(console_server: LiveServer) -> None:
    await send(console_server, LINK, {**LINK, "resource": "core1", "severity": "critical"})
    c, _ = await signed_in(console_server, console_server.read_key)
    async with aclosing(c):
        page = (await c.get("/tv")).text
        counts = dict(re.findall(r'tv-count sev-(\w+)[^"]*"><div class="n">(\d+)</div>', page))
        assert counts == {"critical": "1", "major": "1", "minor": "0", "warning": "0", "info": "0"}
        assert "<nav>" not in page and "data-action" not in page  # no controls on the wall
        r = await c.get("/", params={"tv": "1"})
        assert r.status_code == 302 and r.headers["location"] == "/tv"


async def test_api_docs_are_served_without_a_cdn_and_offer_bearer(console_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=console_server.url) as c:
        for path in ("/schema", "/schema/swagger"):
            page = await c.get(path)
            assert page.status_code == 200
            urls = re.findall(r'(?:src|href)=["\']([^"\']+)', page.text)
            assert urls and all(u.startswith("/schema/assets/") for u in urls), urls
            for u in urls:
                asset = await c.get(u)
                assert asset.status_code == 200 and len(asset.content) > 500, u
        doc = (await c.get("/schema/openapi.json")).json()
        assert doc["components"]["securitySchemes"]["bearer"] == {
            "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearer"][
                "description"]}
        assert {"bearer": []} in doc["security"]
        assert not any(p.startswith(("/console", "/login", "/tv")) for p in doc["paths"])


async def test_sign_in_from_another_site_is_refused(console_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=console_server.url) as c:
        r = await c.post("/login", data={"key": console_server.admin_key}, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and "opsc_session" not in r.headers.get("set-cookie", "")
        r = await c.post("/login", data={"key": console_server.admin_key}, headers={"Origin": console_server.url})
        assert r.status_code == 303 and "opsc_session=" in r.headers["set-cookie"]


async def test_silences_list_fragment_and_the_stream_hears_a_new_silence(console_server: LiveServer) -> None:
    c, token = await signed_in(console_server, console_server.write_key)
    async with aclosing(c), c.stream("GET", "/console/stream") as stream:
        lines = stream.aiter_lines()
        got: list[str] = []
        while "event: hello" not in got:
            got.append(await asyncio.wait_for(anext(lines), 5))
        r = await c.post("/api/v1/silences", json={"matchers": {"resource": "nothing-yet"}, "duration": "1h",
                                                   "comment": "CHG-7"}, headers={"X-CSRF-Token": token})
        assert r.status_code == 201, r.text
        while "event: change" not in got:  # no alert changed: the silence itself moves the token
            got.append(await asyncio.wait_for(anext(lines), 5))
    c2, _ = await signed_in(console_server, console_server.read_key)
    async with aclosing(c2):
        frag = await c2.get("/console/fragment/silences")
        assert frag.status_code == 200 and "CHG-7" in frag.text and "<html" not in frag.text
        assert "Expire" not in frag.text  # a read key sees no action


async def test_database_lost_pages_say_so_and_recover(db_url: str, settings_factory) -> None:  # type: ignore[no-untyped-def]
    if not db_url.startswith("postgresql"):
        pytest.skip("losing the database is a network fault: runs when OPSCONDUCTOR_TEST_POSTGRES_URL is set "
                    "(.ci/run sets it)")
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    async with start_live_server(settings_factory(database_url=proxied)) as server:
        c, _ = await signed_in(server, server.read_key)
        async with aclosing(c), c.stream("GET", "/console/stream") as stream:
            lines = stream.aiter_lines()
            while (await asyncio.wait_for(anext(lines), 5)) != "event: hello":
                pass
            await proxy.cut()
            got: list[str] = []
            while "event: trouble" not in got:  # the open page learns it is no longer live
                got.append(await asyncio.wait_for(anext(lines), 10))
            page = await c.get("/")
            assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
            assert "Service unavailable" in page.text and 'http-equiv="refresh"' in page.text
            frag = await c.get("/console/fragment/alerts")  # what the live page fetches: a problem body
            assert frag.status_code == 503 and frag.headers["content-type"] == "application/problem+json"
            await proxy.restore()
            for _ in range(100):
                if (await c.get("/")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await c.get("/")).status_code == 200
