"""``kind: snmp``: scalars by GET, tables by bulk WALK (row index extracted), v2c or v3.

    - name: interfaces
      kind: snmp
      version: 2c                      # default when the credential does not say: a credential
                                       # {"version": "1", "community": ...} or {"user": ...} (v3) wins
      scalars: {sysUpTime: 1.3.6.1.2.1.1.3.0, sysName: SNMPv2-MIB::sysName.0}
      table:
        index: ifIndex                 # the OID suffix of each row becomes this field
        columns: {ifOperStatus: IF-MIB::ifOperStatus, ifName: 1.3.6.1.2.1.31.1.1.1.1}

OIDs are numeric or MIB names (``sources/mibs.py``), resolved to numbers when the manifest loads.

Records: one per table row (with the scalars copied in), or one record of scalars.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opsconductor.config.yaml_source import DataPath, Positions
from opsconductor.errors import ConfigError, ConfigErrors
from opsconductor.sources.common import CommonSpec, kind_schema, parse_common, validate_entry
from opsconductor.sources.credentials import CredentialError
from opsconductor.sources.job import PollJob
from opsconductor.sources.mibs import OID_OR_NAME, MibError, MibResolver
from opsconductor.sources.snmp_client import SnmpAuth
from opsconductor.sources.snmp_usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS


@dataclass(frozen=True)
class SnmpSpec:
    common: CommonSpec
    version: str
    port: int
    auth_protocol: str
    priv_protocol: str
    retries: int
    scalars: Mapping[str, str]
    columns: Mapping[str, str]
    index: str
    max_repetitions: int


class SnmpKind:
    name = "snmp"
    polled = True

    def __init__(self, mibs: MibResolver | None = None):
        self.mibs = mibs or MibResolver()

    def schema(self) -> dict[str, Any]:
        oid_map = {"type": "object", "minProperties": 1,
                   "additionalProperties": {"type": "string", "pattern": OID_OR_NAME,
                                            "description": "numeric OID or MIB name (IF-MIB::ifOperStatus, "
                                                           "sysName.0)"}}
        return kind_schema("snmp", {
            "version": {"type": "string", "enum": ["1", "2c", "3"],
                        "description": "SNMP version when the target's credential does not say (default 2c)"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "auth_protocol": {"type": "string", "enum": sorted(AUTH_PROTOCOLS)},
            "priv_protocol": {"type": "string", "enum": sorted(PRIV_PROTOCOLS)},
            "retries": {"type": "integer", "minimum": 0, "maximum": 5},
            "max_repetitions": {"type": "integer", "minimum": 1, "maximum": 100},
            "scalars": {**oid_map, "description": "field name -> OID of a scalar (GET)"},
            "table": {
                "type": "object", "additionalProperties": False, "required": ["columns"],
                "properties": {
                    "index": {"type": "string", "description": "field that receives the row index"},
                    "columns": {**oid_map, "description": "field name -> OID of a table column (WALK)"},
                },
            },
        }, description="Poll an SNMP agent: scalars by GET, tables by bulk WALK",
            extra={"anyOf": [{"required": ["scalars"]}, {"required": ["table"]}]})

    def parse(self, entry: Mapping[str, Any], positions: Positions, path: DataPath) -> SnmpSpec:
        validate_entry(self.schema(), entry, positions, path)
        table = entry.get("table") or {}
        errors: list[ConfigError] = []
        scalars = self._oids(entry.get("scalars") or {}, positions, (*path, "scalars"), errors)
        columns = self._oids(table.get("columns") or {}, positions, (*path, "table", "columns"), errors)
        if errors:
            raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
        return SnmpSpec(
            common=parse_common(entry, positions, path, default_timeout=5.0),
            version=str(entry.get("version", "2c")),
            port=int(entry.get("port", 161)),
            auth_protocol=str(entry.get("auth_protocol", "sha")),
            priv_protocol=str(entry.get("priv_protocol", "aes")),
            retries=int(entry.get("retries", 1)),
            scalars=scalars,
            columns=columns,
            index=str(table.get("index", "index")),
            max_repetitions=int(entry.get("max_repetitions", 25)),
        )

    def _oids(self, raw: Mapping[str, str], positions: Positions, path: DataPath,
              errors: list[ConfigError]) -> dict[str, str]:
        """Field -> numeric OID: MIB names resolve here, once, so polls stay numeric."""
        out: dict[str, str] = {}
        for field_name, text in raw.items():
            try:
                out[field_name] = self.mibs.resolve(text)
            except MibError as exc:
                errors.append(positions.error((*path, field_name), str(exc)))
        return out

    def auth(self, spec: SnmpSpec, job: PollJob) -> SnmpAuth:
        """The target's own SNMP version and credential: one addon polls a mixed v1/v2c/v3 estate.

        The version is the credential's ``version`` part, else 3 when it names a ``user``, else
        the source's ``version`` (default 2c): a plain string is a community.
        """
        secret = job.credential()
        assert secret is not None
        version = secret.part("version") or ("3" if secret.part("user") else spec.version)
        version = {"v1": "1", "v2c": "2c", "2": "2c", "v3": "3"}.get(version.lower(), version.lower())
        if version in ("1", "2c"):
            return SnmpAuth(version, community=secret.part("community") or secret.value())
        if version != "3":
            raise CredentialError(f"credential {secret.reference}: unknown SNMP version {version!r} "
                                  "(one of 1, 2c, 3)")
        if not secret.has_parts() or not secret.part("user"):
            raise CredentialError(f"credential {secret.reference}: SNMPv3 needs a JSON object with "
                                  "'user', 'auth_key' and 'priv_key'")
        auth_protocol = (secret.part("auth_protocol") or spec.auth_protocol).lower()
        priv_protocol = (secret.part("priv_protocol") or spec.priv_protocol).lower()
        if auth_protocol not in AUTH_PROTOCOLS or priv_protocol not in PRIV_PROTOCOLS:
            raise CredentialError(f"credential {secret.reference}: auth_protocol one of {sorted(AUTH_PROTOCOLS)}, "
                                  f"priv_protocol one of {sorted(PRIV_PROTOCOLS)}")
        return SnmpAuth("3", user=secret.part("user"), auth_key=secret.part("auth_key"),
                        priv_key=secret.part("priv_key"), auth_protocol=auth_protocol, priv_protocol=priv_protocol)

    async def collect(self, job: PollJob) -> list[dict[str, Any]]:
        spec: SnmpSpec = job.spec
        client = job.clients.snmp
        auth = self.auth(spec, job)
        port = job.target.port_for("snmp", spec.port)
        # pysnmp's own timeout is per attempt; split the source timeout over the attempts.
        # A failing target is probed with one attempt per request: it costs little while dead.
        retries = 0 if job.suspect else spec.retries
        per_try = max(0.2, spec.common.timeout / (retries + 1))
        scalars: dict[str, Any] = {}
        if spec.scalars:
            got = await client.get(job.target.address, port, auth, list(spec.scalars.values()),
                                   timeout=per_try, retries=retries, suspect=job.suspect)
            by_oid = {k.lstrip("."): v for k, v in got.items()}
            scalars = {name: by_oid.get(oid) for name, oid in spec.scalars.items()}
        if not spec.columns:
            return [scalars]
        # Columns one after the other: a dead device then holds one client slot, not one per
        # column, and the first timeout ends the poll.
        walks = []
        for oid in spec.columns.values():
            walks.append(await client.walk(job.target.address, port, auth, oid, timeout=per_try,
                                           retries=retries, max_repetitions=spec.max_repetitions,
                                           suspect=job.suspect))
        rows: dict[str, dict[str, Any]] = {}
        for name, column in zip(spec.columns, walks, strict=True):
            for index, value in column.items():
                rows.setdefault(index, {spec.index: _index_value(index), **scalars})[name] = value
        return [rows[i] for i in sorted(rows, key=_sort_key)]


def _index_value(index: str) -> int | str:
    return int(index) if index.isdigit() else index


def _sort_key(index: str) -> tuple[int, ...]:
    return tuple(int(x) for x in index.split(".") if x.isdigit())
