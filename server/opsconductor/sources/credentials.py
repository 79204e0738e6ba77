"""Credentials of targets: references resolved by the one resolver (:mod:`opsconductor.secrets`).

Inventory entries, API targets and manifests hold only the reference. The secret is
read when a poll needs it and lives in a :class:`Secret`, whose ``repr``/``str`` never
show the value, so it cannot leak into logs or API responses by accident.

A secret is either one string (an SNMP community, an API token, a password) or, when the
text is a JSON or YAML mapping, several named parts (``{"user": ..., "auth_key": ...}``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opsconductor.errors import SourceError
from opsconductor.secrets import REFERENCE, SecretUnavailable, check_reference, resolve_text

__all__ = ["REFERENCE", "CredentialError", "Secret", "check_reference", "resolve"]

class CredentialError(SourceError):
    """A credential reference cannot be resolved (the message never contains the secret)."""


class Secret:
    """A resolved secret; only :meth:`value` and :meth:`part` give the content away."""

    __slots__ = ("_parts", "_text", "reference")

    def __init__(self, reference: str, text: str):
        self.reference = reference
        self._text = text.strip()
        self._parts: dict[str, str] = {}
        if self._text.startswith("{"):
            try:
                data = json.loads(self._text)
            except ValueError:
                raise CredentialError(f"credential {reference}: looks like JSON but does not parse") from None
            if not isinstance(data, Mapping):
                raise CredentialError(f"credential {reference}: JSON must be an object")
            self._parts = {str(k): str(v) for k, v in data.items()}

    def value(self) -> str:
        """The whole secret (a community, a token); for a mapping, its ``secret`` or ``password`` part."""
        if self._parts:
            for key in ("secret", "token", "password", "community"):
                if key in self._parts:
                    return self._parts[key]
            raise CredentialError(f"credential {self.reference}: no 'secret', 'token' or 'password' part")
        return self._text

    def part(self, name: str, default: str | None = None) -> str | None:
        return self._parts.get(name, default)

    def has_parts(self) -> bool:
        return bool(self._parts)

    def digest(self) -> str:
        """A one-way digest of the whole secret: keys caches (SSH connections) by the full credential."""
        return hashlib.sha256(f"{self.reference}\0{self._text}".encode()).hexdigest()

    def __repr__(self) -> str:
        return f"Secret({self.reference!r}, ***)"

    __str__ = __repr__

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Secret) and other.reference == self.reference and other._text == self._text

    def __hash__(self) -> int:
        return hash(self.reference)


def resolve(ref: str, environ: Mapping[str, str] | None = None, credentials_dir: Path | None = None) -> Secret:
    """Read the secret now (the one resolver's rules). CredentialError names the reference only."""
    try:
        return Secret(ref, resolve_text(ref, environ=environ, credentials_dir=credentials_dir))
    except SecretUnavailable as exc:
        raise CredentialError(f"credential {ref if check_reference(ref) is None else '(not a reference)'}: "
                              f"{exc}") from None
