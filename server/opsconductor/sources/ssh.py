"""``kind: ssh``: run a command on the device and parse its output into records.

    - name: alarms
      kind: ssh
      command: alarm show
      parser: {type: table, header: "^\\s*Idx"}     # regex | table | keyvalue | json
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opsconductor.config.yaml_source import DataPath, Positions
from opsconductor.errors import BadAnswer
from opsconductor.normalize.parsers import PARSER_TYPES, ParseError, TextParser, build_parser
from opsconductor.sources.common import CommonSpec, kind_schema, parse_common, validate_entry
from opsconductor.sources.job import PollJob

PARSER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "enum": list(PARSER_TYPES)},
        "pattern": {"type": "string", "description": "regex: named groups become fields"},
        "header": {"type": "string", "description": "table: regex finding the header line"},
        "skip": {"type": "string", "description": "table: regex of lines to ignore"},
        "columns": {"type": "array", "items": {"type": "string"}, "description": "table: field names"},
        "separator": {"type": "string", "description": "keyvalue: between key and value (default ':')"},
        "block": {"type": "string", "description": "keyvalue: regex starting a new record"},
        "path": {"type": "string", "description": "json: JMESPath to the list of objects"},
    },
}


def parse_parser(entry: Mapping[str, Any], positions: Positions, path: DataPath) -> TextParser:
    try:
        return build_parser(entry["parser"])
    except ParseError as exc:
        raise positions.error((*path, "parser"), str(exc)) from None


@dataclass(frozen=True)
class SshSpec:
    common: CommonSpec
    command: str
    port: int
    parser: TextParser


class SshKind:
    name = "ssh"
    polled = True

    def schema(self) -> dict[str, Any]:
        return kind_schema("ssh", {
            "command": {"type": "string", "minLength": 1},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "parser": {"$ref": "#/$defs/parser"},
        }, required=("command", "parser"), description="Run a command over SSH and parse its output",
            extra={"$defs": {"parser": PARSER_SCHEMA}})

    def parse(self, entry: Mapping[str, Any], positions: Positions, path: DataPath) -> SshSpec:
        validate_entry(self.schema(), entry, positions, path)
        return SshSpec(parse_common(entry, positions, path, default_interval=300.0, default_timeout=30.0),
                       str(entry["command"]), int(entry.get("port", 22)), parse_parser(entry, positions, path))

    async def collect(self, job: PollJob) -> list[dict[str, Any]]:
        spec: SshSpec = job.spec
        secret = job.credential()
        assert secret is not None
        out = await job.clients.ssh.run(job.target.address, job.target.port_for("ssh", spec.port), secret, spec.command,
                                        timeout=spec.common.timeout, suspect=job.suspect)
        try:
            return spec.parser.run(out)
        except ParseError as exc:
            raise BadAnswer(f"output of {spec.command!r} on {job.target.name}: {exc}") from None
