"""The normalized event: what every source produces and every later stage consumes.

``schemas/event.schema.json`` is generated from this model (``opsconductor schema dump``)
and a test keeps the two identical.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

RAW_MAX_BYTES = 16_384
RAW_MAX_DEPTH = 64
"""``raw`` keeps the original payload for forensics; larger payloads are refused."""


class Severity(StrEnum):
    """Alert severities, most to least severe; ``clear`` means the condition is over."""

    critical = "critical"
    major = "major"
    minor = "minor"
    warning = "warning"
    info = "info"
    clear = "clear"


SEVERITY_RANK: dict[Severity, int] = {
    Severity.critical: 5,
    Severity.major: 4,
    Severity.minor: 3,
    Severity.warning: 2,
    Severity.info: 1,
    Severity.clear: 0,
}

Name = Annotated[str, Field(min_length=1, max_length=255)]


class NormalizedEvent(BaseModel):
    """One thing that happened to one resource, in the shape every stage understands."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    resource: Name = Field(description="The device or entity, e.g. rtr1.ams")
    event: Name = Field(description="What happened, e.g. link_down, device_down, cpu_high")
    component: Annotated[str, Field(max_length=255)] | None = Field(
        default=None, description="The part of the resource, e.g. ge-0/0/1"
    )
    severity: Severity | None = Field(
        default=None, description="Missing means: decided by the rules (default warning)"
    )
    summary: Annotated[str, Field(max_length=4096)] | None = None
    value: str | int | float | None = None
    labels: dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=1024)]] = (
        Field(default_factory=dict)
    )
    source: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description="Which addon or connector produced the event"
    )
    occurred_at: datetime | None = Field(default=None, description="RFC 3339; defaults to receive time")
    timeout: int | None = Field(
        default=None, ge=1, le=366 * 86_400,
        description="Seconds the alert may stay unseen before it expires; default: the rules' or the server's",
    )
    raw: Any | None = Field(default=None, description=f"Original payload, at most {RAW_MAX_BYTES} bytes as JSON")

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must carry a timezone offset (RFC 3339), e.g. 2026-01-01T00:00:00Z")
        try:
            return v.astimezone(UTC) if v is not None else None
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before the first representable UTC instant
            raise ValueError("is outside the range of representable times") from None

    @field_validator("raw")
    @classmethod
    def _raw_size(cls, v: Any) -> Any:
        if v is not None and _depth(v) > RAW_MAX_DEPTH:  # deeper than the serializer goes: refuse, never crash
            raise ValueError(f"is nested deeper than {RAW_MAX_DEPTH} levels")
        if v is not None and len(json.dumps(v, default=str)) > RAW_MAX_BYTES:
            raise ValueError(f"is larger than {RAW_MAX_BYTES} bytes")
        return v

    def field_value(self, name: str) -> Any:
        """The value of a matcher field: a top-level name or ``labels.<name>``; None if absent."""
        if name.startswith("labels."):
            return self.labels.get(name[7:])
        if name in MATCHABLE_FIELDS:
            v = getattr(self, name)
            return v.value if isinstance(v, Severity) else v
        raise KeyError(name)


def _depth(value: Any) -> int:
    """Nesting depth of decoded JSON, without recursion (the value may be deeper than the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


MATCHABLE_FIELDS = ("resource", "event", "component", "severity", "source", "summary", "value")
"""Fields rules and routes may match on, besides ``labels.<name>``."""


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of the normalized event, as shipped in ``schemas/event.schema.json``."""
    schema = NormalizedEvent.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://opsconductor.dev/schemas/event.schema.json"
    return schema
