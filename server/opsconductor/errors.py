"""The one exception tree of OpsConductor.

    OpsConductorError
    ├── ConfigError                 configuration the user wrote is wrong (carries file:line:col)
    │   └── ConfigErrors            several ConfigErrors found in one pass
    ├── InputError                  a request or event is invalid (-> 4xx problem body)
    │   ├── ValidationFailed        one or more items/fields are invalid (carries the list)
    │   ├── NotFound                the addressed object does not exist (-> 404)
    │   └── Conflict                the request conflicts with the current state (-> 409)
    ├── AuthError                   no valid credential (-> 401)
    │   └── Forbidden               the credential lacks the scope (-> 403)
    ├── Unavailable                 a dependency (database, engine) is down (-> 503)
    └── SourceError                 a device or remote API failed to answer as expected
        ├── Unreachable             the target did not answer at all
        ├── AuthFailed              the target refused our credential
        ├── BadAnswer               the answer does not parse as the source expects
        └── ErrorAnswer             the target answered with an error (HTTP status, SNMP error, exit code)

Configuration errors always say where they come from, so the CLI and the API can
print ``file:line:col: message`` exactly like a compiler.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


class OpsConductorError(Exception):
    """Root of every error OpsConductor raises on purpose."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a configuration file something is; line and col are 1-based."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col or 1}"
        return self.file


class ConfigError(OpsConductorError):
    """A configuration file (rules, addons, routes, inventory, settings) is wrong."""

    def __init__(self, message: str, location: Location | None = None, *, field: str | None = None):
        self.message = message
        self.location = location
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ConfigErrors(ConfigError):
    """Several configuration errors, reported together in file order."""

    def __init__(self, errors: Iterable[ConfigError]):
        self.errors: list[ConfigError] = sorted(
            errors,
            key=lambda e: (
                e.location.file if e.location else "",
                e.location.line if e.location else 0,
                e.location.col if e.location else 0,
            ),
        )
        super().__init__("\n".join(str(e) for e in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One invalid field of one item of a request; index is None for single objects."""

    field: str
    message: str
    index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.index is not None:
            out["index"] = self.index
        return out


class InputError(OpsConductorError):
    """The caller sent something we cannot accept."""

    status_code = 400
    title = "Bad request"

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)


class ValidationFailed(InputError):
    """One or more items of the request are invalid; nothing was written."""

    status_code = 422
    title = "Validation failed"

    def __init__(self, detail: str, problems: Sequence[FieldProblem] = ()):
        self.problems = list(problems)
        super().__init__(detail)


class NotFound(InputError):
    """The addressed object does not exist."""

    status_code = 404
    title = "Not found"


class Conflict(InputError):
    """The request conflicts with the current state of the object."""

    status_code = 409
    title = "Conflict"


class AuthError(OpsConductorError):
    """No valid API key was presented."""

    status_code = 401
    title = "Unauthorized"


class Forbidden(AuthError):
    """The API key is valid but lacks the required scope."""

    status_code = 403
    title = "Forbidden"


class Unavailable(OpsConductorError):
    """A dependency we need (the database, the rules engine) is not available right now."""

    status_code = 503
    title = "Service unavailable"


class SourceError(OpsConductorError):
    """A polled device or remote API answered in a way we could not use."""

    failure = "error"  # the collection-failure kind the poller raises an alert for


class Unreachable(SourceError):
    """The polled target did not answer at all (timeout, refused, no route)."""

    failure = "unreachable"


class AuthFailed(SourceError):
    """The target refused the credential (SNMPv3 digest/user, SSH permission denied, HTTP 401/403)."""

    failure = "auth_failure"


class BadAnswer(SourceError):
    """The target answered, but not in the form the source expects (JSON, CLI table)."""

    failure = "parse_failure"


class ErrorAnswer(SourceError):
    """The target answered with an error: an HTTP status, an SNMP error-status, a command's exit code."""

    failure = "error_answer"

    def __init__(self, message: str, failure: str | None = None):
        super().__init__(message)
        if failure:
            self.failure = failure
