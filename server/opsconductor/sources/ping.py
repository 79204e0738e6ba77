"""``kind: ping``: reachability and latency without root.

    - name: reachability
      kind: ping
      method: tcp          # tcp (default; a TCP connect, refused counts as alive) | icmp
      port: 22             # tcp: the port to knock on
      refused_is_down: false  # tcp: true = the service must accept (a refusal is down)
      on_unreachable: {event: device_down, severity: critical}
      events:
        - {event: latency_high, when: threshold, field: rtt_ms, threshold: {above: {warning: 200}}}

Records: one ``{rtt_ms, address}``. Down/up comes from ``on_unreachable`` (up = its clear).
See :mod:`opsconductor.sources.ping_client` for why TCP is the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opsconductor.config.yaml_source import DataPath, Positions
from opsconductor.sources.common import CommonSpec, kind_schema, parse_common, validate_entry
from opsconductor.sources.job import PollJob


@dataclass(frozen=True)
class PingSpec:
    common: CommonSpec
    method: str
    port: int
    refused_is_down: bool = False


class PingKind:
    name = "ping"
    polled = True

    def schema(self) -> dict[str, Any]:
        return kind_schema("ping", {
            "method": {"type": "string", "enum": ["tcp", "icmp"]},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "tcp: port to connect to"},
            "refused_is_down": {"type": "boolean",
                                "description": "tcp: a refused connection is down (the service must listen)"},
        }, description="Reachability (device_down/up via on_unreachable) and round-trip time")

    def parse(self, entry: Mapping[str, Any], positions: Positions, path: DataPath) -> PingSpec:
        validate_entry(self.schema(), entry, positions, path)
        return PingSpec(parse_common(entry, positions, path, default_interval=30.0, default_timeout=2.0),
                        str(entry.get("method", "tcp")), int(entry.get("port", 22)),
                        bool(entry.get("refused_is_down", False)))

    async def collect(self, job: PollJob) -> list[dict[str, Any]]:
        spec: PingSpec = job.spec
        t = job.target
        if spec.method == "icmp":
            rtt = await job.clients.ping.icmp(t.address, spec.common.timeout, suspect=job.suspect)
        else:
            rtt = await job.clients.ping.tcp(t.address, t.port_for("ping", spec.port), spec.common.timeout,
                                             suspect=job.suspect, refused_is_down=spec.refused_is_down)
        return [{"rtt_ms": round(rtt, 3), "address": t.address}]
