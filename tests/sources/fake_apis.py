"""Local HTTP servers shaped like the vendor APIs the shipped addons poll.

Each follows the vendor's documented request and answer format (see the addon manifests'
comments), checks authentication like the real one, pages like the real one, and records
the requests it got. They run in a thread on a loopback port.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

Handler = Callable[["Request"], tuple[int, Any]]


class Request:
    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body

    def q(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]


class FakeApi:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Request] = []
        api = self

        class H(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                u = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(self.command, u.path, parse_qs(u.query), {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length) if length else b"")
                api.requests.append(req)
                handler = api.routes.get((self.command, u.path))
                status, body = handler(req) if handler else (404, {"detail": "Not found."})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Prtg(FakeApi):
    """PRTG ``/api/table.json?content=sensors`` with ``apitoken``, ``start``/``count`` paging."""

    STATUS = {3: "Up", 4: "Warning", 5: "Down", 7: "Paused (paused by User)", 10: "Unusual", 14: "Down (Partial)"}

    def __init__(self, token: str):
        super().__init__()
        self.token = token
        self.sensors: list[dict[str, Any]] = []
        self.max_count = 50_000  # PRTG's own cap on `count`; a test lowers it below what is asked
        self.routes[("GET", "/api/table.json")] = self.table

    def add_sensor(self, objid: int, device: str, sensor: str, status_raw: int, message: str = "OK") -> None:
        self.sensors = [s for s in self.sensors if s["objid"] != objid]
        self.sensors.append({"objid": objid, "group": "Network", "device": device, "sensor": sensor,
                             "status": self.STATUS[status_raw], "status_raw": status_raw,
                             "message": f'<div class="status">{message}</div>', "message_raw": message,
                             "lastvalue": "12 msec", "lastvalue_raw": 12.0})

    def table(self, req: Request) -> tuple[int, Any]:
        if req.q("apitoken") != self.token:
            return 401, {"prtg-version": "23.4", "error": "Unauthorized"}
        if req.q("content") != "sensors":
            return 400, {"error": "content"}
        start, count = int(req.q("start", "0")), min(int(req.q("count", "500")), self.max_count)
        cols = req.q("columns").split(",")
        rows = [{k: v for k, v in s.items() if k.split("_raw")[0] in cols or k == "objid"}
                for s in sorted(self.sensors, key=lambda s: s["objid"])]
        return 200, {"prtg-version": "23.4.90.1299", "treesize": len(rows), "sensors": rows[start:start + count]}


class CienaMcp(FakeApi):
    """MCP login (``/tron/api/v1/tokens``) and NSA ``filteredAlarms`` (JSON:API, offset/pageSize)."""

    def __init__(self, username: str, password: str):
        super().__init__()
        self.username, self.password = username, password
        self.tokens: set[str] = set()
        self.alarms: list[dict[str, Any]] = []
        self.routes[("POST", "/tron/api/v1/tokens")] = self.login
        self.routes[("GET", "/nsa/api/v2_0/alarms/filter/filteredAlarms")] = self.filtered

    def login(self, req: Request) -> tuple[int, Any]:
        body = json.loads(req.body or b"{}")
        if body.get("username") != self.username or body.get("password") != self.password:
            return 401, {"message": "invalid credentials"}
        token = f"tok-{len(self.tokens) + 1}"
        self.tokens.add(token)
        return 201, {"token": token, "isSuccessful": True, "expirationTime": 3600}

    def add_alarm(self, alarm_id: str, device: str, resource: str, severity: str, condition: str, text: str) -> None:
        self.alarms = [a for a in self.alarms if a["id"] != alarm_id]
        self.alarms.append({"id": alarm_id, "type": "alarms", "attributes": {
            "alarm-id": alarm_id, "device-name": device, "ip-address": "192.0.2.10", "resource": resource,
            "condition-severity": severity, "native-condition-type": condition, "additional-text": text,
            "service-affecting": "SERVICE_AFFECTING", "state": "ACTIVE", "acknowledge-state": "NOT_ACKNOWLEDGED",
            "first-raise-time": "2026-11-26T08:00:00.000Z", "last-raise-time": "2026-11-26T08:00:00.000Z"}})

    def filtered(self, req: Request) -> tuple[int, Any]:
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return 401, {"errors": [{"status": "401", "title": "Unauthorized"}]}
        states = req.query.get("filter[state][]", [])
        rows = [a for a in self.alarms if not states or a["attributes"]["state"] in states]
        off, size = int(req.q("offset", "0")), int(req.q("pageSize", "500"))
        return 200, {"data": rows[off:off + size], "meta": {"query-total": len(rows)}, "links": {}}


class NetBox(FakeApi):
    """NetBox ``/api/dcim/devices/`` with ``Token`` auth, filters (``status``), limit/offset paging by
    ``next`` links that carry the request's own query with the offset replaced (as Django REST
    framework's LimitOffsetPagination builds them)."""

    def __init__(self, token: str):
        super().__init__()
        self.token = token
        self.devices: list[dict[str, Any]] = []
        self.routes[("GET", "/api/dcim/devices/")] = self.list_devices
        self.cables: list[dict[str, Any]] = []
        self.routes[("GET", "/api/dcim/cables/")] = self.list_cables

    def add_cable(self, id_: int, a: str, b: str) -> None:
        """A cable between interfaces of devices ``a`` and ``b`` (NetBox >= 3.3 terminations)."""
        def end(name: str, n: int) -> list[dict[str, Any]]:
            dev = next(d for d in self.devices if d["name"] == name)
            return [{"object_type": "dcim.interface", "object_id": 100 * id_ + n,
                     "object": {"id": 100 * id_ + n, "name": f"xe-0/0/{n}", "cable": id_,
                                "device": {"id": dev["id"], "name": name}}}]
        self.cables.append({"id": id_, "a_terminations": end(a, 0), "b_terminations": end(b, 1),
                            "status": {"value": "connected"}})

    def list_cables(self, req: Request) -> tuple[int, Any]:
        if req.headers.get("authorization") != f"Token {self.token}":
            return 403, {"detail": "Authentication credentials were not provided."}
        limit, offset = int(req.q("limit", "50")), int(req.q("offset", "0"))
        nxt = (f"http://127.0.0.1:{self.port}/api/dcim/cables/?limit={limit}&offset={offset + limit}"
               if offset + limit < len(self.cables) else None)
        return 200, {"count": len(self.cables), "next": nxt, "previous": None,
                     "results": self.cables[offset:offset + limit]}

    def add_device(self, id_: int, name: str, ip: str | None, site: str, role: str, platform: str | None,
                   *, status: str = "active", tenant: str | None = None,
                   custom_fields: dict[str, Any] | None = None) -> None:
        self.devices.append({
            "id": id_, "url": f"http://127.0.0.1:{self.port}/api/dcim/devices/{id_}/", "name": name,
            "status": {"value": status, "label": status.title()},
            "site": {"id": 1, "name": site.upper(), "slug": site}, "role": {"id": 2, "name": role, "slug": role},
            "tenant": {"id": 4, "name": tenant, "slug": tenant} if tenant else None,
            "platform": {"id": 3, "name": platform, "slug": platform} if platform else None,
            "primary_ip": {"id": id_, "family": 4, "address": f"{ip}/24"} if ip else None,
            "primary_ip4": {"id": id_, "family": 4, "address": f"{ip}/24"} if ip else None,
            "custom_fields": dict(custom_fields or {}),
        })

    def list_devices(self, req: Request) -> tuple[int, Any]:
        if req.headers.get("authorization") != f"Token {self.token}":
            return 403, {"detail": "Authentication credentials were not provided."}
        limit, offset = int(req.q("limit", "50")), int(req.q("offset", "0"))
        statuses = req.query.get("status")
        rows = [d for d in self.devices if not statuses or d["status"]["value"] in statuses]
        page = rows[offset:offset + limit]
        nxt = None
        if offset + limit < len(rows):
            query = {k: v for k, v in req.query.items() if k != "offset"}
            query["offset"] = [str(offset + limit)]
            nxt = f"http://127.0.0.1:{self.port}/api/dcim/devices/?" + urlencode(query, doseq=True)
        return 200, {"count": len(rows), "next": nxt, "previous": None, "results": page}
